"""Act! CRM Web API -> contacts, companies, opportunities, activities, activity_types, products.

Auth: ``GET {api_path}/authorize`` with Basic credentials and ``Act-Database-Name`` returns a JWT as plain
text; data calls send it as a bearer token with the database header. The token is renewed a few minutes
before the ``exp`` claim says it expires, and once on a 401.

Paging is by keyset on (cursor, id), never by ``$skip``: each request asks for
``cursor gt X or (cursor eq X and id gt Y)`` ordered by both, where (X, Y) is the last record delivered.
Rows edited during a sync move to the end of the order and are read later in the same traversal, any
number of records may share one cursor value, and the resume token saved with each page is that key.
The traversal ends on a page shorter than ``min($top, 200)`` (200 is known to be served whole), else on
an empty page: a server cap on ``$top`` below the batch size cannot end it early.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fivetran_connector_sdk import Connector

from synckit import (
    ApiError,
    AuthError,
    Backoff,
    Field,
    FivetranSink,
    Http,
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
    redact,
    setup,
    sync_tables,
)
from synckit.config import is_loopback
from synckit.sync import SyncResult

HOSTNAME = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A timestamp as the server writes it, which is sent back verbatim as an OData literal.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})$")
DEFAULT_TOKEN_SECONDS = 50 * 60.0  # when the JWT carries no readable exp claim (tokens last 60-65 minutes)


def _hostname(value: str) -> str | None:
    if "://" in value or "/" in value:
        return "must be a host name or IP address only, without http:// and without a path (use api_path)"
    if not HOSTNAME.match(value):
        return "must be a host name or IP address (letters, digits, dots and hyphens; a port goes in 'port')"
    return None


def _api_path(value: str) -> str | None:
    if "://" in value or "?" in value or "#" in value or " " in value or ".." in value.split("/"):
        return "must be a URL path such as /act.web.api (no scheme, host, query, spaces or '..')"
    if not value.strip("/"):
        return "must name the API path, for example /act.web.api"
    return None


SPEC = {
    "protocol": Field(required=True, choices=("http", "https"), description="http or https"),
    "hostname": Field(required=True, check=_hostname, max_length=253, description="Act! Web API host"),
    "port": Field(kind=int, check=lambda p: None if 1 <= p <= 65535 else f"must be between 1 and 65535, got {p}",
                  description="optional; 80 for http and 443 for https when empty"),
    "api_path": Field(required=True, check=_api_path, description="e.g. /act.web.api"),
    "username": Field(required=True, ascii_only=False, max_length=256,
                      description="the Act! user's display name as shown in Manage Users"),
    "password": Field(required=True, secret=True, ascii_only=False, max_length=1024),
    "database_name": Field(required=True, max_length=256, description="sent in the Act-Database-Name header"),
    "batch_size": Field(kind=int, default=200, minimum=1, maximum=5000, description="$top per request"),
    "rate_limit_pause": Field(kind=float, default=0.25, minimum=0, maximum=60,
                              description="minimum seconds between two requests"),
    "default_start_date": Field(kind="date", description="first sync reads records edited on or after this"),
    "enable_debug_logging": Field(kind=bool, default=False, description="log every request (never secrets)"),
}

DATE = "UTC_DATETIME"
COMMON = {"id": "STRING", "created": DATE, "edited": DATE, "editedBy": "STRING", "recordManager": "STRING",
          "recordManagerID": "STRING", "isPrivate": "BOOLEAN"}


@dataclass(frozen=True)
class Endpoint:
    """One table: where it lives, its cursor field (None: a full snapshot) and the columns we know."""

    name: str
    path: str
    cursor: str | None
    columns: Mapping[str, str]
    id_is_guid: bool = True

    @property
    def dates(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == DATE]


ENDPOINTS = (
    Endpoint("contacts", "/api/contacts", "edited", {
        **COMMON, "firstName": "STRING", "lastName": "STRING", "fullName": "STRING", "company": "STRING",
        "companyID": "STRING", "emailAddress": "STRING", "jobTitle": "STRING", "importDate": DATE,
        "birthday": DATE, "isFavorite": "BOOLEAN", "isImported": "BOOLEAN", "isUser": "BOOLEAN",
        "businessAddress_line1": "STRING", "businessAddress_city": "STRING", "businessAddress_state": "STRING",
        "businessAddress_postalCode": "STRING", "businessAddress_country": "STRING",
        "businessAddress_latitude": "DOUBLE", "businessAddress_longitude": "DOUBLE",
        "lastResults": "STRING", "lastEmail": DATE, "lastAttempt": DATE, "lastReach": DATE,
        "lastMeeting": DATE, "lastLetterSent": DATE}),
    Endpoint("companies", "/api/companies", "edited", {
        **COMMON, "name": "STRING", "industry": "STRING", "numberOfEmployees": "LONG", "revenue": "DOUBLE",
        "phone": "STRING", "website": "STRING", "region": "STRING", "territory": "STRING", "importDate": DATE,
        "hasDivisions": "BOOLEAN", "hierarchyLevel": "INT", "parentID": "STRING", "rootParentID": "STRING",
        "address_line1": "STRING", "address_city": "STRING", "address_state": "STRING",
        "address_postalCode": "STRING", "address_country": "STRING"}),
    Endpoint("opportunities", "/api/opportunities", "edited", {
        **COMMON, "name": "STRING", "productTotal": "DOUBLE", "weightedTotal": "DOUBLE", "probability": "INT",
        "status": "INT", "contactNames": "STRING", "openDate": DATE, "estimatedCloseDate": DATE,
        "actualCloseDate": DATE, "stage_id": "STRING", "stage_name": "STRING", "stage_number": "INT",
        "contacts": "STRING", "companies": "STRING"}),
    # Activity ids are a GUID plus an occurrence date, so they are compared as strings.
    Endpoint("activities", "/api/activities", "edited", {
        **COMMON, "seriesID": "STRING", "subject": "STRING", "activityTypeId": "INT",
        "activityTypeName": "STRING", "activityPriorityId": "INT", "activityPriorityName": "STRING",
        "details": "STRING", "isCleared": "BOOLEAN", "isAlarmed": "BOOLEAN", "isTimeless": "BOOLEAN",
        "isAllDay": "BOOLEAN", "startTime": DATE, "endTime": DATE, "location": "STRING",
        "scheduledById": "STRING", "scheduledBy": "STRING", "scheduledForId": "STRING", "scheduledFor": "STRING",
        "contacts": "STRING", "companies": "STRING", "groups": "STRING", "opportunities": "STRING"}, id_is_guid=False),
    Endpoint("activity_types", "/api/task-types", None, {
        "id": "LONG", "name": "STRING", "description": "STRING", "isActive": "BOOLEAN", "isCustom": "BOOLEAN",
        "isDeletable": "BOOLEAN", "taskTypeGuid": "STRING", "historyTypes": "STRING"}),
    Endpoint("products", "/api/products", "editDate", {
        "id": "STRING", "name": "STRING", "cost": "DOUBLE", "price": "DOUBLE", "itemNumber": "STRING",
        "createDate": DATE, "editDate": DATE}),
)


# Configuration -----------------------------------------------------------------------------------------

def settings(configuration: Mapping[str, Any]) -> dict[str, Any]:
    cfg = parse(configuration, SPEC)
    cfg["api_path"] = "/" + cfg["api_path"].strip("/")
    cfg["base_url"] = base_url(cfg)
    log.set_debug(cfg["enable_debug_logging"])
    return cfg


def base_url(cfg: Mapping[str, Any]) -> str:
    """``http://192.168.7.27:8080/act.web.api``; the default port of the protocol is left out."""
    protocol, port = cfg["protocol"], cfg["port"]
    default = {"http": 80, "https": 443}[protocol]
    netloc = cfg["hostname"] if port in (None, default) else f"{cfg['hostname']}:{port}"
    return f"{protocol}://{netloc}/{cfg['api_path'].strip('/')}"


