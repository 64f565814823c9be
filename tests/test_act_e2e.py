"""End to end: `fivetran debug` of connectors/act against the Act! simulator, every table against the truth,
deletes (with their custom-field child rows) read from the warehouse's `_fivetran_deleted` flags."""

from __future__ import annotations

import base64
import random
import threading

import duckdb
import pytest

from simulators import act as sim_act
from simulators.act import ActSim
from simulators.harness import Server
from synckit.table import snake
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
    "histories": {"regarding": "regarding", "edited": "edited", "history_type_id": "historyTypeID",
                  "start_time": "startTime", "history_type_name": "historyType_name"},
    "users": {"username": "username", "display_name": "displayName", "status": "status"},
    "opportunity_stages": {"name": "name", "number": "number", "process_id": "process_id"},
    "opportunity_processes": {"name": "name", "status": "status", "stages_count": "stagesCount"},
    "groups": {"name": "name", "contacts": "contacts", "edited": "edited", "parent_id": "parentID"},
    "notes": {"note_text": "noteText", "edited": "edited", "display_date": "displayDate"},
    "history_types": {"name": "name", "activity_type_id": "activityTypeId"},
    "field_metadata": {"display_name": "displayName", "data_type": "dataType"},
    "teams": {"name": "name", "description": "description"},
    "custom_contracts": {"contract_no": "contract_no", "amount": "amount", "edited": "edited"},
}
ENDPOINTS = {e.name: e for e in act.ENDPOINTS} | {"custom_contracts": act.custom_endpoint({"name": "Contracts"})}
SHAPERS = {name: act.shaper(e) for name, e in ENDPOINTS.items()}
KEYS: dict[str, str | tuple[str, ...]] = {t: "id" for t in FIELDS} | {"field_metadata": ("record_type", "name")}


def truth(sim: ActSim, table: str) -> dict:
    if table in CHILDREN:
        return child_truth(sim, table)
    records = sim.field_metadata() if table == "field_metadata" else sim.truth(table).values()
    out = {}
    for record in records:
        row = SHAPERS[table](record)
        key = (row["recordType"], row["name"]) if table == "field_metadata" else row["id"]
        out[key] = {column: row.get(source) for column, source in FIELDS[table].items()}
    return out


def _links(record: dict) -> list[dict]:
    return act.link_rows(record)


def _members(sim: ActSim, record: dict) -> list[dict]:
    g = sim.index_of("groups", record["id"])
    return [{"contact_id": c["id"]} for c in sim.members(g)]


def _items(sim: ActSim, record: dict) -> list[dict]:
    i = sim.index_of("opportunities", record["id"])
    return [act.line_item_row(r) for r in sim.line_items(i)]


def _custom(record: dict) -> list[dict]:
    return [{"field": k, "value": None if v is None else str(v)} for k, v in (record.get("customFields") or {}).items()]


# child table -> (parent, its own key columns, compared columns, rows of one parent record)
CHILDREN = {
    **{f"{p}_links": (p, ("linked_type", "linked_id"), ("linked_name",), lambda sim, r: _links(r))
       for p in ("histories", "notes", "activities", "opportunities", "custom_contracts")},
    **{f"{p}_custom_fields": (p, ("field",), ("value",), lambda sim, r: _custom(r))
       for p in ("contacts", "companies", "opportunities", "groups")},
    "contacts_companies": ("contacts", ("company_id",), ("is_primary",), lambda sim, r: act.company_rows(r)),
    "opportunities_products": ("opportunities", ("id",), ("quantity", "total", "product_id"), _items),
    "groups_contacts": ("groups", ("contact_id",), (), _members),
    "teams_members": ("teams", ("id",), ("username",), lambda sim, r: r["roster"]),
}
SOURCE = {"product_id": "productID"}  # child columns whose source field is not their snake-cased name


def child_truth(sim: ActSim, table: str) -> dict:
    parent, own, compared, rows = CHILDREN[table]
    out = {}
    for rid, record in sim.truth(parent).items():
        for row in rows(sim, record):
            out[(rid, *(row[k] for k in own))] = {c: row.get(SOURCE.get(c, c)) for c in compared}
    return out


ALL = [*FIELDS, *CHILDREN]
KEYS |= {t: ("parent_id", *(snake(k) for k in own)) for t, (_, own, _, _) in CHILDREN.items()}
COMPARED = {t: list(FIELDS[t]) for t in FIELDS} | {t: list(c) for t, (_, _, c, _) in CHILDREN.items()}


def check_all(conn: ConnectorDir, sim: ActSim, tables: list[str] = ALL) -> None:
    for table in tables:
        result = compare(conn.rows(table), truth(sim, table), KEYS[table], COMPARED[table])
        assert result.ok, f"{table}: {result}"
        assert result.expected or table in EMPTY_OK, f"{table}: the simulator holds no rows to compare"


EMPTY_OK = {"opportunities_custom_fields"}
FIELDS_SIX = ["contacts", "companies", "opportunities", "activities", "activity_types", "products"]


def flags(conn: ConnectorDir, table: str) -> dict[tuple, bool]:
    """Primary key -> _fivetran_deleted of every row of tester.<table>, read from the warehouse itself."""
    key = KEYS[table]
    return conn.flags(table, (key,) if isinstance(key, str) else key)


CUSTOM = ("contacts", "companies", "opportunities", "groups")  # the tables whose customFields land as a child


