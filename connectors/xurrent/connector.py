"""Xurrent (formerly 4me) organizations, products and projects, through the Fivetran Connector SDK.

Each table is read with ``sort=updated_at&updated_at=>=<cursor>`` (inclusive) and pages follow the
``Link rel="next"`` URL exactly; that URL is the resume token checkpointed after every page. Each table
keeps its own cursor, which moves only after a complete traversal, to the largest ``updated_at``
delivered, capped at the server's clock when the traversal began.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from fivetran_connector_sdk import Connector

from synckit import (
    Backoff,
    BearerToken,
    ConfigError,
    Field,
    FivetranSink,
    Http,
    LinkHeader,
    Page,
    PagingError,
    RateLimiter,
    RefreshingToken,
    ResponseError,
    Table,
    Window,
    log,
    parse,
    prefetch,
    records,
    setup,
    sync_tables,
)
from synckit.config import is_loopback
from synckit.errors import OriginError
from synckit.sink import Sink

DEFAULT_BASE_URL = "https://api.xurrent.com/v1"
# Documented limits: 3,600 requests per rolling hour per token, and 20 per 2 seconds. The server counts arrival
# times; the limiter counts each request from its answer (later than its arrival), so no margin is needed.
HOURLY_LIMIT = (3600, 3600.0)
BURST_LIMIT = (20, 2.0)
MAX_BUDGET_WAIT = 300.0  # longer waits for the hourly budget end the sync cleanly at its checkpoint
TOKEN_MARGIN = 60.0  # renew a client-credentials token this long before it expires


def _account(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        return "must be an account id such as 'widget' (letters, digits, '.', '_' or '-', at most 64)"
    return None


def _no_spaces(value: str) -> str | None:
    return "must not contain spaces" if any(c.isspace() for c in value) else None


def _api_url(url: str) -> str | None:
    if not urlsplit(url).path.rstrip("/").endswith("/v1"):
        return "must end with /v1, for example https://api.xurrent.com/v1 or https://api.au.xurrent.com/v1"
    return None


SPEC = {
    "oauth_token": Field(secret=True, check=_no_spaces,
                         description="personal access token; leave empty when client_id/client_secret are set"),
    "account_id": Field(required=True, check=_account, description="sent as X-Xurrent-Account"),
    "sync_frequency_hours": Field(kind=int, minimum=1, maximum=24,
                                  description="skip a sync started sooner than this after the last completed one"),
    "initial_sync_days": Field(kind=int, minimum=1, maximum=365,
                               description="first sync reads records updated in the last N days; empty: all"),
    "max_records_per_page": Field(kind=int, default=100, minimum=1, maximum=100),
    "request_timeout_seconds": Field(kind=int, default=30, minimum=10, maximum=300),
    "retry_attempts": Field(kind=int, default=3, minimum=1, maximum=10),
    "enable_incremental_sync": Field(kind=bool, default=True),
    "base_url": Field(kind="url", default=DEFAULT_BASE_URL, check=_api_url),
    "token_url": Field(kind="url", description="OAuth token endpoint; derived from base_url when empty"),
    "client_id": Field(check=_no_spaces, description="OAuth client id for the client-credentials grant"),
    "client_secret": Field(secret=True, check=_no_spaces, description="OAuth client secret"),
}


# Tables: scalar fields (column, API field, converter) and {id, name} references flattened to
# <ref>_id and <ref>_name (plus <ref>_provider_* for services, whose provider is a reference too).
Scalar = tuple[str, str, Callable[[Any], Any]]

COMMON_REFS = ("account",)
TABLES: dict[str, dict[str, Any]] = {
    "organizations": {
        "scalars": [("source_id", "sourceID", records.text), ("name", "name", records.text),
                    ("disabled", "disabled", records.boolean), ("region", "region", records.text),
                    ("financial_id", "financialID", records.text)],
        "refs": ["parent", "manager", "business_unit_organization"],
    },
    "products": {
        "scalars": [("source_id", "sourceID", records.text), ("name", "name", records.text),
                    ("category", "category", records.text), ("disabled", "disabled", records.boolean),
                    ("brand", "brand", records.text), ("model", "model", records.text),
                    ("product_id", "productID", records.text), ("useful_life", "useful_life", records.integer),
                    ("depreciation_method", "depreciation_method", records.text)],
        "refs": ["service", "support_team", "financial_owner", "supplier"],
    },
    "projects": {
        "scalars": [("source_id", "sourceID", records.text), ("subject", "subject", records.text),
                    ("category", "category", records.text), ("status", "status", records.text),
                    ("completion_target_at", "completion_target_at", records.iso),
                    ("completed_at", "completed_at", records.iso),
                    ("justification", "justification", records.text), ("time_zone", "time_zone", records.text),
                    ("cost_of_effort", "cost_of_effort", records.money), ("effort", "effort", records.integer)],
        "refs": ["service", "manager", "customer", "program", "work_hours"],
    },
}
TYPES = {records.text: "STRING", records.boolean: "BOOLEAN", records.integer: "LONG", records.iso: "UTC_DATETIME",
         records.money: "DOUBLE"}


def columns(name: str) -> dict[str, str]:
    spec = TABLES[name]
    out = {"id": "LONG"}
    out.update({column: TYPES[fn] for column, _, fn in spec["scalars"]})
    for ref in [*spec["refs"], *COMMON_REFS]:
        out[f"{ref}_id"] = "STRING" if ref == "account" else "LONG"
        out[f"{ref}_name"] = "STRING"
        if ref == "service":
            out["service_provider_id"], out["service_provider_name"] = "LONG", "STRING"
    out.update({"created_at": "UTC_DATETIME", "updated_at": "UTC_DATETIME"})
    return out


def fields_param(name: str) -> str:
    """The ``fields=`` list: everything we map (collections otherwise return only their defaults)."""
    spec = TABLES[name]
    wanted = [api for _, api, _ in spec["scalars"]] + spec["refs"] + ["created_at", "updated_at"]
    return ",".join(dict.fromkeys(wanted))


def _ref(record: dict, key: str) -> dict | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"field '{key}' should be an {{id, name}} reference, got {type(value).__name__}")
    return value


def shape(name: str, record: dict) -> dict[str, Any]:
    """One API record -> one row with the declared columns (absent fields become null, never '')."""
    spec = TABLES[name]
    row: dict[str, Any] = {"id": records.integer(record.get("id"))}
    for column, api, fn in spec["scalars"]:
        try:
            row[column] = fn(record.get(api))
        except ValueError as exc:
            raise ValueError(f"field '{api}': {exc}") from None
    for ref in [*spec["refs"], *COMMON_REFS]:
        value = _ref(record, ref) or {}
        ref_id = value.get("id")
        row[f"{ref}_id"] = records.text(ref_id) if ref == "account" else records.integer(ref_id)
        row[f"{ref}_name"] = records.text(value.get("name"))
        if ref == "service":
            provider = _ref(value, "provider") or {}
            row["service_provider_id"] = records.integer(provider.get("id"))
            row["service_provider_name"] = records.text(provider.get("name"))
    row["created_at"] = records.iso(record.get("created_at"))
    row["updated_at"] = records.iso(record.get("updated_at"))
    if row["updated_at"] is None:
        raise ValueError("field 'updated_at' is missing; the cursor cannot move past this record")
    return row


# Configuration, authentication, client ------------------------------------------------------------

def settings(configuration: dict[str, Any]) -> dict[str, Any]:
    cfg = parse(configuration, SPEC)
    has_client = bool(cfg["client_id"]) or bool(cfg["client_secret"])
    if cfg["oauth_token"] and has_client:
        raise ConfigError("oauth_token", "set either oauth_token or client_id/client_secret, not both")
    if not cfg["oauth_token"] and not has_client:
        raise ConfigError("oauth_token", "is required (or set client_id and client_secret instead)")
    if has_client and not cfg["client_id"]:
        raise ConfigError("client_id", "is required when client_secret is set")
    if has_client and not cfg["client_secret"]:
        raise ConfigError("client_secret", "is required when client_id is set")
    if has_client and not cfg["token_url"]:
        derived = derive_token_url(cfg["base_url"])
        if derived is None:
            raise ConfigError("token_url", "is required for this base_url (it cannot be derived); for example "
                                           "https://oauth.xurrent.com/token")
        cfg["token_url"] = derived
    return cfg


def derive_token_url(base_url: str) -> str | None:
    """``https://api.au.xurrent.com/v1`` -> ``https://oauth.au.xurrent.com/token``; a local simulator
    serves ``/token`` on its own origin."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if is_loopback(host):
        return f"{parts.scheme}://{parts.netloc}/token"
    if host.startswith("api."):
        netloc = "oauth." + parts.netloc[len("api."):]
        return f"{parts.scheme}://{netloc}/token"
    return None


