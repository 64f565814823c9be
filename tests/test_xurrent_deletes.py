"""Deletes, child tables and table selection of the Xurrent connector, in process against the simulator:
the archive and trash feeds, restores, the id reconciliation and its schedule, refused bins, partial
listings, and selected tables costing the only requests."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.harness import Server
from simulators.xurrent import XurrentSim
from synckit import ConfigError, MemorySink, SyncError
from tests.test_xurrent_e2e import CHILDREN, child_truth
from tools.vendors import connector

xc = connector("xurrent")
CORE = xc.CORE  # the scenarios here use the first three tables; the e2e test covers the others
KEYS = {t["table"]: tuple(t["primary_key"]) for t in xc.schema({})}


def cfg_for(url: str, **extra: str) -> dict[str, str]:
    return {"oauth_token": "test-token", "account_id": "widget", "base_url": f"{url}/v1",
            "max_records_per_page": "10", "deletes_check_hours": "0", "tables": ",".join(CORE), **extra}


def run(config: dict[str, str], state: dict, sink: MemorySink) -> None:
    xc.update(config, state, sink)


def assert_matches(sim: XurrentSim, sink: MemorySink) -> None:
    """The sink holds exactly the live records and child rows: every delete applied, nothing else."""
    for table in CORE:
        assert {k[0] for k in sink.tables.get(table, {})} == set(sim.truth(table)), table
    truth = child_truth(sim)
    for name in CHILDREN:
        assert set(sink.tables.get(name, {})) == truth[name], name


def unpaced(sim: XurrentSim) -> XurrentSim:
    sim.limits.limits = [(10**9, 3600.0)]  # several syncs in one process within 2 s: the limits are not tested here
    return sim


def test_feeds_reconciliation_restores_and_erasures():
    sim = unpaced(XurrentSim(40, 20, 25, tie=2))
    rng = random.Random(4)
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url), {}, MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        assert_matches(sim, sink)
        gone = sim.delete_random(rng, 8)
        assert len(gone) == 8 and {t for t, _ in gone} == set(CORE)
        purged, hard = min(sim.truth("projects")), min(sim.truth("products"))
        sim.remove("projects", purged, "trash")
        sim.erase("projects", purged)  # purged before we looked: the reconciliation finds it
        sim.data["products"].delete(hard - 1)  # a delete no feed lists: the reconciliation finds it too
        run(config, state, sink)
        assert_matches(sim, sink)
        assert sum(1 for op, t, _ in sink.ops if op == "delete" and t in CHILDREN) > 0

        # Restored from the trash (updated_at unchanged), moved from the archive on to the trash, erased.
        trashed = [(t, i) for t, i in gone if sim._entry(t, i)[0] == "trash"]
        archived = [(t, i) for t, i in gone if sim._entry(t, i)[0] == "archive"]
        sim.restore(*trashed[0])
        sim.move_to_trash(*archived[0])
        if len(trashed) > 1:
            sim.erase(*trashed[1])
        run(config, state, sink)
        assert_matches(sim, sink)
        sim.restore(*archived[0])  # now in the trash: restoring it is seen the same way
        run(config, state, sink)
        assert_matches(sim, sink)


def test_a_record_restored_from_the_archive_returns_after_the_next_id_listing():
    sim = unpaced(XurrentSim(30, 5, 5))
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url), {}, MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        back = next(i for i in sorted(sim.truth("organizations"))
                    if sim._nested(sim.record("organizations", i - 1)))
        sim.remove("organizations", back, "archive")
        run(config, state, sink)
        assert_matches(sim, sink)
        sim.restore("organizations", back)  # its archive entry goes; updated_at is unchanged
        run(config, state, sink)  # the id listing shows it live: noted, not yet read
        assert state["tables"]["organizations"]["reread"] == [back]
        before = len(sim.log)
        run(config, state, sink)
        assert_matches(sim, sink)
        assert "reread" not in state["tables"]["organizations"]
        assert any(r.query.startswith(f"id={back}&") for r in sim.log[before:] if r.path == "/v1/organizations")


def test_one_read_of_each_bin_per_sync_and_reconciliation_on_its_schedule():
    sim = unpaced(XurrentSim(30, 10, 10))
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url, deletes_check_hours="24"), {}, MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        paths = {f"/v1/{t}" for t in CORE}

        def listings(log: list) -> list:
            return [r for r in log if "fields=id&" in r.query + "&" and r.path in paths]

        assert not listings(sim.log)  # the first sync has just read every id: its check starts the schedule
        sim.remove("organizations", 5, "archive")
        sim.data["products"].delete(1)  # id 2: only a reconciliation could find this one
        before = len(sim.log)
        run(config, state, sink)
        later = sim.log[before:]
        assert [r.path for r in later if r.path in ("/v1/archive", "/v1/trash")] == ["/v1/archive", "/v1/trash"]
        assert not listings(later)  # due in 24 hours
        assert (5,) not in sink.tables["organizations"]
        assert (2,) in sink.tables["products"]
        before = len(sim.log)
        run({**config, "deletes_check_hours": "0"}, state, sink)
        assert {r.path for r in listings(sim.log[before:])} == paths
        assert all("sort=id" in r.query for r in listings(sim.log[before:]))
        assert (2,) not in sink.tables["products"]


def test_bins_refused_without_the_administrator_role_fall_back_to_reconciliation():
    sim = unpaced(XurrentSim(20, 10, 10))
    sim.bin_readers = set()
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url), {}, MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        sim.delete_random(random.Random(1), 3)
        before = len(sim.log)
        run(config, state, sink)
        assert_matches(sim, sink)
        refused = [r for r in sim.log[before:] if r.status == 403]
        assert [r.path for r in refused] == ["/v1/archive", "/v1/trash"]  # asked once per sync, not per table


def test_a_failed_id_listing_deletes_nothing():
    sim = unpaced(XurrentSim(30, 10, 10))
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url, retry_attempts="1"), {}, MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        sim.data["organizations"].delete(0)
        original = sim.collection
        calls = {"n": 0}

        def flaky(request, resource, predefined):
            if request.args.get("fields") == "id" and resource == "organizations":
                calls["n"] += 1
                if calls["n"] >= 2:  # the second page of the id listing fails for good
                    from simulators.harness import json_response
                    return json_response({"message": "Internal Server Error"}, 500)
            return original(request, resource, predefined)

        sim.collection = flaky
        with pytest.raises(SyncError, match="organizations"):
            run(config, state, sink)
        assert len(sink.tables["organizations"]) == 30  # nothing deleted from a partial listing
        sim.collection = original
        run(config, state, sink)
        assert (1,) not in sink.tables["organizations"] and len(sink.tables["organizations"]) == 29


def test_id_listing_continues_past_the_collection_cap():
    sim = unpaced(XurrentSim(60, 3, 3, max_records=25))
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url), {}, MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        sim.remove("organizations", 55, "trash")
        sim.erase("organizations", 55)
        run(config, state, sink)
        assert {k[0] for k in sink.tables["organizations"]} == set(range(1, 61)) - {55}
        assert any("id=%3E" in r.query and "fields=id" in r.query for r in sim.log)


def test_unknown_table_is_a_configuration_error_listing_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        xc.settings({"oauth_token": "t", "account_id": "widget", "tables": "projects,tickets"})
    message = str(info.value)
    assert "tables" in message and "tickets" in message
    assert all(name in message for name in xc.NAMES)


def test_a_deselected_table_sends_no_request():
    sim = unpaced(XurrentSim(20, 10, 10))
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url, tables="projects"), {}, MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        run(config, state, sink)
        assert {r.path for r in sim.log} == {"/v1/rate_limit", "/v1/projects", "/v1/archive", "/v1/trash"}
        assert set(state["tables"]) == {"projects"} and set(sink.tables) <= {"projects", "projects_custom_fields"}
        before = len(sim.log)
        xc.probe("organizations")(xc.settings(config))  # the setup form's check of a deselected table
        assert len(sim.log) == before
        xc.probe("projects")(xc.settings(config))
        assert len(sim.log) == before + 1


OPS = st.lists(st.tuples(st.sampled_from(["delete", "restore", "erase", "move", "edit", "insert", "hidden"]),
                         st.integers(0, 10**6)), max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=3), st.integers(0, 10**6))
def test_random_deletes_restores_and_edits_keep_the_warehouse_equal_to_the_source(rounds, seed):
    """Whatever is deleted, restored, purged, edited or inserted between syncs, after each sync (with every
    delete check due; two syncs after a restore from the archive) the warehouse holds exactly the live
    records and child rows."""
    sim = unpaced(XurrentSim(12, 6, 8, tie=2))
    rng = random.Random(seed)
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url, max_records_per_page="5", max_delete_percent="100"), {}, \
            MemorySink(primary_keys=KEYS)
        run(config, state, sink)
        for ops in rounds:
            from_archive = False  # a record restored from the archive is read again one sync later
            for op, n in ops:
                table = CORE[n % 3]
                binned = [(e[verb] + "s", e[e[verb]]["id"])
                          for b, verb in (("archive", "archived"), ("trash", "trashed")) for e in sim.bins[b]]
                if op == "delete":
                    sim.delete_random(rng, 1 + n % 2)
                elif op in ("restore", "erase", "move") and binned:
                    t, i = binned[n % len(binned)]
                    where = sim._entry(t, i)[0]
                    if op == "restore":
                        from_archive = from_archive or where == "archive"
                        sim.restore(t, i)
                    elif op == "erase" and where == "trash":
                        sim.erase(t, i)
                    elif op == "move" and where == "archive":
                        sim.move_to_trash(t, i)
                elif op == "edit":
                    sim.data[table].edit_random(2, rng)
                elif op == "insert":
                    sim.data[table].insert()
                elif op == "hidden":
                    live = sorted(sim.truth(table))
                    if live:
                        sim.data[table].delete(live[n % len(live)] - 1)
            run(config, state, sink)
            if from_archive:
                run(config, state, sink)
            assert_matches(sim, sink)
