"""End to end: `fivetran debug` of connectors/aroflo against the AroFlo simulator, warehouse vs truth."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timezone

import pytest

from simulators.aroflo import AroFloSim
from simulators.harness import Server
from tests.support import ConnectorDir, compare

pytestmark = pytest.mark.e2e

KEYS = {"users": "userid", "suppliers": "supplierid", "payments": "paymentid"}
# child table -> (parent table, nested field, the element's key)
CHILDREN = {"users_custom_fields": ("users", "customfields", "fieldid"),
            "users_permission_groups": ("users", "permissiongroups", "groupid"),
            "suppliers_custom_fields": ("suppliers", "customfields", "fieldid"),
            "suppliers_orgs": ("suppliers", "orgs", "orgid")}


def truth(sim: AroFloSim, table: str) -> dict:
    """Expected warehouse values (after the same normalisation compare() applies to warehouse values)."""
    out = {}
    for i in sim.zones[table].data.all():
        data = sim.zones[table].data
        if not data.exists(i):
            continue
        r = sim.zones[table].record(i)
        if table == "users":
            out[r["userid"]] = {"givennames": r["givennames"], "surname": r["surname"], "email": r["email"],
                                "mobile": r["mobile"], "archived": r["archived"].lower() == "true",
                                "org_orgname": r["org"]["orgname"]}
        elif table == "suppliers":
            created = sim.supplier_created_utc(i).astimezone(timezone.utc)
            out[r["supplierid"]] = {"suppliername": r["suppliername"], "postable": r["postable"].lower() == "true",
                                    "termsnote": r["termsnote"], "address_suburb": r["address"]["suburb"],
                                    "datetimeinserted": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
        else:
            out[r["paymentid"]] = {"amount": float(r["amount"]), "totalamount": float(r["totalamount"]),
                                   "reference": r["reference"], "notes": r["notes"],
                                   "paymentmethodname": r["paymentmethodname"],
                                   "datepaid": date.fromisoformat(r["datepaid"].replace("/", "-")),
                                   "linkprocessed": r["linkprocessed"] == "true"}
    return out


def config(sim: AroFloSim, server: Server, **extra: str) -> dict[str, str]:
    return {"secret_key": sim.secret_key, "uencoded": sim.uencoded, "pencoded": sim.pencoded,
            "org_encoded": sim.org_encoded, "base_url": server.url, "requests_per_second": "1000",
            "requests_per_minute": "60000", "max_records_per_page": "20", **extra}


def check(conn: ConnectorDir, sim: AroFloSim) -> None:
    for table, key in KEYS.items():
        expected = truth(sim, table)
        fields = list(next(iter(expected.values())))
        result = compare(conn.rows(table), expected, key, fields)
        assert result.ok, f"{table}: {result}"
    for child, (parent, field, key) in CHILDREN.items():  # the live child rows are exactly the nested elements
        expected_keys = {(k, e[key]) for k, r in sim.truth(parent).items() for e in r[field]}
        assert set(flags(conn, child)) >= expected_keys, child
        assert {k for k, deleted in flags(conn, child).items() if not deleted} == expected_keys, child


def flags(conn: ConnectorDir, table: str) -> dict[tuple, bool]:
    """Primary key -> _fivetran_deleted, straight from the warehouse."""
    key = [f"parent_{CHILDREN[table][0][:-1]}id", CHILDREN[table][2]] if table in CHILDREN else [KEYS[table]]
    return conn.flags(table, key)


def sync(conn: ConnectorDir, cfg: dict[str, str]) -> str:
    run = conn.debug(cfg)
    assert run.returncode == 0, run.output[-3000:]
    return run.output


def test_first_sync_edits_between_and_during(tmp_path):
    sim = AroFloSim(users=130, suppliers=70, payments=110, tie=6, per_second=None, per_minute=None)
    rng = random.Random(5)
    with Server(sim) as server:
        conn = ConnectorDir("aroflo", tmp_path)
        cfg = config(sim, server)
        sync(conn, cfg)
        check(conn, sim)
        assert all("where=" in r.query for r in sim.log if "zone=users" in r.query)  # never the 30-day default

        # Edits between syncs, including suppliers and payments whose own date fields do not move.
        before_dates = {k: v["datepaid"] for k, v in sim.truth("payments").items()}
        sim.users.edit_random(9, rng)
        sim.suppliers.edit_random(8, rng)
        sim.payments.edit_random(30, rng)  # one second's changes overflow a 20-entry feed page
        for zone in ("users", "suppliers", "payments"):
            sim.insert(zone)
        assert all(sim.truth("payments")[k]["datepaid"] == d for k, d in before_dates.items())
        count = sim.count
        sync(conn, cfg)
        check(conn, sim)
        assert sim.count - count < 40, "the incremental sync re-read whole zones"

        # Edits while the sync runs, then one more sync.
        sim.payments.edit_random(4, rng)
        count = sim.count
        sim.scheduler.after(count + 3, lambda: sim.suppliers.edit_random(5, rng))
        sim.scheduler.after(count + 5, lambda: [sim.payments.edit_random(6, rng), sim.insert("users")])
        sync(conn, cfg)
        sync(conn, cfg)
        check(conn, sim)

        # Deletes in every table (users' and suppliers' take their custom fields, groups and orgs with them),
        # found by the next sync: the supplier feed's isdeleted entries, the users and payments id listings.
        before = {t: sim.truth(t) for t in KEYS}
        gone = sim.delete_random(rng, 12)
        sync(conn, {**cfg, "deletes_check_hours": "0"})
        check(conn, sim)
        for table in KEYS:
            dead = {k for z, k in gone if z == table}
            assert dead and {k for (k,), deleted in flags(conn, table).items() if deleted} == dead, table
        for child, (parent, field, key) in CHILDREN.items():
            dead = {(k, e[key]) for z, k in gone if z == parent for e in before[parent][k][field]}
            marked = {k for k, deleted in flags(conn, child).items() if deleted}
            assert dead <= marked, f"{child}: children of deleted parents not deleted"
        # check() above: no live child row is marked deleted (those marked left a parent edited or deleted).


def test_kill_at_random_points_then_resume(tmp_path):
    sim = AroFloSim(users=160, suppliers=90, payments=140, tie=8, per_second=None, per_minute=None)
    rng = random.Random(17)
    with Server(sim) as server:
        conn = ConnectorDir("aroflo", tmp_path)
        cfg = config(sim, server, max_records_per_page="10")
        kills = 0
        for round_ in range(10):
            event = threading.Event()
            sim.scheduler.after(sim.count + rng.randint(1, 14), event.set)
            if round_ % 3 == 2:
                sim.users.edit_random(5, rng)
                sim.payments.edit_random(5, rng)
                sim.suppliers.edit_random(3, rng)
            run = conn.debug(cfg, kill_on=event)
            kills += run.killed
            sim.scheduler.fire(10**9)  # drop a kill that did not trigger
        assert kills >= 8, f"only {kills} of 10 runs were killed mid-sync"
        sync(conn, cfg)
        sync(conn, cfg)
        check(conn, sim)


def test_daily_budget_smaller_than_first_load(tmp_path):
    sim = AroFloSim(users=90, suppliers=50, payments=80, per_second=None, per_minute=None, daily=7)
    with Server(sim) as server:
        conn = ConnectorDir("aroflo", tmp_path)
        cfg = config(sim, server, max_records_per_page="12", daily_request_reserve="1")
        outputs = []
        for _ in range(8):
            outputs.append(sync(conn, cfg))
            assert sim.daily_rejected == 0, "a sync received AroFlo's daily-limit error"
            state = conn.state().get("tables", {})
            if all(state.get(t, {}).get("feed") and "run" not in state[t] for t in KEYS):
                break
            sim.roll_day()
        else:
            pytest.fail("the first load did not complete in 8 days")
        assert len(outputs) >= 3
        assert "daily request budget is nearly spent" in outputs[0]
        assert "stopped before page" in outputs[0]
        check(conn, sim)
        for table, key in KEYS.items():
            keys = [row[key] for row in conn.rows(table)]
            assert len(keys) == len(set(keys))
        sim.payments.edit_random(3, random.Random(2))
        sim.roll_day()
        sync(conn, cfg)
        check(conn, sim)


def test_wrong_secret_and_stale_clock_fail_clearly(tmp_path):
    sim = AroFloSim(users=5, suppliers=5, payments=5, per_second=None, per_minute=None)
    with Server(sim) as server:
        conn = ConnectorDir("aroflo", tmp_path)
        run = conn.debug({**config(sim, server), "secret_key": "an-outdated-secret"})
        assert run.returncode != 0
        assert "Signatures do not match" in run.output and "check secret_key" in run.output
        for secret in ("an-outdated-secret", sim.pencoded, sim.secret_key):
            assert secret not in run.output
        sim.clock_offset = 3600.0  # the server's clock is an hour ahead of ours
        run = conn.debug(config(sim, server))
        assert run.returncode != 0 and "Payload has expired" in run.output and "clock" in run.output
        assert datetime.now(timezone.utc).year > 2000
