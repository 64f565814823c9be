"""The tables beyond the first six, in-process: how each read kind asks the API, the per-object and fan-out
tables, the expanded time allocation, the schedules, and deletes with cascades into the new tables."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import pytest

from simulators.accelo import AcceloSim
from simulators.accelo_entities import BY_NAME
from simulators.harness import Server
from tests.test_accelo_connector import Warehouse, acc, config


def queries(sim: AcceloSim, start: int, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in sim.log[start:] if r.path == path]


def test_milestones_are_read_by_a_frozen_date_window_paged_by_id():
    sim = AcceloSim({"milestones": 95, "jobs": 30}, tie=7)
    with Server(sim) as server:
        cfg = config(server, page_size="20", tables="milestones")
        house = Warehouse()
        house.sync(cfg)
        rng = random.Random(3)
        sim.edit_random("milestones", 9, rng)
        sim.insert("milestones")
        start = len(sim.log)
        house.sync(cfg)
        assert not house.problems(sim, tables=["milestones"])
        sent = queries(sim, start, "/api/v0/milestones")
        assert sent and all("order_by" not in q.get("_filters", [""])[0] for q in sent)
        filters = sent[0]["_filters"][0]
        assert "date_modified_after(" in filters and "date_modified_before(" in filters
        assert "id_greater_than(0)" in filters
        befores = {f.split("date_modified_before(")[1].split(")")[0] for q in sent for f in q["_filters"]}
        assert len(befores) == 1  # one window for the whole traversal


def test_per_object_lists_lookups_named_fields_and_inactive_types():
    sim = AcceloSim({"companies": 5})
    with Server(sim) as server:
        start = len(sim.log)
        house = Warehouse()
        house.sync(config(server, tables="statuses,types,profile_values"))
        assert not house.problems(sim, tables=["statuses", "types", "profile_values"])
        for obj in acc.ENTITIES["statuses"].objects:
            (q,) = queries(sim, start, f"/api/v0/{obj}/statuses")
            assert "_ALL" not in q["_fields"][0] and "title" in q["_fields"][0]  # _ALL is refused on lookups
        (issue_types,) = queries(sim, start, "/api/v0/issues/types")
        assert "standing(active,inactive)" in issue_types["_filters"][0]
        types = house.tables["types"].values()
        inactive = [r for r in types if r["object"] == "issues" and r["standing"] == "inactive"]
        assert inactive, "inactive issue types are hidden by default and must be asked for"
        assert {r["object"] for r in house.tables["profile_values"].values()} <= set(BY_NAME["profile_values"].objects)


def test_activities_carry_the_expanded_time_allocation_and_accept_a_bare_id():
    sim = AcceloSim({"activities": 30})
    with Server(sim) as server:
        start = len(sim.log)
        house = Warehouse()
        house.sync(config(server, tables="activities"))
        assert not house.problems(sim, tables=["activities"])
        assert "time_allocation(_ALL)" in queries(sim, start, "/api/v0/activities")[0]["_fields"][0]
        row = house.tables["activities"][1]
        assert isinstance(row["time_allocation_id"], int) and row["time_allocation_standing"]
    shape = acc.shaper("activities")
    assert shape({"id": "5", "time_allocation": "77"})["time_allocation_id"] == 77  # the list sent only the id


def test_contract_periods_fan_out_once_per_contract_on_their_schedule_and_lose_deleted_contracts():
    sim = AcceloSim({"contracts": 12, "contract_periods": 40})
    with Server(sim) as server:
        cfg = config(server, tables="contracts,contract_periods", contract_periods_refresh_hours="24",
                     deletes_check_hours="0")
        house = Warehouse()
        start = len(sim.log)
        house.sync(cfg)
        assert not house.problems(sim, tables=["contracts", "contract_periods"])
        fanned = [r for r in sim.log[start:] if r.path.endswith("/periods")]
        assert len(fanned) == 12  # one listing per contract
        start = len(sim.log)
        house.sync(cfg)  # within the 24 hours: not read again
        assert not [r for r in sim.log[start:] if r.path.endswith("/periods")]
        gone = sim.delete("contracts", 2)
        assert any(t == "contract_periods" for t, _ in gone)
        house.sync({**cfg, "contract_periods_refresh_hours": "0"})
        assert not house.problems(sim, tables=["contracts", "contract_periods"])
        for table, key in gone:
            assert key not in house.tables.get(table, {})  # the other tables were not synced here


def test_reference_tables_are_read_on_their_schedule():
    sim = AcceloSim({"companies": 3})
    with Server(sim) as server:
        cfg = config(server, tables="rates,statuses,quotes", reference_refresh_hours="24")
        house = Warehouse()
        house.sync(cfg)
        start = len(sim.log)
        house.sync(cfg)
        read = {sim.resource_of(r.path) for r in sim.log[start:]} - {None}
        assert read == {"quotes"}  # lookups wait for their refresh; a table without dates is re-read
        assert house.state["tables"]["rates"]["read_at"] > 0


@pytest.mark.parametrize("seed", [4, 5])
def test_a_deleted_company_takes_its_affiliations_issues_activities_and_tasks(seed):
    sim = AcceloSim({"companies": 12, "invoices": 20, "payments": 20, "prospects": 20, "jobs": 20, "staff": 5},
                    tie=3)
    rng = random.Random(seed)
    with Server(sim) as server:
        cfg = config(server, page_size="30", deletes_check_hours="0")
        house = Warehouse()
        house.sync(cfg)
        company = rng.choice([i for i in range(12) if sim.data["companies"].exists(i)])
        gone = sim.delete("companies", company)
        kinds = {t for t, _ in gone}
        assert {"affiliations", "issues"} <= kinds and kinds & {"activities", "tasks", "milestones"}
        house.sync(cfg)
        assert not house.problems(sim)
        for table, key in gone:
            assert key not in house.tables[table], (table, key)
