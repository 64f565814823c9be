"""Awardco users and Reports v2 reports -> the `user` table (with `user_metadata`) and one table per report
(point transactions, recognitions, redemptions, budgets, balances, finance reports: see awardco_reports.py),
through the Fivetran Connector SDK.

Two sources, chosen by `users_source`:
- `report` (default): the confirmed asynchronous Reports v2 USERS report (id 9): create, poll with
  backoff and a deadline, download `totalPages` CSV pages. A full snapshot every sync, so users missing
  from a complete snapshot are deleted (archived users stay in it: they are updates).
- `list`: the guessed `GET /api/users?page=&per_page=&updated_since=`. The filter is frozen for the
  whole traversal (the published example moved it between pages and skipped rows); the cursor moves
  only after the last page, to the largest `updated_at` delivered, capped at the sync's start. Deletes
  are found by re-listing every user every `deletes_check_hours`.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import awardco_reports as ar
from fivetran_connector_sdk import Connector

from synckit import (
    ApiError,
    ApiKeyHeader,
    AuthError,
    Backoff,
    Child,
    Field,
    FivetranSink,
    Http,
    KeySet,
    Page,
    PageNumber,
    RateLimiter,
    Reconcile,
    ResponseError,
    Snapshot,
    SyncError,
    Table,
    Window,
    log,
    parse,
    prefetch,
    records,
    schema_of,
    selection,
    setup,
    sync_tables,
)
from synckit.config import is_loopback
from synckit.sink import Sink, SpacedCheckpoints

# The selectable tables, in sync order; user_metadata comes with user. Opt-in tables sync only when named.
NAMES = ("user", *(r.table for r in ar.REPORTS))
OPT_IN = tuple(r.table for r in ar.REPORTS if r.opt_in)


def _report_columns_problem(value: str) -> str | None:
    names = [n.strip() for n in value.split(",")]
    if any(not n for n in names):
        return "must be comma-separated column names without empty entries"
    if "employeeid" not in {header_key(n) for n in names}:
        return "must include the EMPLOYEE ID column (the primary key)"
    return None


SPEC = {
    "api_key": Field(required=True, secret=True, label="API key",
                     description="Awardco API key (sent in the apiKey header)"),
    "base_url": Field(kind="url", required=True, label="Base URL", placeholder="https://api.awardco.com",
                      description="Awardco API host, without the trailing /api",
                      check=lambda url: "must not end with /api; the connector appends /api/..." if
                      url.rstrip("/").endswith("/api") else None),
    "users_source": Field(default="report", choices=("report", "list"),
                          description="report: Reports v2 USERS report (confirmed); list: GET /api/users"),
    "report_columns": Field(max_length=2000, check=_report_columns_problem,
                            description="comma-separated USERS report columns to ask for (selectedColumns); "
                                        "empty: the report's own set. Every column the report returns lands",
                            placeholder="the report's own columns"),
    "updated_since_param": Field(default="updated_since",
                                 check=lambda v: None if v.replace("_", "").isalnum()
                                 else "must be a query parameter name (letters, digits, underscores)"),
    "partner_id": Field(description="optional X-Partner-Id header for partners"),
    "page_size": Field(kind=int, default=100, minimum=1, maximum=100),
    "requests_per_minute": Field(kind=int, default=60, minimum=1, maximum=6000),
    "request_timeout_seconds": Field(kind=int, default=30, minimum=1, maximum=600),
    "retry_attempts": Field(kind=int, default=5, minimum=0, maximum=20),
    "report_timeout_seconds": Field(kind=int, default=900, minimum=1, maximum=7200,
                                    description="how long to wait for one report task to complete"),
    "poll_seconds": Field(kind=float, default=2.0, minimum=0.01, maximum=300,
                          description="the first wait between report status polls; it doubles each poll"),
    "poll_max_seconds": Field(kind=float, default=60.0, minimum=0.01, maximum=600,
                              description="the longest wait between two report status polls"),
    "timezone": Field(default="UTC", check=ar.zone_problem,
                      description="the reports' time zone, as a Windows id (UTC, Pacific Standard Time, ...); "
                                  "report times are converted to UTC"),
    "start_date": Field(kind="date", description="the first day the event reports are read from; empty: "
                                                 "history_days before the first sync"),
    "history_days": Field(kind=int, default=30, minimum=0, maximum=3650),
    "window_days": Field(kind=int, default=31, minimum=1, maximum=366,
                         description="days per report task when reading event reports"),
    "lookback_days": Field(kind=int, default=3, minimum=1, maximum=366,
                           description="whole UTC days of event reports re-read every sync (late rows, corrections)"),
    "status_lookback_days": Field(kind=int, default=90, minimum=1, maximum=731,
                                  description="days of Recognition Status re-read every sync (its rows change)"),
    **selection.checkpoints(),
    "concurrent_tasks": Field(kind=int, default=2, minimum=1, maximum=12,
                              description="report tasks started per report at the start of a sync, so they "
                                          "generate while other tables are read"),
    "report_format": Field(default="csv", choices=("csv", "json"),
                           description="the report page format asked for; either one is read, by Content-Type"),
    "lookback_minutes": Field(kind=int, default=0, minimum=0, maximum=10080),
    "enable_debug_logging": Field(kind=bool, default=False),
    **selection.spec(NAMES, tables_hint=f"{', '.join(OPT_IN)} sync only when named"),
}

USERS_REPORT_ID = 9
# USERS report headers, compared without regard to case, spacing or punctuation (the help centre writes
# them in capitals; the API's own spelling has not been observed), -> the column each lands in. A header
# not listed lands too, under a camelCase name made of its words.
REPORT_HEADERS = {
    "employeeid": "employeeId", "firstname": "firstName", "preferredname": "preferredName",
    "lastname": "lastName", "email": "email", "secondaryemail": "secondaryEmail", "username": "username",
    "phonenumber": "phoneNumber", "language": "language", "hiredate": "hireDate", "birthdate": "birthDate",
    "country": "country", "nominationapprovalids": "nominationApprovalIds", "createddate": "createdDate",
    "archiveddate": "archivedDate", "status": "status",
}
METADATA_HEADER = re.compile(r"^\s*meta(?:data)?\s*:\s*(\S.*?)\s*$", re.IGNORECASE)  # "Meta : Department"
COLUMNS = {
    "employeeId": "STRING", "firstName": "STRING", "preferredName": "STRING", "lastName": "STRING",
    "email": "STRING", "secondaryEmail": "STRING", "username": "STRING", "phoneNumber": "STRING",
    "language": "STRING", "country": "STRING", "status": "STRING", "nominationApprovalIds": "STRING",
    "hireDate": "NAIVE_DATE", "birthDate": "STRING", "createdDate": "UTC_DATETIME", "archivedDate": "UTC_DATETIME",
    "balance": "DOUBLE", "currencyCode": "STRING", "created_at": "UTC_DATETIME", "updated_at": "UTC_DATETIME",
}
# The help centre's date forms (UI exports; the API's are a guess): read in the request's time zone, UTC.
REPORT_TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
                       "%m/%d/%Y")


def report_time(value: Any) -> str | None:
    """``05/13/2020 4:01:02 PM`` (or ISO 8601) -> UTC ISO; anything else raises naming the value."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    for fmt in REPORT_TIME_FORMATS:
        try:
            return records.to_utc_iso(datetime.strptime(text, fmt).replace(tzinfo=timezone.utc))
        except ValueError:
            continue
    try:
        return records.iso(text)
    except ValueError:
        raise ValueError(f"not a report date or time: {value!r}") from None


