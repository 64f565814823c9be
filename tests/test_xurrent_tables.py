"""The service-management tables in process against the simulator (pacing lifted on both sides, so many
syncs stay fast): every table and child table equal to the truth after random edits, inserts, archives,
trashes, restores and time-entry deletes; the frozen window of affected SLAs; notes by id; sub-collections;
the hourly budget shared by a user's tokens and split between the tables."""

from __future__ import annotations

import random
import time
from datetime import date
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.harness import Server
from simulators.xurrent import XurrentSim
from synckit import MemorySink, Window
from tests.support import compare
from tests.test_xurrent_e2e import ALL_TABLES, NESTED_CHILDREN, RESOURCE, expected, nested_truth
from tools.vendors import connector

xc = connector("xurrent")
KEYS = {t["table"]: tuple(t["primary_key"]) for t in xc.schema({})}


@pytest.fixture(autouse=True)
def unpaced(monkeypatch):
    monkeypatch.setattr(xc, "BURST_LIMIT", (10**9, 1.0))
    monkeypatch.setattr(xc, "HOURLY_LIMIT", (10**9, 3600.0))


def make(**kwargs) -> XurrentSim:
    sim = XurrentSim(kwargs.pop("orgs", 6), 5, 6, **kwargs)
    sim.limits.limits = [(10**9, 3600.0)]
    return sim


def cfg_for(url: str, **extra: str) -> dict[str, str]:
    return {"oauth_token": "test-token", "account_id": "widget", "base_url": f"{url}/v1",
            "max_records_per_page": "5", "deletes_check_hours": "0", "max_delete_percent": "100", **extra}


def assert_equal(sim: XurrentSim, sink: MemorySink) -> None:
    for table in ALL_TABLES:
        # The in-memory sink keeps values as the connector sends them: dates as ISO text.
        truth = {k: {c: v.isoformat() if isinstance(v, date) else v for c, v in row.items()}
                 for k, row in expected(sim, table).items()}
        fields = sorted(next(iter(truth.values()), {}))
        result = compare(sink.tables.get(table, {}).values(), truth, "id", fields)
        assert result.ok, f"{table}: {result}"
    for name, rows in nested_truth(sim).items():
        _, _, own, fields = NESTED_CHILDREN[name]
        result = compare(sink.tables.get(name, {}).values(), rows, ("parent_id", own), fields)
        assert result.ok, f"{name}: {result}"


OPS = st.lists(st.tuples(st.sampled_from(["edit", "insert", "delete", "restore", "workflow", "time_entry"]),
                         st.integers(0, 10**6)), min_size=1, max_size=6)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=3), st.integers(0, 10**6))
def test_every_table_equals_the_source_after_random_changes(rounds, seed):
    sim = make(catalog=8, tie=2)
    rng = random.Random(seed)
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url), {}, MemorySink(primary_keys=KEYS)
        xc.update(config, state, sink)
        assert_equal(sim, sink)
        for ops in rounds:
            for op, n in ops:
                names = [RESOURCE.get(t, t) for t in ALL_TABLES]
                name = names[n % len(names)]
                if op == "edit" and name != "notes" and sim.data[name].size:
                    sim.data[name].edit_random(2, rng)
                elif op == "insert":
                    sim.insert(name, rng) if name in RESOURCE.values() else sim.data[name].insert()
                elif op == "delete":
                    sim.delete_random(rng, 1 + n % 3)
                elif op == "restore":
                    binned = [(k, i) for k, i in sim.cascaded if sim._entry(k, i)]
                    if binned:
                        sim.restore(*binned[n % len(binned)])
                elif op == "workflow":
                    live = sorted(sim.truth("workflows"))
                    if live:
                        sim.remove("workflows", live[n % len(live)], rng.choice(["archive", "trash"]))
                elif op == "time_entry":
                    live = sorted(sim.truth("time_entries"))
                    if live:
                        sim.delete_time_entry(live[n % len(live)])
            # The affected-SLA window ends a second before the server's clock (an edit in the current second may
            # still be followed by another with the same updated_at), so an edit is read by a sync that starts
            # in a later second: in-process syncs are fast enough to start in the edit's own second.
            time.sleep(1.05 - time.time() % 1)
            # A record restored unchanged is noted by the id listing and read in the sync after it.
            xc.update(config, state, sink)
            xc.update(config, state, sink)
            assert_equal(sim, sink)


