"""Awardco users -> one `user` table, through the Fivetran Connector SDK.

Two sources, chosen by `users_source`:
- `report` (default): the confirmed asynchronous Reports v2 USERS report (id 9): create, poll with
  backoff and a deadline, download `totalPages` CSV pages. A full snapshot every sync.
- `list`: the guessed `GET /api/users?page=&per_page=&updated_since=`. The filter is frozen for the
  whole traversal (the published example moved it between pages and skipped rows); the cursor moves
  only after the last page, to the largest `updated_at` delivered, capped at the sync's start.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from fivetran_connector_sdk import Connector

from synckit import (
    ApiError,
    ApiKeyHeader,
    Backoff,
    Field,
    FivetranSink,
    Http,
    Page,
    PageNumber,
    RateLimiter,
    ResponseError,
    SyncError,
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
from synckit.sink import Sink

SPEC = {
    "api_key": Field(required=True, secret=True, label="API key",
                     description="Awardco API key (sent in the apiKey header)"),
    "base_url": Field(kind="url", required=True, label="Base URL", placeholder="https://api.awardco.com",
                      description="Awardco API host, without the trailing /api",
                      check=lambda url: "must not end with /api; the connector appends /api/..." if
                      url.rstrip("/").endswith("/api") else None),
    "users_source": Field(default="report", choices=("report", "list"),
                          description="report: Reports v2 USERS report (confirmed); list: GET /api/users"),
    "updated_since_param": Field(default="updated_since",
                                 check=lambda v: None if v.replace("_", "").isalnum()
                                 else "must be a query parameter name (letters, digits, underscores)"),
    "partner_id": Field(description="optional X-Partner-Id header for partners"),
    "page_size": Field(kind=int, default=100, minimum=1, maximum=100),
    "requests_per_minute": Field(kind=int, default=60, minimum=1, maximum=6000),
    "request_timeout_seconds": Field(kind=int, default=30, minimum=1, maximum=600),
    "retry_attempts": Field(kind=int, default=5, minimum=0, maximum=20),
    "report_timeout_seconds": Field(kind=int, default=600, minimum=5, maximum=7200),
    "lookback_minutes": Field(kind=int, default=0, minimum=0, maximum=10080),
    "enable_debug_logging": Field(kind=bool, default=False),
}

USERS_REPORT_ID = 9
REPORT_COLUMNS = {"Employee ID": "employeeId", "First Name": "firstName", "Last Name": "lastName",
                  "Email": "email", "Username": "username", "Status": "status"}
COLUMNS = {
    "employeeId": "STRING", "firstName": "STRING", "lastName": "STRING", "email": "STRING",
    "username": "STRING", "status": "STRING", "balance": "DOUBLE", "currencyCode": "STRING",
    "created_at": "UTC_DATETIME", "updated_at": "UTC_DATETIME",
}


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


def list_row(record: dict) -> dict:
    row = records.flatten(record)
    return records.convert(row, {"balance": records.money, "created_at": records.iso, "updated_at": records.iso})


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


def report_row(record: dict) -> dict:
    unknown = set(record) - set(REPORT_COLUMNS)
    if None in record or unknown - {""}:
        raise ValueError(f"unexpected report columns {sorted(map(str, unknown))}")
    return {REPORT_COLUMNS[k]: (v if v != "" else None) for k, v in record.items() if k in REPORT_COLUMNS}


def parse_csv_page(response) -> list[dict]:
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "text/csv":
        raise ResponseError(f"report page {response.url} has Content-Type {ctype!r}, expected text/csv")
    text = response.content.decode("utf-8-sig")  # strips the byte-order mark Awardco puts on every page
    reader = csv.DictReader(io.StringIO(text))
    missing = set(REPORT_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ResponseError(f"report page {response.url} lacks columns {sorted(missing)}")
    rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            # A row with too few or too many fields: the page was cut short. ValueError -> retried.
            raise ValueError(f"report page {response.url} line {number} has the wrong number of fields")
    return rows


def run_report(http: Http, cfg: dict[str, Any]) -> dict[str, Any]:
    """Create the USERS report and poll it until completed; return the status body."""
    body = {"reportId": USERS_REPORT_ID, "selectedColumns": [], "selectedFilters": {}, "timezone": "UTC",
            "timeRangeOption": "all time", "paginate": True}
    created = http.json("POST", f"/api/v2/reports/{USERS_REPORT_ID}", json_body=body)
    task_id = created.get("taskId") if isinstance(created, dict) else None
    if not isinstance(task_id, int):
        raise ResponseError(f"creating the USERS report returned no integer taskId: {str(created)[:200]}")
    deadline = time.monotonic() + cfg["report_timeout_seconds"]
    delay = 1.0
    while True:
        status = http.get_json(f"/api/v2/reports/tasks/{task_id}/status")
        state = status.get("status") if isinstance(status, dict) else None
        if state == "completed":
            log.info(f"[user] USERS report task {task_id} completed with {status.get('totalPages')} page(s)")
            return status
        if state == "error":
            raise SyncError(f"the USERS report task {task_id} failed: errorCode={status.get('errorCode')} "
                            f"message={status.get('message')}")
        if state != "in progress":
            raise ResponseError(f"report task {task_id}: unexpected status {str(status)[:200]}")
        if time.monotonic() + delay > deadline:
            raise SyncError(f"the USERS report task {task_id} was still in progress after "
                            f"{cfg['report_timeout_seconds']}s (report_timeout_seconds)")
        time.sleep(delay)
        delay = min(delay * 2, 30.0)


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


def users_table(http: Http, cfg: dict[str, Any]) -> Table:
    if cfg["users_source"] == "list":
        return Table(name="user", primary_key=("employeeId",), columns=COLUMNS, cursor="updated_at",
                     fetch=lambda window: prefetch(list_pages(http, cfg, window)), row=list_row,
                     lookback=timedelta(minutes=cfg["lookback_minutes"]))
    return Table(name="user", primary_key=("employeeId",), columns=COLUMNS, cursor=None,
                 fetch=lambda window: prefetch(report_pages(http, cfg, window)), row=report_row)


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"table": "user", "primary_key": ["employeeId"], "columns": COLUMNS}]


def probe_users(cfg: dict[str, Any]) -> None:
    """The cheapest call that proves the key can read users from the configured source."""
    http = client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)})
    if cfg["users_source"] == "list":
        http.get_json("/api/users", params={"page": 1, "per_page": 1})
    else:
        body = {"reportId": USERS_REPORT_ID, "selectedColumns": [], "selectedFilters": {}, "timezone": "UTC",
                "timeRangeOption": "all time", "paginate": True}
        created = http.json("POST", f"/api/v2/reports/{USERS_REPORT_ID}", json_body=body)
        if not isinstance(created, dict) or not isinstance(created.get("taskId"), int):
            raise ResponseError("creating the USERS report returned no taskId")


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {"user": probe_users}))


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Sink | None = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    sink = sink or FivetranSink()
    http = client(cfg)
    table = users_table(http, cfg)
    entry = state.get("tables", {}).get("user", {})
    if entry.get("source") not in (None, cfg["users_source"]):
        # Switching sources invalidates resume tokens of the other kind.
        state["tables"]["user"] = {}
    sync_tables([table], state, sink, stats=http.stats)
    state.setdefault("tables", {}).setdefault("user", {})["source"] = cfg["users_source"]
    sink.checkpoint(state)


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