def client_credentials(cfg: dict[str, Any]) -> Callable[[], tuple[str, float]]:
    """A fetch for RefreshingToken: POST the client-credentials grant, return (token, lifetime)."""
    token_http = Http(cfg["token_url"], timeout=cfg["request_timeout_seconds"],
                      backoff=Backoff(attempts=cfg["retry_attempts"]), headers={"Accept": "application/json"})
    form = {"grant_type": "client_credentials", "client_id": cfg["client_id"], "client_secret": cfg["client_secret"]}

    def fetch() -> tuple[str, float]:
        body = token_http.json("POST", cfg["token_url"], data=form, auth=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ResponseError("the token endpoint answered without an access_token")
        token_type = str(body.get("token_type") or "Bearer")
        if token_type.lower() != "bearer":
            raise ResponseError(f"the token endpoint returned token_type {token_type!r}, expected Bearer")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            raise ResponseError("the token endpoint returned a non-numeric expires_in") from None
        log.info(f"obtained a client-credentials token valid for {lifetime:.0f}s")
        return token, lifetime

    return fetch


def authenticator(cfg: dict[str, Any]) -> BearerToken | RefreshingToken:
    account = {"X-Xurrent-Account": cfg["account_id"]}
    if cfg["oauth_token"]:
        return BearerToken(cfg["oauth_token"], extra=account)
    fetch = client_credentials(cfg)
    auth = RefreshingToken(lambda: _with_margin(auth, fetch), margin=TOKEN_MARGIN, extra=account)
    return auth


def _with_margin(auth: RefreshingToken, fetch: Callable[[], tuple[str, float]]) -> tuple[str, float]:
    """Renew TOKEN_MARGIN before expiry, or a quarter of the lifetime for very short-lived tokens."""
    token, lifetime = fetch()
    auth.margin = min(TOKEN_MARGIN, lifetime / 4)
    return token, lifetime


def client(cfg: dict[str, Any]) -> Http:
    return Http(
        cfg["base_url"],
        authenticator(cfg),
        timeout=cfg["request_timeout_seconds"],
        backoff=Backoff(attempts=cfg["retry_attempts"]),
        limiter=RateLimiter([BURST_LIMIT, HOURLY_LIMIT], max_wait=MAX_BUDGET_WAIT, count_from_response=True),
        headers={"Accept": "application/json"},
    )


# Paging -------------------------------------------------------------------------------------------

def z(dt: datetime) -> str:
    """A filter value in Z form at second resolution, floored so the filter stays inclusive."""
    return dt.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection(response: Any) -> list[dict]:
    body = response.json()  # a ValueError (truncated body) is retried by Http.fetch
    if not isinstance(body, list):
        raise ResponseError(f"GET {response.url}: expected a JSON array, got {type(body).__name__}")
    return body


def pages(http: Http, name: str, page_size: int, window: Window) -> Iterator[Page]:
    """Pages of ``name`` with updated_at >= window.since, sorted by updated_at, following Link rel=next.

    The resume token is the next URL, or ``{"from": iso}`` after the API's 100,000-record cap ended a
    traversal early: the traversal then restarts at the last updated_at it delivered."""
    resume = window.resume
    since = window.since
    if isinstance(resume, dict):
        since, resume = records.parse_iso(resume["from"]), None
    while True:
        params: dict[str, Any] = {"sort": "updated_at", "per_page": page_size, "fields": fields_param(name)}
        if since is not None:
            params["updated_at"] = f">={z(since)}"
        last: str | None = None
        try:
            for page in LinkHeader().pages(http, f"/{name}", params, collection, resume):
                if page.records:
                    last = page.records[-1].get("updated_at") or last
                throttled = page.response is not None and \
                    page.response.headers.get("X-Pagination-Throttled", "").lower() == "true"
                if page.next is None and throttled:
                    restart = records.parse_iso(str(last)) if last else None
                    if restart is None or (since is not None and restart <= since):
                        raise ResponseError(f"[{name}] more than the API's collection cap share one updated_at "
                                            f"({last}); cannot narrow the window further")
                    log.info(f"[{name}] the API capped the collection (X-Pagination-Throttled); "
                             f"continuing from updated_at >= {z(restart)}")
                    yield Page(page.records, {"from": z(restart)}, page.response)
                    since, resume = restart, None
                    break
                yield page
            else:
                return
        except OriginError as exc:
            raise PagingError(f"[{name}] the API's Link header points outside base_url {http.base_url} ({exc}); "
                              "set base_url to the host the API answers on, for example "
                              "https://api.4me.com/v1 for a legacy account") from None


def tables(http: Http, cfg: dict[str, Any]) -> list[Table]:
    def make(name: str) -> Table:
        return Table(name=name, primary_key=("id",), columns=columns(name), cursor="updated_at",
                     fetch=lambda window: prefetch(pages(http, name, cfg["max_records_per_page"], window)),
                     row=lambda record: shape(name, record))

    return [make(name) for name in TABLES]


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"table": name, "primary_key": ["id"], "columns": columns(name)} for name in TABLES]


