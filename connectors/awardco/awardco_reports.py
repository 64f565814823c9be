"""Awardco Reports v2 event, period and programme reports -> one table each, driven by ``REPORTS``.

Every report is read by windows: event ledgers by whole UTC days of their documented date column, period
reports by calendar month, programme utilisation by its ``previous period`` and ``current period``. A
window is one report task (create, poll with a growing bounded wait, download ``totalPages`` pages); when
its last page is read, the keys it delivered replace the keys the same buckets (days, months, periods)
held before, and the keys that vanished are deleted (through a ``DeleteFeed`` that reads them from the
state). Rows carry no documented id, so the primary key ``row_key`` is derived: an id column when the
report has one, else ``<bucket>|<digest of the typed row>|<occurrence among identical rows>``. Whole
buckets are always re-read, so the same rows give the same keys.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from synckit import ApiError, DeleteFeed, Http, Page, ResponseError, SyncError, Table, log, records
from synckit.config import is_loopback
from synckit.sink import Sink

# Windows time-zone ids (what the API's `timezone` takes) -> IANA zones, for reading report times.
WINDOWS_ZONES = {
    "UTC": "UTC", "Coordinated Universal Time": "UTC", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest", "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev", "GTB Standard Time": "Europe/Bucharest",
    "Turkey Standard Time": "Europe/Istanbul", "Israel Standard Time": "Asia/Jerusalem",
    "Russian Standard Time": "Europe/Moscow", "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai", "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata", "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai", "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei", "W. Australia Standard Time": "Australia/Perth",
    "Tokyo Standard Time": "Asia/Tokyo", "Korea Standard Time": "Asia/Seoul",
    "AUS Central Standard Time": "Australia/Darwin", "Cen. Australia Standard Time": "Australia/Adelaide",
    "E. Australia Standard Time": "Australia/Brisbane", "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage", "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix", "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago", "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina", "Eastern Standard Time": "America/New_York",
    "SA Pacific Standard Time": "America/Bogota", "Atlantic Standard Time": "America/Halifax",
    "E. South America Standard Time": "America/Sao_Paulo", "Argentina Standard Time": "America/Buenos_Aires",
    "Newfoundland Standard Time": "America/St_Johns",
}

TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")


def zone_problem(value: str) -> str | None:
    if value in WINDOWS_ZONES:
        return None
    hint = " (an IANA name; the API takes Windows ids)" if "/" in value else ""
    return f"{value!r} is not a known Windows time-zone id{hint}, e.g. UTC, Pacific Standard Time, " \
           "W. Europe Standard Time, India Standard Time"


def header_key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.lower())


def camel(header: str, position: int) -> str:
    """A report header's column name: camelCase of its words (``Meta : Cost Center`` -> ``metaCostCenter``)."""
    words: list[str] = []
    for chunk in re.split(r"[^0-9A-Za-z]+", header):
        if chunk.isupper() or chunk.islower() or chunk.isdigit():
            words.append(chunk.lower())
        else:  # camelCase inside a chunk: "CostCenter"
            words += [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", chunk)]
    words = [w for w in words if w]
    if not words:
        return f"column{position}"  # a header of punctuation only, or none: keep the values anyway
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def local_time(value: Any, zone: ZoneInfo) -> str | None:
    """``2/5/2023 6:06:26 AM`` (or ISO 8601) in the request's zone -> UTC ISO; anything else raises."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    for fmt in TIME_FORMATS:
        try:
            return records.to_utc_iso(datetime.strptime(text, fmt).replace(tzinfo=zone))
        except ValueError:
            continue
    try:
        return records.iso(text, str(zone))
    except ValueError:
        raise ValueError(f"not a report date or time: {value!r}") from None


def plain_date(value: Any) -> str | None:
    """``09/26/2018`` or ``2018-09-26`` -> ``2018-09-26``."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    for parse in (lambda t: datetime.strptime(t.split(" ")[0], "%m/%d/%Y").date(),
                  lambda t: date.fromisoformat(t[:10])):
        try:
            return parse(text).isoformat()
        except ValueError:
            continue
    raise ValueError(f"not a report date: {value!r}")


