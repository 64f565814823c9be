"""How records removed at the source leave the warehouse: three mechanisms, each a declaration on a Table.

- ``DeleteFeed(fetch)``: the API lists removed (or archived, or restored) records; read every sync from the
  position kept in the state.
- ``Snapshot()``: the table is re-read in full; keys delivered before but not seen in a complete traversal
  are deleted (the sync loop does this when the traversal ends).
- ``Reconcile(ids=...)`` or ``Reconcile(count=..., ids_between=...)``: every ``deletes_check_hours`` an
  id-only listing, or counts over id ranges narrowed by bisection where a count dropped, finds the keys
  that are gone.

A delete is decided only from a complete listing: a listing that fails part-way raises and deletes
nothing. A check that would delete more than ``max_share`` of a table stops and says why. Keys the
warehouse holds are tracked in the state (``synckit.keyset``); a deleted parent takes its child rows,
and ``cascade`` names the tables the API deletes with it, whose check then runs in the same sync.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import log
from .children import ChildIndex
from .errors import SyncError
from .keyset import KeySet, key_row, key_value
from .paging import Page
from .sink import Sink
from .table import Table


class DeleteSafetyError(SyncError):
    """A delete check would remove more of a table than the configured share: nothing was deleted."""


@dataclass(frozen=True)
class DeleteFeed:
    """``fetch(position)`` yields Pages of ``(op, record)`` with op ``"delete"`` (the record needs only its
    key fields) or ``"upsert"`` (a whole record, e.g. one restored from a trash); ``Page.next`` is the
    position to resume from, kept in the state."""

    fetch: Callable[[Any], Iterator[Page]]
    cascade: tuple[str, ...] = ()
    doc: str = "delete feed"


@dataclass(frozen=True)
class Snapshot:
    """Keys not seen in a complete full re-read are deleted."""

    cascade: tuple[str, ...] = ()
    doc: str = "snapshot comparison: keys missing from a complete re-read"


@dataclass(frozen=True)
class Reconcile:
    """Scheduled id reconciliation. Give ``ids`` (a complete id-only listing, pages of key values, ordered
    so that no id can be skipped while records are deleted) or ``count(lo, hi)`` with ``ids_between(lo, hi)``
    (integer ids ``lo <= id < hi``): ranges whose count dropped are halved until at most ``leaf`` known ids
    remain, and those ranges are listed."""

    ids: Callable[[], Iterator[Iterable[Any]]] | None = None
    count: Callable[[int, int], int] | None = None
    ids_between: Callable[[int, int], Iterable[Any]] | None = None
    leaf: int = 100
    cascade: tuple[str, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        if self.ids is None and (self.count is None or self.ids_between is None):
            raise ValueError("Reconcile needs ids, or count and ids_between")
        if not self.doc:
            object.__setattr__(self, "doc", "id reconciliation by " + (
                "an id-only listing" if self.ids is not None else "counts over id ranges, bisected where a "
                "count dropped") + ", every deletes_check_hours")


@dataclass(frozen=True)
class DeletePolicy:
    every_hours: float = 24.0
    max_share: float = 0.5
    clock: Callable[[], float] = field(default=time.time)


def tracks_keys(table: Table) -> bool:
    """Snapshot and Reconcile compare with the keys the warehouse holds, so the loop records them."""
    return any(isinstance(m, (Snapshot, Reconcile)) for m in table.deletes)


def check_share(table: Table, gone: int, known: int, policy: DeletePolicy) -> None:
    if gone and gone > policy.max_share * known:
        raise DeleteSafetyError(
            f"the delete check would remove {gone} of the {known} rows of {table.name} "
            f"({100 * gone / max(known, 1):.0f}%), more than max_delete_percent={100 * policy.max_share:g}; "
            "nothing was deleted. If the source really lost that much, raise max_delete_percent for one sync")


def apply(table: Table, entry: dict[str, Any], sink: Sink, gone: Iterable[Any], known: KeySet | None) -> int:
    """Delete these key values (and their child rows) and forget them."""
    children = ChildIndex(table, entry) if table.children else None
    count = 0
    for value in gone:
        keys = key_row(value, table.primary_key)
        sink.delete(table.name, keys)
        if children is not None:
            children.delete_parent(sink, keys)
        if known is not None:
            known.discard(value)
        count += 1
    if known is not None:
        entry["keys"] = known.dump()
    return count


def snapshot_gone(table: Table, known: KeySet, seen: KeySet, policy: DeletePolicy) -> list[Any]:
    gone = [k for k in known if k not in seen]
    check_share(table, len(gone), len(known), policy)
    return gone


def due(entry: dict[str, Any], policy: DeletePolicy) -> bool:
    checked = entry.get("deletes", {}).get("checked_at")
    return checked is None or policy.clock() - float(checked) >= policy.every_hours * 3600


def run_feed(table: Table, feed: DeleteFeed, entry: dict[str, Any], state: dict[str, Any], sink: Sink,
             shape: Callable[[dict], dict]) -> int:
    """Read the feed from its position; apply each item; checkpoint the position with each page."""
    marks = entry.setdefault("deletes", {})
    known = KeySet.load(entry.get("keys")) if tracks_keys(table) else None
    deleted = 0
    for page in feed.fetch(marks.get("feed")):
        removals = []
        for op, record in page.records:
            row = shape(record)
            if op == "delete":
                removals.append(key_value(row, table.primary_key))
            elif op == "upsert":
                sink.upsert(table.name, row)
                if known is not None:
                    known.add(key_value(row, table.primary_key))
            else:
                raise SyncError(f"table {table.name}: delete feed item {op!r} is neither delete nor upsert")
        deleted += apply(table, entry, sink, removals, known)
        if page.next is not None:
            marks["feed"] = page.next
        sink.checkpoint(state)
    return deleted


def reconcile(table: Table, rec: Reconcile, known: KeySet, policy: DeletePolicy) -> tuple[list[Any], KeySet | None]:
    """The key values the source no longer has, from a complete listing (raises, deleting nothing, if any
    request fails), and the complete id listing when there was one."""
    live: KeySet | None = None
    if rec.ids is not None:
        live = KeySet()
        for page in rec.ids():
            live.update(page)
        gone = [k for k in known if k not in live]
    else:
        gone = []
        bounds = known.int_bounds
        if bounds is not None:
            lo, hi = bounds[0], bounds[1] + 1
            _narrow(rec, known, lo, hi, rec.count(lo, hi), gone)  # type: ignore[misc]
    check_share(table, len(gone), len(known), policy)
    return gone, live


def _narrow(rec: Reconcile, known: KeySet, lo: int, hi: int, theirs: int, gone: list[Any]) -> None:
    mine = known.count_between(lo, hi)
    if theirs >= mine:
        return  # new ids are above every known one, so an equal count means nothing known is gone
    if mine <= rec.leaf or hi - lo <= 1:
        live = {int(v) for v in rec.ids_between(lo, hi)}  # type: ignore[misc]
        gone.extend(k for k in known.ints_between(lo, hi) if k not in live)
        return
    mid = (lo + hi) // 2
    left = rec.count(lo, mid)  # type: ignore[misc]
    _narrow(rec, known, lo, mid, left, gone)
    _narrow(rec, known, mid, hi, theirs - left, gone)


def run_checks(table: Table, entry: dict[str, Any], state: dict[str, Any], sink: Sink, policy: DeletePolicy,
               *, forced: bool, shape: Callable[[dict], dict], traffic: Callable[[], str]) -> int:
    """Every delete mechanism of one table except Snapshot (the sync loop's); returns how many were deleted."""
    deleted = 0
    for mech in table.deletes:
        if isinstance(mech, DeleteFeed):
            n = run_feed(table, mech, entry, state, sink, shape)
            if n:
                log.info(f"[{table.name}] delete feed: {n} deleted{traffic()}")
            deleted += n
        elif (isinstance(mech, Reconcile) and not forced and "checked_at" not in entry.get("deletes", {})
              and not entry.get("keys_partial")):
            # The first sync has just read every key it holds: nothing to reconcile until the next check.
            entry.setdefault("deletes", {})["checked_at"] = policy.clock()
            sink.checkpoint(state)
        elif isinstance(mech, Reconcile) and (forced or due(entry, policy)):
            known = KeySet.load(entry.get("keys"))
            held = len(known)
            gone, live = reconcile(table, mech, known, policy)
            n = apply(table, entry, sink, gone, known)
            if live is not None:
                # The complete listing is what the source holds now: it also restores keys a crash kept out
                # of the state. A listed id never delivered can only cause a delete the destination ignores.
                entry["keys"] = live.dump()
                entry.pop("keys_partial", None)
            entry.setdefault("deletes", {})["checked_at"] = policy.clock()
            sink.checkpoint(state)
            log.info(f"[{table.name}] delete check ({'cascade' if forced else 'scheduled'}): {held} keys "
                     f"known, {n} deleted{traffic()}")
            deleted += n
    return deleted
