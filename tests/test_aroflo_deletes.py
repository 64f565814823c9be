"""AroFlo deletes, child tables, table selection and the catalogue, in process against the simulator.

Suppliers' deletes come from the lastupdate feed (``isdeleted``); users and payments, which the feed is not
documented to cover, from the id reconciliation (a scan of ids, the known ids it missed re-checked by id).
"""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.aroflo import AroFloSim
from simulators.harness import Server
from synckit import ConfigError, SyncError, schema_of
from synckit.sink import MemorySink
from tests.test_aroflo_connector import CHILDREN, KEYS, PARENTS, check, conn, sim_config, valid


def zone_requests(sim: AroFloSim, start: int = 0) -> list[str]:
    from urllib.parse import unquote

    return [unquote(r.query) for r in sim.log[start:]]


def deleted_keys(sink: MemorySink) -> dict[str, set[tuple]]:
    out: dict[str, set[tuple]] = {}
    for kind, table, row in sink.ops:
        if kind == "delete":
            out.setdefault(table, set()).add(tuple(row[k] for k in KEYS[table]))
    return out


def nested_keys(record: dict[str, Any], zone: str, key: Any) -> dict[str, set[tuple]]:
    return {child: {(key, e[k]) for e in record[field]} for child, (field, k) in CHILDREN.get(zone, {}).items()}


def test_deletes_reach_every_table_and_its_children_and_nothing_else():
    sim = AroFloSim(users=60, suppliers=40, payments=50, tie=3, per_second=None, per_minute=None)
    rng = random.Random(3)
    with Server(sim) as server:
        cfg = sim_config(sim, server, max_records_per_page="9", deletes_check_hours="0")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        check(sim, sink)
        before = {z: sim.truth(z) for z in PARENTS}
        gone = sim.delete_random(rng, 15)
        assert {z for z, _ in gone} == set(PARENTS)
        sim.users.edit_random(3, rng)
        sink.ops.clear()
        conn.run(cfg, state, sink)
        check(sim, sink)
        expected: dict[str, set[tuple]] = {}
        for zone, key in gone:
            expected.setdefault(zone, set()).add((key,))
        cascaded = set()
        for zone in CHILDREN:  # children of deleted parents, and those an edit took from a live parent
            now = {k: nested_keys(r, zone, k) for k, r in sim.truth(zone).items()}
            for key, record in before[zone].items():
                for child, keys in nested_keys(record, zone, key).items():
                    vanished = keys - now.get(key, {}).get(child, set())
                    if vanished:
                        expected.setdefault(child, set()).update(vanished)
                        cascaded |= {child} if key not in now else set()
        assert deleted_keys(sink) == expected  # every deleted row and its children, nothing else
        assert {"users_custom_fields", "suppliers_orgs"} <= cascaded, "no delete cascaded to children"
        sink.ops.clear()
        # Nothing new is deleted. Feed entries of the last second before the sync began are read again (the
        # position is capped there, as for changes), so a supplier delete may be repeated: a no-op.
        conn.run(cfg, state, sink)
        again = deleted_keys(sink)
        assert set(again) <= {"suppliers"} and again.get("suppliers", set()) <= expected["suppliers"]
        check(sim, sink)


def test_supplier_deletes_cost_no_request_when_the_change_feed_read_them():
    sim = AroFloSim(users=5, suppliers=30, payments=5, per_second=None, per_minute=None)
    with Server(sim) as server:
        cfg = sim_config(sim, server, tables="suppliers")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        for i in (3, 7, 11):
            sim.delete("suppliers", i)
        start = len(sim.log)
        conn.run(cfg, state, sink)
        feed = [q for q in zone_requests(sim, start) if "zone=lastupdate" in q]
        assert len(feed) == 1, feed  # the change feed's one page; the delete reader reuses what it read
        assert {k[0] for k in sink.tables["suppliers"]} == set(sim.truth("suppliers"))
        assert "deletes_pending" not in state["tables"]["suppliers"]


