"""End to end: every Awardco report table through `fivetran debug`, one scenario sharing its syncs.

First sync (report times in Pacific time, CSV); new events, corrections dated days back, a recognition
declined after it was read, removed rows, an archived and a removed user; a second sync in JSON; kill -9
while a report is read, then one sync to finish. After each sync every table equals the simulator's truth.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta

import pytest

from simulators.awardco import AwardcoSim
from simulators.harness import Server
from tests.support import ConnectorDir, compare
from tests.test_awardco_e2e import REPORT_FIELDS, deleted_flags, report_truth
from tools.vendors import kits

pytestmark = pytest.mark.e2e

KIT = kits(["awardco"])["awardco"]
REPORT_TABLES = [t for t in KIT.keys if t not in ("user", "user_metadata")]


def check_all(conn: ConnectorDir, sim: AwardcoSim) -> None:
    truth = KIT.truth(sim)
    for table in REPORT_TABLES:
        assert truth[table], f"the simulator has no {table} rows: the scenario checks nothing"
        result = compare(conn.rows(table), truth[table], "row_key", KIT.fields[table])
        assert result.ok, f"{table}: {result}"
    users = compare(conn.rows("user"), report_truth(sim), "employee_id", REPORT_FIELDS)
    assert users.ok, str(users)
    metadata = {(r["parent_employee_id"], r["field"]): r["value"] for r in conn.rows("user_metadata")}
    assert metadata == sim.metadata_truth()


def posts(sim: AwardcoSim, since: int) -> list[dict]:
    return sim.report_bodies[since:]


def test_every_report_table_first_sync_changes_corrections_declines_json_and_kill(tmp_path):
    sim = AwardcoSim(users=30, per_minute=None, polls_before_done=1, slow_polls=2, report_page_size=40)
    rng = random.Random(21)
    with Server(sim) as server:
        conn = ConnectorDir("awardco", tmp_path)
        cfg = {**KIT.config(sim, server.url), "users_source": "report", "timezone": "Pacific Standard Time"}
        run = conn.debug(cfg)
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        # Dates were asked for as Pacific local times of whole UTC days, and converted back on landing.
        body = next(b for b in sim.report_bodies if b["reportId"] == 11)
        assert body["timezone"] == "Pacific Standard Time" and body["startDate"].endswith("T16:00:00")

        # Between syncs: new rows, corrections dated up to two days back, rows removed, a completed
        # recognition declined after it was read, an archived and a removed user.
        completed = next(r for r in reversed(sim.data.recognitions) if r.status == "Completed"
                         and r.completed >= sim.data.sim_now() - timedelta(days=2))
        completed.status, completed.completed = "Declined", None
        sim.data.new_events(rng, 15)
        correction = sim.data.add_event(11, sim.data.sim_now() - timedelta(days=2), correction=True)
        sim.data.remove(rng, 4)
        archived = next(k for k, r in sim.report_truth().items() if r["STATUS"] == "Active")
        sim.archive(sim.index_of(archived))
        removed = set(sim.delete_random(rng, 1))
        before = len(sim.report_bodies)
        run = conn.debug({**cfg, "report_format": "json"})
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        # One report task per report and window: the users report, one window per event report, two months
        # for each period report and two periods for programme utilisation.
        assert len(posts(sim, before)) == 1 + 11 + 2 + 2 + 2
        assert sorted(json.dumps(b, sort_keys=True) for b in posts(sim, before)) == sorted(
            set(json.dumps(b, sort_keys=True) for b in posts(sim, before)))
        status = {r["recognition_id"]: r for r in conn.rows("recognition_status")}
        assert status[completed.id]["recognition_status"] == "Declined"
        assert any(r["transaction_type"] == "Manual Adjustment" and r["point_amount"] < 0
                   and r["day"] == correction.at.date() for r in conn.rows("point_transactions"))
        flags = deleted_flags(conn, "recognitions", "row_key")
        assert any(flags.values()), "the declined recognition's row was not deleted"
        users = {r["employee_id"]: r for r in conn.rows("user")}
        assert users[archived]["status"] == "Archived" and users[archived]["archived_date"]
        assert {k for k, d in deleted_flags(conn, "user", "employee_id").items() if d} == removed

        # kill -9 while the report tables are read (after the users report and the prestarted tasks).
        sim.data.new_events(rng, 6)
        sim.data.decide(rng, 2)
        before = len(sim.report_bodies)
        event = threading.Event()
        sim.scheduler.after(sim.count + 30, event.set)
        run = conn.debug(cfg, kill_on=event)
        assert run.killed, "the sync finished before the kill"
        state = conn.state()
        # Tasks the killed sync started and had not finished reading: the half-read one and the prestarted ones.
        pending = {e["run"]["resume"]["task"] for e in state["tables"].values() if (e.get("run") or {}).get("resume")}
        pending |= {t for e in state["tables"].values() for t in (e.get("tasks") or {}).values()}
        assert pending, "the kill landed after every report was read"
        sim.scheduler.fire(10**9)
        before, logged = len(sim.report_bodies), len(sim.log)
        run = conn.debug(cfg)
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        # The next sync read those tasks instead of starting second ones for the same windows.
        read = {int(r.path.split("/")[5]) for r in sim.log[logged:] if r.path.startswith("/api/v2/reports/tasks/")}
        assert pending <= read
        assert len(posts(sim, before)) == 1 + 11 + 2 + 2 + 2 - len(pending)
