"""The sync loop against an in-memory API: order of operations, resume after a kill at every
operation, and property tests over random interleavings of pages, edits, ties, faults and crashes."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synckit.errors import AuthError, ResponseError, RetriesExhausted, SyncError
from synckit.paging import Page
from synckit.sink import Crash, MemorySink
from synckit.sync import sync_table, sync_tables
from synckit.table import Table, Window

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeApi:
    """Records keyed by id with an ``updated`` time; a logical clock that ticks once per page served.
    ``order="id"``: frozen ``>= since`` filter, page numbers over id order (edits never shift rows).
    ``order="cursor"``: keyset on (updated, id), the resume token being the last key."""

    def __init__(self, n: int, tie: int, page_size: int, order: str = "id"):
        self.clock = T0 + timedelta(days=365)
        self.rows = {i: {"id": i, "updated": T0 + timedelta(minutes=i // tie), "v": 0} for i in range(n)}
        self.page_size, self.order = page_size, order
        self.hooks: list = []  # callables run before each page is served
        self.pages_served = 0

    def now(self) -> datetime:
        return self.clock

    def tick(self) -> None:
        self.clock += timedelta(seconds=1)

    def edit(self, i: int) -> None:
        self.tick()
        row = self.rows[i]
        row.update(updated=self.clock, v=row["v"] + 1)

    def insert(self) -> None:
        self.tick()
        i = max(self.rows) + 1
        self.rows[i] = {"id": i, "updated": self.clock, "v": 0}

    def truth(self) -> dict:
        return {(i,): {"id": i, "updated": iso(r["updated"]), "v": r["v"]} for i, r in self.rows.items()}

    def fetch(self, window: Window):
        while True:
            for hook in list(self.hooks):
                hook()
            self.pages_served += 1
            match = [r for r in self.rows.values() if window.since is None or r["updated"] >= window.since]
            if self.order == "id":
                page = window.resume or 0
                match.sort(key=lambda r: r["id"])
                chunk = match[page * self.page_size:(page + 1) * self.page_size]
                nxt = page + 1 if len(chunk) == self.page_size else None
            else:
                match.sort(key=lambda r: (r["updated"], r["id"]))
                if window.resume:
                    after = (datetime.fromisoformat(window.resume[0]), window.resume[1])
                    match = [r for r in match if (r["updated"], r["id"]) > after]
                chunk = match[: self.page_size]
                last = chunk[-1] if chunk else None
                nxt = [last["updated"].isoformat(), last["id"]] if len(chunk) == self.page_size else None
            self.tick()
            yield Page([{**r, "updated": iso(r["updated"])} for r in chunk], nxt)
            if nxt is None:
                return
            window = Window(window.since, nxt)

    def table(self) -> Table:
        return Table(name="t", primary_key=("id",), cursor="updated", fetch=self.fetch, row=dict,
                     columns={"id": "INT", "updated": "UTC_DATETIME", "v": "INT"})


def run(api: FakeApi, state: dict, sink: MemorySink) -> None:
    sync_tables([api.table()], state, sink, clock=api.now)


def test_checkpoint_after_every_page_and_cursor_at_the_end():
    api = FakeApi(25, tie=1, page_size=10)
    sink = MemorySink(primary_keys={"t": ("id",)})
    state: dict = {}
    run(api, state, sink)
    kinds = [op[0] for op in sink.ops]
    assert kinds == ["upsert"] * 10 + ["checkpoint"] + ["upsert"] * 10 + ["checkpoint"] + ["upsert"] * 5 + [
        "checkpoint", "checkpoint"]
    assert sink.ops[10][2]["tables"]["t"]["run"]["resume"] == 1
    assert "cursor" not in sink.ops[10][2]["tables"]["t"]  # never before the traversal ends
    assert state["tables"]["t"] == {"cursor": iso(T0 + timedelta(minutes=24))}
    assert sink.tables["t"] == api.truth()


def test_second_sync_reads_from_the_cursor_inclusively():
    api = FakeApi(30, tie=5, page_size=10)
    sink = MemorySink(primary_keys={"t": ("id",)})
    state: dict = {}
    run(api, state, sink)
    before = sink.upserts
    run(api, state, sink)
    assert sink.upserts - before == 5  # only the tie group at the cursor is re-read


def test_signpost_caps_the_cursor_so_edits_during_a_sync_are_seen_next_time():
    api = FakeApi(40, tie=1, page_size=10)
    # While page 3 is served, edit row 0 (already delivered) and then row 39 (delivered later in this
    # traversal with a newer time): the cursor must not pass row 0's new time.
    api.hooks.append(lambda: api.pages_served == 2 and (api.edit(0), api.edit(39)))
    sink = MemorySink(primary_keys={"t": ("id",)})
    state: dict = {}
    run(api, state, sink)
    api.hooks.clear()
    run(api, state, sink)
    assert sink.tables["t"] == api.truth()


@pytest.mark.parametrize("order", ["id", "cursor"])
def test_resume_after_a_kill_at_every_operation(order):
    total = 37 + 7 + 1  # upserts, one checkpoint per page, the closing checkpoint
    for kill_at in range(0, total):
        api = FakeApi(37, tie=4, page_size=6, order=order)
        state: dict = {}
        sink = MemorySink(primary_keys={"t": ("id",)}, crash_after=kill_at)
        with pytest.raises(Crash):
            run(api, state, sink)
        durable = sink.state
        sink2 = MemorySink(primary_keys={"t": ("id",)})
        sink2.tables = {k: dict(v) for k, v in sink.tables.items()}
        run(api, durable, sink2)
        assert sink2.tables["t"] == api.truth(), f"kill at {kill_at}"


def test_missing_primary_key_fails_before_the_cursor_moves():
    api = FakeApi(5, tie=1, page_size=10)
    table = Table(name="t", primary_key=("id",), cursor="updated", fetch=api.fetch,
                  row=lambda r: {k: v for k, v in r.items() if not (k == "id" and r["id"] == 3)})
    state: dict = {}
    with pytest.raises(ResponseError, match="primary key id is missing"):
        sync_table(table, state, MemorySink(), clock=api.now)
    assert "cursor" not in state["tables"]["t"]


def test_a_failing_table_does_not_stop_the_others():
    good = FakeApi(12, tie=1, page_size=5)

    def broken(window):
        raise RetriesExhausted("HTTP 500 forever")
        yield  # pragma: no cover

    tables = [Table(name="bad", primary_key=("id",), fetch=broken), good.table()]
    state: dict = {}
    sink = MemorySink(primary_keys={"t": ("id",)})
    with pytest.raises(SyncError, match="bad"):
        sync_tables(tables, state, sink, clock=good.now)
    assert sink.tables["t"] == good.truth()


def test_refused_credentials_stop_the_sync_at_once_keeping_what_was_synced():
    good = FakeApi(12, tie=1, page_size=5)
    tried: list[str] = []

    def refused(window):
        tried.append("refused")
        raise AuthError(401, "https://api.example.com/x", "invalid token")
        yield  # pragma: no cover

    def later(window):
        tried.append("later")
        yield Page([], None)

    tables = [good.table(), Table(name="refused", primary_key=("id",), fetch=refused),
              Table(name="later", primary_key=("id",), fetch=later)]
    state: dict = {}
    sink = MemorySink(primary_keys={"t": ("id",)})
    with pytest.raises(AuthError, match="invalid token"):
        sync_tables(tables, state, sink, clock=good.now)
    assert tried == ["refused"]  # the table after it was not tried with the same credentials
    assert sink.tables["t"] == good.truth() and sink.state == state


@st.composite
def scenarios(draw):
    return {
        "n": draw(st.integers(1, 60)),
        "tie": draw(st.integers(1, 12)),
        "page": draw(st.integers(1, 9)),
        "order": draw(st.sampled_from(["id", "cursor"])),
        "events": draw(st.lists(st.tuples(st.sampled_from(["edit", "insert", "crash", "fault", "none"]),
                                          st.integers(0, 10_000)), max_size=25)),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_property_no_loss_no_duplicates(sc):
    """Random edits, inserts, kills and failing pages between and during syncs: once the API is quiet,
    two syncs leave the warehouse equal to the truth, and the committed cursor never goes backwards."""
    api = FakeApi(sc["n"], sc["tie"], sc["page"], sc["order"])
    events = list(sc["events"])
    warehouse: dict = {}
    state: dict = {}
    cursors: list[str] = []

    def hook():
        if not events:
            return
        kind, x = events.pop(0)
        if kind == "edit":
            api.edit(x % len(api.rows))
        elif kind == "insert":
            api.insert()
        elif kind == "fault":
            raise RetriesExhausted("injected")
        elif kind == "crash":
            raise Crash("injected kill")

    api.hooks.append(hook)
    for _ in range(60):
        durable = copy.deepcopy(state)
        sink = MemorySink(primary_keys={"t": ("id",)})
        sink.tables = {"t": dict(warehouse)}
        try:
            run(api, state, sink)
            ok = True
        except (Crash, SyncError):
            ok = False
        warehouse = sink.tables.get("t", {})
        if not ok:
            # What survives a kill is the last checkpoint (or the state the run started from).
            state = sink.state if sink.checkpoints else durable
        cursor = state.get("tables", {}).get("t", {}).get("cursor")
        if cursor:
            cursors.append(cursor)
        if ok and not events:
            break
    api.hooks.clear()
    for _ in range(2):
        sink = MemorySink(primary_keys={"t": ("id",)})
        sink.tables = {"t": dict(warehouse)}
        run(api, state, sink)
        warehouse = sink.tables["t"]
    assert warehouse == api.truth()
    assert cursors == sorted(cursors)