def test_supplier_deletes_are_read_from_the_feed_when_every_sync_rescans():
    sim = AroFloSim(users=5, suppliers=25, payments=5, per_second=None, per_minute=None)
    with Server(sim) as server:
        cfg = sim_config(sim, server, tables="suppliers", enable_incremental_sync="false", max_records_per_page="6")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        sim.delete("suppliers", 4)
        sim.delete("suppliers", 20)
        conn.run(cfg, state, sink)
        check_zone(sim, sink, "suppliers")
        start = len(sim.log)
        conn.run(cfg, state, sink)  # the delete position moved on: one feed page (and the budget probe)
        assert len([q for q in zone_requests(sim, start) if "order=lastupdateutc" in q]) == 1


def check_zone(sim: AroFloSim, sink: MemorySink, zone: str) -> None:
    truth = sim.truth(zone)
    assert {k[0] for k in sink.tables.get(zone, {})} == set(truth)
    for child, (field, key) in CHILDREN.get(zone, {}).items():
        assert set(sink.tables.get(child, {})) == {(k, e[key]) for k, r in truth.items() for e in r[field]}


def test_ids_skipped_by_deletes_during_the_id_listing_are_never_deleted():
    """Deletes while the reconciliation pages through ids shift later ids to earlier pages; those the listing
    skipped are asked for by id, so only the really deleted go (this sync or the next)."""
    sim = AroFloSim(users=70, suppliers=2, payments=3, per_second=None, per_minute=None)
    rng = random.Random(8)
    with Server(sim) as server:
        cfg = sim_config(sim, server, tables="users", max_records_per_page="10", deletes_check_hours="0")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        count = sim.count
        gone: list = []
        for k in (2, 3, 4, 5):  # inside the id listing of the next sync: early records, pages later shift
            sim.scheduler.after(count + k, lambda: gone.extend(
                sim.delete("users", i) for i in sorted(rng.sample(range(10), 2)) if sim.users.exists(i)))
        sink.ops.clear()
        conn.run(cfg, state, sink)
        live = set(sim.truth("users"))
        wrongly = {k[0] for k in deleted_keys(sink).get("users", set())} & live
        assert not wrongly, f"live users deleted: {wrongly}"
        conn.run(cfg, state, sink)
        assert {k[0] for k in sink.tables["users"]} == live
        assert set(gone) and not set(gone) & live


def test_a_failed_listing_deletes_nothing_and_the_next_check_finds_the_deletes():
    sim = AroFloSim(users=30, suppliers=2, payments=40, per_second=None, per_minute=None)
    with Server(sim) as server:
        cfg = sim_config(sim, server, tables="payments", max_records_per_page="10", deletes_check_hours="0",
                         retry_attempts="0")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        sim.delete("payments", 5)
        original = sim.handle
        calls = {"n": 0}

        def flaky(request):  # the id listing's third page fails for good
            if "zone=payments" in request.query_string.decode() and "IN" not in request.query_string.decode():
                calls["n"] += 1
                if calls["n"] == 3:
                    return sim.envelope(request, "3", "Login Failed - Permission Denied")
            return original(request)

        sim.handle = flaky
        sink.ops.clear()
        with pytest.raises(SyncError, match="payments"):  # the re-read or the id listing that comes with it
            conn.run(cfg, state, sink)
        assert deleted_keys(sink) == {}
        sim.handle = original
        conn.run(cfg, state, sink)
        assert {k[0] for k in sink.tables["payments"]} == set(sim.truth("payments"))


def test_deleting_more_than_the_safety_share_stops_and_deletes_nothing():
    sim = AroFloSim(users=2, suppliers=2, payments=20, per_second=None, per_minute=None)
    with Server(sim) as server:
        cfg = sim_config(sim, server, tables="payments", deletes_check_hours="0", max_delete_percent="25")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        for i in range(8):
            sim.delete("payments", i)
        sink.ops.clear()
        with pytest.raises(SyncError, match="max_delete_percent"):
            conn.run(cfg, state, sink)
        assert deleted_keys(sink) == {}
        conn.run({**cfg, "max_delete_percent": 50.0}, state, sink)
        assert {k[0] for k in sink.tables["payments"]} == set(sim.truth("payments"))


