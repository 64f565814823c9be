"""Accelo API v0 -> companies, invoices, payments, prospects, jobs, staff, through the Fivetran Connector SDK.

How a table is read (one traversal per sync and table, resumable after a crash):
- The filter is frozen for the traversal: ``<cursor>_after(since - 1)`` (Accelo's ``_after`` is strict, so
  this reads ``>= since``), no upper bound, results in Accelo's default ascending-``id`` order. In that
  order an edit never moves a row (its id stays) and a row edited into the window only pushes later rows
  further back, so offset paging cannot skip a row that sequential reading would see.
- Pages are read in parallel by ``_offset``; each page overlaps the previous one by one row. The overlap
  proves that nothing slipped between two pages read at different moments: when a page's first id is
  above the previous page's last id (rows moved while the pages were in flight, or rows were deleted),
  the gap is re-read before the page is emitted. Rows are emitted on one thread, in page order.
- The first page is read alone: when it is short (the usual incremental sync) it is the whole traversal,
  one request. After a full first page, ``/count`` tells how many pages exist, so workers never request
  pages past the end; if the table grew, reading continues one page at a time until a short page.
- The cursor moves only at the end of a traversal, to the largest value delivered, capped at the sync's
  start (see synckit.sync). Payments have only ``date_created``: edits to a payment do not move it, so
  payments are re-read in full every ``payments_full_refresh_hours``. Staff has no date at all: a full
  snapshot each sync, with ``_fields`` limited to the declared columns.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from fivetran_connector_sdk import Connector

from synckit import (
    Backoff,
    Field,
    FivetranSink,
    Http,
    Page,
    PagingError,
    RateLimiter,
    Reconcile,
    RefreshingToken,
    ResponseError,
    Snapshot,
    Table,
    Window,
    close,
    log,
    parallel_page_numbers,
    parse,
    records,
    schema_of,
    selection,
    setup,
    sync_tables,
    typed,
)
from synckit.errors import ConfigError
from synckit.oauth import client_credentials
from synckit.records import parse_iso, to_utc_iso
from synckit.sink import Sink


def _deployment_problem(value: str) -> str | None:
    ok = value.replace("-", "").isalnum() and not value.startswith("-") and not value.endswith("-")
    if not ok or len(value) > 63 or "." in value:
        return (f"must be the deployment name only (letters, digits and hyphens), e.g. 'planet-express' for "
                f"planet-express.accelo.com; got {value[:40]!r}")
    return None


NAMES = ("companies", "invoices", "payments", "prospects", "jobs", "staff")  # the catalogue, in sync order
SPEC = {
    "deployment": Field(required=True, max_length=63, check=_deployment_problem,
                        description="the deployment name: 'planet-express' for planet-express.accelo.com"),
    "client_id": Field(required=True, max_length=320, description="OAuth2 client id of a service application"),
    "client_secret": Field(required=True, secret=True, description="OAuth2 client secret"),
    "base_url": Field(kind="url", description="default https://{deployment}.api.accelo.com; /oauth2/v0 and "
                                              "/api/v0 are appended"),
    "token_auth_method": Field(default="basic", choices=("basic", "body"),
                               description="send the client credentials as HTTP Basic or in the form body"),
    "max_workers": Field(kind=int, default=5, minimum=1, maximum=10),
    "page_size": Field(kind=int, default=100, minimum=2, maximum=100),
    "initial_sync_days": Field(kind=int, minimum=1, maximum=36500,
                               description="first sync reads this many days back (default: all history)"),
    "start_date": Field(kind="date", description="first sync reads from this date (default: all history)"),
    "request_timeout_seconds": Field(kind=int, default=30, minimum=1, maximum=600),
    "retry_attempts": Field(kind=int, default=5, minimum=0, maximum=20),
    "requests_per_hour": Field(kind=int, default=5000, minimum=1, maximum=100000),
    "rate_limit_reserve": Field(kind=int, default=100, minimum=0, maximum=100000,
                                description="requests of the hourly budget left for other integrations"),
    "on_budget_exhausted": Field(default="wait", choices=("wait", "stop")),
    "max_budget_wait_seconds": Field(kind=int, default=900, minimum=0, maximum=3600),
    "payments_full_refresh_hours": Field(kind=int, default=24, minimum=0, maximum=8760,
                                         description="re-read payments in full this often; 0: every sync"),
    "enable_debug_logging": Field(kind=bool, default=False),
    **selection.spec(NAMES),
}

# Column types; every value arrives as a string. Undeclared fields land too, as the API sends them.
_L, _S, _D, _T, _B = "LONG", "STRING", "DOUBLE", "UTC_DATETIME", "BOOLEAN"
COLUMNS: dict[str, dict[str, str]] = {
    "companies": {"id": _L, "name": _S, "date_created": _T, "date_modified": _T, "date_last_interacted": _T,
                  "phone": _S, "fax": _S, "website": _S, "comments": _S, "standing": _S, "status": _L,
                  "postal_address": _L, "default_affiliation": _L, "staff_bookmarked": _B},
    "invoices": {"id": _L, "subject": _S, "amount": _D, "tax": _D, "outstanding": _D, "date_raised": _T,
                 "date_due": _T, "date_modified": _T, "currency_id": _L, "owner_id": _L, "modified_by": _L,
                 "creator_id": _L, "created_by": _L, "contact": _L, "affiliation_id": _L, "affiliation": _L,
                 "notes": _S, "invoice_number": _S, "against_id": _L, "against_type": _S},
    "payments": {"id": _L, "receipt_id": _L, "amount": _D, "currency_id": _L, "method_id": _L, "against_id": _L,
                 "against_type": _S, "date_created": _T, "created_by_staff_id": _L, "direction": _S,
                 "payment_currency": _L, "payment_method": _L, "payment_receipt": _L},
    "prospects": {"id": _L, "title": _S, "date_created": _T, "date_actioned": _T, "date_due": _T,
                  "date_last_interacted": _T, "date_modified": _T, "value": _D, "success": _B, "progress": _D,
                  "weighting": _L, "value_weighted": _D, "status": _L, "standing": _S, "type": _L, "manager": _L,
                  "contact": _L, "affiliation": _L, "prospect_probability": _L, "comments": _S,
                  "staff_bookmarked": _B},
    "jobs": {"id": _L, "title": _S, "date_created": _T, "date_modified": _T, "date_started": _T, "date_due": _T,
             "date_commenced": _T, "date_completed": _T, "date_last_interacted": _T, "status": _L, "standing": _S,
             "type": _L, "job_type": _L, "against": _S, "against_id": _L, "against_type": _S, "company": _L,
             "manager": _L, "modified_by": _L, "rate": _L, "rate_charged": _D, "paused": _B, "affiliation": _L,
             "custom_id": _S, "staff_bookmarked": _B},
    "staff": {"id": _L, "firstname": _S, "surname": _S, "standing": _S, "financial_level": _S, "title": _S,
              "email": _S, "mobile": _S, "phone": _S, "fax": _S, "position": _S, "username": _S, "timezone": _S,
              "staff_rate": _D, "staff_cost_rate": _D},
}
assert tuple(COLUMNS) == NAMES
# The incremental field of each table: also the name of its `_after` filter. Staff has none.
CURSORS: dict[str, str | None] = {"companies": "date_modified", "invoices": "date_modified",
                                  "payments": "date_created", "prospects": "date_modified",
                                  "jobs": "date_modified", "staff": None}
# `_ALL` returns every optional field except these, which must be named (API notes, entities section 7).
NOT_IN_ALL: dict[str, tuple[str, ...]] = {"staff": ("staff_rate", "staff_cost_rate")}
# Foreign keys for the data-model docs. `against_id` is polymorphic (see `against_type`); the refs name the
# target it has in these tables. Links to entities not synced here (affiliations, contacts) are left out.
_STAFF = "staff.id"
REFS: dict[str, dict[str, str]] = {
    "companies": {},
    "invoices": {"against_id": "companies.id", "owner_id": _STAFF, "creator_id": _STAFF, "created_by": _STAFF,
                 "modified_by": _STAFF},
    "payments": {"against_id": "invoices.id", "created_by_staff_id": _STAFF},
    "prospects": {"manager": _STAFF},
    "jobs": {"company": "companies.id", "manager": _STAFF, "modified_by": _STAFF},
    "staff": {},
}
# A permanent company delete also removes its sales, projects, invoices and receipts; a receipt goes with its
# invoice. The checks of these tables then run in the same sync.
CASCADE: dict[str, tuple[str, ...]] = {"companies": ("invoices", "prospects", "jobs", "payments"),
                                       "invoices": ("payments",)}
DOCS = {
    "companies": "Client companies; deactivating one changes its standing (an update); deleting one removes its "
                 "invoices, sales, jobs and receipts",
    "invoices": "Invoices raised against a company or job (against_type, against_id)",
    "payments": "Payments (receipts) against invoices; only date_created exists, so edits are caught by a full "
                "re-read every payments_full_refresh_hours",
    "prospects": "Sales (prospects) and their pipeline values",
    "jobs": "Projects (jobs) of a company",
    "staff": "The deployment's staff; no date field, so a full snapshot every sync",
}

def _epoch(value: Any) -> str | None:
    """Unix seconds (a string) -> UTC ISO; '0' and '' are empty. A lean twin of records.epoch: it runs per cell."""
    if value is None or value == "" or value == "0":
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return records.epoch(value)  # fractions and odd forms: the general converter, which names bad values
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return records.integer(value)


def _money(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return records.money(value)


CONVERT = {_L: _integer, _S: records.text, _D: _money, _T: _epoch, _B: records.boolean}
MAX_GAP_PAGES = 200  # a gap larger than this many pages means the data churns faster than we can read it


def catalogue() -> list[Table]:
    """Every table declaration, built by the sync's own code path (no request is sent: nothing is fetched)."""
    return tables(None, {"page_size": 100, "max_workers": 1})


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    chosen = selection.chosen(configuration or {}, NAMES)
    return schema_of([t for t in catalogue() if t.name in chosen])


