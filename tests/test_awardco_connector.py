"""Awardco connector in-process (MemorySink): configuration, report flow edge cases, list pitfalls."""

from __future__ import annotations

import logging

import pytest

from simulators.awardco import AwardcoSim
from simulators.harness import Faults, Server
from synckit.errors import ConfigError, SyncError
from synckit.sink import MemorySink
from tools.vendors import connector

awardco = connector("awardco")
GOOD = {"api_key": "k-secret-key-1", "base_url": "https://api.awardco.com"}


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"base_url": "https://api.awardco.com"}, "api_key"),
        ({**GOOD, "api_key": ""}, "api_key"),
        ({**GOOD, "api_key": " k-secret-key-1 "}, "api_key"),
        ({"api_key": "k-secret-key-1"}, "base_url"),
        ({**GOOD, "base_url": "https://api.awardco.com/api"}, "base_url"),
        ({**GOOD, "base_url": "api.awardco.com"}, "base_url"),
        ({**GOOD, "base_url": "http://api.awardco.com"}, "base_url"),
        ({**GOOD, "users_source": "csv"}, "users_source"),
        ({**GOOD, "updated_since_param": "<OPTIONAL_QUERY_PARAM_NAME_DEFAULT_UPDATED_SINCE>"}, "updated_since_param"),
        ({**GOOD, "page_size": "500"}, "page_size"),
        ({**GOOD, "page_size": "ten"}, "page_size"),
        ({**GOOD, "request_timeout_seconds": "0"}, "request_timeout_seconds"),
        ({**GOOD, "retry_attempts": "-1"}, "retry_attempts"),
        ({**GOOD, "enable_debug_logging": "yes please"}, "enable_debug_logging"),
        ({**GOOD, "apikey": "x"}, "apikey"),
        ({**GOOD, "base_url": "https://" + "a" * 3000 + ".com"}, "base_url"),
    ],
)
def test_malformed_configurations_are_rejected_before_any_request(raw, key):
    state: dict = {"tables": {"user": {"cursor": "2024-01-01T00:00:00Z"}}}
    sink = MemorySink()
    with pytest.raises(ConfigError) as info:
        awardco.update(raw, state, sink)
    assert f"'{key}'" in str(info.value)
    assert "k-secret-key-1" not in str(info.value)
    assert sink.ops == [] and state == {"tables": {"user": {"cursor": "2024-01-01T00:00:00Z"}}}


def cfg(server, **extra):
    return {"api_key": "test-key", "base_url": server.url, "requests_per_minute": "6000", **extra}


def test_list_mode_holds_the_filter_fixed_for_the_whole_table():
    sim = AwardcoSim(users=350)
    with Server(sim) as server:
        state: dict = {"tables": {"user": {"cursor": "2023-01-01T00:00:00Z", "source": "list"}}}
        sink = MemorySink(primary_keys={"user": ("employeeId",)})
        awardco.update(cfg(server, users_source="list"), state, sink)
    filters = {r.query.split("updated_since=")[1].split("&")[0] for r in sim.log if r.path == "/api/users"}
    assert len(filters) == 1  # the published example changed it every page and skipped rows
    assert len(sink.tables["user"]) == 350


def test_report_error_is_reported_with_its_code():
    sim = AwardcoSim(users=10, polls_before_done=0)
    sim.fail_next_task = ("E_REPORT", "report generation failed")
    with Server(sim) as server:
        with pytest.raises(SyncError, match="E_REPORT"):
            awardco.update(cfg(server), {}, MemorySink())


def test_report_deadline(monkeypatch):
    sim = AwardcoSim(users=10, polls_before_done=10**6)
    monkeypatch.setattr(awardco.time, "sleep", lambda s: None)
    clock = iter(range(0, 10**6, 4))
    monkeypatch.setattr(awardco.time, "monotonic", lambda: next(clock))
    with Server(sim) as server:
        with pytest.raises(SyncError, match="still in progress"):
            awardco.update(cfg(server, report_timeout_seconds="20"), {}, MemorySink())


def test_list_endpoint_missing_says_what_to_do():
    sim = AwardcoSim(users=10, api_keys={"test-key": {"users", "reports"}})
    with Server(sim) as server:
        with pytest.raises(SyncError, match="users_source"):
            awardco.update(cfg(server, users_source="list", base_url=server.url + "/nothing"), {}, MemorySink())


def test_missing_scope_gives_403_message():
    sim = AwardcoSim(users=10, api_keys={"test-key": {"users"}})
    with Server(sim) as server:
        with pytest.raises(SyncError, match="403.*reports scope"):
            awardco.update(cfg(server), {}, MemorySink())


def test_wrong_key_is_an_auth_error_without_the_key(caplog):
    sim = AwardcoSim(users=10)
    caplog.set_level(logging.DEBUG)
    with Server(sim) as server:
        with pytest.raises(SyncError) as info:
            awardco.update(cfg(server, api_key="wrong-key-999", enable_debug_logging="true"), {}, MemorySink())
    assert "Authorization failed" in str(info.value)
    assert "wrong-key-999" not in str(info.value) + caplog.text


def test_report_mode_survives_faults_and_bom():
    sim = AwardcoSim(users=2500, report_page_size=700, polls_before_done=0,
                     faults=Faults(rate=0.3, seed=9, kinds=("500", "drop", "malformed", "slow"), slow_seconds=0.05))
    with Server(sim) as server:
        sink = MemorySink(primary_keys={"user": ("employeeId",)})
        awardco.update(cfg(server, retry_attempts="10"), {}, sink)
    rows = sink.tables["user"]
    assert len(rows) == 2500
    assert rows[("E000001",)]["employeeId"] == "E000001"  # no BOM glued to the first column
    assert sum(sim.faults.injected.values()) > 0


def test_schema_declares_key_and_types():
    [table] = awardco.schema({})
    assert table["primary_key"] == ["employeeId"]
    assert table["columns"]["updated_at"] == "UTC_DATETIME" and table["columns"]["balance"] == "DOUBLE"


