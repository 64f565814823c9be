"""End to end: `fivetran debug` of connectors/awardco against the Awardco simulator, warehouse vs truth."""

from __future__ import annotations

import random
import threading
from datetime import date

import duckdb
import pytest

from simulators.awardco import AwardcoSim
from simulators.harness import Server
from tests.support import ConnectorDir, compare

pytestmark = pytest.mark.e2e

LIST_FIELDS = ["first_name", "last_name", "email", "balance", "currency_code", "updated_at", "created_at"]
REPORT_FIELDS = ["first_name", "preferred_name", "last_name", "email", "username", "country", "status",
                 "hire_date", "created_date", "archived_date"]


def list_truth(sim: AwardcoSim) -> dict:
    return {k: {"first_name": u["firstName"], "last_name": u["lastName"], "email": u["email"],
                "balance": u["balance"], "currency_code": u["currencyCode"], "updated_at": u["updated_at"],
                "created_at": u["created_at"]} for k, u in sim.truth().items()}


def us_date(text: str) -> str:
    """``05/19/2025`` or ``5/13/2020 4:01:02 PM`` -> ISO, for the comparison with the warehouse."""
    from datetime import datetime

    fmt = "%m/%d/%Y %I:%M:%S %p" if " " in text else "%m/%d/%Y"
    return datetime.strptime(text, fmt).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_truth(sim: AwardcoSim) -> dict:
    return {k: {"first_name": r["FIRST NAME"], "preferred_name": r["PREFERRED NAME"] or None,
                "last_name": r["LAST NAME"], "email": r["EMAIL"], "username": r["USERNAME"], "country": r["COUNTRY"],
                "status": r["STATUS"], "hire_date": date.fromisoformat(us_date(r["HIRE DATE"])[:10]),
                "created_date": us_date(r["CREATED DATE"]),
                "archived_date": us_date(r["ARCHIVED DATE"]) if r["ARCHIVED DATE"] else None}
            for k, r in sim.report_truth().items()}


def deleted_flags(conn: ConnectorDir, table: str, key: str) -> dict:
    """Every row's key -> its _fivetran_deleted flag, straight from the warehouse."""
    con = duckdb.connect(str(conn.warehouse), read_only=True)
    try:
        return {row[0] if len(row) == 2 else row[:-1]: bool(row[-1])
                for row in con.sql(f'select {key}, _fivetran_deleted from tester."{table}"').fetchall()}
    finally:
        con.close()


def config(server: Server, **extra: str) -> dict[str, str]:
    """The users table alone: the report tables have their own scenario (test_awardco_reports_e2e)."""
    return {"api_key": "test-key", "base_url": server.url, "requests_per_minute": "6000", "tables": "user",
            "poll_seconds": "0.05", **extra}


def check(conn: ConnectorDir, truth: dict, fields: list[str]) -> None:
    result = compare(conn.rows("user"), truth, "employee_id", fields)
    assert result.ok, str(result)


def test_list_mode_first_sync_edits_between_and_during(tmp_path):
    sim = AwardcoSim(users=150, tie=25, per_minute=None)  # 25 users share each updated_at: ties cross page boundaries
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

        # Deletes between syncs: the id reconciliation (due at once with deletes_check_hours=0) finds them.
        sim.scheduler.fire(10**9)  # the inserts scheduled "during" above, if those short syncs never reached them
        gone = set(sim.delete_random(rng, 12))
        run = conn.debug({**cfg, "deletes_check_hours": "0"})
        assert run.returncode == 0, run.output[-3000:]
        assert "12 deleted" in run.output
        flags = deleted_flags(conn, "user", "employee_id")
        assert {k for k, deleted in flags.items() if deleted} == gone
        check(conn, list_truth(sim), LIST_FIELDS)


def test_report_mode_snapshot(tmp_path):
    sim = AwardcoSim(users=700, report_page_size=300, polls_before_done=1, per_minute=None)
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        run = conn.debug(config(server))
        assert run.returncode == 0, run.output[-3000:]
        check(conn, report_truth(sim), REPORT_FIELDS)
        assert sim.requests_to("/api/v2/reports/tasks/101/pages") == 3
        rng = random.Random(1)
        sim.users.edit_random(30, rng)
        # Deletes (each user's metadata rows go with it) and archives (updates, never deletes) between syncs.
        gone = set(sim.delete_random(rng, 25))
        active = [k for k, r in sim.report_truth().items() if r["STATUS"] == "Active"]
        archived = set(rng.sample(active, 5))
        for k in archived:
            sim.archive(sim.index_of(k))
        run = conn.debug(config(server, deletes_check_hours="0"))
        assert run.returncode == 0, run.output[-3000:]
        check(conn, report_truth(sim), REPORT_FIELDS)
        users = deleted_flags(conn, "user", "employee_id")
        assert {k for k, deleted in users.items() if deleted} == gone
        assert all(r["status"] == "Archived" and r["archived_date"] for r in conn.rows("user")
                   if r["employee_id"] in archived)
        metadata = deleted_flags(conn, "user_metadata", "parent_employee_id, field, value")
        live = {(k[0], k[1]): k[2] for k, deleted in metadata.items() if not deleted}
        assert live == sim.metadata_truth()
        dead = {k[0] for k, deleted in metadata.items() if deleted}
        assert gone <= dead  # the cascade: every deleted user's metadata rows are flagged too


def test_kill_at_random_points_then_resume(tmp_path):
    """kill -9 the sync after a random number of requests, five times, then let it finish."""
    sim = AwardcoSim(users=600, tie=10, per_minute=None)
    rng = random.Random(11)
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        cfg = config(server, users_source="list", page_size="20")
        kills = 0
        for round_ in range(5):
            event = threading.Event()
            sim.scheduler.after(sim.count + rng.randint(1, 10), event.set)
            if round_ % 3 == 2:
                sim.users.edit_random(8, rng)
            run = conn.debug(cfg, kill_on=event)
            kills += run.killed
            sim.scheduler.fire(10**9)  # drop a kill that did not trigger
        assert kills >= 4, f"only {kills} of 5 runs were killed mid-sync"
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