# Authentication ----------------------------------------------------------------------------------------

def jwt_lifetime(token: str, now: float | None = None) -> float | None:
    """Seconds the token is valid for, from its ``exp`` claim (``exp - iat`` when ``iat`` is present, so
    the client's clock does not matter); None when the payload cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return None
    iat = claims.get("iat")
    start = iat if isinstance(iat, (int, float)) and not isinstance(iat, bool) else (now or time.time())
    return float(exp - start)


class ActToken(RefreshingToken):
    """The Act! JWT: Basic credentials for the first token, ``Bearer <old jwt>`` to renew a token that is
    still valid, Basic again after a 401 or when renewal is refused."""

    def __init__(self, http: Http, username: str, password: str, database: str):
        self._http = http
        self._basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        redact.register(password, self._basic, self._basic.split(" ", 1)[1])
        self._database = database
        self._last: str | None = None  # the token a renewal may present
        self.renewals = 0
        super().__init__(self._authorize, margin=300.0, extra={"Act-Database-Name": database})

    def _get(self, authorization: str) -> Any:
        return self._http.request("GET", "/authorize", auth=False,
                                  headers={"Authorization": authorization, "Act-Database-Name": self._database,
                                           "Accept": "text/plain, application/json"})

    def _authorize(self) -> tuple[str, float]:
        response = None
        if self._last is not None:
            try:
                response = self._get(f"Bearer {self._last}")
                self.renewals += 1
            except ApiError as exc:  # a refused renewal is not fatal while the credentials still work
                log.info(f"Act! refused to renew the token (HTTP {exc.status}); authorizing with the username "
                         "and password")
        if response is None:
            try:
                response = self._get(self._basic)
            except AuthError as exc:
                raise AuthError(401, exc.url, "Act! refused the credentials. Check 'username' (the user's "
                                "display name as shown in Manage Users, not a login id), 'password' and "
                                "'database_name': a wrong user and a wrong database give the same bare 401"
                                ) from None
            except ApiError as exc:
                raise ApiError(exc.status, exc.url, f"{explain(exc)}") from None
        token = response.text.strip().strip('"').strip()
        if not token or any(c.isspace() for c in token) or token.startswith(("{", "[", "<")):
            raise ResponseError(f"GET {redact.mask(response.url)} returned no token (HTTP {response.status_code}, "
                                f"{len(response.text)} characters); check 'api_path'")
        redact.register(token)
        self._last = token
        lifetime = jwt_lifetime(token)
        if lifetime is None or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_SECONDS
            log.debug("the token carries no readable exp claim; renewing it after 50 minutes")
        # A few minutes early for an hour-long token; proportionally less for short ones.
        self.margin = min(300.0, lifetime / 10)
        log.debug(f"obtained an Act! token valid for {lifetime:.0f}s; renewing {self.margin:.0f}s early")
        return token, lifetime

    def invalidate(self, sent: str | None = None) -> bool:
        self._last = None  # the server rejected it: renewal must start from the credentials
        return super().invalidate(sent)


def explain(exc: ApiError) -> str:
    """The server's message plus what to check, for the statuses /authorize is known to return."""
    text = str(exc).removeprefix(f"HTTP {exc.status} from {exc.url}: ")
    if exc.status == 403:
        return (f"{text}. Act! forbids this user or address: the user needs the 'Web API Access' permission "
                "(4032), the subscription must include the API (4031), and on-premises servers may allow-list "
                "IP addresses")
    if exc.status == 404:
        return f"{text}. Nothing answers at this address: check 'hostname', 'port' and 'api_path'"
    return text


