"""End to end: `fivetran debug` of connectors/act against the Act! simulator, every table against the truth,
deletes (with their custom-field child rows) read from the warehouse's `_fivetran_deleted` flags."""

from __future__ import annotations

import base64
import random
import threading

import duckdb
import pytest

from simulators.act import ActSim
from simulators.harness import Server
from tests.support import ConnectorDir, compare
from tests.test_act_connector import act

pytestmark = pytest.mark.e2e


PASSWORD = "act-pass-123"
# warehouse column -> source field after flattening, per table
FIELDS = {
    "contacts": {"first_name": "firstName", "last_name": "lastName", "email_address": "emailAddress",
                 "edited": "edited", "business_address_city": "businessAddress_city", "company_id": "companyID"},
    "companies": {"name": "name", "revenue": "revenue", "edited": "edited", "address_city": "address_city"},
    "opportunities": {"name": "name", "product_total": "productTotal", "status": "status", "edited": "edited",
                      "stage_name": "stage_name", "contacts": "contacts"},
    "activities": {"subject": "subject", "activity_type_name": "activityTypeName", "edited": "edited",
                   "start_time": "startTime"},
    "activity_types": {"name": "name", "is_custom": "isCustom"},
    "products": {"name": "name", "price": "price", "edit_date": "editDate"},
}
SHAPERS = {e.name: act.shaper(e) for e in act.ENDPOINTS}


def truth(sim: ActSim, table: str) -> dict:
    out = {}
    for rid, record in sim.truth(table).items():
        row = SHAPERS[table](record)
        out[rid] = {column: row.get(source) for column, source in FIELDS[table].items()}
    return out


def check_all(conn: ConnectorDir, sim: ActSim) -> None:
    for table, fields in FIELDS.items():
        result = compare(conn.rows(table), truth(sim, table), "id", fields)
        assert result.ok, f"{table}: {result}"


CUSTOM = ("contacts", "companies", "opportunities")  # the tables whose customFields land as a child table


def custom_truth(sim: ActSim, table: str) -> dict[tuple, object]:
    return {(rid, k): v for rid, r in sim.truth(table).items() for k, v in (r.get("customFields") or {}).items()}


def flags(conn: ConnectorDir, table: str) -> dict[tuple, bool]:
    """Primary key -> _fivetran_deleted of every row of tester.<table>, read from the warehouse itself."""
    return conn.flags(table, ("parent_id", "field") if table.endswith("_custom_fields") else ("id",))


def check_custom_fields(conn: ConnectorDir, sim: ActSim) -> None:
    con = duckdb.connect(str(conn.warehouse), read_only=True)
    try:
        for table in CUSTOM:
            rows = con.sql(f"select parent_id, field, value from tester.{table}_custom_fields "
                           "where not _fivetran_deleted").fetchall()
            expected = {k: None if v is None else str(v) for k, v in custom_truth(sim, table).items()}
            assert {(p, f): v for p, f, v in rows} == expected, table
    finally:
        con.close()


def config(server: Server, **extra: str) -> dict[str, str]:
    return {"protocol": "http", "hostname": "127.0.0.1", "port": str(server.port), "api_path": "/act.web.api",
            "username": "John Hollo", "password": PASSWORD, "database_name": "ACT2018Demo", "batch_size": "5",
            "rate_limit_pause": "0", **extra}


