"""The toolkit for breadth: key sets, child tables replaced with their parent, the three delete mechanisms,
the safety share, cascades and table selection; property tests where the input space is large."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synckit import (
    Child,
    ConfigError,
    DeleteFeed,
    DeletePolicy,
    KeySet,
    MemorySink,
    Page,
    Reconcile,
    Snapshot,
    SyncError,
    Table,
    parse,
    schema_of,
    selection,
    sync_tables,
    typed,
)
from synckit.keyset import key_row, key_value

# -- key sets ----------------------------------------------------------------------------------------------------

ops = st.lists(st.tuples(st.sampled_from(["add", "discard"]),
                         st.one_of(st.integers(-5, 60), st.sampled_from(["a", "b", "[x]", "c1"]))), max_size=120)


@given(ops, st.integers(-10, 70), st.integers(-10, 70))
def test_keyset_behaves_as_a_set_and_round_trips(steps, lo, hi):
    keys, model = KeySet(), set()
    for op, key in steps:
        getattr(keys, op)(key)
        getattr(model, op)(key)
    assert len(keys) == len(model)
    assert set(keys) == model
    assert all(k in keys for k in model) and 61 not in keys
    again = KeySet.load(keys.dump())
    assert set(again) == model
    ints = {k for k in model if isinstance(k, int)}
    assert keys.count_between(lo, hi) == len({k for k in ints if lo <= k < hi})
    assert list(keys.ints_between(lo, hi)) == sorted(k for k in ints if lo <= k < hi)


def test_dense_ids_cost_a_few_bytes():
    keys = KeySet()
    keys.update(range(1, 1_000_001))
    keys.discard(500)
    assert keys.dump() == {"ranges": [[1, 499], [501, 1_000_000]]}


@given(st.one_of(st.integers(), st.text(max_size=8)), st.tuples(st.integers(), st.text(max_size=5)))
def test_key_values_invert(single, pair):
    assert key_row(key_value({"id": single}, ("id",)), ("id",)) == {"id": single}
    row = {"a": pair[0], "b": pair[1]}
    assert key_row(key_value(row, ("a", "b")), ("a", "b")) == row


# -- helpers -----------------------------------------------------------------------------------------------------

def pages_of(records: list[dict], size: int = 3) -> Iterator[Page]:
    for i in range(0, max(len(records), 1), size):
        chunk = records[i:i + size]
        yield Page(chunk, i + size if i + size < len(records) else None)


def sink_for(*tables: Table) -> MemorySink:
    keys = {}
    for t in tables:
        for entry in t.schemas():
            keys[entry["table"]] = tuple(entry["primary_key"])
    return MemorySink(primary_keys=keys)


def live(sink: MemorySink, table: str) -> dict:
    return sink.tables.get(table, {})


# -- child tables ------------------------------------------------------------------------------------------------

parent_children = st.dictionaries(st.integers(1, 12), st.lists(st.integers(1, 6), unique=True, max_size=4),
                                  max_size=8)


@given(st.lists(parent_children, min_size=1, max_size=4), st.booleans())
def test_children_follow_their_parent_across_syncs(versions, keyed):
    """Each sync re-reads some parents with new child lists; the child table holds exactly the children
    of the parents' latest versions."""
    current: dict[int, list[int]] = {}
    child = Child("lines", key=("line",)) if keyed else Child("lines")

    def records() -> list[dict]:
        return [{"id": pid, "lines": [{"line": c, "qty": c * 2} for c in kids]}
                for pid, kids in sorted(current.items())]

    table = Table("invoices", ("id",), fetch=lambda w: pages_of(records()), children=(child,))
    sink, state = sink_for(table), {}
    for version in versions:
        current.update(version)
        sync_tables([table], state, sink)
        expected = set()
        for pid, kids in current.items():
            for pos, c in enumerate(kids):
                expected.add((pid, c) if keyed else (pid, pos))
        assert set(live(sink, "invoices_lines")) == expected
        assert all("lines" not in row for row in live(sink, "invoices").values())