# Paging ------------------------------------------------------------------------------------------------

def extract(response: Any) -> list[dict]:
    """A bare JSON array, or ``{"value": [...], "Count": n}``; anything else is an error, not an empty page."""
    body = response.json()  # ValueError (a truncated body) is retried by Http.fetch
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return body["value"]
    shape = type(body).__name__ + (f" with keys {sorted(body)[:5]}" if isinstance(body, dict) else "")
    raise ResponseError(f"GET {redact.mask(response.url)}: expected a JSON array or an object with a 'value' "
                        f"array, got {shape}")


def id_literal(value: Any, guid: bool) -> str:
    if guid:
        text = str(value)
        if not GUID.match(text):
            raise ResponseError(f"record id {text[:60]!r} is not a GUID")
        return text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def key_of(record: Any, field: str, where: str) -> dict[str, Any]:
    """The (cursor, id) key of a raw record, cursor kept exactly as the server wrote it."""
    if not isinstance(record, dict):
        raise ResponseError(f"{where}: expected an object, got {type(record).__name__}")
    value, rid = record.get(field), record.get("id")
    if rid in (None, ""):
        raise ResponseError(f"{where}: a record has no 'id'")
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        raise ResponseError(f"{where}: record {rid} has {field}={str(value)[:40]!r}, not a timestamp with a "
                            "time zone")
    return {"at": value, "id": rid}