def settings(configuration: dict[str, Any]) -> dict[str, Any]:
    cfg = parse(configuration, SPEC)
    if cfg["initial_sync_days"] is not None and cfg["start_date"] is not None:
        raise ConfigError("start_date", "give either start_date or initial_sync_days, not both")
    if cfg["rate_limit_reserve"] >= cfg["requests_per_hour"]:
        raise ConfigError("rate_limit_reserve", f"must be below requests_per_hour ({cfg['requests_per_hour']})")
    if cfg["base_url"] is None:
        cfg["base_url"] = f"https://{cfg['deployment']}.api.accelo.com"
    elif cfg["base_url"].endswith(("/api/v0", "/oauth2/v0", "/api", "/oauth2")):
        raise ConfigError("base_url", "must be the host only (e.g. https://planet-express.api.accelo.com); "
                                      "/oauth2/v0 and /api/v0 are appended")
    log.set_debug(cfg["enable_debug_logging"])
    return cfg


def start_time(cfg: dict[str, Any], now: datetime | None = None) -> datetime | None:
    if cfg["start_date"] is not None:
        return cfg["start_date"]
    if cfg["initial_sync_days"] is not None:
        return (now or datetime.now(timezone.utc)) - timedelta(days=cfg["initial_sync_days"])
    return None