def report_date(value: Any) -> str | None:
    """``09/26/2018`` (or ``2018-09-26``) -> ``2018-09-26``."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        return datetime.strptime(text, "%m/%d/%Y").date().isoformat()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise ValueError(f"not a report date: {value!r}") from None


row = records.typed(COLUMNS, {"balance": records.money, "createdDate": report_time, "archivedDate": report_time,
                              "hireDate": report_date})


def settings(configuration: dict[str, Any]) -> dict[str, Any]:
    cfg = parse(configuration, SPEC)
    log.set_debug(cfg["enable_debug_logging"])
    return cfg


def client(cfg: dict[str, Any]) -> Http:
    extra = {"X-Partner-Id": cfg["partner_id"]} if cfg["partner_id"] else None
    return Http(
        cfg["base_url"],
        ApiKeyHeader(cfg["api_key"], "apiKey", extra),
        timeout=cfg["request_timeout_seconds"],
        backoff=Backoff(attempts=cfg["retry_attempts"]),
        # Awardco publishes no limit and sends no X-RateLimit headers: pace ourselves.
        limiter=RateLimiter([(cfg["requests_per_minute"], 60.0)]),
        headers={"Accept": "application/json"},
    )


def list_users(response) -> list[dict]:
    body = response.json()  # a ValueError here (truncated body) is retried by Http.fetch
    if not isinstance(body, dict) or not isinstance(body.get("users"), list):
        raise ResponseError(f"GET {response.url}: expected an object with a 'users' list")
    if body.get("success") is False:
        raise ResponseError(f"GET {response.url}: success=false: {body.get('message')}")
    return body["users"]


def list_pages(http: Http, cfg: dict[str, Any], window: Window) -> Iterator[Page]:
    params = {}
    if window.since is not None:
        params[cfg["updated_since_param"]] = records.to_utc_iso(window.since)
    paginator = PageNumber(size=cfg["page_size"], page_param="page", size_param="per_page")
    try:
        yield from paginator.pages(http, "/api/users", params, list_users, window.resume)
    except ApiError as exc:
        if exc.status == 404:
            raise ApiError(404, exc.url, "the users list endpoint does not exist for this account; "
                           "set users_source to 'report'") from None
        raise


def header_key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.lower())


def header_column(header: str, position: int) -> str:
    """The column a report header lands in: a known one, else camelCase of the header's words."""
    known = REPORT_HEADERS.get(header_key(header))
    return known or ar.camel(header, position)


