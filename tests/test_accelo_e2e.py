"""End to end: `fivetran debug` of connectors/accelo against the Accelo simulator, warehouse vs truth."""

from __future__ import annotations

import random
import threading

import duckdb
import pytest

from simulators.accelo import RESOURCES, AcceloSim
from simulators.accelo_entities import BY_NAME
from simulators.harness import Server
from tests.support import ConnectorDir, compare
from tests.test_accelo_connector import CID, SECRET
from tools.vendors.accelo import kit as accelo_kit

pytestmark = pytest.mark.e2e

CHANGING = [t for t in RESOURCES if not (t in BY_NAME and BY_NAME[t].reference)]
DURING = ("companies", "jobs", "staff", "activities", "milestones", "contracts", "addresses")  # edited mid-sync
SIZES = {"companies": 330, "invoices": 90, "payments": 120, "prospects": 45, "jobs": 70, "staff": 25}


def config(server: Server, **extra: str) -> dict[str, str]:
    return {"deployment": "planet-express", "client_id": CID, "client_secret": SECRET, "base_url": server.url,
            "page_size": "20", "max_workers": "4", "rate_limit_reserve": "0", "contract_periods_refresh_hours": "0",
            **extra}


def check(conn: ConnectorDir, sim: AcceloSim, tables=RESOURCES) -> None:
    """Every table of the warehouse equals the simulator's truth (in the warehouse's column names)."""
    kit = accelo_kit()
    truths = kit.truth(sim)
    for table in tables:
        result = compare(conn.rows(table), truths[table], "id", kit.fields[table])
        assert result.ok, f"{table}: {result}"


def deleted_flags(conn: ConnectorDir) -> dict[tuple[str, int], bool]:
    """(table, id) -> _fivetran_deleted, for every row the warehouse holds, read from it directly."""
    con = duckdb.connect(str(conn.warehouse), read_only=True)
    try:
        return {(table, key): bool(flag) for table in RESOURCES
                for key, flag in con.sql(f'select id, _fivetran_deleted from tester."{table}"').fetchall()}
    finally:
        con.close()


def test_first_sync_edits_between_and_during(tmp_path):
    sim = AcceloSim(SIZES, tie=20)  # 20 records share each date: ties cross every page boundary
    with Server(sim) as server:
        conn = ConnectorDir("accelo", tmp_path)
        run = conn.debug(config(server))
        assert run.returncode == 0, run.output[-3000:]
        check(conn, sim)
        assert SECRET not in run.output

        rng = random.Random(3)
        for table in CHANGING:  # lookups are re-read daily (reference_refresh_hours): they stay as they are
            if table != "payments":
                sim.edit_random(table, 10, rng)
            sim.insert(table)
        # Permanent deletes between syncs, some companies taking their jobs, invoices, sales and payments with
        # them; the next sync's checks (due every sync here) must flag exactly those rows.
        gone = set(sim.delete_random(rng, 12))
        cascaded = {"companies", "jobs", "invoices", "payments", "prospects", "affiliations", "activities", "tasks",
                    "milestones", "invoice_line_items", "profile_values"}
        assert cascaded <= {t for t, _ in gone} and len(gone) > 12, gone  # cascades happened
        run = conn.debug(config(server, deletes_check_hours="0"))
        assert run.returncode == 0, run.output[-3000:]
        flags = deleted_flags(conn)
        assert gone <= set(flags), "a deleted record had never reached the warehouse"
        assert {k for k, deleted in flags.items() if deleted} == gone
        assert "delete check (scheduled)" in run.output
        check(conn, sim)

        # Edits and inserts while the sync runs (old rows edited into the window shift later pages). Every
        # change lands inside the first of the next two syncs (dozens of requests), and the second must pick
        # up whatever the first could not.
        count = sim.count
        for k in (2, 3, 5, 7):
            sim.scheduler.after(count + k, lambda: [sim.edit(t, rng.randrange(sim.data[t].n)) for t in DURING
                                                    for _ in range(3)])
        sim.scheduler.after(count + 4, lambda: [sim.insert("companies") for _ in range(4)])
        assert conn.debug(config(server)).returncode == 0
        assert sim.scheduler.pending == 0, "a change was scheduled after the sync it was meant to hit"
        assert conn.debug(config(server)).returncode == 0
        check(conn, sim)



def test_kill_at_random_points_then_resume(tmp_path):
    """kill -9 the sync after a random number of requests, ten times, then let it finish twice."""
    sim = AcceloSim({**SIZES, "companies": 900}, tie=10)
    rng = random.Random(11)
    with Server(sim) as server:
        conn = ConnectorDir("accelo", tmp_path)
        kills = 0
        for round_ in range(10):
            event = threading.Event()
            sim.scheduler.after(sim.count + rng.randint(2, 14), event.set)
            if round_ % 3 == 2:
                for table in ("companies", "invoices", "jobs"):
                    sim.edit_random(table, 5, rng)
                sim.insert("companies")
            run = conn.debug(config(server), kill_on=event)
            kills += run.killed
            sim.scheduler.fire(10**9)  # drop a kill that did not trigger
        assert kills >= 8, f"only {kills} of 10 runs were killed mid-sync"
        assert conn.debug(config(server)).returncode == 0
        assert conn.debug(config(server)).returncode == 0
        check(conn, sim)


def test_wrong_secret_fails_clearly(tmp_path):
    sim = AcceloSim({"companies": 5})
    with Server(sim) as server:
        conn = ConnectorDir("accelo", tmp_path)
        run = conn.debug(config(server, client_secret="wrong-secret-123"))
        assert run.returncode != 0
        assert "401" in run.output and "Client authentication failed" in run.output
        assert "wrong-secret-123" not in run.output
        assert sim.requests_to("/oauth2/") == 1