def test_reconciliation_runs_on_its_schedule_and_logs_its_budget(caplog):
    sim = AroFloSim(users=2, suppliers=2, payments=1200, per_second=None, per_minute=None)
    with Server(sim) as server:
        cfg = sim_config(sim, server, tables="payments", deletes_check_hours="0")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            conn.run(cfg, state, sink)
        line = next(r.getMessage() for r in caplog.records if "id reconciliation" in r.getMessage())
        # 1,200 ids in pages of 500: 3 counted requests, and the log says so with the day's remaining budget
        assert "1200 ids listed" in line and "3 requests counted against the daily budget" in line
        assert "left today" in line
        used = sim.daily_used
        cfg = sim_config(sim, server, tables="payments")  # deletes_check_hours: 24 by default
        conn.run(cfg, state, sink)  # not due again for 24 hours: only the 35-day window is re-read
        assert sim.daily_used == used + 1


def test_a_deselected_table_sends_no_request_and_unknown_names_are_refused():
    sim = AroFloSim(users=20, suppliers=15, payments=25, per_second=None, per_minute=None)
    with Server(sim) as server:
        cfg = sim_config(sim, server, tables="payments", deletes_check_hours="0")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        conn.run(cfg, state, sink)
        queries = zone_requests(sim)
        assert queries and all("payments" in q for q in queries), [q for q in queries if "payments" not in q]
        assert set(sink.tables) == {"payments"} and set(state["tables"]) == {"payments"}
    with pytest.raises(ConfigError) as info:
        conn.settings(valid(tables="users, workorders"))
    message = str(info.value)
    assert "'tables'" in message and "'workorders'" in message and "tasks, clients, invoices" in message
    with pytest.raises(ConfigError, match="enable_<table>_sync"):
        conn.settings(valid(tables="users", enable_users_sync="false"))
    assert conn.settings(valid(tables="suppliers , users"))["chosen"] == ["users", "suppliers"]
    assert conn.settings(valid(tables="tasktypes,tasks"))["chosen"] == ["tasks", "tasktypes"]


def test_catalogue_is_the_schema_and_declares_reads_refs_docs_and_deletes():
    tables = conn.catalogue()
    assert [t.name for t in tables] == list(conn.NAMES)
    assert schema_of(tables) == conn.schema(valid())
    assert all(t.doc and t.deletes for t in tables) and len(tables) >= 25
    by_name = {t.name: t for t in tables}
    assert by_name["payments"].refs == {"receivedby_userid": "users.userid",
                                        "linkedto_linkedtoid": "invoices.invoiceid"}
    reads = {t.name: (t.read, type(t.deletes[0]).__name__) for t in tables}
    assert reads["suppliers"] == reads["tasks"] == reads["tasklabours"] == ("feed", "DeleteFeed")
    assert reads["users"] == reads["bills"] == ("cursor", "Reconcile")
    assert reads["payments"] == reads["timesheets"] == ("window", "Reconcile")
    assert reads["tasktypes"] == reads["contacts"] == ("full", "Snapshot")
    for t in tables:  # every foreign key names a declared table and column
        for target in [*t.refs.values(), *(v for c in t.children for v in c.refs.values())]:
            name, _, col = target.partition(".")
            assert name in by_name and (col in by_name[name].columns or col in by_name[name].primary_key), target
    assert [c.table("users") for c in by_name["users"].children] == ["users_custom_fields",
                                                                     "users_permission_groups"]


