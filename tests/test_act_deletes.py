"""Act! deletes, custom-field child tables and table selection, in-process against the simulator (MemorySink):
the id sweep finds every record deleted before it and never deletes a live one, even with deletes and
inserts while it pages (hypothesis); a partial or refused sweep deletes nothing; the safety threshold; a
deselected table costs no request; state written before deletes were tracked."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.act import DELETABLE, ActSim
from simulators.harness import Server
from synckit import ApiError, PagingError, ResponseError, SyncError
from synckit.sink import MemorySink
from tests.test_act_connector import PKS, act, check_sink, config, custom_truth

ENTITIES = DELETABLE


def sync(server: Server, state: dict, sink: MemorySink, **extra: str) -> None:
    act.run(act.settings(config(server.port, deletes_check_hours="0", **extra)), state, sink)


def keys(sink: MemorySink, table: str) -> set:
    return {k[0] for k in sink.tables.get(table, {})}


def deletes_of(sink: MemorySink, table: str) -> list[dict]:
    return [keys for kind, name, keys in sink.ops if kind == "delete" and name == table]


def test_deleted_records_and_their_custom_fields_leave_the_warehouse():
    sim = ActSim(30, 12, 12, 12, 9, tie=4)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink)
        check_sink(sim, sink)
        gone = sim.delete_random(random.Random(3), 10)
        assert {name for name, _ in gone} == set(ENTITIES)
        sim.data["contacts"].edit_random(3, random.Random(4))
        sim.data["contacts"].insert()
        sync(server, state, sink)
        check_sink(sim, sink)  # deleted parents and every custom-field row of theirs are gone, the rest intact
        for name, rid in gone:
            assert rid not in keys(sink, name)
            assert {"id": rid} in deletes_of(sink, name)
            if name in ("contacts", "companies", "opportunities", "groups"):
                assert any(d["parent_id"] == rid for d in deletes_of(sink, f"{name}_custom_fields")), (name, rid)
        # No delete of anything that is still live, and none repeated by the next sync.
        deleted = {(name, d["id"]) for name in ENTITIES for d in deletes_of(sink, name)}
        assert deleted == set(gone)
        before = len(sink.ops)
        sync(server, state, sink)
        assert not [op for op in sink.ops[before:] if op[0] == "delete"]
        check_sink(sim, sink)


def test_a_vanished_custom_field_is_deleted_with_the_next_upsert_of_its_parent():
    sim = ActSim(6, 2, 2, 2, 2)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink)
        record = sim.record("contacts", 2)
        assert set(record["customFields"]) == {"user6", "user7"}
        sim.data["contacts"].edit(2)
        del sim.record("contacts", 2)["customFields"]["user7"]  # the edited version lost a field
        sync(server, state, sink)
        rid = record["id"]
        assert {"parent_id": rid, "field": "user7"} in deletes_of(sink, "contacts_custom_fields")
        landed = {k: r["value"] for k, r in sink.tables["contacts_custom_fields"].items()}
        assert landed == custom_truth(sim, "contacts")


class Swap:
    """One server for many hypothesis examples (stopping a server costs half a second): each example plugs in
    its own simulator."""

    sim: ActSim

    def __call__(self, environ, start_response):
        return self.sim(environ, start_response)


@pytest.fixture(scope="module")
def swap_server():
    swap = Swap()
    with Server(swap) as server:
        yield swap, server


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 40), before=st.lists(st.integers(0, 39), max_size=12),
       during=st.lists(st.tuples(st.integers(1, 12), st.integers(0, 39)), max_size=8),
       inserts=st.integers(0, 3), page=st.integers(1, 6))
def test_the_sweep_never_deletes_a_live_record_and_finds_every_earlier_delete(monkeypatch, swap_server, n, before,
                                                                             during, inserts, page):
    monkeypatch.setattr(act, "SWEEP_TOP", page)  # small sweep pages, so deletes land between them
    swap, server = swap_server
    sim = swap.sim = ActSim(n, 1, 1, 1, 1, tie=3)
    data = sim.data["contacts"]
    sink, state = MemorySink(primary_keys=PKS), {}
    sync(server, state, sink, tables="contacts")
    first = set(sim.truth("contacts"))
    for i in before:
        if i < n:
            data.delete(i)
    for _ in range(inserts):
        data.insert()
    for k, i in during:  # deletes while the second sync (and its sweep) runs
        if i < n:
            sim.scheduler.after(sim.count + k, lambda i=i: data.delete(i))
    earlier = {sim.record_id("contacts", i) for i in before if i < n}
    sync(server, state, sink, tables="contacts", max_delete_percent="100")
    live = set(sim.truth("contacts"))
    got = keys(sink, "contacts")
    assert live <= got, "a live record was deleted or lost"
    assert not (earlier & got), "a record deleted before the sync is still there"
    assert got <= live | (first - live)  # anything extra was deleted during that sync
    sim.scheduler.fire(10**9)
    sync(server, state, sink, tables="contacts", max_delete_percent="100")
    assert keys(sink, "contacts") == set(sim.truth("contacts"))


def test_a_delete_share_above_the_threshold_stops_and_deletes_nothing():
    sim = ActSim(10, 4, 4, 4, 10)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink)
        for i in range(6):
            sim.data["products"].delete(i)
        with pytest.raises(SyncError, match="max_delete_percent"):
            sync(server, state, sink)
        assert len(keys(sink, "products")) == 10 and not deletes_of(sink, "products")
        assert keys(sink, "contacts") == set(sim.truth("contacts"))  # the other tables synced
        sync(server, state, sink, max_delete_percent="60")
        assert keys(sink, "products") == set(sim.truth("products"))


class FailsSweepPage(ActSim):
    """Refuses the second page of every id sweep: a partial listing."""

    def list_records(self, request, name, rows, entity=None):
        if request.args.get("$select") == "id" and "$filter" in request.args:
            from simulators.act import asp_error
            return asp_error(400, "The query specified in the URI is not valid. simulated")
        return super().list_records(request, name, rows, entity)


def test_a_partial_sweep_deletes_nothing(monkeypatch):
    monkeypatch.setattr(act, "SWEEP_TOP", 4)
    sim = FailsSweepPage(12, 2, 2, 2, 2)
    with Server(sim) as server:
        http, _ = act.client(act.settings(config(server.port)))
        with pytest.raises(ApiError):  # a refusal after the first page is not taken for a missing $select
            list(act.id_pages(http, act.BY_NAME["contacts"]))
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink, tables="contacts")  # a first sync has just read every id: no sweep yet
        with pytest.raises(SyncError, match="contacts.*delete check"):
            sync(server, state, sink, tables="contacts")
        sim.data["contacts"].delete(0)
        with pytest.raises(SyncError):
            sync(server, state, sink, tables="contacts")
        assert len(keys(sink, "contacts")) == 12 and not deletes_of(sink, "contacts")


class RefusesSelect(ActSim):
    def list_records(self, request, name, rows, entity=None):
        if "$select" in request.args and name == "products":
            from simulators.act import asp_error
            return asp_error(400, "The query specified in the URI is not valid. $select is not supported.")
        return super().list_records(request, name, rows, entity)


def test_a_collection_that_refuses_select_is_swept_with_whole_records():
    sim = RefusesSelect(4, 2, 2, 2, 9)
    with Server(sim) as server:
        http, _ = act.client(act.settings(config(server.port)))
        pages = list(act.id_pages(http, act.BY_NAME["products"], size=4))
        assert [len(p) for p in pages] == [4, 4, 1]
        assert {i for p in pages for i in p} == set(sim.truth("products"))
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink)
        sim.data["products"].delete(3)
        sync(server, state, sink)
        assert keys(sink, "products") == set(sim.truth("products"))


class IgnoresIdFilter(ActSim):
    def list_records(self, request, name, rows, entity=None):
        if request.args.get("$select") == "id":
            request.args = request.args.copy()
            request.args.pop("$filter", None)
        return super().list_records(request, name, rows, entity)


def test_a_sweep_that_does_not_move_or_has_no_id_fails():
    sim = IgnoresIdFilter(10, 2, 2, 2, 2)
    with Server(sim) as server:
        http, _ = act.client(act.settings(config(server.port)))
        with pytest.raises(PagingError, match="repeats an id"):
            list(act.id_pages(http, act.BY_NAME["contacts"], size=4))

    class NoId(ActSim):
        def page_response(self, name, page, select):
            return super().page_response(name, [{"x": 1}], None) if select else super().page_response(
                name, page, select)

    sim = NoId(3, 1, 1, 1, 1)
    with Server(sim) as server:
        http, _ = act.client(act.settings(config(server.port)))
        with pytest.raises(ResponseError, match="has no 'id'"):
            list(act.id_pages(http, act.BY_NAME["contacts"]))


def test_a_deselected_table_sends_no_request_not_even_a_setup_probe():
    sim = ActSim(8, 3, 3, 3, 3)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink, tables="contacts,activity_types")
        cfg = act.settings(config(server.port, tables="contacts,activity_types"))
        for name, path in act.PROBES.items():
            act.probe(name, path)(cfg)
    paths = {r.path.lower().removeprefix("/act.web.api") for r in sim.log}
    assert paths == {"/authorize", "/api/contacts", "/api/task-types"}
    assert set(sink.tables) == {"contacts", "contacts_custom_fields", "contacts_companies", "activity_types"}
    assert set(state["tables"]) == {"contacts", "activity_types"}


def test_a_removed_task_type_is_deleted_by_the_snapshot_and_old_state_is_upgraded():
    sim = ActSim(4, 2, 2, 2, 2)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink, tables="activity_types")
        assert keys(sink, "activity_types") == {1, 2, 3, 4, 1000}
        # State of the version before deletes were tracked: the last snapshot's ids, a cursor and no keys.
        old = {"tables": {"activity_types": {"ids": [1, 2, 3, 4, 1000]},
                          "contacts": {"cursor": "2023-01-01T00:00:00Z"}}}
        sim.task_types.pop()
        sink = MemorySink(primary_keys=PKS)
        sync(server, old, sink, tables="activity_types,contacts")
        assert deletes_of(sink, "activity_types") == [{"id": 1000}]
        assert "ids" not in old["tables"]["activity_types"]
        assert json.loads(json.dumps(old))["tables"]["contacts"]["keys"]