def test_affected_slas_are_read_in_a_frozen_window_that_a_resume_keeps():
    sim = make(catalog=12)
    with Server(sim) as server:
        cfg = xc.settings(cfg_for(server.url, tables="affected_slas"))
        http = xc.client(cfg)
        table = xc.tables(http, cfg, {})[0]
        pages = table.fetch(Window(None, None))
        first = next(pages)
        assert first.records and isinstance(first.next, dict) and first.next["end"]
        pages.close()
        window = [r for r in sim.log if r.path == "/v1/affected_slas"]
        query = parse_qs(window[0].query)
        assert query["sort"] == ["id"] and query["updated_at"] == [f"<={first.next['end']}"]
        # Resumed from the checkpointed token (after a crash): the same end, the next page, no new probe.
        sim.data["affected_slas"].edit(0)  # edited after the window froze: the next traversal reads it
        before = len(sim.log)
        rest = list(xc.tables(http, cfg, {})[0].fetch(Window(None, first.next)))
        ids = [r["id"] for p in [first, *rest] for r in p.records]
        assert ids == list(range(1, 13))  # the edited record once, as it was: its new stamp is past the end
        assert [r.path for r in sim.log[before:] if not r.exempt] == ["/v1/affected_slas"] * len(rest)
        assert all(f"%3C%3D{first.next['end'].replace(':', '%3A')}" in r.query for r in sim.log[before:])


def test_notes_by_id_from_the_last_position_and_sub_collections_per_changed_parent():
    sim = make(catalog=10)
    with Server(sim) as server:
        config, state, sink = cfg_for(server.url, tables="notes,configuration_items,teams"), {}, \
            MemorySink(primary_keys=KEYS)
        xc.update(config, state, sink)
        assert state["tables"]["notes"]["after_id"] == 20
        for _ in range(3):
            sim.insert("notes")
        sim.data["cis"].edit(1)
        cursors = {t: state["tables"][t]["cursor"] for t in ("configuration_items", "teams")}
        before = len(sim.log)
        xc.update(config, state, sink)
        notes = [r for r in sim.log[before:] if r.path == "/v1/notes"]
        assert len(notes) == 1 and parse_qs(notes[0].query)["id"] == [">20"]
        assert {k[0] for k in sink.tables["notes"]} == set(range(1, 24))
        # One sub-collection read per record the sync delivered: the edited CI, and the records at each
        # cursor (the inclusive filter reads the boundary again).
        subs = sorted(r.path for r in sim.log[before:] if r.path.count("/") == 4)
        delivered = sorted(f"/v1/{resource}/{pk}/{sub}" for table, resource, sub in
                           (("configuration_items", "cis", "ci_relations"), ("teams", "teams", "members"))
                           for pk, r in sim.truth(resource).items()
                           if xc.records.iso(r["updated_at"]) >= cursors[table])
        assert subs == delivered and "/v1/cis/2/ci_relations" in subs and len(subs) < 6
        assert_equal_children = nested_truth(sim)["configuration_items_relations"]
        assert set(sink.tables.get("configuration_items_relations", {})) == set(assert_equal_children)


def test_the_hourly_budget_is_the_users_and_is_split_between_tables(monkeypatch):
    # Two personal tokens of one user share one hourly budget: requests sent with one lower what the other
    # has left. With 40 left, no table may take more than its share: the big one stops at a page boundary,
    # the small ones complete, and the next syncs finish the big one.
    monkeypatch.setattr(xc, "HOURLY_LIMIT", (3600, 3600.0))
    sim = XurrentSim(120, 3, 3, tokens={"test-token", "other-token"}, users={"test-token": "ann", "other-token": "ann"},
                     rate_limits=[(70, 3600.0)])
    with Server(sim) as server:
        import requests

        for _ in range(30):  # another script of the same user
            requests.get(f"{server.url}/v1/products", headers={"Authorization": "Bearer other-token",
                                                               "X-Xurrent-Account": "widget"}, timeout=5)
        config, state, sink = cfg_for(server.url, tables="organizations,products,projects",
                                      max_records_per_page="5"), {}, MemorySink(primary_keys=KEYS)
        xc.update(config, state, sink)
        assert 429 not in sim.statuses()
        organizations = [r for r in sim.log if r.path == "/v1/organizations" and "fields=id&" not in r.query]
        assert 10 <= len(organizations) <= 12  # 40 left, 10% kept for deletes, split three ways
        assert len(sink.tables["products"]) == 3 and len(sink.tables["projects"]) == 3
        assert 0 < len(sink.tables["organizations"]) < 120
        assert "cursor" in state["tables"]["organizations"] and "run" not in state["tables"]["organizations"]
        sim.limits.reset()
        for _ in range(4):
            xc.update(config, state, sink)
        assert {k[0] for k in sink.tables["organizations"]} == set(sim.truth("organizations"))
