"""End to end: `fivetran debug` of connectors/aroflo against the AroFlo simulator, warehouse vs truth."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulators.aroflo import AroFloSim
from simulators.aroflo_zones import DECLS
from simulators.harness import Server
from synckit.table import snake
from tests.support import ConnectorDir, compare

MELBOURNE = ZoneInfo("Australia/Melbourne")

pytestmark = pytest.mark.e2e
SNAPSHOTS = {"contacts", "projects", "stages", "inventorystocklevels", "businessunits", "tasktypes", "substatus",
             "trackingcentres", "userposition", "priorities", "transactionterms", "permissiongroups",
             "assetcategories", "inventorycategories", "customholders"}

# Each table's compared columns (warehouse names) and how the simulator's value reads there: s(tring),
# b(oolean), m(oney), d(ate), u(tc date-time text), l(ocal date-time text, site time).
TRUTH: dict[str, dict[str, str]] = {
    "tasks": {"taskname": "s", "status": "s", "client_clientid": "s", "tasktotals_totalmat": "m",
              "linkprocessed": "b", "createddatetimeutc": "u", "lastupdateddatetimeutc": "u", "requestdatetime": "l",
              "createdutc": "d"},
    "clients": {"clientname": "s", "address_suburb": "s", "postable": "b", "datetimeinserted": "l"},
    "invoices": {"invoicenumber": "s", "status": "s", "totalex": "m", "is_tax_inclusive": "b",
                 "lastupdateddatetimeutc": "u"},
    "quotes": {"quotename": "s", "status": "s", "totalinc": "m", "createddatetime": "l", "createddate": "d"},
    "tasklabours": {"task_taskid": "s", "hours": "m", "lablocked": "b", "workdate": "d", "workdatetimestart": "l"},
    "taskmaterials": {"task_taskid": "s", "quantity": "m", "isinventory": "b", "dateused": "d"},
    "timesheets": {"type": "s", "hours": "m", "workdate": "d", "startdatetime": "l"},
    "purchaseorders": {"ordernumber": "s", "totalex": "m", "purchasedate": "d"},
    "locations": {"locationname": "s", "archived": "b", "createddatetimeutc": "u"},
    "contacts": {"surname": "s", "archived": "b", "createddatetimeutc": "u"},
    "projects": {"projectname": "s", "status": "s", "enddate": "d"},
    "stages": {"stagename": "s", "project_projectid": "s"},
    "schedules": {"ishidden": "b", "startdatetime": "l", "startdate": "d"},
    "assets": {"assetname": "s", "archived": "b", "lastupdateddatetimeutc": "u", "datecreated": "d"},
    "bills": {"billnumber": "s", "totalinc": "m", "dateinvoiced": "d"},
    "taskexpenses": {"description": "s", "cost": "m", "dateused": "d"},
    "inventory": {"partnumber": "s", "costex": "m", "lastupdateddatetimeutc": "u", "createddatetimeutc": "u"},
    "inventorystocklevels": {"quantity": "m"},
    **{name: {label: "s", "archived": "b"} for name, label in (
        ("businessunits", "businessunitname"), ("tasktypes", "tasktype"), ("substatus", "substatus"),
        ("trackingcentres", "name"), ("userposition", "position"), ("priorities", "shortdescription"),
        ("transactionterms", "transactionterm"), ("permissiongroups", "groupname"),
        ("assetcategories", "categoryname"), ("inventorycategories", "categoryname"),
        ("customholders", "customholdername"))},
}
KEYS: dict[str, str | tuple[str, ...]] = {
    "users": "userid", "suppliers": "supplierid", "payments": "paymentid",
    **{decl.name: decl.key for decl in DECLS}, "inventorystocklevels": ("itemid", "assignedtotype", "assignedtoid"),
}
# child table -> (parent table, nested field, the element's key, a compared column)
CHILDREN = {"users_custom_fields": ("users", "customfields", "fieldid", "value"),
            "users_permission_groups": ("users", "permissiongroups", "groupid", "groupname"),
            "suppliers_custom_fields": ("suppliers", "customfields", "fieldid", "value"),
            "suppliers_orgs": ("suppliers", "orgs", "orgid", "orgname"),
            "tasks_custom_fields": ("tasks", "customfields", "fieldid", "value"),
            "clients_custom_fields": ("clients", "customfields", "fieldid", "value"),
            "clients_orgs": ("clients", "orgs", "orgid", "orgname"),
            "locations_custom_fields": ("locations", "customfields", "fieldid", "value"),
            "assets_custom_fields": ("assets", "customfields", "fieldid", "value"),
            "invoices_lines": ("invoices", "lines", "lineid", "total"),
            "quotes_lines": ("quotes", "lines", "lineid", "sell"),
            "purchaseorders_lines": ("purchaseorders", "lines", "lineid", "total"),
            "bills_lines": ("bills", "lines", "lineid", "total")}
MONEY_CHILD = {"total", "sell"}
for _child, (_parent, _field, _key, _) in CHILDREN.items():
    KEYS[_child] = (f"parent_{KEYS[_parent]}", _key)


def flat(record: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in record.items():
        name = snake(f"{prefix}{k}")
        if isinstance(v, dict):
            out.update(flat(v, f"{name}_"))
        else:
            out[name] = v
    return out


def expect(kind: str, value: Any) -> Any:
    """The simulator's value as the warehouse holds it."""
    if isinstance(value, str) and not value.strip():
        return None
    if kind == "b":
        return str(value).strip().lower() in ("true", "1")
    if kind == "m":
        return float(value)
    if kind == "d":
        return date.fromisoformat(value.replace("/", "-"))
    if kind in ("u", "l"):
        text = value.replace("/", "-")
        moment = datetime.fromisoformat(text if "." not in text else text.split(".")[0])
        if "." in text:  # clients' "2021-02-11 14:03:22.5": tenths of a second
            moment += timedelta(milliseconds=100 * int(text.split(".")[1]))
        moment = moment.replace(tzinfo=MELBOURNE if kind == "l" else timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def truth(sim: AroFloSim, table: str) -> dict:
    """Expected warehouse values (after the same normalisation compare() applies to warehouse values)."""
    if table in CHILDREN:
        parent, field, key, column = CHILDREN[table]
        return {(k, e[key]): {column: float(e[column]) if column in MONEY_CHILD else e[column]}
                for k, r in sim.truth(parent).items() for e in r[field]}
    out = {}
    if table in TRUTH:
        for ident, record in sim.truth(table).items():
            row = flat(record)
            key = tuple(row[k] for k in KEYS[table]) if isinstance(KEYS[table], tuple) else ident
            out[key] = {column: expect(kind, row.get(column)) for column, kind in TRUTH[table].items()}
        return out
    for i in sim.zones[table].data.all():
        data = sim.zones[table].data
        if not data.exists(i):
            continue
        r = sim.zones[table].record(i)
        if table == "users":
            out[r["userid"]] = {"givennames": r["givennames"], "surname": r["surname"], "email": r["email"],
                                "mobile": r["mobile"], "archived": r["archived"].lower() == "true",
                                "org_orgname": r["org"]["orgname"],
                                "lastupdateddatetimeutc": expect("u", r["lastupdateddatetimeutc"])}
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


def fields(table: str) -> list[str]:
    if table in CHILDREN:
        return [CHILDREN[table][3]]
    if table in TRUTH:
        return list(TRUTH[table])
    return list(next(iter(truth(AroFloSim(3, 3, 3), table).values())))


def config(sim: AroFloSim, server: Server, **extra: str) -> dict[str, str]:
    return {"secret_key": sim.secret_key, "uencoded": sim.uencoded, "pencoded": sim.pencoded,
            "org_encoded": sim.org_encoded, "base_url": server.url, "requests_per_second": "1000",
            "requests_per_minute": "60000", "max_records_per_page": "20", "deletes_check_hours": "0", **extra}


def check(conn: ConnectorDir, sim: AroFloSim, tables: tuple[str, ...] = ()) -> None:
    """Every table and child table holds exactly the simulator's live records, with their values."""
    for table, key in KEYS.items():
        if tables and table not in tables and CHILDREN.get(table, ("",))[0] not in tables:
            continue
        result = compare(conn.rows(table), truth(sim, table), key, fields(table))
        assert result.ok, f"{table}: {result}"


def flags(conn: ConnectorDir, table: str) -> dict[tuple, bool]:
    """Primary key -> _fivetran_deleted, straight from the warehouse."""
    key = KEYS[table]
    return conn.flags(table, list(key) if isinstance(key, tuple) else [key])


def sync(conn: ConnectorDir, cfg: dict[str, str]) -> str:
    run = conn.debug(cfg)
    assert run.returncode == 0, run.output[-3000:]
    return run.output


def test_every_table_first_sync_edits_inserts_deletes_between_and_during(tmp_path):
    """One scenario for all 32 tables and their child tables (each `fivetran debug` run checks them all)."""
    sim = AroFloSim(users=50, suppliers=30, payments=45, tasks=14, tie=6, per_second=None, per_minute=None)
    rng = random.Random(5)
    with Server(sim) as server:
        conn = ConnectorDir("aroflo", tmp_path)
        cfg = config(sim, server, max_records_per_page="50", max_delete_percent="100")
        sync(conn, cfg)
        check(conn, sim)
        for name, zone in sim.zones.items():  # never the 30-day default: a where wherever one is documented
            queries = [r.query for r in sim.log if f"zone={name}&" in r.query]
            assert queries and (zone.default_field == "" or all("where=" in q for q in queries)), name

        # Between syncs: edits everywhere (suppliers' and payments' own dates never move), an insert in every
        # zone, deletes in every zone (line zones soft-delete; users' and suppliers' custom fields, groups and
        # orgs go with them). During the sync: more edits and an insert.
        before_dates = {k: v["datepaid"] for k, v in sim.truth("payments").items()}
        sim.payments.edit_random(30, rng)
        for name, zone in sim.zones.items():
            zone.data.edit_random(3, rng)
            sim.insert(name)
        assert all(sim.truth("payments")[k]["datepaid"] == d for k, d in before_dates.items())
        before = {t: sim.truth(t) for t in sim.zones}
        gone = sim.delete_random(rng, 2 * len(sim.zones))
        assert {z for z, _ in gone} == set(sim.zones)
        count = sim.count
        sim.scheduler.after(count + 3, lambda: sim.suppliers.edit_random(5, rng))
        sim.scheduler.after(count + 5, lambda: [sim.payments.edit_random(6, rng), sim.insert("users")])
        sim.scheduler.after(count + 9, lambda: [z.data.edit_random(2, rng) for z in sim.zones.values()])
        sync(conn, cfg)
        sync(conn, cfg)
        check(conn, sim)
        for table in sim.zones:
            dead = {k for z, k in gone if z == table}
            if table == "inventorystocklevels":  # keyed by item and holder
                dead = {tuple(flat(before[table][k])[c] for c in KEYS[table]) for k in dead}
            else:
                dead = {(k,) for k in dead}
            marked = flags(conn, table)
            # Deleted records the warehouse held are marked deleted (an insert deleted before any sync saw it
            # never arrived), and nothing else is.
            assert {k for k, deleted in marked.items() if deleted} == {k for k in dead if k in marked}, table
            assert any(k in marked for k in dead), table
        for child, (parent, field, key, _) in CHILDREN.items():
            dead = {(k, e[key]) for z, k in gone if z == parent for e in before[parent][k][field]}
            held = flags(conn, child)
            marked = {k for k, deleted in held.items() if deleted}
            assert {k for k in dead if k in held} <= marked, f"{child}: children of deleted parents not deleted"
        # check() above: no live child row is marked deleted (those marked left a parent edited or deleted).


# A cross-section of the read kinds (feed, feed with soft deletes, updated, window, snapshot) for the longer
# scenarios, which each run `fivetran debug` many times.
SOME = ("tasks", "invoices", "tasklabours", "timesheets", "payments", "users", "suppliers", "bills", "tasktypes")


def test_kill_at_random_points_then_resume(tmp_path):
    sim = AroFloSim(users=60, suppliers=40, payments=50, tasks=8, tie=8, per_second=None, per_minute=None)
    rng = random.Random(17)
    with Server(sim) as server:
        conn = ConnectorDir("aroflo", tmp_path)
        cfg = config(sim, server, max_records_per_page="10", tables=",".join(SOME))
        kills = 0
        for round_ in range(6):
            event = threading.Event()
            sim.scheduler.after(sim.count + rng.randint(1, 16), event.set)
            if round_ % 3 == 2:
                for zone in sim.zones.values():
                    zone.data.edit_random(2, rng)
            run = conn.debug(cfg, kill_on=event)
            kills += run.killed
            sim.scheduler.fire(10**9)  # drop a kill that did not trigger
        assert kills >= 4, f"only {kills} of 6 runs were killed mid-sync"
        sync(conn, cfg)
        sync(conn, cfg)
        check(conn, sim, SOME)


def test_daily_budget_smaller_than_first_load(tmp_path):
    sim = AroFloSim(users=40, suppliers=20, payments=30, tasks=8, per_second=None, per_minute=None, daily=8)
    with Server(sim) as server:
        conn = ConnectorDir("aroflo", tmp_path)
        # The default reserve (100) is above this tenant's whole day (8): it scales down to 5% of the limit.
        cfg = config(sim, server, max_records_per_page="12", deletes_check_hours="24", tables=",".join(SOME))
        outputs = []
        for _ in range(12):
            outputs.append(sync(conn, cfg))
            assert sim.daily_rejected == 0, "a sync received AroFlo's daily-limit error"
            state = conn.state().get("tables", {})
            if all(state.get(t, {}).get("feed") or state.get(t, {}).get("since") or t in SNAPSHOTS for t in SOME) \
                    and not any("run" in e for e in state.values()) and all(t in state for t in SOME):
                break
            sim.roll_day()
        else:
            pytest.fail("the first load did not complete in 12 days")
        assert len(outputs) >= 3
        assert "daily request budget is nearly spent" in outputs[0]
        assert "stopped before page" in outputs[0] and "requests counted against the daily budget" in outputs[0]
        check(conn, sim, SOME)
        rng = random.Random(2)
        for name in ("tasks", "invoices", "users", "bills", "tasktypes"):
            sim.zones[name].data.edit_random(2, rng)
        sim.roll_day()
        sync(conn, cfg)
        check(conn, sim, SOME)


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