class ServerWindow(RateLimiter):
    """RateLimiter that also counts requests in flight against the server's X-RateLimit window.

    Parallel workers send before earlier answers arrive, so a header's Remaining is lowered by the requests
    still in flight, and when the window resets the new allowance is X-RateLimit-Limit minus those, instead of
    "unknown" until the first answer (which let every worker send blind and overshoot into a 429).
    """

    def __init__(self, limits: list[tuple[int, float]], **kwargs: Any):
        super().__init__(limits, **kwargs)
        self._limit: int | None = None

    def _wait_needed(self) -> float:
        if self._reset_at is not None and self._reset_at <= self._clock() and self._limit is not None:
            self._remaining, self._reset_at = self._limit - self.in_flight, None  # the window rolled over
        return super()._wait_needed()

    def update(self, headers: Any) -> None:
        # Http has called finished() for this answer already, so in_flight counts only the others.
        with self._lock:
            self._limit = _int_or(headers.get("X-RateLimit-Limit"), self._limit)
            remaining = _int_or(headers.get(self.remaining_header), None)
            if remaining is None:
                return
            reset = _int_or(headers.get(self.reset_header), None)
            now = self._clock()
            reset_at = None if reset is None else now + max(0.0, reset - self._wall() if reset > 1e9 else reset)
            fresh = max(0, remaining - self.in_flight)  # others in flight may not be counted yet
            if self._remaining is None or (self._reset_at is not None and reset_at is not None
                                           and reset_at > self._reset_at + 0.5):
                self._remaining = fresh  # a window we had not counted in
            else:
                self._remaining = min(self._remaining, fresh)
            if self._reset_at is None or (reset_at is not None and reset_at > self._reset_at + 0.5):
                self._reset_at = reset_at


