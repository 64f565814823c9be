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

from . import deletes as dl
from . import log
from .children import ChildIndex, child_rows, strip
from .errors import AuthError, BudgetExhausted, ResponseError, SyncError
from .keyset import KeySet, key_value
from .records import is_canonical, parse_iso, to_utc_iso
from .sink import Sink
from .table import Child, Table, Window

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
    deleted: int = 0
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
    policy: dl.DeletePolicy | None = None,
) -> TableResult:
    """Sync one table; raises on any failure after checkpointing what was delivered."""
    began = time.monotonic()
    traffic = Traffic(stats)

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
    known = KeySet.load(entry.get("keys")) if dl.tracks_keys(table) else None
    snapshot = next((m for m in table.deletes if isinstance(m, dl.Snapshot)), None)
    if snapshot is not None and table.read not in ("full", "fanout"):  # a fan-out over every parent is complete
        raise SyncError(f"table {table.name}: snapshot deletes need a full re-read, not {table.read!r}")
    seen = KeySet.load(run.get("seen")) if snapshot is not None else None
    children = ChildIndex(table, entry) if table.children else None
    for page in table.fetch(Window(since, run["resume"])):
        if first:
            # Cap the signpost by the server's own clock so clock skew cannot move it past real edits.
            server = server_time(page.response)
            if server is not None:
                run["signpost"] = to_utc_iso(min(parse_iso(run["signpost"]), server - timedelta(seconds=1)))
            first = False
        for position, record in enumerate(page.records):
            row, kids = _shape(table, record, result.pages, position)
            sink.upsert(table.name, row)
            if children is not None:
                children.replace(sink, row, kids)
            if known is not None:
                key = key_value(row, table.primary_key)
                known.add(key)
                if seen is not None:
                    seen.add(key)
            if table.cursor is not None:
                observe(run, row.get(table.cursor))
        result.rows += len(page.records)
        result.pages += 1
        run["resume"] = page.next
        if known is not None and not known.has_others:
            # Integer ids are ranges, cheap to write with every page. Other keys are written when the
            # traversal ends: a crash before then leaves the state without them, which costs a missed
            # delete at worst (never a wrong one), and the next complete snapshot or id listing restores them.
            entry["keys"] = known.dump()
        if seen is not None:
            run["seen"] = seen.dump()
        sink.checkpoint(state)
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            log.info(f"[{table.name}] progress: {result.rows} rows in {result.pages} pages{traffic(result)}")
    unsafe: SyncError | None = None
    if seen is not None and known is not None:
        run.pop("seen", None)
        try:
            known.update(seen)  # keys of pages read before a crash are in the run's seen set, maybe not in known
            gone = dl.snapshot_gone(table, known, seen, policy or dl.DeletePolicy())
            result.deleted = dl.apply(table, entry, sink, gone, known)
        except dl.DeleteSafetyError as exc:
            unsafe = exc
    if known is not None:
        entry["keys"] = known.dump()
        if resumed and known.has_others:
            entry["keys_partial"] = True  # keys of pages before the crash were never written: a listing restores them
    finish_run(entry)
    sink.checkpoint(state)
    if unsafe is not None:
        raise unsafe
    result.cursor = entry.get("cursor")
    result.seconds = time.monotonic() - began
    log.info(
        f"[{table.name}] done: {result.rows} rows in {result.pages} pages, {result.seconds:.1f}s"
        f"{traffic(result)}, cursor now {result.cursor}" + (f", {result.deleted} deleted" if result.deleted else "")
    )
    return result


class Traffic:
    """Requests, retries and waits since it was made, from the Http stats (none without stats)."""

    def __init__(self, stats: Any) -> None:
        self.stats = stats
        self.base = stats.as_dict() if stats is not None else None

    def __call__(self, result: TableResult | None = None) -> str:
        if self.base is None:
            return ""
        now = self.stats.as_dict()
        requests = int(now["requests"] - self.base["requests"])
        retries = int(now["retries"] - self.base["retries"])
        waited = now["wait_seconds"] - self.base["wait_seconds"]
        if result is not None:
            result.requests, result.retries, result.waited = requests, retries, waited
        return (f", {requests} requests, {retries} retries, "
                f"{int(now['rate_limited'] - self.base['rate_limited'])} 429s, {waited:.1f}s waiting")


def _shape(table: Table, record: Any, page: int, position: int) -> tuple[dict[str, Any], list[tuple[Child, list]]]:
    where = f"table '{table.name}', page {page + 1}, record {position + 1}: "
    if not isinstance(record, dict):
        raise ResponseError(f"{where}expected an object, got {type(record).__name__}")
    try:
        row = table.row(strip(table, record))
    except (ValueError, TypeError, KeyError) as exc:
        raise ResponseError(f"{where}{exc}") from None
    missing = [k for k in table.primary_key if row.get(k) in (None, "")]
    if missing:
        raise ResponseError(f"{where}primary key {', '.join(missing)} is missing; the sync stops before "
                            "its cursor moves")
    try:
        kids = [(child, child_rows(table, child, record, row)) for child in table.children]
    except (ValueError, TypeError, KeyError) as exc:
        raise ResponseError(f"{where}{exc}") from None
    return row, kids