def plan(cfg: dict[str, Any], state: dict[str, Any], now: datetime) -> tuple[bool, datetime | None]:
    """Decide before a sync: (run it?, the first sync's start date). Drops committed cursors when
    incremental sync is off, so every traversal re-reads from the start date."""
    entries = state.setdefault("tables", {})
    in_progress = any("run" in e for e in entries.values())
    last = state.get("last_completed_start")
    if cfg["sync_frequency_hours"] and last and not in_progress:
        elapsed = now - records.parse_iso(last)
        # 10% tolerance so a schedule equal to sync_frequency_hours never skips every other sync.
        if elapsed < timedelta(hours=cfg["sync_frequency_hours"] * 0.9):
            log.info(f"skipping this sync: the last one started {elapsed} ago and sync_frequency_hours is "
                     f"{cfg['sync_frequency_hours']}")
            return False, None
    if not cfg["enable_incremental_sync"]:
        for entry in entries.values():
            if "run" not in entry:  # a full re-read, but an unfinished traversal still resumes
                entry.pop("cursor", None)
    start = now - timedelta(days=cfg["initial_sync_days"]) if cfg["initial_sync_days"] else None
    return True, start


def probe(name: str) -> Callable[[dict[str, Any]], None]:
    """A one-record read of a collection: proves the token, the account and the read permission."""
    def read(cfg: dict[str, Any]) -> None:
        client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)}).get_json(f"/{name}", params={"per_page": 1})
    return read


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {name: probe(name) for name in TABLES}))


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Sink | None = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    sink = sink or FivetranSink()
    now = datetime.now(timezone.utc)
    go, start = plan(cfg, state, now)
    if not go:
        return
    http = client(cfg)
    sync_tables(tables(http, cfg), state, sink, start=start, stats=http.stats)
    if not any("run" in e for e in state.get("tables", {}).values()):
        state["last_completed_start"] = records.to_utc_iso(now)
        sink.checkpoint(state)


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