def _int_or(value: Any, default: int | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else default
    except ValueError:
        return default


TOKEN_MARGIN = 300.0


def renew_early(fetch: Callable[[], tuple[str, float]]) -> Callable[[], tuple[str, float]]:
    """Renew a token TOKEN_MARGIN seconds before it expires, or at 90% of its life when it is shorter."""

    def wrapped() -> tuple[str, float]:
        token, lifetime = fetch()
        return token, lifetime if lifetime * 0.1 >= TOKEN_MARGIN else 0.9 * lifetime + TOKEN_MARGIN

    return wrapped


class Client:
    def __init__(self, http: Http, auth: RefreshingToken, limiter: ServerWindow):
        self.http, self.auth, self.limiter = http, auth, limiter


def client(cfg: dict[str, Any]) -> Client:
    """One budget for every worker; the token endpoint has its own client (Accelo does not count it)."""
    backoff = Backoff(attempts=cfg["retry_attempts"])
    token_http = Http(cfg["base_url"], None, timeout=cfg["request_timeout_seconds"], backoff=backoff)
    fetch = client_credentials(token_http, "/oauth2/v0/token", cfg["client_id"], cfg["client_secret"],
                               scope="read(all)", send=cfg["token_auth_method"], default_lifetime=2592000)
    auth = RefreshingToken(renew_early(fetch), margin=TOKEN_MARGIN)
    limiter = ServerWindow(
        [(cfg["requests_per_hour"], 3600.0)],  # our own pace when the headers are missing
        reserve=cfg["rate_limit_reserve"],
        max_wait=cfg["max_budget_wait_seconds"] if cfg["on_budget_exhausted"] == "wait" else 0.0,
    )
    http = Http(cfg["base_url"], auth, timeout=cfg["request_timeout_seconds"], backoff=backoff, limiter=limiter,
                headers={"Accept": "application/json"})
    return Client(http, auth, limiter)


def response_list(response: Any) -> list[dict]:
    """The ``response`` array of a list call; ``meta.status`` is checked, not only the HTTP code."""
    body = response.json()  # ValueError (a truncated body) is retried by Http.fetch
    if not isinstance(body, dict):
        raise ResponseError(f"GET {response.url}: expected a JSON object with meta and response")
    meta = body.get("meta")
    if isinstance(meta, dict) and meta.get("status") not in (None, "ok"):
        raise ResponseError(f"GET {response.url}: meta.status {meta.get('status')!r}: {meta.get('message')}")
    data = body.get("response")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ResponseError(f"GET {response.url}: 'response' is not a list of records")
    return data


def response_count(response: Any) -> int:
    """``{"response": {"count": "42"}}``, or the bare value some endpoints document (``{"response": "42"}``)."""
    body = response.json()
    data = body.get("response") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    if isinstance(meta, dict) and meta.get("status") not in (None, "ok"):
        raise ResponseError(f"GET {response.url}: meta.status {meta.get('status')!r}: {meta.get('message')}")
    value = data.get("count") if isinstance(data, dict) else data
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip().isdigit():
        return int(str(value).strip())
    raise ResponseError(f"GET {response.url}: no numeric count in the response (got {str(value)[:40]!r})")


def row_id(record: dict) -> int:
    try:
        return int(str(record["id"]))
    except (KeyError, ValueError):
        raise ResponseError(f"a record has no numeric id: {str(record.get('id'))[:20]!r}") from None


def check_ascending(rows: list[dict], where: str) -> None:
    ids = [row_id(r) for r in rows]
    if any(b <= a for a, b in zip(ids, ids[1:], strict=False)):
        raise PagingError(f"{where}: records are not in ascending id order, which offset paging relies on")


def last_page(count: int, limit: int) -> int:
    """Index of the last page (the first short one) when page k covers rows [k*(limit-1), k*(limit-1)+limit)."""
    return 0 if count < limit else (count - limit) // (limit - 1) + 1


class Reader:
    """Reads one table's traversal; ``pages(window)`` is the Table's fetch."""

    def __init__(self, http: Http | None, name: str, *, page_size: int, workers: int,
                 floor: datetime | None = None):
        self.http, self.name, self.limit, self.workers = http, name, page_size, workers
        self.step = page_size - 1  # one row of overlap between consecutive pages
        self.path = f"/api/v0/{name}"
        self.cursor = CURSORS[name]
        self.floor = floor  # the earliest `since` this table was ever read from (None: all history)

    def after(self, since: datetime) -> str:
        # `_after` is strict: one second less reads every row at `since` again (harmless upserts).
        return f"{self.cursor}_after({math.floor(since.timestamp()) - 1})"

    def params(self, since: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {"_fields": ",".join(("_ALL", *NOT_IN_ALL.get(self.name, ())))}
        if self.cursor and since is not None:
            params["_filters"] = self.after(since)
        return params

    # Delete checks: ids never return and new ones are larger, so a count that dropped over an id range means
    # rows of that range were deleted. Rows older than the first sync's start were never read: the same
    # filter keeps them out of the counts, or they would hide deletes.

    def id_filters(self, clauses: str) -> str:
        if self.cursor is None or self.floor is None:
            return clauses
        return f"{clauses},{self.after(self.floor)}"

    def count_ids(self, lo: int, hi: int) -> int:
        """How many records with ``lo <= id < hi``."""
        query = {"_filters": self.id_filters(f"id_greater_than({lo - 1}),id_less_than({hi})")}
        return self.http.fetch("GET", self.path + "/count", response_count, params=query)  # type: ignore[union-attr]

    def ids_between(self, lo: int, hi: int) -> Iterator[int]:
        """The ids with ``lo <= id < hi``, by id keyset (``id_greater_than`` the last one): a row deleted while
        we list cannot shift another out of view, as it could under offsets."""
        last = lo - 1
        while True:
            query = {"_fields": "id", "_limit": self.limit,
                     "_filters": self.id_filters(f"id_greater_than({last}),id_less_than({hi})")}
            rows = self.http.fetch("GET", self.path, response_list, params=query)  # type: ignore[union-attr]
            check_ascending(rows, f"{self.name} ids after {last}")
            ids = [row_id(r) for r in rows]
            if ids and (ids[0] <= last or ids[-1] >= hi):
                raise PagingError(f"{self.name}: ids {ids[0]}..{ids[-1]} outside the range asked for, "
                                  f"({last}, {hi}); nothing is deleted")
            yield from ids
            if len(rows) < self.limit:
                return
            last = ids[-1]

    def fetch_offset(self, params: dict[str, Any], offset: int) -> tuple[list[dict], Any]:
        query = {**params, "_offset": offset, "_limit": self.limit}
        return self.http.fetch("GET", self.path, lambda r: (response_list(r), r), params=query)

    def count(self, params: dict[str, Any]) -> int:
        query = {k: v for k, v in params.items() if k == "_filters"}
        return self.http.fetch("GET", self.path + "/count", response_count, params=query)

    def pages(self, window: Window) -> Iterator[Page]:
        params = self.params(window.since)
        resume = window.resume or {"page": 0, "after": None}
        page_no, after = int(resume["page"]), resume["after"]
        # The first page alone: a short one (the usual incremental sync) is the whole traversal, one request.
        # Only a full one pays for /count, which tells the workers how many pages exist.
        first, response = self.fetch_offset(params, page_no * self.step)

        def fetch(page: int) -> tuple[list[dict], Any]:
            if page > known_last:
                return [], None  # past the counted end: no request; handled below
            return self.fetch_offset(params, page * self.step)

        if len(first) < self.limit:
            known_last = page_no
            rest: Iterator[Page] = iter(())
        else:
            known_last = max(last_page(self.count(params), self.limit), page_no + 1)
            workers = max(1, min(self.workers, known_last - page_no))

            rest = parallel_page_numbers(fetch, size=self.limit, start=page_no + 1, workers=workers)
        source = itertools.chain([Page(first, page_no + 1 if known_last > page_no else None, response)], rest)
        try:
            while True:
                grew = False
                for page in source:
                    if page.response is None and page_no > known_last:
                        grew = True  # the counted pages are done and the last was full: the table grew
                        break
                    rows = page.records
                    check_ascending(rows, f"{self.name} page {page_no}")
                    extra: list[dict] = []
                    if after is not None and (not rows or row_id(rows[0]) > after):
                        # The overlap row is missing: rows moved while pages were in flight. Re-read the gap.
                        extra = self.fill_gap(params, after, row_id(rows[0]) if rows else None, page_no * self.step)
                    fresh = [r for r in rows if after is None or row_id(r) > after]
                    delivered = extra + fresh
                    if delivered:
                        after = max(after or 0, max(row_id(r) for r in delivered))
                    token = {"page": page_no + 1, "after": after} if page.next is not None else None
                    yield Page(delivered, token, page.response)
                    if token is None:
                        return
                    page_no += 1
                if not grew:
                    return
                # Read on past the count one page at a time until a short page.
                close(rest)
                known_last = math.inf  # type: ignore[assignment]
                rest = parallel_page_numbers(fetch, size=self.limit, start=page_no, workers=1)
                source = rest
        finally:
            close(rest)  # stops the worker pool when the sync stops early

    def fill_gap(self, params: dict[str, Any], after: int, before: int | None, offset: int) -> list[dict]:
        """Rows with ``after < id < before`` (no upper bound if None), read sequentially from an offset whose
        first row is at or before ``after``, up to ``before`` or the end of the table."""
        log.info(f"[{self.name}] rows moved while pages were in flight; re-reading ids {after}..{before}")
        for _ in range(MAX_GAP_PAGES):
            rows, _ = self.fetch_offset(params, offset)
            if offset == 0 or (rows and row_id(rows[0]) <= after):
                break
            offset = max(0, offset - self.step)  # rows were deleted: step back
        else:
            raise PagingError(f"{self.name}: could not find id {after} again after {MAX_GAP_PAGES} pages")
        out: list[dict] = []
        previous: int | None = None
        for _ in range(MAX_GAP_PAGES):
            check_ascending(rows, f"{self.name} offset {offset}")
            if previous is not None and rows and row_id(rows[0]) > previous:
                raise PagingError(f"{self.name}: the table changes faster than it can be read; the next sync "
                                  "resumes from the last checkpoint")
            out.extend(r for r in rows if after < row_id(r) and (before is None or row_id(r) < before)
                       and (previous is None or row_id(r) > previous))
            if len(rows) < self.limit or (before is not None and row_id(rows[-1]) >= before):
                return out
            previous = row_id(rows[-1])
            offset += self.step
            rows, _ = self.fetch_offset(params, offset)
        raise PagingError(f"{self.name}: a gap of more than {MAX_GAP_PAGES} pages opened while reading")


def shaper(name: str) -> Callable[[dict], dict]:
    """Lossless rows: declared columns converted from Accelo's strings, every other field kept (nested
    ones flattened, arrays as JSON)."""
    return typed(COLUMNS[name], {column: CONVERT[kind] for column, kind in COLUMNS[name].items()})


def tables(http: Http | None, cfg: dict[str, Any], names: tuple[str, ...] | list[str] = NAMES,
           floors: dict[str, Any] | None = None) -> list[Table]:
    """The declarations of the named tables (``http`` None: for the catalogue, never fetched from)."""
    floors = {} if floors is None else floors
    out = []
    for name in names:
        floor = parse_iso(floors[name]) if floors.get(name) else None
        reader = Reader(http, name, page_size=cfg["page_size"], workers=cfg["max_workers"], floor=floor)
        if CURSORS[name] is None:
            deletes: tuple[Any, ...] = (Snapshot(),)
        else:
            deletes = (Reconcile(count=reader.count_ids, ids_between=reader.ids_between,
                                 leaf=cfg["page_size"], cascade=CASCADE.get(name, ())),)
        out.append(Table(name=name, primary_key=("id",), columns=COLUMNS[name], cursor=CURSORS[name],
                         fetch=reader.pages, row=shaper(name), read="cursor" if CURSORS[name] else "full",
                         refs=REFS[name], deletes=deletes, doc=DOCS[name]))
    return out


def plan_floors(state: dict[str, Any], names: list[str], start: datetime | None) -> dict[str, Any]:
    """Record, before a table's traversal from the start begins, the earliest `since` it was read from: the
    delete checks count only rows at or after it. Kept in the state (``floors``); null: all history."""
    floors = state.setdefault("floors", {})
    for name in names:
        entry = state.get("tables", {}).get(name, {})
        if CURSORS[name] is None or entry.get("cursor") or "run" in entry:
            continue  # an incremental read, or a traversal under way: its since was recorded when it began
        if start is None:
            floors[name] = None
        elif name not in floors or (floors[name] is not None and parse_iso(floors[name]) > start):
            floors[name] = to_utc_iso(start)
    return floors


def plan_payments_refresh(state: dict[str, Any], cfg: dict[str, Any], now: float | None = None) -> bool:
    """Edits to a payment keep its date_created, so an incremental read never sees them: every
    ``payments_full_refresh_hours`` drop the payments cursor (between traversals only) to re-read them all."""
    entry = state.setdefault("tables", {}).setdefault("payments", {})
    if "run" in entry:
        return False  # a traversal is in progress; finish it first
    now = time.time() if now is None else now
    last = entry.get("full_refresh_at")
    if entry.get("cursor") is None or last is None or now - float(last) >= cfg["payments_full_refresh_hours"] * 3600:
        entry.pop("cursor", None)
        entry["full_refresh_at"] = now
        return True
    return False


def run(configuration: dict[str, Any], state: dict[str, Any], sink: Sink) -> Any:
    """The whole sync against any sink (the SDK's in production, a memory sink in tests and benchmarks)."""
    cfg = settings(configuration)
    names = selection.chosen(cfg, NAMES)  # a deselected table is never built: it costs no request
    api = client(cfg)
    api.auth.token()  # refused credentials fail the sync here, once, instead of once per table
    if "payments" in names and plan_payments_refresh(state, cfg):
        log.info("[payments] full re-read this sync (edits do not move date_created)")
    start = start_time(cfg)
    floors = plan_floors(state, names, start)
    result = sync_tables(tables(api.http, cfg, names, floors), state, sink, start=start, stats=api.http.stats,
                         policy=selection.policy(cfg))
    log.info(f"tokens acquired: {api.auth.acquired}; budget remaining per headers: {api.limiter.remaining}")
    return {"result": result, "stats": api.http.stats.as_dict(), "tokens": api.auth.acquired}


def probe(name: str) -> Callable[[dict[str, Any]], None]:
    """A one-record read: proves the token's scope covers the resource."""

    def read(cfg: dict[str, Any]) -> None:
        if name not in selection.chosen(cfg, NAMES):
            return  # deselected: not read, so not probed
        api = client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)})
        api.http.fetch("GET", f"/api/v0/{name}", response_list, params={"_limit": 1, "_fields": "id"})

    return read


def connect(cfg: dict[str, Any]) -> None:
    client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)}).auth.token()


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {name: probe(name) for name in NAMES}, connect=connect))


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Sink | None = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    run(configuration, state, sink or FivetranSink())


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