def test_custom_fields_object_lands_as_key_value_rows():
    records = [{"id": 1, "custom": {"colour": "red", "size": {"w": 2}}}, {"id": 2, "custom": []}]
    table = Table("things", ("id",), fetch=lambda w: pages_of(records), children=(Child("custom", mapping=True),))
    sink = sink_for(table)
    sync_tables([table], {}, sink)
    rows = live(sink, "things_custom")
    assert rows == {(1, "colour"): {"parent_id": 1, "field": "colour", "value": "red"},
                    (1, "size"): {"parent_id": 1, "field": "size", "value": '{"w":2}'}}
    schema = {e["table"]: e for e in schema_of([table])}
    assert schema["things_custom"]["primary_key"] == ["parent_id", "field"]


def test_a_child_without_its_key_fails_naming_it():
    table = Table("orders", ("id",), fetch=lambda w: pages_of([{"id": 1, "lines": [{"sku": "x"}]}]),
                  children=(Child("lines", key=("line_id",)),))
    with pytest.raises(SyncError, match="line_id"):
        sync_tables([table], {}, sink_for(table))


# -- snapshot deletes ----------------------------------------------------------------------------------------------

@given(st.lists(st.sets(st.integers(1, 40), max_size=30), min_size=1, max_size=5))
def test_snapshot_deletes_exactly_what_vanished(snapshots):
    source: set[int] = set()
    table = Table("staff", ("id",), fetch=lambda w: pages_of([{"id": i} for i in sorted(source)]),
                  deletes=(Snapshot(),))
    sink, state = sink_for(table), {}
    for snap in snapshots:
        before = set(k[0] for k in live(sink, "staff"))
        source = set(snap)
        gone = len(before - source)
        policy = DeletePolicy(max_share=0.5)
        if gone and gone > 0.5 * len(before | source):  # the share of the table as this sync leaves it
            with pytest.raises(SyncError, match="nothing was deleted"):
                sync_tables([table], state, sink, policy=policy)
            assert set(k[0] for k in live(sink, "staff")) == before | source  # upserts landed, no delete
            sync_tables([table], state, sink, policy=DeletePolicy(max_share=1.0))  # the user lifts the share
        else:
            sync_tables([table], state, sink, policy=policy)
        assert set(k[0] for k in live(sink, "staff")) == source