def check_custom_fields(conn: ConnectorDir, sim: ActSim) -> None:
    con = duckdb.connect(str(conn.warehouse), read_only=True)
    try:
        for table in CUSTOM:
            rows = con.sql(f"select parent_id, field, value from tester.{table}_custom_fields "
                           "where not _fivetran_deleted").fetchall()
            expected = {k: v["value"] for k, v in child_truth(sim, f"{table}_custom_fields").items()}
            assert {(p, f): v for p, f, v in rows} == expected, table
    finally:
        con.close()


def config(server: Server, **extra: str) -> dict[str, str]:
    return {"protocol": "http", "hostname": "127.0.0.1", "port": str(server.port), "api_path": "/act.web.api",
            "username": "John Hollo", "password": PASSWORD, "database_name": "ACT2018Demo", "batch_size": "5",
            "rate_limit_pause": "0", **extra}


def test_first_sync_edits_deletes_between_and_edits_during_with_ties_wider_than_a_page(tmp_path):
    # 8 records share each edited value; pages hold 5. The other entities fit one page: every page costs the
    # local tester a checkpoint, which is most of the run time.
    sim = ActSim(24, 4, 4, 4, 4, tie=8, histories=4, notes=4, groups=3, contracts=2)
    rng = random.Random(5)
    with Server(sim) as server:
        conn = ConnectorDir("act", tmp_path)
        run = conn.debug(config(server, deletes_check_hours="0"))
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        check_custom_fields(conn, sim)
        assert all("run" not in entry for entry in conn.state()["tables"].values())
        assert not any(any(flags(conn, t).values()) for t in ALL)
        synced = {t: set(truth(sim, t)) for t in FIELDS}

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
        deleted = {t: {rid for t2, rid in gone if t2 == t} & synced[t] for t in FIELDS}  # not inserted ones
        deleted["activity_types"] = {removed_type}
        for table in FIELDS:  # every deleted row flagged, and nothing else
            assert {k[0] for k, d in flags(conn, table).items() if d} == deleted[table], table
        for table in CUSTOM:
            got = {k for k, d in flags(conn, f"{table}_custom_fields").items() if d}
            assert bool(got) == bool(deleted[table]), table
            assert got == {k for k in flags(conn, f"{table}_custom_fields") if k[0] in deleted[table]}, table
        sweeps = sim.count - before - (len([r for r in sim.log if "select" not in r.query]) - data_requests)
        swept = [t.name for t in act.catalogue() if t.cursor] + ["custom_contracts"]
        assert sweeps == len(swept) == 9, "one id-sweep request per table with a delete check"
        # A page or two per cursor table, the notes re-read in id order (their server refuses $filter on
        # edited), the snapshots, and one fan-out request per changed opportunity and group: not whole tables.
        assert sim.count - before - sweeps <= 60, "the incremental sync re-read whole tables"

        # Edits and inserts while the sync runs, and a user deleted with reassignment (its records are
        # edited to the new manager); then a user deleted without (Act! deletes every record it managed: about
        # half of each table, so the safety threshold is raised for that sync). The users snapshot drops both.
        count = sim.count
        users = [u["id"] for u in sim.user_list]
        sim.delete_user(users[1], reassign_to=users[2])
        sim.scheduler.after(count + 3, lambda: [sim.data[n].edit_random(4, rng) for n in sim.data])
        sim.scheduler.after(count + 9, lambda: [sim.data[n].insert() for n in sim.data])
        assert conn.debug(config(server)).returncode == 0
        lost = sim.delete_user(users[0])
        assert lost
        run = conn.debug(config(server, deletes_check_hours="0", max_delete_percent="100"))
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim)
        check_custom_fields(conn, sim)
        assert {k[0] for k, d in flags(conn, "users").items() if d} == set(users[:2])
        for table in set(FIELDS) - {"users"}:  # the earlier deletes stay; the user's records went too, nothing else
            flagged = {k[0] for k, d in flags(conn, table).items() if d}
            removed = {rid for t, rid in lost if t == table}
            assert deleted[table] | (removed & synced[table]) <= flagged <= deleted[table] | removed, table


def test_envelope_token_expiry_and_no_secret_in_verbose_output(tmp_path):
    everything = (*sim_act.ENTITIES, *ActSim.SNAPSHOTS, "line_items", "members", "entities", "fields")
    # 100 ms per request keeps the sync longer than the 4-second token, so it must be renewed on the way.
    sim = ActSim(20, 6, 6, 6, 6, tie=4, envelope=everything, token_lifetime=4, latency=0.1)
    first_six = ",".join(FIELDS_SIX)  # the envelope of the other collections is covered in-process
    with Server(sim) as server:
        conn = ConnectorDir("act", tmp_path)
        sim.scheduler.after(8, sim.revoke_tokens)  # the server forgets the token mid-sync: 401, re-acquire
        run = conn.debug(config(server, enable_debug_logging="true", tables=first_six))
        assert run.returncode == 0, run.output[-3000:]
        check_all(conn, sim, FIELDS_SIX)
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
    sim = ActSim(24, 4, 4, 4, 4, tie=8, histories=4, notes=4, groups=3, contracts=2)
    rng = random.Random(21)
    with Server(sim) as server:
        conn = ConnectorDir("act", tmp_path)
        cfg = config(server)
        kills = 0
        for round_ in range(7):
            event = threading.Event()
            sim.scheduler.after(sim.count + rng.randint(1, 30), event.set)  # anywhere in the ~40 requests
            if round_ % 3 == 1:
                for name in sim.data:
                    sim.data[name].edit_random(2, rng)
            run = conn.debug(cfg, kill_on=event)
            kills += run.killed
            sim.scheduler.fire(10**9)  # drop a kill that did not trigger
        assert kills >= 5, f"only {kills} of 7 runs were killed mid-sync"
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