# Column types -> converters; UTC_DATETIME reads the request's zone.
def converter(kind: str, zone: ZoneInfo) -> Callable[[Any], Any]:
    if kind == "UTC_DATETIME":
        return lambda v: local_time(v, zone)
    if kind == "NAIVE_DATE":
        return plain_date
    if kind in ("DOUBLE", "DECIMAL"):
        return records.money
    return records.BY_TYPE.get(kind, records.text)


# Kinds of report.
EVENTS, PERIODS, PROGRAMS = "events", "periods", "programs"
PROGRAM_PERIODS = ("previous period", "current period")
S, T, D, N = "STRING", "UTC_DATETIME", "NAIVE_DATE", "DOUBLE"
USER = "user.employeeId"


@dataclass(frozen=True)
class Report:
    """One report as one table. ``columns``: header key (lower-case letters and digits) -> (column, type);
    other headers land as strings under a camelCase column. ``date``: the header keys of the documented
    date column (the first present wins). ``ids``: header keys of a row id, the key when present.
    ``natural``: header keys naming a row in its bucket (else a digest of the whole row); ``mutable``:
    columns that change in place, left out of the digest."""

    table: str
    report_id: int
    kind: str
    columns: Mapping[str, tuple[str, str]]
    date: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    natural: tuple[str, ...] = ()
    mutable: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    lookback: str = "lookback_days"
    opt_in: bool = False
    refs: Mapping[str, str] = field(default_factory=dict)
    doc: str = ""

    def schema_columns(self) -> dict[str, str]:
        base = {"row_key": S}
        if self.kind == EVENTS:
            base["day"] = D
        elif self.kind == PERIODS:
            base.update({"period_start": D, "period_end": D})
        else:
            base["period"] = S
        return {**base, **{name: kind for name, kind in self.columns.values()}}


LEDGER = {"date": ("date", T), "transactiontype": ("transactionType", S), "type": ("type", S),
          "initiator": ("initiator", S), "initiatoremployeeid": ("initiatorEmployeeId", S),
          "employee": ("employee", S), "employeeid": ("employeeId", S), "budget": ("budget", S),
          "pointamount": ("pointAmount", N), "countrycode": ("countryCode", S), "awardnetwork": ("awardNetwork", S)}

