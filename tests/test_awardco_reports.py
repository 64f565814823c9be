"""Awardco report tables in-process: header spellings, derived keys, windows, time zones, polls, resume."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.awardco import AwardcoSim
from simulators.harness import Server
from synckit.errors import ConfigError, ResponseError
from synckit.sink import Crash, MemorySink
from tools.vendors import connector

awardco = connector("awardco")
ar = awardco.ar
PT = ar.BY_TABLE["point_transactions"]
UTC = ZoneInfo("UTC")
KEYS = {"user": ("employeeId",), "user_metadata": ("parent_employeeId", "field"),
        **{r.table: ("row_key",) for r in ar.REPORTS}}


def cfg(server, **extra):
    return {"api_key": "test-key", "base_url": server.url, "requests_per_minute": "6000", "poll_seconds": "0.01",
            "poll_max_seconds": "0.02", **extra}


def reader(report=PT, **extra) -> ar.Reader:
    config = {**awardco.defaults(), **extra}
    return ar.Reader(report, None, config, {}, None, date(2026, 12, 3))


def csv_page(text: str, ctype: str = "text/csv"):
    return SimpleNamespace(headers={"Content-Type": ctype}, content=("\ufeff" + text).encode(), url="https://x/p")


def shape(text: str, report=PT, window=("2026-12-01", "2026-12-04")) -> list[dict]:
    headers, raw = ar.page_rows(csv_page(text))
    return reader(report).shape("https://x/p", headers, raw, list(window), ar.Keys())


# Headers ---------------------------------------------------------------------------------------------------

def spell(header: str, sep: str, case: str, prefix: str) -> str:
    return prefix + sep.join(getattr(w, case)() for w in header.split(" "))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["DATE", "TRANSACTION TYPE", "INITIATOR EMPLOYEE ID", "EMPLOYEE ID", "POINT AMOUNT"]),
       st.sampled_from([" ", "  ", "_", "-", ""]), st.sampled_from(["upper", "lower", "title"]))
def test_headers_land_in_their_column_whatever_the_spelling(header, sep, case):
    headers = ["DATE", "TRANSACTION TYPE", "EMPLOYEE ID", "POINT AMOUNT"]
    headers = [spell(h, sep, case, "") if h == header else h for h in headers]
    if header not in ("DATE", "TRANSACTION TYPE", "EMPLOYEE ID", "POINT AMOUNT"):
        headers.append(spell(header, sep, case, ""))
    values = {"DATE": "12/2/2026 6:06:26 AM", "TRANSACTION TYPE": "Recognition", "EMPLOYEE ID": "E1",
              "POINT AMOUNT": "100", "INITIATOR EMPLOYEE ID": "E2"}
    line = ",".join(values[h] if h in values else values[header] for h in headers)
    [row] = shape(",".join(headers) + "\r\n" + line + "\r\n")
    column = PT.columns[ar.header_key(header)][0]
    assert row[column] == ({"POINT AMOUNT": 100.0, "DATE": "2026-12-02T06:06:26Z"}.get(header, values[header]))


def test_meta_prefixes_and_unknown_columns_land_too():
    [row] = shape("DATE,EMPLOYEE ID,Meta : Cost Center,meta: Team,Brand New Column\r\n"
                  "12/2/2026 1:00:00 PM,E1,CC-9,Blue,surprise\r\n")
    assert row["metaCostCenter"] == "CC-9" and row["metaTeam"] == "Blue" and row["brandNewColumn"] == "surprise"
    assert row["day"] == "2026-12-02" and row["date"] == "2026-12-02T13:00:00Z"


def test_header_without_the_date_column_names_the_columns_present():
    with pytest.raises(ResponseError) as info:
        shape("WHEN,EMPLOYEE ID\r\n12/2/2026,E1\r\n")
    assert "has no DATE column" in str(info.value) and "['WHEN', 'EMPLOYEE ID']" in str(info.value)


def test_json_pages_read_like_csv_pages():
    rows = [{"DATE": "12/2/2026 6:06:26 AM", "EMPLOYEE ID": "E1", "POINT AMOUNT": 100}]
    headers, raw = ar.page_rows(csv_page(json.dumps({"data": rows}), "application/json"))
    from_json = reader().shape("u", headers, raw, ["2026-12-01", "2026-12-04"], ar.Keys())
    from_csv = shape("DATE,EMPLOYEE ID,POINT AMOUNT\r\n12/2/2026 6:06:26 AM,E1,100\r\n")
    assert from_json == from_csv
    with pytest.raises(ResponseError, match="expected a JSON list"):
        ar.page_rows(csv_page('{"unexpected": 1}', "application/json"))
    with pytest.raises(ResponseError, match="expected text/csv or application/json"):
        ar.page_rows(csv_page("<html/>", "text/html"))


# Keys ------------------------------------------------------------------------------------------------------

ROW = st.fixed_dictionaries({"day": st.integers(1, 3), "type": st.sampled_from(["Deposit", "Recognition"]),
                             "who": st.sampled_from(["E1", "E2"]), "amount": st.sampled_from(["50", "100"])})


def text_of(rows: list[dict]) -> str:
    lines = ["DATE,TRANSACTION TYPE,EMPLOYEE ID,POINT AMOUNT"]
    lines += [f"12/{r['day']}/2026 9:00:00 AM,{r['type']},{r['who']},{r['amount']}" for r in rows]
    return "\r\n".join(lines) + "\r\n"


@settings(max_examples=80, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_derived_keys_are_unique_and_the_same_on_every_reread_in_any_order(rows, rnd):
    first = shape(text_of(rows))
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    again = shape(text_of(shuffled))
    keys = [r["row_key"] for r in first]
    assert len(set(keys)) == len(rows)  # identical rows get occurrence numbers 0, 1, 2, ...
    by_key = {r["row_key"]: r for r in first}
    assert {r["row_key"]: r for r in again} == by_key  # the same rows give the same keys, whatever the order
    assert all(k.startswith(by_key[k]["day"] + "|") for k in keys)


def test_an_id_column_is_the_key_and_mutable_columns_stay_out_of_the_digest():
    status = ar.BY_TABLE["recognition_status"]
    with_id = "RECOGNITION ID,CREATED DATE,RECOGNITION STATUS\r\nR1,12/2/2026,Pending Approval\r\n"
    assert shape(with_id, status)[0]["row_key"] == "R1"
    pending = shape("CREATED DATE,RECOGNITION STATUS,TO FULL NAME\r\n12/2/2026,Pending Approval,Dan\r\n", status)
    declined = shape("CREATED DATE,RECOGNITION STATUS,TO FULL NAME\r\n12/2/2026,Declined,Dan\r\n", status)
    assert pending[0]["row_key"] == declined[0]["row_key"]  # a status change is an update of the same row


def test_rows_outside_the_window_days_are_left_to_their_own_window():
    rows = shape("DATE,EMPLOYEE ID\r\n11/30/2026 11:59:59 PM,E1\r\n12/1/2026 12:00:00 AM,E2\r\n")
    assert [r["employeeId"] for r in rows] == ["E2"]


# Windows, time zones, request bodies -----------------------------------------------------------------------

def test_windows_are_whole_utc_days_with_the_lookback():
    r = reader(start_date=datetime(2026, 10, 1, tzinfo=timezone.utc), window_days=31)
    assert ar.plan(PT, {}, r.cfg, r.today) == [["2026-10-01", "2026-11-01"], ["2026-11-01", "2026-12-02"],
                                               ["2026-12-02", "2026-12-04"]]
    assert ar.plan(PT, {"through": "2026-12-03"}, r.cfg, r.today) == [["2026-11-30", "2026-12-04"]]
    status = ar.BY_TABLE["recognition_status"]
    assert ar.plan(status, {"through": "2026-12-03"}, r.cfg, r.today)[0][0] == "2026-10-01"  # 90 days, capped
    budgets = ar.BY_TABLE["point_budgets"]
    assert ar.plan(budgets, {"through": "2026-12-01"}, r.cfg, r.today) == [["2026-11-01", "2026-12-01"],
                                                                           ["2026-12-01", "2027-01-01"]]
    assert ar.plan(ar.BY_TABLE["program_utilization"], {}, r.cfg, r.today) == [["previous period"],
                                                                               ["current period"]]


def test_request_is_in_the_configured_windows_zone_and_times_come_back_in_utc():
    config = {**awardco.defaults(), "timezone": "Pacific Standard Time"}
    body = ar.request_body(PT, ["2026-12-01", "2026-12-04"], config)
    assert body == {"reportId": 11, "timezone": "Pacific Standard Time", "paginate": True,
                    "startDate": "2026-11-30T16:00:00", "endDate": "2026-12-03T15:59:59"}
    assert ar.local_time("11/30/2026 4:00:00 PM", ZoneInfo("America/Los_Angeles")) == "2026-12-01T00:00:00Z"
    assert ar.local_time("7/1/2026 4:00:00 PM", ZoneInfo("America/Los_Angeles")) == "2026-07-01T23:00:00Z"
    with pytest.raises(ValueError, match="not a report date"):
        ar.local_time("yesterday", UTC)


@pytest.mark.parametrize("zone", ["America/Denver", "Mars Standard Time"])
def test_unknown_or_iana_time_zone_is_a_configuration_error(zone):
    with pytest.raises(ConfigError) as info:
        awardco.settings({"api_key": "k", "base_url": "https://api.awardco.com", "timezone": zone})
    assert "'timezone'" in str(info.value) and "Windows" in str(info.value)


def test_polls_wait_longer_each_time_up_to_the_cap(monkeypatch):
    sim = AwardcoSim(users=5, per_minute=None, polls_before_done=6)
    waits: list[float] = []
    with Server(sim) as server:
        config = awardco.settings(cfg(server, poll_seconds="1", poll_max_seconds="5"))
        http = awardco.client(config)
        task = ar.create_task(http, 11, ar.request_body(PT, ["2026-12-01", "2026-12-02"], config), "x")
        status = ar.poll(http, config, task, "x", sleep=waits.append)
    assert status["status"] == "completed" and waits == [1, 2, 4, 5, 5, 5]
    assert awardco.SPEC["report_timeout_seconds"].default >= 600  # production waits well above a minute


# Syncs in process ------------------------------------------------------------------------------------------

def run(sim: AwardcoSim, state: dict, sink: MemorySink, **extra) -> None:
    with Server(sim) as server:
        awardco.update(cfg(server, start_date=sim.data.start_day.isoformat(), **extra), state, sink)


def live(sink: MemorySink, table: str) -> set:
    return {k[0] for k in sink.tables.get(table, {})}


def test_rows_vanished_from_a_reread_window_are_deleted_and_older_days_are_kept():
    sim = AwardcoSim(users=20, per_minute=None, polls_before_done=0)
    state: dict = {}
    sink = MemorySink(primary_keys=KEYS)
    run(sim, state, sink, tables="user,point_transactions,recognitions")
    truth = awardco_truth(sim)
    assert live(sink, "point_transactions") == set(truth["point_transactions"])
    sim.data.remove(random.Random(3), 5)
    sim.data.new_events(random.Random(4), 6)
    run(sim, state, sink, tables="user,point_transactions,recognitions")
    truth = awardco_truth(sim)
    assert live(sink, "point_transactions") == set(truth["point_transactions"])
    assert live(sink, "recognitions") == set(truth["recognitions"])
    kept = state["tables"]["point_transactions"]["buckets"]
    assert min(kept) >= "2026-01-01" and all(isinstance(v, list) for v in kept.values())


def awardco_truth(sim):
    from tools.vendors.awardco import report_truth

    return report_truth(sim)


def test_a_crash_mid_report_resumes_its_task_and_pages_without_a_second_task():
    sim = AwardcoSim(users=40, per_minute=None, polls_before_done=1, report_page_size=10)
    state: dict = {}
    tables = "point_transactions,logins"
    with Server(sim) as server:
        config = cfg(server, start_date=sim.data.start_day.isoformat(), tables=tables)
        crashing = MemorySink(primary_keys=KEYS, crash_after=45)
        with pytest.raises(Crash):
            awardco.update(config, state, crashing)
        sink = MemorySink(primary_keys=KEYS)
        sink.tables = crashing.tables  # what the warehouse holds: the rows of committed checkpoints
        awardco.update(config, json.loads(json.dumps(crashing.state)), sink)
    bodies = [json.dumps(b, sort_keys=True) for b in sim.report_bodies]
    assert len(bodies) == len(set(bodies)) == 2  # one task per report and window, even across the crash
    truth = awardco_truth(sim)
    # The resumed sync delivered the pages after the crash; the pages before it came from the first run's
    # checkpointed state, so together the keys are the whole window.
    assert live(sink, "logins") == set(truth["logins"])


def test_an_expired_task_is_replaced_and_a_failed_one_fails_naming_its_code():
    sim = AwardcoSim(users=10, per_minute=None, polls_before_done=0)
    state: dict = {}
    with Server(sim) as server:
        config = cfg(server, tables="money_deposits", start_date=sim.data.start_day.isoformat())
        http = awardco.client(awardco.settings(config))
        r = ar.Reader(PT, http, awardco.settings(config), state, MemorySink(), date.today())
        r.start()
        sim.expire_tasks()
        assert list(r.pages(None))  # the status 404 makes a new task
        assert len(sim.report_bodies) == 2
        sim.fail_next_task = ("E_TOO_BIG", "report too large")
        with pytest.raises(Exception, match="E_TOO_BIG"):
            awardco.update(config, {}, MemorySink())


def test_opt_in_tables_sync_only_when_named():
    assert awardco.chosen({"tables": ""}) == [n for n in awardco.NAMES if n not in ("logins", "client_fulfillment")]
    assert awardco.chosen({"tables": "logins"}) == ["logins"]
    schema = {s["table"]: s for s in awardco.schema({})}
    assert schema["point_transactions"]["primary_key"] == ["row_key"]
    assert schema["point_transactions"]["columns"]["date"] == "UTC_DATETIME"
    assert schema["point_budgets"]["columns"]["period_start"] == "NAIVE_DATE"


def test_a_resumed_traversal_reads_every_window_after_the_interrupted_one():
    r = reader(start_date=datetime(2026, 9, 15, tzinfo=timezone.utc), window_days=31)
    for report in (PT, ar.BY_TABLE["point_budgets"], ar.BY_TABLE["program_utilization"]):
        windows = ar.plan(report, {}, r.cfg, r.today)
        assert len(windows) >= 2
        for i, window in enumerate(windows):
            assert ar.after(report, window, r.cfg, r.today) == windows[i + 1:]


def test_a_row_without_its_date_fails_naming_the_row_and_is_not_retried():
    with pytest.raises(ResponseError, match="row 1: .*has no date"):
        shape("DATE,EMPLOYEE ID\r\n,E1\r\n")
    with pytest.raises(ResponseError, match="row 1: column 'DATE': not a report date"):
        shape("DATE,EMPLOYEE ID\r\nsoon,E1\r\n")


def test_title_case_headers_land_the_same_rows_as_capitals():
    from simulators.awardco_reports import ReportData

    synced = []
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for style in ("upper", "title"):
        sim = AwardcoSim(users=15, per_minute=None, polls_before_done=0, header_style=style)
        sim.data = ReportData(sim, now=now)  # the same rows for both spellings
        sink = MemorySink(primary_keys=KEYS)
        run(sim, {}, sink, tables="point_transactions,money_deposits,point_budgets,recognition_status")
        synced.append(sink.tables)
    assert synced[0] == synced[1] and all(synced[0].values())


def test_checkpoints_are_spaced_and_the_last_one_is_always_written():
    now = [0.0]
    sink = MemorySink()
    spaced = awardco.SpacedCheckpoints(sink, 10, clock=lambda: now[0])
    for step in range(5):
        now[0] = step * 3.0
        spaced.upsert("t", {"id": step})
        spaced.checkpoint({"step": step})
    assert sink.checkpoints == 1 and sink.state == {"step": 4}  # at 12 s; the ones at 3, 6, 9 were skipped
    now[0] = 13.0
    spaced.checkpoint({"step": 5})
    spaced.force()
    assert sink.checkpoints == 2 and sink.state == {"step": 5}
    spaced.force({"task": 7})  # a started report task is written at once
    assert sink.state == {"task": 7}