def sync_tables(
    tables: Iterable[Table],
    state: dict[str, Any],
    sink: Sink,
    *,
    start: datetime | None = None,
    stats: Any = None,
    clock: Callable[[], datetime] | None = None,
    policy: dl.DeletePolicy | None = None,
) -> SyncResult:
    """Sync every table, then run their delete checks. A failing table does not stop the others (their
    progress is checkpointed); the sync then fails naming each failed table. A spent request budget ends
    the sync cleanly."""
    result = SyncResult()
    tables = list(tables)
    policy = policy or dl.DeletePolicy()
    paused = False
    for index, table in enumerate(tables):
        try:
            result.tables.append(sync_table(table, state, sink, start=start, clock=clock, stats=stats,
                                            policy=policy))
        except BudgetExhausted as exc:
            sink.checkpoint(state)
            paused = [t.name for t in tables[index:]]
            log.warning(f"[{table.name}] {exc}. Stopping cleanly; the next sync resumes "
                        f"{', '.join(paused)} from the last checkpoint.")
            result.tables.extend(TableResult(name, status="paused", error=str(exc)) for name in paused)
            paused = True
            break
        except AuthError:
            # Refused credentials refuse every table; each further attempt would only spend request budget.
            sink.checkpoint(state)
            raise
        except SyncError as exc:
            log.severe(f"[{table.name}] failed: {exc}")
            result.tables.append(TableResult(table.name, status="failed", error=str(exc)))
    if not paused:
        _delete_checks(tables, state, sink, policy, stats, result)
    _summary(result, stats)
    if result.failed:
        names = ", ".join(f"{t.table} ({t.error})" for t in result.failed)
        raise SyncError(f"{len(result.failed)} table(s) failed and will be retried from their last "
                        f"checkpoint by the next sync: {names}")
    return result


def _delete_checks(tables: list[Table], state: dict[str, Any], sink: Sink, policy: dl.DeletePolicy, stats: Any,
                   result: SyncResult) -> None:
    """Delete feeds and reconciliations after every table's upserts, in declaration order. A table whose
    deletes cascade into another forces that table's check in the same sync (run again if it already ran)."""
    by_name = {t.name: t for t in tables}
    results = {r.table: r for r in result.tables}
    forced: set[str] = set()

    def cascade(table: Table) -> list[str]:
        return [c for m in table.deletes for c in m.cascade if c in by_name]

    for table in tables:  # a snapshot that deleted forces the check of the tables it cascades into
        if results.get(table.name) and results[table.name].deleted:
            forced.update(cascade(table))
    # Every table with a feed or a reconciliation, in order; a cascade appends its targets again.
    queue = [t.name for t in tables if any(not isinstance(m, dl.Snapshot) for m in t.deletes)]
    ran: set[str] = set()
    i = 0
    while i < len(queue):
        name = queue[i]
        i += 1
        table = by_name[name]
        row = results.get(name)
        if row is None or row.status != "ok" or (name in ran and name not in forced):
            continue
        if not any(not isinstance(m, dl.Snapshot) for m in table.deletes):
            continue  # a cascade into a table whose only mechanism is a snapshot: its next re-read finds them
        was_forced = name in forced
        forced.discard(name)
        ran.add(name)
        entry = table_state(state, name)
        traffic = Traffic(stats)
        try:
            n = dl.run_checks(table, entry, state, sink, policy, forced=was_forced,
                              shape=lambda r, t=table: _shape(t, r, 0, 0)[0], traffic=traffic)
        except BudgetExhausted as exc:
            sink.checkpoint(state)
            log.warning(f"[{name}] {exc}. The delete checks resume next sync.")
            return
        except AuthError:
            sink.checkpoint(state)
            raise
        except SyncError as exc:
            log.severe(f"[{name}] delete check failed, nothing deleted: {exc}")
            row.status, row.error = "failed", f"delete check: {exc}"
            continue
        row.deleted += n
        if n:
            for target in cascade(table):
                forced.add(target)
                queue.append(target)


def _summary(result: SyncResult, stats: Any) -> None:
    lines = [f"  {t.table:<20} {t.status:<7} rows={t.rows:<8} pages={t.pages:<6} requests={t.requests:<6} "
             f"retries={t.retries:<4} waited={t.waited:.1f}s {t.seconds:.1f}s"
             + (f" deleted={t.deleted}" if t.deleted else "") for t in result.tables]
    extra = ""
    if stats is not None:
        s = stats.as_dict()
        extra = (f"\n  requests={s['requests']} retries={s['retries']} 429s={s['rate_limited']} "
                 f"waited={s['wait_seconds']:.1f}s")
    log.info("sync summary:\n" + "\n".join(lines) + extra)
