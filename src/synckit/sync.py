"""The one sync loop: per-table cursors, a checkpoint after every page, resume mid-table after a crash.

State (plain JSON, never a secret) holds one entry per table:

    {"tables": {"user": {"cursor": "2024-06-01T12:00:00Z",          # committed: next sync reads >= this
                         "run": {"since": "...", "resume": 7,        # an unfinished traversal
                                 "max": "...", "signpost": "..."}}}}

A traversal reads ``cursor >= since`` with ``since`` frozen for the whole traversal (minus the declared
lookback). After each page the rows are upserted and the page's resume token checkpointed with them.
Only when the traversal ends does the committed cursor move, to the largest value delivered but never
past the signpost (the server's time when the traversal began): a record edited while we read it then
carries a value the next sync still reads. Inclusive filters and primary-key upserts make the
overlap harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from . import log
from .errors import AuthError, BudgetExhausted, ResponseError, SyncError
from .records import is_canonical, parse_iso, to_utc_iso
from .sink import Sink
from .table import Table, Window

PROGRESS_EVERY_SECONDS = 10.0


@dataclass
class TableResult:
    table: str
    rows: int = 0
    pages: int = 0
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    waited: float = 0.0
    cursor: str | None = None
    status: str = "ok"  # ok | failed | paused
    error: str | None = None


@dataclass
class SyncResult:
    tables: list[TableResult] = field(default_factory=list)

    @property
    def failed(self) -> list[TableResult]:
        return [t for t in self.tables if t.status == "failed"]


def table_state(state: dict[str, Any], name: str) -> dict[str, Any]:
    return state.setdefault("tables", {}).setdefault(name, {})


def start_run(entry: dict[str, Any], table: Table, start: datetime | None, now: datetime) -> dict[str, Any]:
    """Open a traversal: freeze ``since`` (committed cursor minus lookback, else the start date)."""
    cursor = entry.get("cursor")
    since: datetime | None
    if table.cursor is None:
        since = None
    elif cursor:
        since = parse_iso(cursor) - table.lookback
    else:
        since = start
    run = {"since": to_utc_iso(since) if since else None, "resume": None, "max": None,
           "signpost": to_utc_iso(now)}
    entry["run"] = run
    return run


def observe(run: dict[str, Any], value: Any) -> None:
    """Remember the largest cursor value delivered in this traversal (compared as datetimes)."""
    if value is None or value == "":
        return
    text = str(value)
    current = run["max"]
    if text == current:
        return
    if current is not None and is_canonical(text) and is_canonical(current):
        if text > current:  # same fixed-width UTC form: string order is time order
            datetime.fromisoformat(text[:19])
            run["max"] = text
        return
    value_dt = parse_iso(text)
    if run["max"] is None or value_dt > parse_iso(run["max"]):
        run["max"] = to_utc_iso(value_dt)


def finish_run(entry: dict[str, Any]) -> None:
    """Close a traversal: commit min(max delivered, signpost), never moving the cursor backwards."""
    run = entry.pop("run")
    if run.get("max") is None:
        return
    candidate = min(parse_iso(run["max"]), parse_iso(run["signpost"]))
    old = entry.get("cursor")
    if old is None or candidate > parse_iso(old):
        entry["cursor"] = to_utc_iso(candidate)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def server_time(response: Any) -> datetime | None:
    """The server's clock from a response's Date header, if any."""
    try:
        header = response.headers.get("Date") if response is not None else None
        return parsedate_to_datetime(header).astimezone(timezone.utc) if header else None
    except (TypeError, ValueError, AttributeError):
        return None


def sync_table(
    table: Table,
    state: dict[str, Any],
    sink: Sink,
    *,
    start: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
    stats: Any = None,
) -> TableResult:
    """Sync one table; raises on any failure after checkpointing what was delivered."""
    began = time.monotonic()
    base = stats.as_dict() if stats is not None else None

    def traffic(result: TableResult) -> str:
        if base is None:
            return ""
        now_stats = stats.as_dict()
        result.requests = int(now_stats["requests"] - base["requests"])
        result.retries = int(now_stats["retries"] - base["retries"])
        result.waited = now_stats["wait_seconds"] - base["wait_seconds"]
        return (f", {result.requests} requests, {result.retries} retries, "
                f"{int(now_stats['rate_limited'] - base['rate_limited'])} 429s, {result.waited:.1f}s waiting")

    entry = table_state(state, table.name)
    local_now = (clock or _utcnow)()
    run = entry.get("run")
    resumed = run is not None
    if run is None:
        run = start_run(entry, table, start, local_now)
    mode = "full" if table.cursor is None else ("incremental" if entry.get("cursor") else "initial")
    log.info(
        f"[{table.name}] start: {mode} sync, cursor={entry.get('cursor')}, since={run['since']}"
        + (f", resuming after page token {run['resume']!r}" if resumed else "")
    )
    result = TableResult(table.name)
    since = parse_iso(run["since"]) if run["since"] else None
    last_report = began
    first = not resumed
    for page in table.fetch(Window(since, run["resume"])):
        if first:
            # Cap the signpost by the server's own clock so clock skew cannot move it past real edits.
            server = server_time(page.response)
            if server is not None:
                run["signpost"] = to_utc_iso(min(parse_iso(run["signpost"]), server - timedelta(seconds=1)))
            first = False
        for position, record in enumerate(page.records):
            row = _shape(table, record, result.pages, position)
            sink.upsert(table.name, row)
            if table.cursor is not None:
                observe(run, row.get(table.cursor))
        result.rows += len(page.records)
        result.pages += 1
        run["resume"] = page.next
        sink.checkpoint(state)
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            log.info(f"[{table.name}] progress: {result.rows} rows in {result.pages} pages{traffic(result)}")
    finish_run(entry)
    sink.checkpoint(state)
    result.cursor = entry.get("cursor")
    result.seconds = time.monotonic() - began
    log.info(
        f"[{table.name}] done: {result.rows} rows in {result.pages} pages, {result.seconds:.1f}s"
        f"{traffic(result)}, cursor now {result.cursor}"
    )
    return result


def _shape(table: Table, record: Any, page: int, position: int) -> dict[str, Any]:
    where = f"table '{table.name}', page {page + 1}, record {position + 1}: "
    if not isinstance(record, dict):
        raise ResponseError(f"{where}expected an object, got {type(record).__name__}")
    try:
        row = table.row(record)
    except (ValueError, TypeError, KeyError) as exc:
        raise ResponseError(f"{where}{exc}") from None
    missing = [k for k in table.primary_key if row.get(k) in (None, "")]
    if missing:
        raise ResponseError(f"{where}primary key {', '.join(missing)} is missing; the sync stops before "
                            "its cursor moves")
    return row


def sync_tables(
    tables: Iterable[Table],
    state: dict[str, Any],
    sink: Sink,
    *,
    start: datetime | None = None,
    stats: Any = None,
    clock: Callable[[], datetime] | None = None,
) -> SyncResult:
    """Sync every table. A failing table does not stop the others (their progress is checkpointed);
    the sync then fails naming each failed table. A spent request budget ends the sync cleanly."""
    result = SyncResult()
    tables = list(tables)
    for index, table in enumerate(tables):
        try:
            result.tables.append(sync_table(table, state, sink, start=start, clock=clock, stats=stats))
        except BudgetExhausted as exc:
            sink.checkpoint(state)
            paused = [t.name for t in tables[index:]]
            log.warning(f"[{table.name}] {exc}. Stopping cleanly; the next sync resumes "
                        f"{', '.join(paused)} from the last checkpoint.")
            result.tables.extend(TableResult(name, status="paused", error=str(exc)) for name in paused)
            break
        except AuthError:
            # Refused credentials refuse every table; each further attempt would only spend request budget.
            sink.checkpoint(state)
            raise
        except SyncError as exc:
            log.severe(f"[{table.name}] failed: {exc}")
            result.tables.append(TableResult(table.name, status="failed", error=str(exc)))
    _summary(result, stats)
    if result.failed:
        names = ", ".join(f"{t.table} ({t.error})" for t in result.failed)
        raise SyncError(f"{len(result.failed)} table(s) failed and will be retried from their last "
                        f"checkpoint by the next sync: {names}")
    return result


def _summary(result: SyncResult, stats: Any) -> None:
    lines = [f"  {t.table:<20} {t.status:<7} rows={t.rows:<8} pages={t.pages:<6} requests={t.requests:<6} "
             f"retries={t.retries:<4} waited={t.waited:.1f}s {t.seconds:.1f}s" for t in result.tables]
    extra = ""
    if stats is not None:
        s = stats.as_dict()
        extra = (f"\n  requests={s['requests']} retries={s['retries']} 429s={s['rate_limited']} "
                 f"waited={s['wait_seconds']:.1f}s")
    log.info("sync summary:\n" + "\n".join(lines) + extra)