def report_layout(url: str, headers: list[str]) -> list[tuple[str, str]]:
    """Per CSV column: ("column", name) or ("metadata", field). The key column is required; two headers
    that land in one column are an error (one would overwrite the other)."""
    layout: list[tuple[str, str]] = []
    taken: dict[tuple[str, str], str] = {}
    for position, header in enumerate(headers, start=1):
        meta = METADATA_HEADER.match(header)
        slot = ("metadata", meta.group(1)) if meta else ("column", header_column(header, position))
        if slot in taken:
            raise ResponseError(f"report page {url}: headers {taken[slot]!r} and {header!r} both land in "
                                f"{slot[1]!r}")
        taken[slot] = header
        layout.append(slot)
    if ("column", "employeeId") not in taken:
        raise ResponseError(f"report page {url} has no EMPLOYEE ID column; columns present: {headers}")
    return layout


def parse_csv_page(response) -> list[dict]:
    """One CSV page -> records: every column by its landed name, metadata columns under ``metadata``."""
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "text/csv":
        raise ResponseError(f"report page {response.url} has Content-Type {ctype!r}, expected text/csv")
    text = response.content.decode("utf-8-sig")  # strips the byte-order mark Awardco puts on every page
    reader = csv.reader(io.StringIO(text))
    headers = next(reader, None)
    if headers is None:
        raise ResponseError(f"report page {response.url} is empty: no header row")
    layout = report_layout(response.url, headers)
    out = []
    for number, values in enumerate(reader, start=2):
        if not values:
            continue  # a blank line
        if len(values) != len(layout):
            # A row with too few or too many fields: the page was cut short. ValueError -> retried.
            raise ValueError(f"report page {response.url} line {number} has the wrong number of fields")
        record: dict[str, Any] = {}
        metadata: dict[str, str] = {}
        for (kind, name), value in zip(layout, values, strict=True):
            if kind == "metadata":
                if value != "":  # an empty metadata value is no value: its child row goes
                    metadata[name] = value
            else:
                record[name] = value if value != "" else None
        record["metadata"] = metadata
        out.append(record)
    return out


def report_request() -> dict[str, Any]:
    """The USERS report body. Empty keys are left out, as the newest client does; no Status filter, so
    archived users are in it."""
    return {"reportId": USERS_REPORT_ID, "timezone": "UTC", "timeRangeOption": "all time", "paginate": True}