def test_snapshot_resumed_after_a_crash_still_sees_the_first_pages():
    from synckit.sink import Crash

    source = list(range(1, 11))
    table = Table("staff", ("id",), fetch=lambda w: itertools.islice(pages_of([{"id": i} for i in source], 2),
                                                                      (w.resume or 0) // 2, None),
                  deletes=(Snapshot(),))
    state: dict = {}
    sink = sink_for(table)
    sync_tables([table], state, sink)
    source.remove(3)
    crashing = sink_for(table)
    crashing.tables, crashing.crash_after = sink.tables, 6
    with pytest.raises(Crash):
        sync_tables([table], state, crashing)
    crashing.crash_after = None
    sync_tables([table], crashing.state, crashing)
    assert sorted(k[0] for k in live(crashing, "staff")) == source


# -- reconciliation ------------------------------------------------------------------------------------------------

class Source:
    """An API with integer ids that can list ids, count ranges, and fail after a number of requests."""

    def __init__(self, ids: set[int], fail_after: int | None = None):
        self.ids, self.fail_after, self.requests = set(ids), fail_after, 0

    def _tick(self) -> None:
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            raise SyncError("simulated failure mid-listing")

    def listing(self) -> Iterator[list[int]]:
        ordered = sorted(self.ids)
        for i in range(0, len(ordered) + 1, 7):
            self._tick()
            yield ordered[i:i + 7]

    def count(self, lo: int, hi: int) -> int:
        self._tick()
        return sum(lo <= i < hi for i in self.ids)

    def between(self, lo: int, hi: int) -> list[int]:
        self._tick()
        return sorted(i for i in self.ids if lo <= i < hi)


def reconciled_table(source: Source, by_count: bool) -> Table:
    rec = (Reconcile(count=source.count, ids_between=source.between, leaf=4) if by_count
           else Reconcile(ids=source.listing))
    return Table("jobs", ("id",), cursor="t", fetch=lambda w: pages_of([{"id": i, "t": "2024-01-01T00:00:00Z"}
                                                                        for i in sorted(source.ids)]),
                 deletes=(rec,))


@given(st.sets(st.integers(1, 200), min_size=1, max_size=80), st.data(), st.booleans(),
       st.none() | st.integers(0, 6))
def test_reconciliation_never_deletes_wrongly_and_finds_every_delete(ids, data, by_count, fail_after):
    source = Source(ids)
    table = reconciled_table(source, by_count)
    sink, state = sink_for(table), {}
    sync_tables([table], state, sink)
    deleted = data.draw(st.sets(st.sampled_from(sorted(ids)), max_size=max(0, len(ids) // 2)))
    inserted = {1000 + i for i in range(data.draw(st.integers(0, 3)))}
    source.ids = (source.ids - deleted) | inserted
    source.fail_after, source.requests = fail_after, 0
    policy = DeletePolicy(every_hours=0, max_share=0.5)
    # Upserts of the new rows go first; reconciliation may fail part-way and must then delete nothing.
    table_no_fetch = Table("jobs", ("id",), cursor="t", fetch=lambda w: iter(()), deletes=table.deletes)
    try:
        sync_tables([table_no_fetch], state, sink, policy=policy)
        failed = False
    except SyncError:
        failed = True
    held = {k[0] for k in live(sink, "jobs")}
    assert held >= ids - deleted, "a record the source still has was deleted"
    if not failed:
        assert held == ids - deleted
    source.fail_after = None
    sync_tables([table], state, sink, policy=policy)
    assert {k[0] for k in live(sink, "jobs")} == source.ids


def test_count_bisection_spends_few_requests_for_few_deletes():
    source = Source(set(range(1, 10_001)))
    table = reconciled_table(source, by_count=True)
    sink, state = sink_for(table), {}
    sync_tables([table], state, sink)
    source.ids -= {17, 4242}
    source.requests = 0
    sync_tables([Table("jobs", ("id",), cursor="t", fetch=lambda w: iter(()), deletes=table.deletes)], state, sink,
                policy=DeletePolicy(every_hours=0))
    assert {17, 4242}.isdisjoint(k[0] for k in live(sink, "jobs"))
    assert len(live(sink, "jobs")) == 9_998
    assert source.requests <= 2 * 2 * 12 + 2  # two paths down a tree of depth log2(10000/4), plus leaves


def test_reconciliation_keeps_its_schedule():
    now = [1000.0]
    source = Source({1, 2, 3, 4})
    table = reconciled_table(source, by_count=False)
    sink, state = sink_for(table), {}
    policy = DeletePolicy(every_hours=24, clock=lambda: now[0])
    sync_tables([table], state, sink, policy=policy)  # the first sync has read every key: no check yet
    first = source.requests
    source.ids.discard(2)
    now[0] += 3600
    sync_tables([table], state, sink, policy=policy)
    assert source.requests == first and (2,) in live(sink, "jobs")  # not due: no request, no delete
    now[0] += 24 * 3600
    sync_tables([table], state, sink, policy=policy)
    assert (2,) not in live(sink, "jobs")


def test_safety_share_stops_a_reconciliation_that_would_empty_a_table():
    source = Source(set(range(1, 11)))
    table = reconciled_table(source, by_count=False)
    sink, state = sink_for(table), {}
    sync_tables([table], state, sink)
    source.ids = {1, 2}
    with pytest.raises(SyncError, match=r"remove 8 of the 10 rows of jobs .*max_delete_percent=50"):
        sync_tables([table], state, sink, policy=DeletePolicy(every_hours=0))
    assert len(live(sink, "jobs")) == 10


# -- feeds and cascades ----------------------------------------------------------------------------------------------

def test_delete_feed_deletes_restores_and_resumes_from_its_position():
    feed_items = [("delete", {"id": 2}), ("delete", {"id": 3}), ("upsert", {"id": 3, "name": "back"})]
    positions = []

    def feed(position):
        positions.append(position)
        start = position or 0
        for i in range(start, len(feed_items)):
            yield Page([feed_items[i]], i + 1)

    table = Table("requests", ("id",), cursor="t",
                  fetch=lambda w: pages_of([{"id": i, "t": "2024-01-01T00:00:00Z"} for i in (1, 2, 3)]),
                  deletes=(DeleteFeed(feed),))
    sink, state = sink_for(table), {}
    sync_tables([table], state, sink)
    assert set(live(sink, "requests")) == {(1,), (3,)}
    assert live(sink, "requests")[(3,)]["name"] == "back"
    sync_tables([table], state, sink)
    assert positions == [None, 3]


def test_a_parent_delete_cascades_to_the_tables_the_api_deletes_with_it():
    companies, jobs = Source({1, 2, 3}), Source({10, 11, 12, 13})
    owner = {10: 1, 11: 2, 12: 2, 13: 3}
    t_jobs = Table("jobs", ("id",), fetch=lambda w: pages_of([{"id": i} for i in sorted(jobs.ids)]), cursor=None,
                   read="full", deletes=(Reconcile(ids=jobs.listing),))
    t_companies = Table("companies", ("id",), fetch=lambda w: pages_of([{"id": i} for i in sorted(companies.ids)]),
                        deletes=(Reconcile(ids=companies.listing, cascade=("jobs",)),))
    now = [0.0]
    policy = DeletePolicy(every_hours=24, clock=lambda: now[0])
    sink, state = sink_for(t_jobs, t_companies), {}
    sync_tables([t_jobs, t_companies], state, sink, policy=policy)
    companies.ids.discard(2)
    jobs.ids -= {j for j, c in owner.items() if c == 2}
    now[0] = 25 * 3600
    state["tables"]["jobs"]["deletes"]["checked_at"] = now[0]  # jobs not due: only the cascade runs it
    sync_tables([t_jobs, t_companies], state, sink, policy=policy)
    assert set(live(sink, "companies")) == {(1,), (3,)}
    assert set(live(sink, "jobs")) == {(10,), (13,)}


def test_a_deleted_parent_takes_its_child_rows():
    source = Source({1, 2})
    table = Table("invoices", ("id",), fetch=lambda w: pages_of([{"id": i, "lines": [{"n": 1}, {"n": 2}]}
                                                                 for i in sorted(source.ids)]),
                  children=(Child("lines"),), deletes=(Snapshot(),), read="full")
    sink, state = sink_for(table), {}
    sync_tables([table], state, sink)
    assert len(live(sink, "invoices_lines")) == 4
    source.ids.discard(2)
    sync_tables([table], state, sink)
    assert set(live(sink, "invoices_lines")) == {(1, 0), (1, 1)}
    assert state["tables"]["invoices"]["children"]["invoices_lines"] == {"1": 2}


# -- selection and lossless rows ---------------------------------------------------------------------------------------

NAMES = ["companies", "jobs", "staff"]


def test_tables_key_names_an_unknown_table_and_lists_the_valid_ones():
    spec = selection.spec(NAMES)
    with pytest.raises(ConfigError, match=r"tables.*'jbos'.*valid tables: companies, jobs, staff"):
        parse({"tables": "companies,jbos"}, spec)
    cfg = parse({"tables": "staff, companies"}, spec)
    assert selection.chosen(cfg, NAMES) == ["companies", "staff"]
    assert selection.chosen(parse({}, spec), NAMES) == NAMES
    p = selection.policy(parse({"deletes_check_hours": "0", "max_delete_percent": "10"}, spec))
    assert (p.every_hours, p.max_share) == (0.0, 0.1)


@given(st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5),
                       st.one_of(st.integers(), st.text(max_size=4), st.none(),
                                 st.lists(st.integers(), max_size=2)), max_size=6))
def test_typed_rows_keep_every_field(extra):
    shape = typed({"id": "LONG", "amount": "DOUBLE", "when": "UTC_DATETIME"})
    record = {**extra, "id": "7", "amount": "1.5", "when": "2024-01-01T10:00:00+02:00"}
    row = shape(record)
    assert row["id"] == 7 and row["amount"] == 1.5 and row["when"] == "2024-01-01T08:00:00Z"
    for key, value in extra.items():
        if key in ("id", "amount", "when"):
            continue
        assert key in row
        if isinstance(value, list):
            assert isinstance(row[key], str)


@given(st.lists(st.dictionaries(st.integers(1, 8), st.sets(st.sampled_from("abcd"), max_size=4), max_size=6),
                min_size=1, max_size=5))
def test_custom_field_children_follow_their_parent_and_share_one_field_list(versions):
    current: dict[int, set[str]] = {}
    table = Table("contacts", ("id",), fetch=lambda w: pages_of([{"id": p, "custom": {f: f.upper() for f in sorted(fs)}}
                                                                 for p, fs in sorted(current.items())]),
                  children=(Child("custom", mapping=True),))
    sink, state = sink_for(table), {}
    for version in versions:
        current.update(version)
        sync_tables([table], state, sink)
        assert set(live(sink, "contacts_custom")) == {(p, f) for p, fs in current.items() for f in fs}


def test_records_with_the_same_custom_fields_cost_no_state_each():
    records = [{"id": f"guid-{i}", "custom": {"tier": "gold", "region": None}} for i in range(500)]
    table = Table("contacts", ("id",), fetch=lambda w: pages_of(records, 50), children=(Child("custom", mapping=True),))
    state: dict = {}
    sync_tables([table], state, sink_for(table))
    assert state["tables"]["contacts"]["children"] == {"contacts_custom": {"*": ["region", "tier"]}}


def test_string_keys_are_written_when_the_traversal_ends_and_a_listing_restores_them():
    from synckit.sink import Crash

    ids = [f"k{i:03d}" for i in range(20)]
    listing_calls = []

    def listing():
        listing_calls.append(1)
        yield list(ids)

    table = Table("notes", ("id",), cursor="t", deletes=(Reconcile(ids=listing),),
                  fetch=lambda w: itertools.islice(pages_of([{"id": i, "t": "2024-01-01T00:00:00Z"} for i in ids], 5),
                                                   w.resume // 5 if w.resume else 0, None))
    sink, state = sink_for(table), {}
    sink.crash_after = 14  # killed mid-traversal: the rows of the first pages are in, their keys are not
    with pytest.raises(Crash):
        sync_tables([table], state, sink)
    assert "keys" not in sink.state["tables"]["notes"]
    state = sink.state
    sink.crash_after = None
    sync_tables([table], state, sink, policy=DeletePolicy(every_hours=0))
    held = KeySet.load(state["tables"]["notes"]["keys"])
    assert len(held) == 20 - 5 * 2 or len(held) == 20  # pages after the resume point, then a listing restores all
    ids.remove("k001")  # on a page read before the crash
    sync_tables([table], state, sink, policy=DeletePolicy(every_hours=0))
    assert ("k001",) not in live(sink, "notes") and len(live(sink, "notes")) == 19


@given(st.integers(1, 40), st.sets(st.integers(0, 11), max_size=6), st.sets(st.integers(100, 104), max_size=3))
def test_a_snapshot_of_string_keys_resumed_after_a_kill_deletes_exactly_what_vanished(kill_at, gone, new):
    from synckit.sink import Crash

    source = [f"u{i}" for i in range(12)]
    table = Table("users", ("id",), read="full", deletes=(Snapshot(),),
                  fetch=lambda w: itertools.islice(pages_of([{"id": i} for i in source], 3),
                                                   (w.resume or 0) // 3, None))
    sink = sink_for(table)
    sync_tables([table], {}, sink)
    source[:] = [u for i, u in enumerate(source) if i not in gone] + [f"u{i}" for i in sorted(new)]
    sink.crash_after = sink.count + kill_at
    try:
        sync_tables([table], sink.state, sink, policy=DeletePolicy(max_share=1.0))
    except Crash:
        sink.crash_after = None
        sync_tables([table], sink.state, sink, policy=DeletePolicy(max_share=1.0))
    sink.crash_after = None
    assert {k[0] for k in live(sink, "users")} == set(source)
    source.pop(0)  # a later snapshot still knows every key, including those of pages read before the kill
    sync_tables([table], sink.state, sink, policy=DeletePolicy(max_share=1.0))
    assert {k[0] for k in live(sink, "users")} == set(source)
