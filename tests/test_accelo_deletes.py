"""The Accelo connector's table declarations, table selection, lossless rows and deletes (id reconciliation by
bisected /count, the staff snapshot, cascades), in-process (memory sink) against the simulator."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.accelo import RESOURCES, AcceloSim
from simulators.harness import Server, json_response
from synckit import READS, ConfigError, Reconcile, ResponseError, Snapshot, SyncError, schema_of
from tests.test_accelo_connector import GOOD, Warehouse, acc, config

SIZES = {"companies": 400, "invoices": 150, "payments": 120, "prospects": 60, "jobs": 90, "staff": 30}


# Declarations ---------------------------------------------------------------------------------------------

def test_catalogue_declares_every_table_and_the_schema_derives_from_it():
    tables = acc.catalogue()
    assert [t.name for t in tables] == list(acc.NAMES) == list(RESOURCES)
    by_name = {t.name: t for t in tables}
    for table in tables:
        per_object = bool(acc.ENTITIES.get(table.name) and acc.ENTITIES[table.name].objects)
        assert table.doc and table.read in READS and table.deletes
        assert table.primary_key == (("object", "id") if per_object else ("id",))
        assert all(k in table.columns for k in table.primary_key)
        for column, target in table.refs.items():
            other, key = target.split(".")
            assert column in table.columns and key in by_name[other].columns, (table.name, column)
    assert len(tables) >= 6 + 20
    reads = {t.name: t.read for t in tables}
    assert reads["milestones"] == "window" and reads["contract_periods"] == "fanout"
    assert reads["activities"] == reads["tasks"] == reads["affiliations"] == "cursor"
    assert all(isinstance(t.deletes[0], Snapshot) for t in tables if t.read in ("full", "fanout"))
    assert acc.schema({}) == schema_of(tables)
    assert [t["table"] for t in acc.schema({"tables": "jobs, staff"})] == ["jobs", "staff"]
    assert by_name["staff"].read == "full" and isinstance(by_name["staff"].deletes[0], Snapshot)
    dated = [t for t in tables if t.cursor]
    assert all(t.read in ("cursor", "window") and isinstance(t.deletes[0], Reconcile) for t in dated)
    assert {"invoices", "prospects", "jobs", "payments", "affiliations", "issues", "tasks", "activities"} <= set(
        by_name["companies"].deletes[0].cascade)
    assert by_name["invoices"].deletes[0].cascade == ("payments",)


class Answer:
    url = "https://planet-express.api.accelo.com/api/v0/companies/count"

    def __init__(self, body: Any):
        self.body = body

    def json(self) -> Any:
        return self.body


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**9))
def test_count_reads_the_object_and_the_bare_value(n):
    ok = {"status": "ok"}
    for response in ({"count": str(n)}, {"count": n}, str(n), n):
        assert acc.response_count(Answer({"meta": ok, "response": response})) == n


@pytest.mark.parametrize("body", [
    {"response": None}, {"response": {"count": "many"}}, {"response": "-1"}, {"response": True},
    {"response": []}, {"response": {}}, [], {"meta": {"status": "invalid_request", "message": "no"}, "response": "1"},
])
def test_a_count_that_is_not_a_number_fails_clearly(body):
    with pytest.raises(ResponseError) as info:
        acc.response_count(Answer(body))
    assert "count" in str(info.value) or "meta.status" in str(info.value)


# Table selection --------------------------------------------------------------------------------------------

def test_an_unknown_table_is_a_configuration_error_naming_it_and_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        acc.settings({**GOOD, "tables": "companies, widgets"})
    message = str(info.value)
    assert "'tables'" in message and "'widgets'" in message
    assert all(name in message for name in RESOURCES)
    with pytest.raises(ConfigError):
        acc.schema({"tables": "widgets"})
    assert acc.selection.chosen(acc.settings({**GOOD, "tables": ""}), acc.NAMES) == list(RESOURCES)


def test_a_deselected_table_sends_no_request():
    sim = AcceloSim(SIZES)
    with Server(sim) as server:
        cfg = config(server, page_size="20", tables="staff,companies", deletes_check_hours="0")
        house = Warehouse()
        house.sync(cfg)
        sim.delete_random(random.Random(1), 6)  # deletes in every table: only the chosen ones are checked
        house.sync(cfg)
        paths = {r.path.split("/")[3] for r in sim.log if r.path.startswith("/api/")}
        assert paths == {"companies", "staff"}
        assert set(house.tables) == {"companies", "staff"} and not house.problems(sim, tables=("companies", "staff"))
        assert set(house.state["tables"]) <= {"companies", "staff"}
        # The setup form's probe of a deselected table reads nothing either.
        before = len(sim.log)
        tests = dict(acc.setup.checks(acc.settings, {n: acc.probe(n) for n in acc.NAMES}, connect=acc.connect))
        assert tests["Permission to read jobs"](cfg).success
        assert len(sim.log) == before
        assert tests["Permission to read staff"](cfg).success and len(sim.log) == before + 2  # token, read


# Lossless rows ----------------------------------------------------------------------------------------------

def test_every_field_the_api_returns_lands_declared_or_not(monkeypatch):
    sim = AcceloSim({"companies": 5, "staff": 3})
    generate = sim._generate

    def more(resource: str, i: int, version: int) -> dict:
        record = generate(resource, i, version)
        if resource == "companies":
            record = {**record, "brand_new": "x", "tags": ["a", "b"], "postal_address": {"id": "7", "city": "Sydney"}}
        return record

    monkeypatch.setattr(sim, "_generate", more)
    with Server(sim) as server:
        house = Warehouse()
        house.sync(config(server))
    row = house.tables["companies"][1]
    assert row["brand_new"] == "x" and row["tags"] == '["a","b"]'
    assert row["postal_address_city"] == "Sydney" and row["postal_address_id"] == "7"
    staff = house.tables["staff"][1]
    assert isinstance(staff["staff_rate"], float) and isinstance(staff["staff_cost_rate"], float)


# Deletes ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["object", "bare"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deletes_with_cascades_are_found_and_nothing_else_is_deleted(seed, shape):
    sim = AcceloSim(SIZES, tie=5, count_shape=shape)
    rng = random.Random(seed)
    with Server(sim) as server:
        cfg = config(server, page_size="25", deletes_check_hours="0")
        house = Warehouse()
        house.sync(cfg)
        gone = sim.delete_random(rng, 9)
        assert any(t == "payments" for t, _ in gone) and any(t == "jobs" for t, _ in gone)
        sim.edit_random("companies", 5, rng)  # deactivating or editing is an update, never a delete
        for table in RESOURCES:
            sim.insert(table)  # new ids above every known one cannot hide a delete
        sink = house.sync(cfg)
        assert not house.problems(sim)
        for table, key in gone:
            assert key not in house.tables[table]
        assert sink.checkpoints
        again = len(sim.log)
        house.sync(cfg)  # nothing more is gone: one /count per dated table, no listing
        counts = [r for r in sim.log[again:] if r.path.endswith("/count") and "id_greater" in r.query]
        listings = [r for r in sim.log[again:] if "_fields=id" in r.query and "id_less_than" in r.query]
        assert len(counts) == sum(1 for t in acc.catalogue() if t.cursor) and not listings


def test_one_delete_in_a_large_table_costs_a_few_counts_and_one_listing():
    sim = AcceloSim({"companies": 6400})
    with Server(sim) as server:
        cfg = config(server, deletes_check_hours="0", tables="companies")
        house = Warehouse()
        house.sync(cfg)
        sim.delete("companies", 4321)
        start = len(sim.log)
        house.sync(cfg)
        sent = sim.log[start:]
        counts = [r for r in sent if r.path.endswith("/count")]
        listings = [r for r in sent if "_fields=id" in r.query]
        assert len(counts) <= 8 and len(listings) == 1, (len(counts), len(listings))  # 6400 ids: 64 pages
        assert 4322 not in house.tables["companies"] and len(house.tables["companies"]) == 6399


def test_the_staff_snapshot_finds_deleted_staff():
    sim = AcceloSim({"staff": 30})
    with Server(sim) as server:
        cfg = config(server, page_size="10", tables="staff")
        house = Warehouse()
        house.sync(cfg)
        sim.delete("staff", 4)
        sim.delete("staff", 29)
        house.sync(cfg)  # no reconciliation is due (24 hours): the full re-read alone finds them
        assert not house.problems(sim, tables=("staff",)) and len(house.tables["staff"]) == 28


def test_rows_older_than_the_start_date_do_not_hide_deletes():
    """With a start date, old rows were never read; the same filter keeps them out of the counts. An old row
    edited since (read, with a low id) makes the id range span them."""
    sim = AcceloSim({"companies": 600})  # 7 minutes apart from 2023-01-01: 2023-01-02 falls at index 206
    with Server(sim) as server:
        cfg = config(server, start_date="2023-01-02", deletes_check_hours="0", tables="companies")
        sim.edit("companies", 5)
        house = Warehouse()
        house.sync(cfg)
        assert 6 in house.tables["companies"] and 7 not in house.tables["companies"]
        sim.delete("companies", 400)
        sim.delete("companies", 100)  # never synced: nothing to delete
        house.sync(cfg)
        assert 401 not in house.tables["companies"] and len(house.tables["companies"]) == 600 - 206
        counts = [r for r in sim.log if r.path.endswith("/count") and "id_greater" in r.query]
        assert counts and all("date_modified_after" in r.query for r in counts)
        assert house.state["floors"]["companies"] == "2023-01-02T00:00:00Z"


def test_a_check_that_would_delete_more_than_the_share_stops_and_deletes_nothing():
    sim = AcceloSim({"companies": 40})
    with Server(sim) as server:
        cfg = config(server, deletes_check_hours="0", tables="companies")
        house = Warehouse()
        house.sync(cfg)
        for i in range(25):
            sim.delete("companies", i)
        with pytest.raises(SyncError) as info:
            house.sync(cfg)
        assert "max_delete_percent" in str(info.value) and "25 of the 40" in str(info.value)
        assert len(house.tables["companies"]) == 40
        house.sync({**cfg, "max_delete_percent": "70"})
        assert not house.problems(sim, tables=("companies",))


def test_a_listing_that_fails_part_way_deletes_nothing():
    sim = AcceloSim({"companies": 300})
    with Server(sim) as server:
        cfg = config(server, page_size="20", deletes_check_hours="0", tables="companies", retry_attempts="1")
        house = Warehouse()
        house.sync(cfg)
        for i in (3, 150, 290):
            sim.delete("companies", i)
        original = sim.handle
        listed = []

        def handle(request):
            if "_fields=id" in request.query_string.decode():
                listed.append(request.path)
                if len(listed) > 1:  # the first listed range answers; the next fails
                    return json_response({"meta": {"status": "server_error"}, "response": None}, 500)
            return original(request)

        sim.handle = handle
        with pytest.raises(SyncError) as info:
            house.sync(cfg)
        assert "delete check" in str(info.value) and len(listed) > 1
        assert len(house.tables["companies"]) == 300  # not even the range that was listed
        sim.handle = original
        house.sync(cfg)
        assert not house.problems(sim, tables=("companies",))