def run_report(http: Http, cfg: dict[str, Any]) -> dict[str, Any]:
    """Create the USERS report and poll it until completed; return the status body."""
    body = report_request()
    if cfg["report_columns"]:
        body["selectedColumns"] = [c.strip() for c in cfg["report_columns"].split(",")]
    task_id = ar.create_task(http, USERS_REPORT_ID, body, "USERS")
    status = ar.poll(http, cfg, task_id, "USERS", sleep=lambda s: time.sleep(s))
    if status is None:
        raise SyncError(f"the USERS report task {task_id} disappeared while it was polled")
    return status


def report_pages(http: Http, cfg: dict[str, Any], window: Window) -> Iterator[Page]:
    resume = window.resume
    if resume:
        status = {"paginatedApiBaseUrl": resume["url"], "totalPages": resume["total"]}
        page = resume["page"]
    else:
        status, page = run_report(http, cfg), 1
    url, total = status.get("paginatedApiBaseUrl"), status.get("totalPages")
    if not isinstance(url, str) or not isinstance(total, int) or total < 0:
        raise ResponseError("the completed report gave no paginatedApiBaseUrl/totalPages")
    target = http.url(url)  # relative URLs resolve against base_url; another origin is refused
    if target.startswith("http://") and not is_loopback(target.split("/")[2].split(":")[0]):
        raise SyncError("refusing to send the API key over plain http to the report download URL")
    while page <= total:  # the stop rule: totalPages, never probing beyond it
        rows, response = http.fetch("GET", target, lambda r: (parse_csv_page(r), r), params={"page": page},
                                    headers={"Accept": "text/csv"})
        nxt = {"url": url, "total": total, "page": page + 1} if page < total else None
        yield Page(rows, nxt, response)
        page += 1


def list_ids(http: Http, cfg: dict[str, Any], known: Callable[[], KeySet]) -> Iterator[list[Any]]:
    """Every employeeId from the unfiltered list, for the delete check. The list pages by page number, so
    a user deleted while it is read shifts later users onto pages already read: a known user missing from
    one listing is looked for in a second one, and only a user missing from both is gone."""
    seen: set[Any] = set()
    passes = 0
    while passes < 2:
        passes += 1
        for page in list_pages(http, cfg, Window(None)):
            ids = []
            for position, record in enumerate(page.records, start=1):
                key = records.text(record.get("employeeId")) if isinstance(record, dict) else None
                if key in (None, ""):
                    raise ResponseError(f"the users list (delete check) record {position} has no employeeId")
                ids.append(key)
            seen.update(ids)
            yield ids
        missing = sum(1 for k in known() if k not in seen)
        if not missing:
            return
        if passes < 2:
            log.info(f"[user] delete check: {missing} known user(s) absent from the list; listing again to "
                     "confirm (a delete during a page-number listing can hide a user)")


def tables(http: Http | None, cfg: dict[str, Any], state: dict[str, Any] | None = None,
           names: list[str] | tuple[str, ...] = NAMES, readers: dict[str, ar.Reader] | None = None) -> list[Table]:
    """The chosen tables; ``catalogue()`` calls this with no client, and nothing here sends a request."""
    reports = [ar.table(r, (readers or {}).get(r.table)) for r in ar.REPORTS if r.table in names]
    return user_tables(http, cfg, state, names) + reports