REPORTS: tuple[Report, ...] = (
    Report("point_transactions", 11, EVENTS, LEDGER, date=("date", "createddate"),
           ids=("transactionid",), required=("date",),
           refs={"employeeId": USER, "initiatorEmployeeId": USER},
           doc="every point movement (report 11), by created date; corrections are new rows of their own type"),
    Report("recognitions", 5, EVENTS, {
        "date": ("date", T), "fromemployeeid": ("fromEmployeeId", S), "fromfullname": ("fromFullName", S),
        "toemployeeid": ("toEmployeeId", S), "tofullname": ("toFullName", S),
        "recognitionprogram": ("recognitionProgram", S), "budget": ("budget", S), "pointamount": ("pointAmount", N),
        "hashtags": ("hashtags", S), "visibility": ("visibility", S), "recognitionsource": ("recognitionSource", S),
        "recognitionid": ("recognitionId", S)},
        date=("date", "completeddate"), ids=("recognitionid",), required=("date",),
        refs={"fromEmployeeId": USER, "toEmployeeId": USER},
        doc="completed recognitions (report 5), by completion date; one vanishing from a re-read day is deleted"),
    Report("redemptions", 6, EVENTS, {
        "date": ("date", T), "fullname": ("fullName", S), "employeeid": ("employeeId", S), "type": ("type", S),
        "awardoption": ("awardOption", S), "category": ("category", S), "pointamount": ("pointAmount", N)},
        date=("date", "processeddate"), ids=("orderid",), required=("date",), refs={"employeeId": USER},
        doc="processed order lines (report 6): Redemption, Return and Adjustment rows"),
    Report("recognition_status", 7, EVENTS, {
        "createddate": ("createdDate", T), "recognitionstatus": ("recognitionStatus", S),
        "currentapprovallevel": ("currentApprovalLevel", S), "fromemployeeid": ("fromEmployeeId", S),
        "fromfullname": ("fromFullName", S), "toemployeeid": ("toEmployeeId", S), "tofullname": ("toFullName", S),
        "recognitionprogram": ("recognitionProgram", S), "budget": ("budget", S), "pointamount": ("pointAmount", N),
        "recognitionid": ("recognitionId", S)},
        date=("createddate", "date"), ids=("recognitionid",), mutable=("recognitionStatus", "currentApprovalLevel"),
        required=("createddate",), lookback="status_lookback_days",
        refs={"fromEmployeeId": USER, "toEmployeeId": USER},
        doc="recognitions in the approval pipeline (report 7), by created date, re-read for status_lookback_days "
            "(status and approval level change in place)"),
    Report("point_budgets", 12, PERIODS, {
        "budgetid": ("budgetId", S), "budgetname": ("budgetName", S), "accounttype": ("accountType", S),
        "budgetallocation": ("budgetAllocation", N), "budgetdeallocation": ("budgetDeallocation", N),
        "status": ("status", S)},
        natural=("budgetId",), required=("budgetid",),
        doc="each budget's totals per calendar month (report 12); the last and current month are re-read"),
    Report("user_point_balances", 18, PERIODS, {
        "employeeid": ("employeeId", S), "name": ("name", S), "firstname": ("firstName", S),
        "lastname": ("lastName", S), "startingbalance": ("startingBalance", N), "incoming": ("incoming", N),
        "outgoing": ("outgoing", N), "endingbalance": ("endingBalance", N)},
        natural=("employeeId",), refs={"employeeId": USER},
        doc="each user's balance movement per calendar month (report 18); keyed by employee id when the report "
            "has that column, else by a digest of the row"),
    Report("redemption_point_sources", 21, EVENTS, {
        "redemptiondate": ("redemptionDate", T), "employeeid": ("employeeId", S),
        "recognitionprogram": ("recognitionProgram", S), "budget": ("budget", S),
        "budgettaxability": ("budgetTaxability", S), "pointsspent": ("pointsSpent", N)},
        date=("redemptiondate", "date"), required=("redemptiondate",), refs={"employeeId": USER},
        doc="each redemption split by the budget and programme that funded it, first in first out (report 21)"),
    Report("money_deposits", 4, EVENTS, {
        "date": ("date", T), "type": ("type", S), "amount": ("amount", N), "currency": ("currency", S),
        "invoice": ("invoice", S), "userfullname": ("userFullName", S), "employeeid": ("employeeId", S),
        "useremail": ("userEmail", S)},
        date=("date",), required=("date",),
        doc="cash deposits into and reversals out of the Money Account (report 4)"),
    Report("redemption_account_transactions", 2, EVENTS, {
        "date": ("date", T), "transactiontype": ("transactionType", S), "amount": ("amount", N),
        "currency": ("currency", S), "invoice": ("invoice", S), "ordernumber": ("orderNumber", S)},
        date=("date", "transactiondate"), required=("date",),
        doc="deposits, reversals and orders of the Redemption Account (report 2)"),
    Report("money_spent", 3, EVENTS, {
        "date": ("date", T), "employeeid": ("employeeId", S), "fullname": ("fullName", S),
        "awardoption": ("awardOption", S), "amount": ("amount", N), "currency": ("currency", S)},
        date=("date", "redemptiondate"), ids=("orderid",), required=("date",), refs={"employeeId": USER},
        doc="redemptions in money terms (report 3)"),
    Report("funding_reconciliation", 15, EVENTS, LEDGER, date=("date",), required=("date",),
           refs={"employeeId": USER, "initiatorEmployeeId": USER},
           doc="point movements into and out of wallets, for funding invoices (report 15)"),
    Report("program_utilization", 16, PROGRAMS, {
        "recognitionprogram": ("recognitionProgram", S), "nominatoremployeeid": ("nominatorEmployeeId", S),
        "nominator": ("nominator", S), "periodstart": ("periodStart", D), "periodend": ("periodEnd", D),
        "eligible": ("eligible", S), "recognitionsgiven": ("recognitionsGiven", N),
        "pointsgiven": ("pointsGiven", N)},
        natural=("recognitionProgram", "nominatorEmployeeId"), refs={"nominatorEmployeeId": USER},
        doc="nominators' use of each programme in its previous and current period (report 16); holds those "
            "two periods"),
    Report("logins", 10, EVENTS, {
        "logindate": ("loginDate", T), "employeeid": ("employeeId", S), "fullname": ("fullName", S),
        "source": ("source", S)},
        date=("logindate", "date"), required=("logindate",), opt_in=True, refs={"employeeId": USER},
        doc="login activity (report 10, slow to generate): opt-in through tables"),
    Report("client_fulfillment", 14, EVENTS, {
        "date": ("date", T), "employeeid": ("employeeId", S), "fullname": ("fullName", S),
        "item": ("item", S), "status": ("status", S), "pointamount": ("pointAmount", N)},
        date=("date",), required=("date",), opt_in=True, refs={"employeeId": USER},
        doc="orders the client fulfils itself (report 14; columns unseen, every one lands): opt-in through tables"),
)
BY_TABLE = {r.table: r for r in REPORTS}