def test_rows_are_lossless_and_joins_are_asked_for():
    shape = conn.USERS.row("Australia/Melbourne")
    row = shape({"userid": "U1", "archived": "TRUE", "org": {"orgid": "O", "orgname": "BU"}, "brandnew": "x",
                 "trackingcentredefaults": [{"id": 1}], "userposition": {"positionid": "P"}})
    assert row == {"userid": "U1", "archived": True, "org_orgid": "O", "org_orgname": "BU", "brandnew": "x",
                   "trackingcentredefaults": '[{"id":1}]', "userposition_positionid": "P"}
    # Declared JSON columns carry the array itself (a JSON text would be encoded twice by the SDK).
    assert shape({"userid": "U1", "notes": [{"note": "x"}], "documentsandphotos": []})["notes"] == [{"note": "x"}]
    qs = conn.query_string("users", ["and|createdutc|>|1990-01-01"], page=1, joins=conn.USERS.joins)
    assert "join=customfields%2Cpermissiongroups" in qs


@given(st.sampled_from([0, "0", "", " ", None, "false", "FALSE", False, "no"]),
       st.sampled_from([1, "1", "true", "TRUE", "True", True, " 1 "]))
def test_isdeleted_is_read_in_every_documented_form(off, on):
    assert conn.is_deleted({"isdeleted": off}) is False and conn.is_deleted({}) is False
    assert conn.is_deleted({"isdeleted": on}) is True


@given(st.sampled_from(["2", "maybe", "deleted", 2]))
def test_an_unreadable_isdeleted_is_refused_not_guessed(value):
    with pytest.raises(SyncError):
        conn.is_deleted({"isdeleted": value})


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans()), max_size=12))
def test_the_last_entry_of_an_id_decides_between_delete_and_restore(entries):
    from datetime import datetime, timezone

    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    got = conn.latest_state([(when, zid, deleted) for zid, deleted in entries])
    expected: dict[str, bool] = {}
    for zid, deleted in entries:
        expected[zid] = deleted
    assert got == expected


def test_simulator_deletes_leave_listings_the_way_the_api_shows_them():
    sim = AroFloSim(users=12, suppliers=12, payments=12, per_second=None, per_minute=None)
    gone = sim.delete_random(random.Random(1), 9)
    assert len(gone) == 9 and {z for z, _ in gone} == set(PARENTS)  # the other zones are empty here
    for zone, key in gone:
        assert key not in sim.truth(zone)
        z = sim.zones[zone]
        listed = {r[z.key] for r in sim.query_zone(z, ["and|" + sorted(z.scan_fields)[0] + "|>|1990-01-01"], [])[0]}
        assert key not in listed
        assert sim.query_zone(z, [f"and|{z.key}|IN|{key}"], [])[0] == []
        feed = [e for e in sim.query_lastupdate([f"and|zonename|=|{zone}"], ["lastupdateutc|asc"], (0, 500))
                if e["zoneid"] == key]
        if zone == "suppliers":  # the feed documents suppliers: the delete shows there
            assert [e["isdeleted"] for e in feed] == [1]
        else:  # users and payments are not documented in the feed: the record is simply gone
            assert feed == []
    live = sim.query_lastupdate(["and|zonename|=|suppliers"], [], (0, 500))
    live = [e for e in live if e["zoneid"] not in {k for z, k in gone if z == "suppliers"}]
    assert live and all(e["isdeleted"] == 0 for e in live)


def test_simulator_fills_joined_areas_only_when_asked():
    sim = AroFloSim(users=6, suppliers=6, payments=1, per_second=None, per_minute=None)
    users = sim.zones["users"]
    bare = sim.query_zone(users, ["and|createdutc|>|1990-01-01"], [])[0]
    joined = sim.query_zone(users, ["and|createdutc|>|1990-01-01"], [], None, {"customfields"})[0]
    assert all(r["customfields"] == [] and r["permissiongroups"] == [] for r in bare)
    assert all(r["customfields"] for r in joined) and all(r["permissiongroups"] == [] for r in joined)
    assert all(r["orgs"] for r in sim.query_zone(sim.zones["suppliers"], ["and|datecreated|>|1990-01-01"], [])[0])
