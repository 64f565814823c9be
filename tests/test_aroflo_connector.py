"""AroFlo connector in-process: configuration, request building, error reporting, and whole syncs into a
MemorySink against the simulator (change-feed ties, edits during a sync, the daily budget, crashes)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from simulators.aroflo import AroFloSim
from simulators.harness import Server
from synckit import BudgetExhausted, ConfigError
from synckit.sink import Crash, MemorySink
from tests.test_aroflo_signing import load_connector

conn = load_connector()

SECRETS = {"secret_key": "Sup3rSecretKey!", "uencoded": "dXNlcm5hbWU=", "pencoded": "cGFzc3dvcmQx",
           "org_encoded": "b3JnYW5pc2F0aW9u"}
KEYS = {"users": ("userid",), "suppliers": ("supplierid",), "payments": ("paymentid",),
        "users_custom_fields": ("parent_userid", "fieldid"), "users_permission_groups": ("parent_userid", "groupid"),
        "suppliers_custom_fields": ("parent_supplierid", "fieldid"), "suppliers_orgs": ("parent_supplierid", "orgid")}
PARENTS = ("users", "suppliers", "payments")
CHILDREN = {"users": {"users_custom_fields": ("customfields", "fieldid"),
                      "users_permission_groups": ("permissiongroups", "groupid")},
            "suppliers": {"suppliers_custom_fields": ("customfields", "fieldid"), "suppliers_orgs": ("orgs", "orgid")}}


def valid(**extra: str) -> dict[str, str]:
    return {**SECRETS, **extra}


@pytest.mark.parametrize("change, key", [
    ({"secret_key": None}, "secret_key"),
    ({"uencoded": ""}, "uencoded"),
    ({"pencoded": " cGFzc3dvcmQx"}, "pencoded"),
    ({"org_encoded": None}, "org_encoded"),
    ({"base_url": "ftp://api.aroflo.com"}, "base_url"),
    ({"base_url": "http://api.aroflo.com"}, "base_url"),
    ({"base_url": "https://api.aroflo.com/?zone=users"}, "base_url"),
    ({"host_ip": "not-an-ip"}, "host_ip"),
    ({"initial_sync_days": "ninety"}, "initial_sync_days"),
    ({"initial_sync_days": "-1"}, "initial_sync_days"),
    ({"max_records_per_page": "1000"}, "max_records_per_page"),
    ({"max_records_per_page": "0"}, "max_records_per_page"),
    ({"request_timeout_seconds": "1.5"}, "request_timeout_seconds"),
    ({"retry_attempts": "-3"}, "retry_attempts"),
    ({"enable_users_sync": "maybe"}, "enable_users_sync"),
    ({"enable_incremental_sync": "yes please"}, "enable_incremental_sync"),
    ({"enable_debug_logging": "2"}, "enable_debug_logging"),
    ({"timezone": "Melbourne/Australia"}, "timezone"),
    ({"daily_request_reserve": "lots"}, "daily_request_reserve"),
    ({"requests_per_second": "0"}, "requests_per_second"),
    ({"api_key": "abcd1234"}, "api_key"),
    ({"sync_frequency_hours": "4"}, "sync_frequency_hours"),
    ({"secret": "x"}, "secret"),
    ({"enable_users_sync": "false", "enable_suppliers_sync": "false", "enable_payments_sync": "false"},
     "enable_users_sync"),
])
def test_malformed_configuration_is_rejected_naming_the_key(change, key):
    cfg = valid()
    for k, v in change.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    with pytest.raises(ConfigError) as info:
        conn.settings(cfg)
    message = str(info.value)
    assert f"'{key}'" in message
    for secret in SECRETS.values():
        assert secret not in message


def test_defaults_and_schema():
    cfg = conn.settings(valid())
    assert cfg["base_url"] == "https://api.aroflo.com" and cfg["max_records_per_page"] == 500
    assert cfg["timezone"] == "Australia/Melbourne" and cfg["initial_sync_days"] == 0
    tables = conn.schema(valid(tables="users,suppliers,payments", enable_payments_sync="false"))
    assert [(t["table"], t["primary_key"]) for t in tables] == [
        ("users", ["userid"]), ("users_custom_fields", ["parent_userid", "fieldid"]),
        ("users_permission_groups", ["parent_userid", "groupid"]), ("suppliers", ["supplierid"]),
        ("suppliers_custom_fields", ["parent_supplierid", "fieldid"]),
        ("suppliers_orgs", ["parent_supplierid", "orgid"])]
    payments = next(t for t in conn.schema(valid()) if t["table"] == "payments")
    assert payments["columns"]["amount"] == {"type": "DECIMAL", "precision": 18, "scale": 4}


def test_first_sync_where_is_explicit_and_wide():
    cfg = conn.settings(valid())
    now = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)
    assert conn.USERS.scan_where(cfg, now) == "and|createdutc|>|1990-01-01"
    assert conn.PAYMENTS.scan_where(cfg, now) == "and|datepaid|>|1990/01/01"
    cfg = conn.settings(valid(initial_sync_days="10"))
    assert conn.SUPPLIERS.scan_where(cfg, now) == "and|datetimeinserted|>|2024-05-22 22:00:00"  # Melbourne time


def test_row_shaping_types_and_zones():
    shape = conn.SUPPLIERS.row("Australia/Melbourne")
    row = shape({"supplierid": "QQ==", "postable": "TRUE", "archived": "false", "datecreated": "",
                 "datetimeinserted": "2018-10-16 13:30:19.58", "address": {"suburb": "Ringwood"}, "orgs": [{"a": 1}],
                 "link": {}})
    assert row["postable"] is True and row["archived"] is False and row["datecreated"] is None
    assert row["datetimeinserted"] == "2018-10-16T02:30:19.580000Z"
    assert row["address_suburb"] == "Ringwood" and row["orgs"] == '[{"a":1}]' and row["link"] is None
    pay = conn.PAYMENTS.row("UTC")({"paymentid": "x", "amount": "296.7600", "datepaid": "2023/12/18",
                                    "linkprocessed": "false", "datelinkprocessed": ""})
    assert pay["amount"] == "296.7600" and pay["datepaid"] == "2023-12-18" and pay["datelinkprocessed"] is None
    with pytest.raises(ValueError):
        conn.PAYMENTS.row("UTC")({"paymentid": "x", "amount": "12,3.x"})


def test_body_statuses_are_classified():
    class Fake:
        def __init__(self, status, code=200):
            self.status_code, self._status = code, status

        def json(self):
            return {"status": self._status, "statusmessage": "m"}

    Action = conn.Action
    assert conn.classify(Fake("6")) is Action.RETRY and conn.classify(Fake("429", 429)) is Action.RETRY
    assert conn.classify(Fake("888888")) is Action.RETRY and conn.classify(Fake("0")) is Action.OK
    assert conn.classify(Fake("0", 503)) is Action.RETRY and conn.classify(Fake("0", 404)) is Action.FAIL
    assert isinstance(conn.status_error("7", "daily", "users"), BudgetExhausted)
    assert "max_records_per_page" in str(conn.status_error("8", "size", "users"))


def sim_config(sim: AroFloSim, server: Server, **extra: str) -> dict:
    return conn.settings({"secret_key": sim.secret_key, "uencoded": sim.uencoded, "pencoded": sim.pencoded,
                          "org_encoded": sim.org_encoded, "base_url": server.url, "requests_per_second": "1000",
                          "requests_per_minute": "60000", "retry_attempts": "2",
                          "tables": "users,suppliers,payments", **extra})


def check(sim: AroFloSim, sink: MemorySink, tz: str = "Australia/Melbourne") -> None:
    for spec in conn.ZONES:
        truth = sim.truth(spec.table)
        got = sink.tables.get(spec.table, {})
        assert set(k[0] for k in got) == set(truth), spec.table
        shape = spec.row(tz)
        nested = CHILDREN.get(spec.table, {})
        fields = {f for f, _ in nested.values()}
        stale = [k for k, record in truth.items()
                 if got[(k,)] != shape({f: v for f, v in record.items() if f not in fields})]
        assert not stale, f"{spec.table}: {len(stale)} stale rows"
        for child, (field, key) in nested.items():  # exactly the nested elements of live parents
            expected = {(k, element[key]) for k, record in truth.items() for element in record[field]}
            assert set(sink.tables.get(child, {})) == expected, child


@pytest.mark.parametrize("case, fragment", [
    ("stale-clock", "clock is wrong"),
    ("wrong-secret", "check secret_key"),
    ("wrong-password", "Check pencoded"),
])
def test_credential_failures_are_reported_clearly_without_secrets(case, fragment):
    sim = AroFloSim(users=3, suppliers=3, payments=3, per_second=None, per_minute=None)
    with Server(sim) as server:
        cfg = sim_config(sim, server)
        clock = None
        if case == "stale-clock":
            clock = lambda: datetime.now(timezone.utc) - timedelta(minutes=10)  # noqa: E731
        elif case == "wrong-secret":
            cfg["secret_key"] = "an-old-secret-key"
        else:
            cfg["pencoded"] = "d3JvbmdwYXNz"
        with pytest.raises(conn.AroFloAuthError) as info:
            conn.run(cfg, {}, MemorySink(primary_keys=KEYS), conn.Api(cfg, clock=clock))
        message = str(info.value)
        assert fragment in message and "status -99999" in message or "status 2" in message
        for secret in (cfg["secret_key"], cfg["pencoded"], sim.secret_key):
            assert secret not in message
        assert sim.count == 1  # never retried


def test_feed_ties_larger_than_a_page_with_edits_during_the_traversal():
    """Force the change feed to start in 2023, where 12 records share each second, with 5-record pages; edit
    records of the second being paged while it is read (they leave it). Nothing may be lost."""
    sim = AroFloSim(users=25, suppliers=70, payments=40, tie=12, per_second=None, per_minute=None)
    rng = random.Random(4)
    with Server(sim) as server:
        cfg = sim_config(sim, server, max_records_per_page="5")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, state, sink)
        check(sim, sink)
        state["tables"]["suppliers"]["feed"] = {"t": "2022-12-01T00:00:00Z", "done": []}
        for k in (5, 9, 14, 22, 30, 41):
            sim.scheduler.after(sim.count + k, lambda: [sim.suppliers.edit(rng.randrange(24)) for _ in range(3)])
        sink.ops.clear()
        conn.run(cfg, state, sink)
        delivered = {row["supplierid"] for kind, table, row in sink.ops if kind == "upsert" and table == "suppliers"}
        assert delivered >= set(sim.truth("suppliers")), "the feed skipped suppliers"
        conn.run(cfg, state, sink)
        check(sim, sink)


def test_edits_between_and_during_syncs_in_process():
    sim = AroFloSim(users=50, suppliers=30, payments=45, tie=3, per_second=None, per_minute=None)
    rng = random.Random(9)
    with Server(sim) as server:
        # Payments show edits (their own date never moves) only in the re-read that comes with the delete check.
        cfg = sim_config(sim, server, max_records_per_page="7", deletes_check_hours="0")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        sim.scheduler.after(4, lambda: sim.suppliers.edit_random(4, rng))
        sim.scheduler.after(12, lambda: sim.insert("payments"))
        conn.run(cfg, state, sink)
        conn.run(cfg, state, sink)
        check(sim, sink)
        sim.payments.edit_random(6, rng)
        sim.suppliers.edit_random(6, rng)
        sim.insert("users")
        before = len(sim.log)
        conn.run(cfg, state, sink)
        check(sim, sink)
        suppliers = [r for r in sim.log[before:] if r.query.startswith("zone=suppliers")]
        assert len(suppliers) <= 2, "the change feed's zone was re-read whole"


def test_daily_budget_smaller_than_the_first_load_completes_over_several_days():
    sim = AroFloSim(users=64, suppliers=33, payments=47, per_second=None, per_minute=None, daily=9)
    with Server(sim) as server:
        cfg = sim_config(sim, server, max_records_per_page="8", daily_request_reserve="2")
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        days = 0

        def loaded(entry: dict) -> bool:
            return bool(entry.get("feed") or entry.get("since")) and "run" not in entry

        done = False
        while not done:
            result = conn.run(cfg, state, sink)
            assert sim.daily_rejected == 0, "a sync ran into the daily limit"
            assert any(t.status == "paused" for t in result.tables) or days > 0
            done = all(loaded(state.get("tables", {}).get(t, {})) for t in PARENTS)
            # A second sync on the same day sends no zone request at all.
            used = sim.daily_used
            conn.run(cfg, state, sink)
            assert sim.daily_used == used and sim.daily_rejected == 0
            sim.roll_day()
            days += 1
            assert days < 20
        assert days >= 3
        check(sim, sink)
        total = sum(len(sim.truth(t)) for t in PARENTS)
        parents = sum(1 for kind, table, _ in sink.ops if kind == "upsert" and table in PARENTS)
        assert parents == total, "rows were delivered twice"


def test_budget_exhausted_message_says_how_far_the_sync_got():
    sim = AroFloSim(users=40, suppliers=1, payments=1, per_second=None, per_minute=None, daily=4)
    with Server(sim) as server:
        cfg = sim_config(sim, server, max_records_per_page="5", daily_request_reserve="1",
                         enable_suppliers_sync="false", enable_payments_sync="false")
        api = conn.Api(cfg)
        api.probe()
        sync = conn.ZoneSync(conn.USERS, api, cfg, {})
        with pytest.raises(BudgetExhausted) as info:
            for _ in sync.pages(conn.Window(None)):
                pass
        # The reserve (1) is above 5% of this day's 4 requests: all 4 are spent, on pages 1 to 4.
        assert "stopped before page 5" in str(info.value) and "20 rows" in str(info.value)
        assert "4 requests counted against the day" in str(info.value)


def test_page_size_change_during_an_interrupted_first_load_loses_nothing():
    sim = AroFloSim(users=40, suppliers=1, payments=1, per_second=None, per_minute=None, daily=4)
    with Server(sim) as server:
        extra = {"daily_request_reserve": "1", "enable_suppliers_sync": "false", "enable_payments_sync": "false"}
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        conn.run(sim_config(sim, server, max_records_per_page="5", **extra), state, sink)
        assert state["tables"]["users"]["run"]["resume"]["page"] == 5
        sim.roll_day()
        sim.daily = 100
        conn.run(sim_config(sim, server, max_records_per_page="7", **extra), state, sink)
        assert set(k[0] for k in sink.tables["users"]) == set(sim.truth("users"))
        assert sum(1 for kind, table, _ in sink.ops if kind == "upsert" and table == "users") == 40


def test_crash_at_random_points_then_resume_in_process():
    sim = AroFloSim(users=45, suppliers=25, payments=35, tie=4, per_second=None, per_minute=None)
    rng = random.Random(21)
    with Server(sim) as server:
        cfg = sim_config(sim, server, max_records_per_page="6", deletes_check_hours="0")  # payment edits: see above
        durable: dict = {}
        state: dict = {}
        crashes = 0
        round_ = 0
        while crashes < 10:
            round_ += 1
            assert round_ < 40
            # Each round has work to do (edits), and the kill lands anywhere in its first 40 operations.
            sink = MemorySink(primary_keys=KEYS, crash_after=rng.randint(1, 40))
            sink.tables = durable
            sim.users.edit_random(4, rng)
            sim.payments.edit_random(3, rng)
            sim.suppliers.edit_random(1, rng)
            try:
                conn.run(cfg, state, sink)
            except Crash:
                crashes += 1
            state = json.loads(json.dumps(sink.state if sink.checkpoints else state))
        for _ in range(2):
            sink = MemorySink(primary_keys=KEYS)
            sink.tables = durable
            conn.run(cfg, state, sink)
            state = sink.state
        check(sim, sink)


def test_proactive_pacing_keeps_under_three_a_second():
    sim = AroFloSim(users=30, suppliers=1, payments=1, per_second=3, per_minute=120)
    with Server(sim) as server:
        cfg = sim_config(sim, server, max_records_per_page="3", requests_per_second="3",
                         requests_per_minute="120", enable_suppliers_sync="false", enable_payments_sync="false")
        sink = MemorySink(primary_keys=KEYS)
        conn.run(cfg, {}, sink)
        assert len(sink.tables["users"]) == 30
        assert sim.statuses() == {200: sim.count}
        assert all(entry.status == 200 for entry in sim.log)