def user_tables(http: Http | None, cfg: dict[str, Any], state: dict[str, Any] | None,
                names: list[str] | tuple[str, ...]) -> list[Table]:
    if "user" not in names:
        return []

    def known() -> KeySet:
        # The keys the warehouse holds, as the sync loop keeps them in the state.
        return KeySet.load(((state or {}).get("tables", {}).get("user") or {}).get("keys"))

    metadata = Child("metadata", mapping=True,
                     doc="the user's metadata fields (the report's 'Meta : <field>' columns), one row per field")
    if cfg["users_source"] == "list":
        return [Table(
            name="user", primary_key=("employeeId",), columns=COLUMNS, cursor="updated_at", read="cursor",
            fetch=lambda window: prefetch(list_pages(http, cfg, window)), row=row, children=(metadata,),
            lookback=timedelta(minutes=cfg["lookback_minutes"]),
            deletes=(Reconcile(ids=lambda: list_ids(http, cfg, known),
                               doc="every deletes_check_hours the whole users list is read for its ids (twice "
                                   "when a known user is missing); absent users are deleted"),),
            doc="Awardco users from the users list (users_source=list), incremental by updated_at")]
    return [Table(
        name="user", primary_key=("employeeId",), columns=COLUMNS, cursor=None, read="full",
        fetch=lambda window: prefetch(report_pages(http, cfg, window)), row=row, children=(metadata,),
        deletes=(Snapshot(doc="snapshot comparison: users missing from a complete USERS report are deleted; "
                              "archived users stay in it, as updates"),),
        doc="Awardco users, active and archived, from the Reports v2 USERS report (a full snapshot every sync); "
            "with users_source=list, from the users list by updated_at, deletes by id reconciliation")]


def defaults() -> dict[str, Any]:
    return {key: field.default for key, field in SPEC.items()}


def catalogue() -> list[Table]:
    """Every table as the sync declares it (the default source), for schema() and the data-model docs."""
    return tables(None, defaults())


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    # The columns are the same for both sources, so the schema does not depend on the configuration.
    return schema_of(catalogue())


def probe_users(cfg: dict[str, Any]) -> None:
    """The cheapest call that proves the key can read users from the configured source."""
    if "user" not in selection.chosen(cfg, NAMES):
        return  # a deselected table costs no request
    http = client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)})
    if cfg["users_source"] == "list":
        http.get_json("/api/users", params={"page": 1, "per_page": 1})
    else:
        created = http.json("POST", f"/api/v2/reports/{USERS_REPORT_ID}", json_body=report_request())
        if not isinstance(created, dict) or not isinstance(created.get("taskId"), int):
            raise ResponseError("creating the USERS report returned no taskId")


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {"user": probe_users}))


def chosen(cfg: dict[str, Any]) -> list[str]:
    """The tables to sync: those named in ``tables``, else every table but the opt-in ones."""
    names = selection.chosen(cfg, NAMES)
    return names if cfg.get("tables") else [n for n in names if n not in OPT_IN]


def today() -> date:
    return datetime.now(timezone.utc).date()


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Sink | None = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    names = chosen(cfg)
    spaced = SpacedCheckpoints(sink or FivetranSink(), cfg["checkpoint_seconds"])
    try:
        sync(cfg, names, state, spaced)
    finally:
        spaced.force()  # the last deferred checkpoint, also when the sync fails


def sync(cfg: dict[str, Any], names: list[str], state: dict[str, Any], sink: SpacedCheckpoints) -> None:
    http = client(cfg)
    entry = state.get("tables", {}).get("user", {})
    if entry.get("source") not in (None, cfg["users_source"]):
        # Switching sources invalidates resume tokens and cursors of the other kind; the keys and child
        # index describe the warehouse, which still holds those rows, so they stay for the delete checks.
        state["tables"]["user"] = {k: v for k, v in entry.items() if k in ("keys", "children")}
        if cfg["users_source"] == "list" and "keys" in entry:
            # Those keys were not read from the list: its delete check is due at once (checked at epoch 0).
            state["tables"]["user"]["deletes"] = {"checked_at": 0}
    day = today()  # one day for the whole sync: every table plans its windows from it
    readers = {r.table: ar.Reader(r, http, cfg, state, sink, day) for r in ar.REPORTS if r.table in names}
    for reader in readers.values():
        # Every report's first task starts now and generates on the server while earlier tables are read.
        try:
            reader.start()
        except AuthError:
            raise
        except SyncError as exc:  # the table's own read asks again, and fails alone if it must
            log.warning(f"[{reader.report.table}] could not start its report task yet: {exc}")
    sink.force(state)  # the started tasks' ids: a crash from here on reuses them
    sync_tables(tables(http, cfg, state, names, readers), state, sink, stats=http.stats,
                policy=selection.policy(cfg))
    if "user" in names:
        state.setdefault("tables", {}).setdefault("user", {})["source"] = cfg["users_source"]
    sink.checkpoint(state)


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
