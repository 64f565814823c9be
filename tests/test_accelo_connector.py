"""The Accelo connector in-process (memory sink) against the simulator: configuration, token lifecycle,
request building, parallel paging under change, the request budget, crashes and resume."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.accelo import RESOURCES, AcceloSim
from simulators.harness import Faults, Server
from synckit import ApiError, AuthError, ConfigError, Window
from synckit.sink import Crash, MemorySink
from tools.vendors import connector

ROOT = Path(__file__).resolve().parents[1]
CID, SECRET = "demo@planet-express.accelo.com", "demo-secret"


def load_connector() -> Any:
    return connector("accelo")


acc = load_connector()


def expected(record: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """A simulator record as the warehouse should hold it, converted independently of the connector."""
    out: dict[str, Any] = {}
    for name, kind in columns.items():
        value = record.get(name)
        if value is None:
            out[name] = None
        elif kind == "LONG":
            out[name] = int(value)
        elif kind == "DOUBLE":
            out[name] = float(value)
        elif kind == "UTC_DATETIME":
            out[name] = None if value == "0" else datetime.fromtimestamp(int(value), timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        elif kind == "BOOLEAN":
            out[name] = value in ("1", "yes")
        else:
            out[name] = value
    return out


def expanded(record: dict[str, Any]) -> dict[str, Any]:
    """A nested object (an expanded link) as the warehouse holds it: one ``<link>_<field>`` column each."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, dict):
            out.update({f"{name}_{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


def truth(sim: AcceloSim, table: str) -> dict[int, dict[str, Any]]:
    return {k: expected(expanded(r), acc.COLUMNS[table]) for k, r in sim.truth(table).items()}


def config(server: Server, **extra: str) -> dict[str, str]:
    # Contract periods cost one request per contract: production reads them daily, the tests every sync.
    return {"deployment": "planet-express", "client_id": CID, "client_secret": SECRET, "base_url": server.url,
            "rate_limit_reserve": "0", "contract_periods_refresh_hours": "0", "reference_refresh_hours": "0",
            **extra}


class Warehouse:
    """Committed rows across runs (what survives a crash), keyed by table and id."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[int, dict]] = {}
        self.state: dict[str, Any] = {}
        self.committed: dict[str, dict[tuple, dict]] = {}  # the sinks' own form, carried from run to run

    def sync(self, configuration: dict[str, str], crash_after: int | None = None) -> MemorySink:
        sink = MemorySink(primary_keys={t: ("id",) for t in RESOURCES}, crash_after=crash_after, keep_ops=False)
        sink.state = self.state
        sink.tables = self.committed  # each checkpoint applies its upserts and deletes to the rows so far
        try:
            acc.run(configuration, self.state, sink)
        finally:
            self.committed = sink.tables
            self.tables = {t: {key: row for (key,), row in rows.items()} for t, rows in sink.tables.items()}
            self.state = sink.state  # only what a checkpoint committed survives
        return sink

    def problems(self, sim: AcceloSim, *, allow_extra: bool = False, tables=RESOURCES) -> dict[str, str]:
        out = {}
        for table in tables:
            want, got = truth(sim, table), self.tables.get(table, {})
            missing = [k for k in want if k not in got]
            columns = acc.COLUMNS[table]  # declared columns; a field the API omits is null in the warehouse
            stale = [k for k in want if k in got and {c: got[k].get(c) for c in columns} != want[k]]
            extra = [] if allow_extra else [k for k in got if k not in want]
            if missing or stale or extra:
                out[table] = (f"missing {missing[:5]} ({len(missing)}), stale {stale[:5]} ({len(stale)}), "
                              f"extra {extra[:5]}")
        return out


# Configuration ------------------------------------------------------------------------------------

GOOD = {"deployment": "planet-express", "client_id": CID, "client_secret": "s3cret-value"}


@pytest.mark.parametrize("change,key", [
    ({"deployment": None}, "deployment"),
    ({"client_id": ""}, "client_id"),
    ({"client_secret": None}, "client_secret"),
    ({"deployment": "planet-express.accelo.com"}, "deployment"),
    ({"deployment": "-planet"}, "deployment"),
    ({"base_url": "ftp://planet-express.api.accelo.com"}, "base_url"),
    ({"base_url": "http://planet-express.api.accelo.com"}, "base_url"),
    ({"base_url": "https://planet-express.api.accelo.com/api/v0"}, "base_url"),
    ({"max_workers": "0"}, "max_workers"),
    ({"max_workers": "many"}, "max_workers"),
    ({"page_size": "101"}, "page_size"),
    ({"page_size": "1"}, "page_size"),
    ({"initial_sync_days": "30", "start_date": "2024-01-01"}, "start_date"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"clientid": "x"}, "clientid"),
    ({"on_budget_exhausted": "panic"}, "on_budget_exhausted"),
    ({"requests_per_hour": "100", "rate_limit_reserve": "100"}, "rate_limit_reserve"),
    ({"client_secret": 12345}, "client_secret"),
    ({"token_auth_method": "digest"}, "token_auth_method"),
    ({"request_timeout_seconds": "-1"}, "request_timeout_seconds"),
    ({"client_secret": " s3cret-value"}, "client_secret"),
])
def test_malformed_configuration_is_rejected_naming_the_key(change, key):
    raw = {**GOOD, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        acc.settings(raw)
    message = str(info.value)
    assert f"'{key}'" in message and "s3cret-value" not in message
    if key == "clientid":
        assert "client_id" in message


def test_defaults_and_base_url():
    cfg = acc.settings(dict(GOOD))
    assert cfg["base_url"] == "https://planet-express.api.accelo.com"
    assert (cfg["max_workers"], cfg["page_size"], cfg["on_budget_exhausted"]) == (5, 100, "wait")
    assert acc.start_time(cfg) is None
    days = acc.settings({**GOOD, "initial_sync_days": "10"})
    assert round((datetime.now(timezone.utc) - acc.start_time(days)).total_seconds() / 86400) == 10
    assert acc.settings({**GOOD, "base_url": "http://127.0.0.1:8101/"})["base_url"] == "http://127.0.0.1:8101"
    assert [t["table"] for t in acc.schema({})] == list(RESOURCES)


# Request building ---------------------------------------------------------------------------------

def test_request_parameters_name_the_cursor_and_filter_inclusively():
    since = datetime(2024, 1, 1, tzinfo=timezone.utc)
    companies = acc.Reader(None, "companies", page_size=100, workers=5).params(since)
    assert companies["_filters"] == f"date_modified_after({int(since.timestamp()) - 1})"
    # Every readable field (the cursor with them); staff also names the two fields `_ALL` leaves out.
    assert companies["_fields"] == "_ALL" and "_order_by" not in companies
    staff = acc.Reader(None, "staff", page_size=100, workers=5).params(None)
    assert staff["_fields"].split(",") == ["_ALL", "staff_rate", "staff_cost_rate"]
    payments = acc.Reader(None, "payments", page_size=100, workers=5).params(since)
    assert payments["_filters"].startswith("date_created_after(")
    assert "_filters" not in acc.Reader(None, "staff", page_size=100, workers=5).params(since)
    assert "_filters" not in acc.Reader(None, "companies", page_size=100, workers=5).params(None)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5000), st.integers(2, 100))
def test_last_page_is_the_first_short_page(count, limit):
    page = 0
    while page * (limit - 1) + limit <= count:  # page k covers rows [k*(limit-1), k*(limit-1)+limit)
        page += 1
    assert acc.last_page(count, limit) == page


def test_unsupported_filter_fails_fast_and_is_never_sent():
    sim = AcceloSim({"staff": 5})
    with Server(sim) as server:
        api = acc.client(acc.settings(config(server)))
        reader = acc.Reader(api.http, "staff", page_size=10, workers=1)
        reader.cursor = "date_modified"  # what the published example did
        with pytest.raises(ApiError) as info:
            list(reader.pages(Window(datetime(2024, 1, 1, tzinfo=timezone.utc))))
        assert info.value.status == 400 and "not supported" in str(info.value)
        assert sim.statuses().get(400) == 1  # a 400 is not retried
        first = len(sim.log)
        Warehouse().sync(config(server))
        sent = sim.log[first:]
        assert not [r for r in sent if r.path == "/api/v0/staff" and "_filters" in r.query]
        assert not [r for r in sent if "date_modified" in r.query and r.path.startswith("/api/v0/payments")]


# Token lifecycle ----------------------------------------------------------------------------------

def test_renew_early():
    assert acc.renew_early(lambda: ("t", 2592000.0))() == ("t", 2592000.0)
    token, lifetime = acc.renew_early(lambda: ("t", 100.0))()
    assert lifetime - acc.TOKEN_MARGIN == pytest.approx(90.0)  # renewed at 90% of a short life


@pytest.mark.parametrize("method", ["basic", "body"])
def test_one_token_per_sync_and_reacquired_once_after_expiry(method):
    sim = AcceloSim({"companies": 400, "jobs": 300}, latency=0.002)
    with Server(sim) as server:
        cfg = config(server, page_size="20", token_auth_method=method)
        house = Warehouse()
        house.sync(cfg)
        assert sim.tokens_issued == 1
        sim.scheduler.after(sim.count + 8, sim.expire_tokens)  # the token dies mid-sync
        sim.edit_random("companies", 50, random.Random(2))
        before = sim.tokens_issued
        house.sync(cfg)
        assert sim.tokens_issued - before in (2, 3)  # the sync's token, then one renewal (per racing worker)
        assert not house.problems(sim)


def test_refused_credentials_fail_clearly_with_one_attempt():
    sim = AcceloSim({"companies": 5})
    with Server(sim) as server:
        with pytest.raises(AuthError) as info:
            Warehouse().sync(config(server, client_secret="not-the-secret"))
        assert "401" in str(info.value) and "not-the-secret" not in str(info.value)
        assert sim.requests_to("/oauth2/") == 1 and sim.requests_to("/api/") == 0


# Parallel paging under change ---------------------------------------------------------------------

def test_first_and_incremental_syncs_with_ties_and_every_table():
    sim = AcceloSim({"companies": 530, "invoices": 120, "payments": 210, "prospects": 99, "jobs": 101,
                     "staff": 41}, tie=25)
    with Server(sim) as server:
        cfg = config(server, page_size="20")
        house = Warehouse()
        house.sync(cfg)
        assert not house.problems(sim)
        rng = random.Random(4)
        for table in RESOURCES:
            if table != "payments":  # payments' edits wait for the full re-read (tested below)
                sim.edit_random(table, 12, rng)
            sim.insert(table)
        before = len(sim.log)
        house.sync(cfg)
        assert not house.problems(sim)
        sent = Counter(sim.resource_of(r.path) for r in sim.log[before:])
        # Companies: 13 changed rows plus the 5 re-read at the cursor (the last tie group) fit one page of 20:
        # one request, no /count. Where the last tie group is 25 rows, two pages and the /count.
        assert sent["companies"] == 1 and all(sent[t] <= 3 for t in ("invoices", "prospects", "jobs")), sent
        assert sent["staff"] == 1 + 2 + 1  # full snapshot of 42 rows: first page, /count, two more pages
        assert house.state["tables"]["companies"]["cursor"] > "2023-01-01"


def test_rows_edited_into_the_window_while_pages_are_in_flight_are_not_skipped(monkeypatch):
    """Edits of old rows during a parallel incremental read push later rows back across page boundaries."""
    fills = []
    original = acc.Reader.fill_gap

    def counting(self, *args):
        fills.append(args[1:])
        return original(self, *args)

    monkeypatch.setattr(acc.Reader, "fill_gap", counting)
    # Some answers are slow, so a later page is often answered before an earlier one, with edits between.
    sim = AcceloSim({"companies": 3000}, latency=0.005,
                    faults=Faults(rate=0.3, kinds=("slow",), slow_seconds=0.04, seed=4))
    rng = random.Random(9)
    with Server(sim) as server:
        cfg = config(server, page_size="10", max_workers="6", tables="companies")  # the race of one table
        house = Warehouse()
        house.sync(cfg)
        for _ in range(4):
            sim.edit_random("companies", 300, rng)  # the next incremental read spans ~30 pages
            start = sim.count
            for k in range(2, 40, 2):
                # Low ids entering the window shift every page after them.
                sim.scheduler.after(start + k, lambda: [sim.edit("companies", rng.randrange(0, 1500))
                                                        for _ in range(4)])
            house.sync(cfg)
            sim.scheduler.fire(10**9)
        house.sync(cfg)
        assert not house.problems(sim, tables=["companies"])
    assert fills, "no gap was ever detected: the test did not exercise the race"


def test_rows_deleted_while_paging_do_not_hide_others():
    sim = AcceloSim({"companies": 1500}, latency=0.005)
    rng = random.Random(5)
    with Server(sim) as server:
        cfg = config(server, page_size="10", max_workers="4", tables="companies")
        start = sim.count
        for k in range(5, 120, 7):
            sim.scheduler.after(start + k, lambda: [sim.data["companies"].delete(rng.randrange(0, 1500))
                                                    for _ in range(5)])
        house = Warehouse()
        house.sync(cfg)
        assert not house.problems(sim, allow_extra=True, tables=["companies"])  # nothing missing
        house.sync({**cfg, "deletes_check_hours": "0"})
        assert not house.problems(sim, tables=["companies"])  # and the delete check removed every deleted row


def test_table_growing_past_its_count_is_read_to_the_end():
    sim = AcceloSim({"companies": 100})
    with Server(sim) as server:
        # Right after the count request, 60 rows are inserted: the last counted page is full, read on.
        sim.scheduler.after(3, lambda: [sim.insert("companies") for _ in range(60)])
        house = Warehouse()
        house.sync(config(server, page_size="10", max_workers="3"))
        assert len(house.tables["companies"]) == 160
        assert not house.problems(sim)


def test_transient_faults_are_retried_and_nothing_is_lost():
    sim = AcceloSim({"companies": 400, "payments": 150}, faults=Faults(rate=0.15, seed=3, slow_seconds=0.05,
                                                                           retry_after=0))
    with Server(sim) as server:
        house = Warehouse()
        house.sync(config(server, page_size="25", retry_attempts="10"))
        assert not house.problems(sim)
        assert sum(sim.faults.injected.values()) >= 3


def test_crash_at_random_points_then_resume():
    sim = AcceloSim({"companies": 700, "invoices": 230, "payments": 150, "staff": 60}, tie=15)
    rng = random.Random(21)
    with Server(sim) as server:
        cfg = config(server, page_size="20", max_workers="3")
        house = Warehouse()
        crashes = 0
        for round_ in range(15):
            if round_ % 4 == 3:
                for table in ("companies", "invoices"):
                    sim.edit_random(table, 6, rng)
                sim.insert("companies")
            try:
                house.sync(cfg, crash_after=rng.randint(1, 120))
            except Crash:
                crashes += 1
        assert crashes >= 10
        house.sync(cfg)
        house.sync(cfg)
        assert not house.problems(sim)


# Payments: edits that do not move date_created ----------------------------------------------------

def test_payments_edits_are_caught_by_the_scheduled_full_reread():
    sim = AcceloSim({"payments": 120})
    with Server(sim) as server:
        house = Warehouse()
        house.sync(config(server, page_size="20"))
        for i in (3, 50, 99):
            sim.edit("payments", i)
        house.sync(config(server, page_size="20"))  # incremental: date_created did not move
        assert "payments" in house.problems(sim)
        house.sync(config(server, page_size="20", payments_full_refresh_hours="0"))
        assert not house.problems(sim)


def test_payments_refresh_plan():
    cfg = {"payments_full_refresh_hours": 24}
    state: dict[str, Any] = {}
    assert acc.plan_payments_refresh(state, cfg, now=1000.0)  # first sync: full
    state["tables"]["payments"]["cursor"] = "2024-01-01T00:00:00Z"
    assert not acc.plan_payments_refresh(state, cfg, now=1000.0 + 3600)
    assert acc.plan_payments_refresh(state, cfg, now=1000.0 + 86400)
    assert "cursor" not in state["tables"]["payments"]
    state["tables"]["payments"]["run"] = {"resume": 3}
    assert not acc.plan_payments_refresh(state, cfg, now=1e9)  # never in the middle of a traversal


# The hourly request budget ------------------------------------------------------------------------

def test_budget_is_used_to_at_least_90_percent_without_a_429_then_stops_cleanly():
    budget = 40
    sim = AcceloSim({"companies": 3000, "staff": 30}, budget=budget, window=3600)
    with Server(sim) as server:
        cfg = config(server, page_size="20", max_workers="5", on_budget_exhausted="stop")
        house = Warehouse()
        sink = house.sync(cfg)
        assert sink.checkpoints  # ended cleanly, with the progress committed
        assert sim.statuses().get(429, 0) == 0
        used = sim.requests_to("/api/")
        assert used >= 0.9 * budget, used
        run = house.state["tables"]["companies"]["run"]
        assert run["resume"]["page"] > 0
        # The next window: the sync resumes where it stopped and finishes.
        sim.windows.start = None
        sim.windows.limit = 10_000
        house.sync(cfg)
        assert not house.problems(sim)


def test_budget_wait_mode_waits_for_the_reset_and_finishes():
    sim = AcceloSim({"companies": 300}, budget=12, window=1.5)
    with Server(sim) as server:
        cfg = config(server, page_size="20", max_workers="4", on_budget_exhausted="wait",
                     max_budget_wait_seconds="10", tables=",".join(acc.BASE))
        house = Warehouse()
        house.sync(cfg)
        assert not house.problems(sim, tables=acc.BASE)
        assert sim.statuses().get(429, 0) == 0


def test_reserve_leaves_budget_for_other_integrations():
    sim = AcceloSim({"companies": 3000}, budget=50, window=3600)
    with Server(sim) as server:
        Warehouse().sync(config(server, page_size="20", on_budget_exhausted="stop", rate_limit_reserve="20"))
        assert 27 <= sim.requests_to("/api/") <= 30 and sim.statuses().get(429, 0) == 0


def test_setup_form_and_its_checks():
    fields = [f.name for f in acc.configuration_form().to_response().fields]
    assert fields == list(acc.SPEC)
    sim = AcceloSim({"companies": 3})
    with Server(sim) as server:
        tests = acc.setup.checks(acc.settings, {n: acc.probe(n) for n in acc.COLUMNS}, connect=acc.connect)
        assert len(tests) == 2 + len(RESOURCES)
        assert all(fn(config(server)).success for _, fn in tests)
        refused = tests[1][1](config(server, client_secret="bad-secret-99")).failure
        assert "credentials were refused" in refused and "bad-secret-99" not in refused


def test_server_window_counts_the_other_requests_in_flight_and_forgets_failed_attempts():
    window = acc.ServerWindow([(5000, 3600.0)], wall=lambda: 1.7e9)
    window.acquire()
    window.acquire()
    window.finished()  # the first answer; the second request is still in flight
    window.update({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "10", "X-RateLimit-Reset": "60"})
    assert window.remaining == 9  # the server may not have counted the one still in flight
    window.finished()  # the second attempt failed in transit: no answer, and no longer in flight
    assert window.in_flight == 0