def test_first_sync_edits_deletes_between_and_edits_during_with_ties_wider_than_a_page(tmp_path):
    sim = ActSim(24, 5, 5, 5, 6, tie=8)  # 8 records share each edited value; pages hold 5
    rng = random.Random(5)
    with Server(sim) as server:
        conn = ConnectorDir("act", tmp_path)
        run = conn.debug(config(server, deletes_check_hours="0"))
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        check_custom_fields(conn, sim)
        assert all("run" not in entry for entry in conn.state()["tables"].values())
        assert not any(any(flags(conn, t).values()) for t in [*FIELDS, *(f"{c}_custom_fields" for c in CUSTOM)])

        # Edits, inserts and deletes between syncs (the deleted contacts, companies and opportunities take
        # their custom-field rows with them), a renamed and a removed task type.
        for name in sim.data:
            sim.data[name].edit_random(3, rng)
            sim.data[name].insert()
        gone = sim.delete_random(rng, 8)
        sim.task_types[1]["name"] = "Phone call"
        removed_type = sim.task_types.pop()["id"]
        before = sim.count
        data_requests = len([r for r in sim.log if "select" not in r.query])
        run = conn.debug(config(server, deletes_check_hours="0"))
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        check_custom_fields(conn, sim)
        deleted = {t: {rid for t2, rid in gone if t2 == t} for t in FIELDS}
        deleted["activity_types"] = {removed_type}
        for table in FIELDS:  # every deleted row flagged, and nothing else
            assert {k[0] for k, d in flags(conn, table).items() if d} == deleted[table], table
        for table in CUSTOM:
            got = {k for k, d in flags(conn, f"{table}_custom_fields").items() if d}
            assert got and got == {k for k in flags(conn, f"{table}_custom_fields") if k[0] in deleted[table]}, table
        sweeps = sim.count - before - (len([r for r in sim.log if "select" not in r.query]) - data_requests)
        assert sweeps == 5, "one id-sweep request per table with a delete check"
        assert sim.count - before - sweeps <= 20, "the incremental sync re-read whole tables"

        # Edits and inserts while the sync runs, then one more sync.
        count = sim.count
        sim.scheduler.after(count + 3, lambda: [sim.data[n].edit_random(4, rng) for n in sim.data])
        sim.scheduler.after(count + 9, lambda: [sim.data[n].insert() for n in sim.data])
        assert conn.debug(config(server)).returncode == 0
        assert conn.debug(config(server)).returncode == 0
        check_all(conn, sim)
        check_custom_fields(conn, sim)
        for table in FIELDS:  # the deleted rows stay deleted; the later syncs flagged nothing else
            assert {k[0] for k, d in flags(conn, table).items() if d} == deleted[table], table


def test_envelope_token_expiry_and_no_secret_in_verbose_output(tmp_path):
    everything = ("contacts", "companies", "opportunities", "activities", "products", "activity_types")
    # 100 ms per request keeps the sync longer than the 4-second token, so it must be renewed on the way.
    sim = ActSim(20, 6, 6, 6, 6, tie=4, envelope=everything, token_lifetime=4, latency=0.1)
    with Server(sim) as server:
        conn = ConnectorDir("act", tmp_path)
        sim.scheduler.after(8, sim.revoke_tokens)  # the server forgets the token mid-sync: 401, re-acquire
        run = conn.debug(config(server, enable_debug_logging="true"))
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        # The first token and a new one after the revocation's 401 (renewal before expiry happens too when the
        # sync outlives the 4-second token, which depends on the machine's speed; the unit tests pin it).
        assert sim.authorize_calls["bearer"] + sim.authorize_calls["basic"] >= 2, sim.authorize_calls
        assert sim.statuses().get(401, 0) >= 1, "the revoked token was never refused mid-sync"
        assert "[debug] GET " in run.output  # the verbose level really was on
        basic = base64.b64encode(f"John Hollo:{PASSWORD}".encode()).decode()
        state = (conn.path / "files" / "state.json").read_text()
        for text in (run.output, state):
            assert PASSWORD not in text and basic not in text
            for token in sim.issued:
                payload, signature = token.split(".")[1:]
                assert token not in text and payload not in text and signature not in text


def test_kill_at_random_points_then_resume(tmp_path):
    sim = ActSim(24, 5, 5, 5, 5, tie=8)
    rng = random.Random(21)
    with Server(sim) as server:
        conn = ConnectorDir("act", tmp_path)
        cfg = config(server)
        kills = 0
        for round_ in range(10):
            event = threading.Event()
            sim.scheduler.after(sim.count + rng.randint(1, 12), event.set)
            if round_ % 3 == 1:
                for name in sim.data:
                    sim.data[name].edit_random(2, rng)
            run = conn.debug(cfg, kill_on=event)
            kills += run.killed
            sim.scheduler.fire(10**9)  # drop a kill that did not trigger
        assert kills >= 8, f"only {kills} of 10 runs were killed mid-sync"
        assert conn.debug(cfg).returncode == 0
        assert conn.debug(cfg).returncode == 0
        check_all(conn, sim)


def test_wrong_credentials_fail_clearly(tmp_path):
    sim = ActSim(5, 1, 1, 1, 1)
    with Server(sim) as server:
        conn = ConnectorDir("act", tmp_path)
        run = conn.debug({**config(server), "password": "Wrong-Pass-777"})
        assert run.returncode != 0
        assert "Act! refused the credentials" in run.output and "'database_name'" in run.output
        assert "Wrong-Pass-777" not in run.output
        basic = base64.b64encode(b"John Hollo:Wrong-Pass-777").decode()
        for report in (conn.path / "crash-reports").glob("*"):
            text = report.read_text()
            assert "Wrong-Pass-777" not in text and basic not in text
        assert sim.requests_to("/act.web.api/api/") == 0