# Reading pages -----------------------------------------------------------------------------------------------

def page_rows(response) -> tuple[list[str], list[dict[str, Any]]]:
    """A CSV or JSON report page -> (headers, rows keyed by header), by its Content-Type."""
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype == "text/csv":
        reader = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
        headers = next(reader, None)
        if headers is None:
            raise ResponseError(f"report page {response.url} is empty: no header row")
        rows = []
        for number, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != len(headers):  # a cut page: ValueError is retried
                raise ValueError(f"report page {response.url} line {number} has the wrong number of fields")
            rows.append(dict(zip(headers, values, strict=True)))
        return headers, rows
    if ctype == "application/json":
        body = json.loads(response.content.decode("utf-8-sig"))  # ValueError (cut body) is retried
        if isinstance(body, dict):
            body = next((body[k] for k in ("data", "rows", "items", "records") if isinstance(body.get(k), list)),
                        None)
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            raise ResponseError(f"report page {response.url}: expected a JSON list of row objects (or an object "
                                f"with a 'data' list), got {type(body).__name__}")
        headers = list(dict.fromkeys(k for r in body for k in r))
        return headers, body
    raise ResponseError(f"report page {response.url} has Content-Type {ctype!r}, expected text/csv or "
                        "application/json")


class Layout:
    """How one page's headers land: the declared column for a known header, else camelCase."""

    def __init__(self, report: Report, url: str, headers: list[str], zone: ZoneInfo):
        keys = {h: header_key(h) for h in headers}
        missing = [k for k in report.required if k not in keys.values()]
        if missing:
            raise ResponseError(f"report page {url} ({report.table}) has no {', '.join(missing).upper()} column; "
                                f"columns present: {headers}")
        self.names: dict[str, str] = {}
        taken: dict[str, str] = {}
        for position, header in enumerate(headers, start=1):
            known = report.columns.get(keys[header])
            name = known[0] if known else camel(header, position)
            if name in taken or name in report.schema_columns() and not known:
                raise ResponseError(f"report page {url}: headers {taken.get(name, name)!r} and {header!r} both "
                                    f"land in {name!r}")
            taken[name] = header
            self.names[header] = name
        landed = {keys[h]: self.names[h] for h in headers}  # header key -> column
        self.date = next((landed[k] for k in report.date if k in landed), None)
        self.id = next((landed[k] for k in report.ids if k in landed), None)
        self.convert = {name: converter(kind, zone) for name, kind in report.columns.values()}

    def row(self, raw: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for header, value in raw.items():
            name = self.names.get(header)
            if name is None:
                continue  # a JSON row with a field the first row lacked is in the headers; nothing else is
            value = None if value == "" else value
            fn = self.convert.get(name)
            try:
                out[name] = fn(value) if fn else records.text(value)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column {header!r}: {exc}") from None
        return out


def digest(row: dict[str, Any], report: Report) -> str:
    """The row's identity: its natural columns, else a hash of every typed value except the mutable ones."""
    if report.natural and all(row.get(c) not in (None, "") for c in report.natural):
        return "|".join(str(row[c]) for c in report.natural)
    skip = set(report.mutable)
    text = json.dumps(sorted((k, v) for k, v in row.items() if k not in skip), default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Keys:
    """The keys one window delivered, per bucket, and the occurrence counts of identical rows."""

    def __init__(self, data: dict[str, Any] | None = None):
        data = data or {}
        self.seen: dict[str, list[str]] = data.get("seen", {})
        self.counts: dict[str, int] = data.get("counts", {})

    def key(self, bucket: str, row: dict[str, Any], report: Report, id_column: str | None) -> str:
        if id_column and row.get(id_column) not in (None, ""):
            key = str(row[id_column])
        else:
            prefix = f"{bucket}|{digest(row, report)}"
            n = self.counts.get(prefix, 0)
            self.counts[prefix] = n + 1
            key = f"{prefix}|{n}"
        self.seen.setdefault(bucket, []).append(key)
        return key

    def dump(self) -> dict[str, Any]:
        return {"seen": self.seen, "counts": self.counts}


# Windows ------------------------------------------------------------------------------------------------------

def day(d: date) -> str:
    return d.isoformat()


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def plan(report: Report, entry: dict[str, Any], cfg: dict[str, Any], today: date) -> list[list[str]]:
    """The windows this sync reads, each ``[start, end)`` as ISO days (or ``[label]`` for programmes)."""
    if report.kind == PROGRAMS:
        return [[label] for label in PROGRAM_PERIODS]
    through = entry.get("through")
    first = cfg["start_date"].date() if cfg.get("start_date") else today - timedelta(days=cfg["history_days"])
    if report.kind == PERIODS:
        lo = month_start(first)
        if through:
            lo = max(lo, month_start(month_start(today) - timedelta(days=1)))  # the last month and this one
        out = []
        while lo <= today:
            out.append([day(lo), day(next_month(lo))])
            lo = next_month(lo)
        return out
    lo = first
    if through:
        lo = max(first, date.fromisoformat(through) - timedelta(days=cfg[report.lookback]))
    out = []
    end = today + timedelta(days=1)  # today is read too, and re-read next sync: it is not over
    while lo < end:
        hi = min(end, lo + timedelta(days=cfg["window_days"]))
        out.append([day(lo), day(hi)])
        lo = hi
    return out


def after(report: Report, window: list[str], cfg: dict[str, Any], today: date) -> list[list[str]]:
    """The windows that follow one read before a crash: the rest of that traversal."""
    if report.kind == PROGRAMS:
        return [[label] for label in PROGRAM_PERIODS[PROGRAM_PERIODS.index(window[0]) + 1:]]
    lo, out = date.fromisoformat(window[1]), []
    end = today + timedelta(days=1)
    while lo < end:
        hi = next_month(lo) if report.kind == PERIODS else min(end, lo + timedelta(days=cfg["window_days"]))
        out.append([day(lo), day(hi)])
        lo = hi
    return out


def window_id(window: list[str]) -> str:
    return "/".join(window)


# Report tasks -------------------------------------------------------------------------------------------------

def local_iso(d: date, zone: ZoneInfo, minus: timedelta = timedelta(0)) -> str:
    """A UTC day boundary as the request's local time, ISO without offset (what the API reads)."""
    moment = datetime(d.year, d.month, d.day, tzinfo=timezone.utc) - minus
    return moment.astimezone(zone).replace(tzinfo=None).isoformat()


def request_body(report: Report, window: list[str], cfg: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"reportId": report.report_id, "timezone": cfg["timezone"], "paginate": True}
    if report.kind == PROGRAMS:
        body["timeRangeOption"] = window[0]
    else:
        zone = ZoneInfo(WINDOWS_ZONES[cfg["timezone"]])
        # Whole UTC days; the end is the window's last second, inclusive or not, so either reading holds.
        body["startDate"] = local_iso(date.fromisoformat(window[0]), zone)
        body["endDate"] = local_iso(date.fromisoformat(window[1]), zone, timedelta(seconds=1))
    return body


def create_task(http: Http, report_id: int, body: dict[str, Any], what: str) -> int:
    created = http.json("POST", f"/api/v2/reports/{report_id}", json_body=body)
    task_id = created.get("taskId") if isinstance(created, dict) else None
    if not isinstance(task_id, int):
        keys = sorted(created) if isinstance(created, dict) else type(created).__name__
        raise ResponseError(f"creating the {what} report returned no integer taskId; keys present: {keys}")
    return task_id


def poll(http: Http, cfg: dict[str, Any], task_id: int, what: str,
         sleep: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """Poll a task until it completes, waiting ``poll_seconds`` at first, doubling up to ``poll_max_seconds``,
    for at most ``report_timeout_seconds``. None when the task is unknown (expired): create another."""
    deadline = time.monotonic() + cfg["report_timeout_seconds"]
    delay = cfg["poll_seconds"]
    while True:
        try:
            status = http.get_json(f"/api/v2/reports/tasks/{task_id}/status")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        state = status.get("status") if isinstance(status, dict) else None
        if state == "completed":
            log.info(f"[{what}] report task {task_id} completed with {status.get('totalPages')} page(s)")
            return status
        if state == "error":
            raise TaskFailed(f"the {what} report task {task_id} failed: errorCode={status.get('errorCode')} "
                             f"message={status.get('message')}")
        if state != "in progress":
            keys = sorted(status) if isinstance(status, dict) else type(status).__name__
            raise ResponseError(f"report task {task_id}: expected status 'in progress', 'completed' or 'error', "
                                f"got {state!r}; keys present: {keys}")
        if time.monotonic() + delay > deadline:
            raise SyncError(f"the {what} report task {task_id} was still in progress after "
                            f"{cfg['report_timeout_seconds']}s (report_timeout_seconds); the next sync polls the "
                            "same task again")
        sleep(delay)
        delay = min(delay * 2, cfg["poll_max_seconds"])


class TaskFailed(SyncError):
    """The report task ended in error: a new task is needed."""


def download_target(http: Http, status: dict[str, Any]) -> tuple[str, int]:
    url, total = status.get("paginatedApiBaseUrl"), status.get("totalPages")
    if not isinstance(url, str) or not isinstance(total, int) or total < 0:
        raise ResponseError(f"the completed report gave no paginatedApiBaseUrl/totalPages; keys present: "
                            f"{sorted(status)}")
    target = http.url(url)  # relative URLs resolve against base_url; another origin is refused
    if target.startswith("http://") and not is_loopback(target.split("/")[2].split(":")[0]):
        raise SyncError("refusing to send the API key over plain http to the report download URL")
    return target, total


# The reader ---------------------------------------------------------------------------------------------------

class Reader:
    """Reads one report's windows for the sync loop; its state entry keeps ``through`` (the first day not yet
    read to its end), ``buckets`` (keys per day or period still re-read), ``tasks`` (a task per window id,
    so a crash never starts a second one) and ``vanished`` (keys to delete)."""

    def __init__(self, report: Report, http: Http, cfg: dict[str, Any], state: dict[str, Any], sink: Sink,
                 today: date):
        self.report, self.http, self.cfg, self.state, self.sink, self.today = report, http, cfg, state, sink, today
        self.zone = ZoneInfo(WINDOWS_ZONES[cfg["timezone"]])
        self.accept = "application/json" if cfg["report_format"] == "json" else "text/csv"

    @property
    def entry(self) -> dict[str, Any]:
        return self.state.setdefault("tables", {}).setdefault(self.report.table, {})

    def task(self, window: list[str], checkpoint: bool = True) -> int:
        """The window's task: the one started before (by this sync or a crashed one), else a new one."""
        tasks = self.entry.setdefault("tasks", {})
        wid = window_id(window)
        if wid not in tasks:
            tasks[wid] = create_task(self.http, self.report.report_id, request_body(self.report, window, self.cfg),
                                     self.report.table)
            if checkpoint:  # before polling: a crash resumes this task
                getattr(self.sink, "force", self.sink.checkpoint)(self.state)
        return tasks[wid]

    def start(self) -> None:
        """Start the first ``concurrent_tasks`` windows' tasks now, so every report generates on the server
        while the tables before it are read (the sync reads one table at a time)."""
        if (self.entry.get("run") or {}).get("resume"):
            return
        windows = plan(self.report, self.entry, self.cfg, self.today)[: self.cfg["concurrent_tasks"]]
        wanted = {window_id(w) for w in windows}
        self.entry["tasks"] = {k: v for k, v in self.entry.get("tasks", {}).items() if k in wanted}  # stale go
        for window in windows:
            self.task(window, checkpoint=False)

    def completed(self, window: list[str]) -> dict[str, Any]:
        for _ in range(2):
            task_id = self.task(window)
            try:
                status = poll(self.http, self.cfg, task_id, self.report.table)
            except TaskFailed:
                self.entry["tasks"].pop(window_id(window), None)  # the next sync asks for a new task
                raise
            if status is not None:
                return {**status, "taskId": task_id}
            log.info(f"[{self.report.table}] report task {task_id} is gone (expired); starting another")
            self.entry["tasks"].pop(window_id(window), None)
        raise SyncError(f"the {self.report.table} report task disappeared twice for window {window_id(window)}")

    def pages(self, resume: dict[str, Any] | None) -> Iterator[Page]:
        if resume:
            yield from self.window_pages(resume["window"], resume)
            windows = after(self.report, resume["window"], self.cfg, self.today)
        else:
            windows = plan(self.report, self.entry, self.cfg, self.today)
        for window in windows:
            yield from self.window_pages(window, None)

    def window_pages(self, window: list[str], token: dict[str, Any] | None) -> Iterator[Page]:
        if token is None:
            status = self.completed(window)
            target, total = download_target(self.http, status)
            token = {"window": window, "task": status["taskId"], "url": target, "total": total, "page": 1}
        keys = Keys(token.get("keys"))
        while token["page"] <= token["total"]:
            number = token["page"]
            rows, response = self.http.fetch("GET", token["url"], lambda r: (self.rows(r, window, keys), r),
                                             params={"page": number}, headers={"Accept": self.accept})
            token = {**token, "page": number + 1, "keys": keys.dump()}
            yield Page(rows, token, response)
        self.finish(window, keys)

    def rows(self, response, window: list[str], keys: Keys) -> list[dict[str, Any]]:
        headers, raw = page_rows(response)
        return self.shape(response.url, headers, raw, window, keys)

    def shape(self, url: str, headers: list[str], raw: list[dict[str, Any]], window: list[str], keys: Keys
              ) -> list[dict[str, Any]]:
        """Rows keyed by header -> typed rows with their bucket columns and ``row_key``."""
        layout = Layout(self.report, url, headers, self.zone)
        out = []
        for number, record in enumerate(raw, start=1):
            try:  # a value in no known form is the data's problem: no retry can fix it
                row = layout.row(record)
                bucket = self.bucket(row, window, layout)
            except ValueError as exc:
                raise ResponseError(f"report page {url} row {number}: {exc}") from None
            if bucket is None:
                continue  # outside the window's days: the window that holds it reads it
            row["row_key"] = keys.key(bucket, row, self.report, layout.id)
            out.append(row)
        return out

    def bucket(self, row: dict[str, Any], window: list[str], layout: Layout) -> str | None:
        if self.report.kind == PROGRAMS:
            row["period"] = window[0]
            return window[0]
        if self.report.kind == PERIODS:
            row["period_start"] = window[0]
            row["period_end"] = day(date.fromisoformat(window[1]) - timedelta(days=1))
            return window[0]
        when = row.get(layout.date) if layout.date else None
        if not when:
            raise ValueError(f"a {self.report.table} row has no date ({layout.date}); row: {str(row)[:200]}")
        row["day"] = when[:10]
        return row["day"] if window[0] <= row["day"] < window[1] else None

    def finish(self, window: list[str], keys: Keys) -> None:
        """The window is read to its end: its keys replace its buckets' keys; those that vanished go."""
        entry = self.entry
        buckets: dict[str, list[str]] = entry.setdefault("buckets", {})
        covered = [k for k in buckets if self.covers(window, k)] + list(keys.seen)
        vanished = set(entry.get("vanished", []))
        for bucket in set(covered):
            new = keys.seen.get(bucket, [])
            vanished |= set(buckets.get(bucket, [])) - set(new)
            vanished -= set(new)
            if new:
                buckets[bucket] = new
            else:
                buckets.pop(bucket, None)
        entry["vanished"] = sorted(vanished)
        entry.get("tasks", {}).pop(window_id(window), None)
        if self.report.kind != PROGRAMS:
            marker = self.today if self.report.kind == EVENTS else month_start(self.today)
            through = min(date.fromisoformat(window[1]), marker)
            if not entry.get("through") or day(through) > entry["through"]:
                entry["through"] = day(through)
            self.prune()

    def covers(self, window: list[str], bucket: str) -> bool:
        if self.report.kind == PROGRAMS:
            return bucket == window[0]
        return window[0] <= bucket < window[1]

    def prune(self) -> None:
        """Buckets older than anything a later sync re-reads are final: their keys leave the state."""
        if self.report.kind == PERIODS:
            keep = day(month_start(month_start(self.today) - timedelta(days=1)))
        else:
            keep = day(date.fromisoformat(self.entry["through"]) - timedelta(days=self.cfg[self.report.lookback]))
        buckets = self.entry.get("buckets", {})
        for bucket in [b for b in buckets if b < keep]:
            del buckets[bucket]

    def vanished(self, position: Any) -> Iterator[Page]:
        """The delete feed: keys that vanished from re-read windows."""
        gone = self.entry.get("vanished") or []
        if gone:
            self.entry["vanished"] = []
            log.info(f"[{self.report.table}] {len(gone)} row(s) vanished from re-read windows: deleting them")
            yield Page([("delete", {"row_key": k}) for k in gone], None)


def table(report: Report, reader: Reader | None) -> Table:
    def fetch(window):
        if reader is None:
            raise SyncError("the catalogue's tables cannot be read")
        return reader.pages(window.resume)

    def feed(position):
        return reader.vanished(position) if reader is not None else iter(())

    read = "full" if report.kind == PROGRAMS else "window"
    return Table(
        name=report.table, primary_key=("row_key",), columns=report.schema_columns(), fetch=fetch, read=read,
        refs=dict(report.refs),
        deletes=(DeleteFeed(feed, doc="rows missing from a re-read window (days within the lookback, the last "
                                      "and current month, or the two programme periods) are deleted"),),
        doc=report.doc)
