"""End to end: `fivetran debug` of connectors/awardco against the Awardco simulator, warehouse vs truth."""

from __future__ import annotations

import random
import threading

import pytest

from simulators.awardco import AwardcoSim
from simulators.harness import Server
from tests.support import ConnectorDir, compare

pytestmark = pytest.mark.e2e

LIST_FIELDS = ["first_name", "last_name", "email", "balance", "currency_code", "updated_at", "created_at"]
REPORT_FIELDS = ["first_name", "last_name", "email", "username", "status"]


def list_truth(sim: AwardcoSim) -> dict:
    return {k: {"first_name": u["firstName"], "last_name": u["lastName"], "email": u["email"],
                "balance": u["balance"], "currency_code": u["currencyCode"], "updated_at": u["updated_at"],
                "created_at": u["created_at"]} for k, u in sim.truth().items()}


def report_truth(sim: AwardcoSim) -> dict:
    return {k: {"first_name": r["First Name"], "last_name": r["Last Name"], "email": r["Email"],
                "username": r["Username"], "status": r["Status"]} for k, r in sim.report_truth().items()}


def config(server: Server, **extra: str) -> dict[str, str]:
    return {"api_key": "test-key", "base_url": server.url, "requests_per_minute": "6000", **extra}


def check(conn: ConnectorDir, truth: dict, fields: list[str]) -> None:
    result = compare(conn.rows("user"), truth, "employee_id", fields)
    assert result.ok, str(result)


def test_list_mode_first_sync_edits_between_and_during(tmp_path):
    sim = AwardcoSim(users=430, tie=25)  # 25 users share each updated_at: ties cross every page boundary
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        cfg = config(server, users_source="list", page_size="20")
        run = conn.debug(cfg)
        assert run.returncode == 0, run.output[-3000:]
        check(conn, list_truth(sim), LIST_FIELDS)

        # Edits and inserts between syncs; the second sync must read only from its cursor.
        rng = random.Random(3)
        sim.users.edit_random(15, rng)
        for _ in range(7):
            sim.users.insert()
        before = sim.requests_to("/api/users")
        run = conn.debug(cfg)
        assert run.returncode == 0, run.output[-3000:]
        check(conn, list_truth(sim), LIST_FIELDS)
        assert sim.requests_to("/api/users") - before <= 3, "the incremental sync re-read the whole table"

        # Edits while the sync runs (after its 3rd and 6th page), then one more sync.
        sim.users.edit_random(5, rng)
        count = sim.count
        sim.scheduler.after(count + 3, lambda: sim.users.edit_random(10, rng))
        sim.scheduler.after(count + 6, lambda: [sim.users.insert() for _ in range(3)])
        assert conn.debug(cfg).returncode == 0
        assert conn.debug(cfg).returncode == 0
        check(conn, list_truth(sim), LIST_FIELDS)


def test_report_mode_snapshot(tmp_path):
    sim = AwardcoSim(users=2300, report_page_size=1000, polls_before_done=1)
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        run = conn.debug(config(server))
        assert run.returncode == 0, run.output[-3000:]
        check(conn, report_truth(sim), REPORT_FIELDS)
        assert sim.requests_to("/api/v2/reports/tasks/101/pages") == 3
        sim.users.edit_random(30, random.Random(1))
        assert conn.debug(config(server)).returncode == 0
        check(conn, report_truth(sim), REPORT_FIELDS)


def test_kill_at_random_points_then_resume(tmp_path):
    """kill -9 the sync after a random number of requests, ten times, then let it finish."""
    sim = AwardcoSim(users=2000, tie=10)
    rng = random.Random(11)
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        cfg = config(server, users_source="list", page_size="20")
        kills = 0
        for round_ in range(10):
            event = threading.Event()
            sim.scheduler.after(sim.count + rng.randint(1, 10), event.set)
            if round_ % 3 == 2:
                sim.users.edit_random(8, rng)
            run = conn.debug(cfg, kill_on=event)
            kills += run.killed
            sim.scheduler.fire(10**9)  # drop a kill that did not trigger
        assert kills >= 8, f"only {kills} of 10 runs were killed mid-sync"
        # One sync finishes the interrupted traversal; the next picks up what was edited during it.
        assert conn.debug(cfg).returncode == 0
        assert conn.debug(cfg).returncode == 0
        check(conn, list_truth(sim), LIST_FIELDS)


def test_faults_are_retried_and_nothing_lost(tmp_path):
    from simulators.harness import Faults

    sim = AwardcoSim(users=500, faults=Faults(rate=0.15, seed=5, slow_seconds=0.2, retry_after=1))
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        cfg = config(server, users_source="list", page_size="25", retry_attempts="8")
        run = conn.debug(cfg)
        assert run.returncode == 0, run.output[-3000:]
        check(conn, list_truth(sim), LIST_FIELDS)
        assert sum(sim.faults.injected.values()) >= 2, sim.faults.injected
        assert "test-key" not in run.output


def test_wrong_key_fails_clearly_and_state_is_kept(tmp_path):
    sim = AwardcoSim(users=50)
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        run = conn.debug({**config(server), "api_key": "wrong-key-123"})
        assert run.returncode != 0
        assert "401" in run.output and "Authorization failed" in run.output
        assert "wrong-key-123" not in run.output