def keyset_filter(field: str, since: datetime | None, key: Mapping[str, Any] | None, guid: bool) -> str | None:
    """``field ge since and (field gt X or (field eq X and id gt Y))``; either part may be absent."""
    clauses = []
    if since is not None:
        clauses.append(f"{field} ge {records.to_utc_iso(since)}")
    if key is not None:
        at, rid = key["at"], id_literal(key["id"], guid)
        if not TIMESTAMP.match(str(at)):
            raise PagingError(f"the saved resume key {field}={str(at)[:40]!r} is not a timestamp")
        clauses.append(f"({field} gt {at} or ({field} eq {at} and id gt {rid}))")
    return " and ".join(clauses) or None


SERVED_WHOLE = 200  # a $top the live API is documented to serve in full; its cap, if any, is above it


def keyset_pages(http: Http, endpoint: Endpoint, window: Window, size: int) -> Iterator[Page]:
    """Pages of ``endpoint`` with cursor >= window.since, after the key window.resume, in (cursor, id) order.

    Each page must move the key forward: a page that starts at or before the previous key, goes backwards
    in time or repeats an id means the server ignored the filter or the order, and raises PagingError."""
    field = endpoint.cursor
    if field is None:
        raise ValueError(f"{endpoint.name} has no cursor field; it is read as a snapshot")
    key = window.resume
    while True:
        params: dict[str, Any] = {"$top": size, "$orderby": f"{field},id"}
        where = keyset_filter(field, window.since, key, endpoint.id_is_guid)
        if where:
            params["$filter"] = where
        rows, response = http.fetch("GET", endpoint.path, lambda r: (extract(r), r), params=params)
        if not rows:
            yield Page([], None, response)
            return
        label = f"{endpoint.name} page after {key['at']}/{key['id']}" if key else f"{endpoint.name} first page"
        keys = [key_of(r, field, label) for r in rows]
        check_forward(keys, key, window.since, label)
        key = keys[-1]
        if len(rows) < min(size, SERVED_WHOLE):
            yield Page(rows, None, response)  # short under any cap the server may have: the end
            return
        yield Page(rows, dict(key), response)


def check_forward(keys: list[dict[str, Any]], previous: Mapping[str, Any] | None, since: datetime | None,
                  label: str) -> None:
    times = [records.parse_iso(k["at"]) for k in keys]
    if since is not None and times[0] < since:
        raise PagingError(f"{label}: the server returned {keys[0]['at']}, before the requested start; "
                          "it does not honour $filter")
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise PagingError(f"{label}: records are not in cursor order; the server does not honour $orderby")
    ids = [k["id"] for k in keys]
    if len(set(map(str, ids))) != len(ids):
        raise PagingError(f"{label}: the page repeats an id")
    if previous is not None:
        before = records.parse_iso(previous["at"])
        if times[0] < before or any(t == before and str(i) == str(previous["id"]) for t, i in zip(times, ids,
                                                                                                  strict=True)):
            raise PagingError(f"{label}: the page does not move past the previous key; stopping instead of "
                              "looping")


def snapshot_pages(http: Http, endpoint: Endpoint, seen: set[Any]) -> Iterator[Page]:
    """The whole list in one response (task types are few); ``seen`` collects the ids delivered."""
    rows, response = http.fetch("GET", endpoint.path, lambda r: (extract(r), r))
    for position, row in enumerate(rows):
        if isinstance(row, dict) and row.get("id") not in (None, ""):
            seen.add(row["id"])
        else:
            raise ResponseError(f"{endpoint.name} record {position + 1} has no 'id'")
    yield Page(rows, None, response)


# Rows --------------------------------------------------------------------------------------------------

def act_time(value: Any) -> str | None:
    """Act! timestamps carry an offset; one without is refused rather than guessed to be UTC."""
    if value is None or value == "":
        return None
    return records.to_utc_iso(records.parse_iso(str(value), default_tz=None))


