"""Where rows and state go: the SDK's Operations in production, a recorder in tests and benchmarks."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any, Protocol


class Sink(Protocol):
    def upsert(self, table: str, row: dict[str, Any]) -> None: ...
    def delete(self, table: str, keys: dict[str, Any]) -> None: ...
    def checkpoint(self, state: dict[str, Any]) -> None: ...


class FivetranSink:
    """Calls ``fivetran_connector_sdk.Operations`` (imported lazily so the toolkit works without it)."""

    def __init__(self) -> None:
        from fivetran_connector_sdk import Operations

        self._op = Operations

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        self._op.upsert(table=table, data=row)

    def delete(self, table: str, keys: dict[str, Any]) -> None:
        self._op.delete(table=table, keys=keys)

    def checkpoint(self, state: dict[str, Any]) -> None:
        self._op.checkpoint(state=copy.deepcopy(state))


class SpacedCheckpoints:
    """Rows go to the sink at once; checkpoints at most every ``seconds`` (0: every one), since each one
    commits a batch to the destination. A deferred checkpoint keeps a copy of the state it was given (a
    consistent point), written by the next one, by ``force`` or at the end. Skipping one only moves the
    resume point back: the rows after it are read again and upserted by key, and deletes sent after it are
    found again by the feeds and checks that found them."""

    def __init__(self, sink: Sink, seconds: float, clock: Callable[[], float] = time.monotonic, *,
                 rows: int | None = None):
        self.sink, self.seconds, self.clock, self.limit = sink, seconds, clock, rows
        self.last = clock()
        self.rows = 0  # rows and deletes sent since the last checkpoint written
        self.pending: dict[str, Any] | None = None

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        self.sink.upsert(table, row)
        self.rows += 1

    def delete(self, table: str, keys: dict[str, Any]) -> None:
        self.sink.delete(table, keys)
        self.rows += 1

    def checkpoint(self, state: dict[str, Any]) -> None:
        if self.clock() - self.last >= self.seconds or (self.limit is not None and self.rows >= self.limit):
            self.force(state)
        else:
            self.pending = copy.deepcopy(state)

    def force(self, state: dict[str, Any] | None = None) -> None:
        state = state if state is not None else self.pending
        if state is not None:
            self.sink.checkpoint(state)
            self.last, self.pending, self.rows = self.clock(), None, 0


def production(seconds: float = 30.0, rows: int = 1000) -> SpacedCheckpoints:
    """The SDK's operations with a checkpoint every ``rows`` rows or ``seconds``: the destination commits every
    waiting row of every table at each checkpoint, at a cost that grows with the number of tables, and most
    tables of a wide connector are one short page per sync. Call ``force()`` when the sync ends or fails."""
    return SpacedCheckpoints(FivetranSink(), seconds, rows=rows)


class Crash(Exception):
    """Raised by MemorySink to simulate a process killed after a given number of operations."""


class MemorySink:
    """Records operations. ``tables`` holds only what a committed checkpoint made durable, like a
    warehouse does; ``crash_after`` kills the "process" at the N-th operation."""

    def __init__(self, *, primary_keys: dict[str, tuple[str, ...]] | None = None, crash_after: int | None = None,
                 keep_ops: bool = True):
        self.primary_keys = primary_keys or {}
        self.crash_after = crash_after
        self.keep_ops = keep_ops
        self.ops: list[tuple[str, str | None, Any]] = []
        self.count = 0
        self.upserts = 0
        self.tables: dict[str, dict[tuple, dict]] = {}
        self._pending: list[tuple[str, str, dict]] = []
        self.state: dict[str, Any] = {}
        self.checkpoints = 0

    def _tick(self) -> None:
        self.count += 1
        if self.crash_after is not None and self.count > self.crash_after:
            raise Crash(f"simulated kill at operation {self.count}")

    def _key(self, table: str, row: dict) -> tuple:
        pk = self.primary_keys.get(table)
        return tuple(row[k] for k in pk) if pk else tuple(sorted(row.items()))

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        self._tick()
        self.upserts += 1
        if self.keep_ops:
            self.ops.append(("upsert", table, row))
        self._pending.append(("upsert", table, row))

    def delete(self, table: str, keys: dict[str, Any]) -> None:
        self._tick()
        if self.keep_ops:
            self.ops.append(("delete", table, keys))
        self._pending.append(("delete", table, keys))

    def checkpoint(self, state: dict[str, Any]) -> None:
        self._tick()
        # The state must be JSON: the SDK serialises it, and a secret or a datetime would show here.
        snapshot = json.loads(json.dumps(state))
        if self.keep_ops:
            self.ops.append(("checkpoint", None, snapshot))
        for kind, table, row in self._pending:
            rows = self.tables.setdefault(table, {})
            if kind == "upsert":
                key = self._key(table, row)
                rows[key] = {**rows.get(key, {}), **row}
            else:
                rows.pop(self._key(table, row), None)
        self._pending.clear()
        self.state = snapshot
        self.checkpoints += 1


def deliver(sync: Callable[[Sink], Any], sink: Sink | None) -> None:
    """Run ``sync`` into the sink a test or benchmark passed, else into ``production()`` operations, whose
    last deferred checkpoint is written also when the sync fails: it covers everything written before it."""
    if sink is not None:
        sync(sink)
        return
    spaced = production()
    try:
        sync(spaced)
    finally:
        spaced.force()