def shaper(endpoint: Endpoint) -> Callable[[dict], dict]:
    converters: dict[str, Callable[[Any], Any]] = {c: act_time for c in endpoint.dates}
    for column, kind in endpoint.columns.items():
        if kind == "DOUBLE":
            converters[column] = records.number
        elif kind in ("INT", "LONG") and column != "id":
            converters[column] = records.integer

    def shape(record: dict) -> dict:
        return records.convert(records.flatten(record, strict=True), converters)

    return shape


# The connector -----------------------------------------------------------------------------------------

def client(cfg: Mapping[str, Any]) -> tuple[Http, ActToken]:
    pause = cfg["rate_limit_pause"]
    http = Http(
        cfg["base_url"],
        timeout=60.0,
        backoff=Backoff(attempts=6),
        # rate_limit_pause spaces requests; X-RateLimit-* headers (Act! cloud) are followed on top of it.
        limiter=RateLimiter([(1, pause)] if pause > 0 else [], max_wait=900.0),
        headers={"Accept": "application/json"},
    )
    auth = ActToken(http, cfg["username"], cfg["password"], cfg["database_name"])
    http.auth = auth
    return http, auth


def tables(http: Http, cfg: Mapping[str, Any], seen_types: set[Any]) -> list[Table]:
    out = []
    for endpoint in ENDPOINTS:
        if endpoint.cursor is None:
            def fetch(window: Window, e: Endpoint = endpoint) -> Iterator[Page]:
                return snapshot_pages(http, e, seen_types)
        else:
            def fetch(window: Window, e: Endpoint = endpoint) -> Iterator[Page]:
                # The next page is requested while this one is written: its key travels in Page.next.
                return prefetch(keyset_pages(http, e, window, cfg["batch_size"]))
        out.append(Table(name=endpoint.name, primary_key=("id",), columns=dict(endpoint.columns),
                         cursor=endpoint.cursor, fetch=fetch, row=shaper(endpoint)))
    return out


def schema(configuration: Mapping[str, Any]) -> list[dict[str, Any]]:
    settings(configuration)  # a bad configuration fails here, before any sync
    return [{"table": e.name, "primary_key": ["id"], "columns": dict(e.columns)} for e in ENDPOINTS]


def probe(endpoint: Endpoint) -> Callable[[Mapping[str, Any]], None]:
    """A one-record read of an endpoint: proves the credentials, the database and the read permission."""
    def read(cfg: Mapping[str, Any]) -> None:
        http, _ = client(cfg)
        http.get(endpoint.path, params={"$top": 1})
    return read


def connect(cfg: Mapping[str, Any]) -> None:
    client(cfg)[1].token()


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {e.name: probe(e) for e in ENDPOINTS}, connect=connect))


def update(configuration: Mapping[str, Any], state: dict[str, Any], sink: Any = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    host = cfg["hostname"]
    if cfg["protocol"] == "http" and not is_loopback(host):
        log.warning(f"protocol is http: the password and tokens travel unencrypted to {host}; use https where "
                    "the server offers it")
    log.info(f"Act! Web API at {cfg['base_url']}, database {cfg['database_name']!r}")
    run(cfg, state, sink or FivetranSink())


def run(cfg: Mapping[str, Any], state: dict[str, Any], sink: Any) -> SyncResult:
    """One sync of every table into ``sink`` (the SDK's operations, or a MemorySink in tests)."""
    http, auth = client(cfg)
    auth.token()  # the credential check: fails once, clearly, instead of once per table
    seen_types: set[Any] = set()
    try:
        result = sync_tables(tables(http, cfg, seen_types), state, sink, start=cfg["default_start_date"],
                             stats=http.stats)
    finally:
        log.debug(f"token acquisitions: {auth.acquired}, renewals with the old token: {auth.renewals}")
    if any(t.table == "activity_types" and t.status == "ok" for t in result.tables):
        remove_vanished_types(state, seen_types, sink)
    return result


def remove_vanished_types(state: dict[str, Any], seen: set[Any], sink: Any) -> None:
    """Task types are re-read in full; one that disappeared since the last complete snapshot is deleted."""
    entry = state.setdefault("tables", {}).setdefault("activity_types", {})
    previous = set(entry.get("ids", []))
    for gone in sorted(previous - seen, key=str):
        sink.delete("activity_types", {"id": gone})
    entry["ids"] = sorted(seen, key=str)
    sink.checkpoint(state)


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()

