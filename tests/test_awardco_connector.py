"""Awardco connector in-process (MemorySink): configuration, report flow edge cases, list pitfalls."""

from __future__ import annotations

import csv
import io
import logging
import random
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.awardco import REPORT_COLUMNS, AwardcoSim
from simulators.harness import Faults, Server
from synckit import KeySet, deletes, schema_of
from synckit.errors import ConfigError, ResponseError, SyncError
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
    """The users table alone (the report tables have their own tests), with short report polls."""
    return {"api_key": "test-key", "base_url": server.url, "requests_per_minute": "6000", "tables": "user",
            "poll_seconds": "0.05", **extra}


def test_list_mode_holds_the_filter_fixed_for_the_whole_table():
    sim = AwardcoSim(users=350)
    with Server(sim) as server:
        state: dict = {"tables": {"user": {"cursor": "2023-01-01T00:00:00Z", "source": "list"}}}
        sink = MemorySink(primary_keys={"user": ("employeeId",)})
        awardco.update(cfg(server, users_source="list"), state, sink)
    # Unfiltered requests, if any, are a delete check's id listing, not this traversal.
    listed = [r.query for r in sim.log if r.path == "/api/users" and "updated_since=" in r.query]
    filters = {q.split("updated_since=")[1].split("&")[0] for q in listed}
    assert len(listed) == 4 and len(filters) == 1  # the published example changed it every page and skipped rows
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
    sim = AwardcoSim(users=1200, report_page_size=350, polls_before_done=0, per_minute=None,
                     faults=Faults(rate=0.3, seed=9, kinds=("500", "drop", "malformed", "slow"), slow_seconds=0.05))
    with Server(sim) as server:
        sink = MemorySink(primary_keys={"user": ("employeeId",)})
        awardco.update(cfg(server, retry_attempts="10"), {}, sink)
    rows = sink.tables["user"]
    assert len(rows) == 1200
    assert rows[("E000001",)]["employeeId"] == "E000001"  # no BOM glued to the first column
    assert sum(sim.faults.injected.values()) > 0


def test_schema_declares_key_and_types():
    user, metadata = awardco.schema({})[:2]
    assert user["primary_key"] == ["employeeId"]
    assert user["columns"]["updated_at"] == "UTC_DATETIME" and user["columns"]["balance"] == "DOUBLE"
    assert user["columns"]["createdDate"] == "UTC_DATETIME" and user["columns"]["hireDate"] == "NAIVE_DATE"
    assert metadata == {"table": "user_metadata", "primary_key": ["parent_employeeId", "field"],
                        "columns": {"parent_employeeId": "STRING", "field": "STRING", "value": "STRING"}}


KEYS = {"user": ("employeeId",), "user_metadata": ("parent_employeeId", "field")}


# Catalogue and table selection ---------------------------------------------------------------------------

def test_catalogue_is_the_sync_declaration_and_sends_nothing():
    table, *reports = awardco.catalogue()  # built with no client: a request would fail on None
    assert awardco.schema({}) == schema_of([table, *reports])
    assert table.read == "full" and table.doc and [c.field for c in table.children] == ["metadata"]
    assert [type(m).__name__ for m in table.deletes] == ["Snapshot"]
    [listed] = awardco.tables(None, {**awardco.defaults(), "users_source": "list"}, names=["user"])
    assert listed.read == "cursor" and [type(m).__name__ for m in listed.deletes] == ["Reconcile"]
    assert schema_of([listed]) == schema_of([table])  # switching source never changes the schema
    assert table.child_refs(table.children[0]) == {"parent_employeeId": "user.employeeId"}


def test_setup_form_offers_table_selection():
    assert {"tables", "deletes_check_hours", "max_delete_percent"} <= set(awardco.SPEC)
    assert "user" in awardco.SPEC["tables"].description


def test_unknown_table_is_a_configuration_error_naming_it_and_the_valid_ones():
    sim = AwardcoSim(users=5)
    with Server(sim) as server:
        with pytest.raises(ConfigError) as info:
            awardco.update(cfg(server, tables="user,rewards"), {}, MemorySink())
    assert "'tables'" in str(info.value) and "'rewards'" in str(info.value)
    assert "valid tables: user, point_transactions, recognitions" in str(info.value)
    assert sim.count == 0


def test_selected_table_syncs_and_a_deselected_one_sends_no_request(monkeypatch):
    sim = AwardcoSim(users=30, polls_before_done=0)
    with Server(sim) as server:
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server, tables="user"), {}, sink)
        assert len(sink.tables["user"]) == 30
        # `user` is the only table, so no configuration deselects it: drive the selection directly.
        assert awardco.tables(None, awardco.defaults(), names=[]) == []
        before = sim.count
        monkeypatch.setattr(awardco.selection, "chosen", lambda c, names: [])
        state: dict = {}
        awardco.update(cfg(server), state, MemorySink())
        awardco.probe_users(awardco.settings(cfg(server)))
        assert sim.count == before and "user" not in state.get("tables", {})


# Report columns: lossless, any header spelling ------------------------------------------------------------

def page(text: str, url: str = "https://x/pages?page=1", ctype: str = "text/csv"):
    return SimpleNamespace(headers={"Content-Type": ctype}, content=("\ufeff" + text).encode(), url=url)


def shaped(text: str) -> list[dict]:
    out = []
    for record in awardco.parse_csv_page(page(text)):
        meta = record.pop("metadata")
        out.append({**awardco.row(record), "metadata": meta})
    return out


def spell(header: str, sep: str, case: str, mark: str) -> str:
    """One spelling of a header: words joined by ``sep``, in a case, with the UI's default-column ``*``."""
    return sep.join(getattr(w, case)() for w in header.split(" ")) + mark


def spellings(header: str):
    return st.builds(spell, st.just(header), st.sampled_from([" ", "  ", "_", "-", ""]),
                     st.sampled_from(["upper", "lower", "title"]), st.sampled_from(["", "*", " "]))


KNOWN = ["Employee ID", "First Name", "Preferred Name", "Last Name", "Email", "Secondary Email", "Username",
         "Phone Number", "Language", "Hire Date", "Birth Date", "Country", "Nomination Approval IDs",
         "Created Date", "Archived Date", "Status"]


@given(st.sampled_from(KNOWN).flatmap(lambda h: st.tuples(st.just(h), spellings(h))))
def test_known_headers_land_in_one_column_whatever_their_spelling(case):
    header, spelled = case
    expected = awardco.REPORT_HEADERS[header.lower().replace(" ", "")]
    assert awardco.header_column(spelled, 1) == expected


@given(st.lists(st.text(alphabet="ABCdef xyz:#-_19", min_size=1, max_size=12), min_size=1, max_size=6,
                unique_by=lambda h: awardco.header_column(h, 0)))
def test_unknown_columns_land_too(extra):
    extra = [h for h in extra if not awardco.METADATA_HEADER.match(h)
             and awardco.header_column(h, 0) not in awardco.REPORT_HEADERS.values()]
    headers = ["EMPLOYEE ID", *extra]
    out = io.StringIO()
    csv.writer(out).writerows([headers, ["E1", *[f"v{i}" for i in range(len(extra))]]])
    records = awardco.parse_csv_page(page(out.getvalue()))
    layout = awardco.report_layout("u", headers)
    assert records == [{"employeeId": "E1", **{layout[i + 1][1]: f"v{i}" for i in range(len(extra))},
                        "metadata": {}}]


def test_report_row_types_dates_metadata_and_extra_columns():
    [user] = shaped("EMPLOYEE ID,FIRST NAME,HIRE DATE,CREATED DATE,ARCHIVED DATE,STATUS,Cost Center,"
                    "Meta : Department,meta: Team Lead,Meta : Empty\r\n"
                    "54879,Aaron,09/26/2018,5/13/2020 4:01:02 PM,05/19/2025,Archived,CC-7,Sales,Jo,\r\n")
    assert user == {"employeeId": "54879", "firstName": "Aaron", "hireDate": "2018-09-26",
                    "createdDate": "2020-05-13T16:01:02Z", "archivedDate": "2025-05-19T00:00:00Z",
                    "status": "Archived", "costCenter": "CC-7",
                    "metadata": {"Department": "Sales", "Team Lead": "Jo"}}


def test_header_without_the_key_column_names_the_columns_present():
    with pytest.raises(ResponseError, match=r"no EMPLOYEE ID column; columns present: \['FIRST NAME', 'EMAIL'\]"):
        awardco.parse_csv_page(page("FIRST NAME,EMAIL\r\nAda,a@x\r\n"))


def test_two_headers_landing_in_one_column_fail():
    with pytest.raises(ResponseError, match="both land in 'firstName'"):
        awardco.parse_csv_page(page("Employee ID,First Name,FIRST_NAME\r\nE1,a,b\r\n"))


def test_short_row_is_retried_as_a_truncated_page():
    with pytest.raises(ValueError, match="wrong number of fields"):
        awardco.parse_csv_page(page("EMPLOYEE ID,EMAIL\r\nE1\r\n"))


@pytest.mark.parametrize("value, expected", [
    ("05/13/2020 4:01:02 PM", "2020-05-13T16:01:02Z"), ("12/1/2021 12:00:00 AM", "2021-12-01T00:00:00Z"),
    ("05/19/2025", "2025-05-19T00:00:00Z"), ("2024-06-01T12:00:00+02:00", "2024-06-01T10:00:00Z"), ("", None)])
def test_report_time(value, expected):
    assert awardco.report_time(value) == expected


def test_bad_report_dates_raise_naming_the_value():
    with pytest.raises(ValueError, match="'13/45/2020'"):
        awardco.report_time("13/45/2020")
    with pytest.raises(ValueError, match="'May 5'"):
        awardco.report_date("May 5")
    assert awardco.report_date("2018-09-26") == "2018-09-26"


def test_report_columns_are_requested_by_name_and_must_include_the_key():
    sim = AwardcoSim(users=12, polls_before_done=0, header_style="title")
    with Server(sim) as server:
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server, report_columns="EMPLOYEE ID, Email, Meta : Department"), {}, sink)
        with pytest.raises(ConfigError, match="report_columns.*EMPLOYEE ID"):
            awardco.update(cfg(server, report_columns="EMAIL"), {}, MemorySink())
    assert sim.report_bodies[0]["selectedColumns"] == ["EMPLOYEE ID", "Email", "Meta : Department"]
    assert "selectedFilters" not in sim.report_bodies[0]  # no Status filter: archived users are in the report
    first = sink.tables["user"][("E000001",)]
    assert set(first) == {"employeeId", "email"}
    assert {k[1] for k in sink.tables["user_metadata"]} == {"Department"}


def test_default_report_request_leaves_empty_keys_out():
    sim = AwardcoSim(users=3, polls_before_done=0)
    with Server(sim) as server:
        awardco.update(cfg(server), {}, MemorySink())
    assert sim.report_bodies == [{"reportId": 9, "timezone": "UTC", "timeRangeOption": "all time",
                                  "paginate": True}]


# Deletes -------------------------------------------------------------------------------------------------

def test_report_snapshot_deletes_users_and_their_metadata_and_archiving_is_an_update():
    sim = AwardcoSim(users=300, polls_before_done=0, report_page_size=100)
    with Server(sim) as server:
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server), state, sink)
        assert set(sink.tables["user_metadata"]) == set(sim.metadata_truth())
        gone = sim.delete_random(random.Random(4), 12)
        archived = next(k for k, r in sim.report_truth().items() if r["STATUS"] == "Active")
        sim.archive(sim.index_of(archived))
        sink.ops.clear()
        awardco.update(cfg(server), state, sink)
    deleted = {op[2]["employeeId"] for op in sink.ops if op[0] == "delete" and op[1] == "user"}
    assert deleted == set(gone)
    assert set(sink.tables["user"]) == {(k,) for k in sim.report_truth()}
    assert set(sink.tables["user_metadata"]) == set(sim.metadata_truth())
    meta_deleted = {op[2]["parent_employeeId"] for op in sink.ops if op[0] == "delete" and op[1] == "user_metadata"}
    assert set(gone) <= meta_deleted  # every deleted user had metadata: it went with the user
    row = sink.tables["user"][(archived,)]
    assert row["status"] == "Archived" and row["archivedDate"] is not None


def test_snapshot_refuses_to_delete_more_than_the_share():
    sim = AwardcoSim(users=50, polls_before_done=0)
    with Server(sim) as server:
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server), state, sink)
        sim.delete_random(random.Random(1), 30)
        with pytest.raises(SyncError, match="max_delete_percent"):
            awardco.update(cfg(server, max_delete_percent="50"), state, sink)
        assert len(sink.tables["user"]) == 50
        awardco.update(cfg(server, max_delete_percent="100"), state, sink)
        assert len(sink.tables["user"]) == 20


def test_list_reconciliation_runs_on_its_schedule_and_finds_deletes():
    sim = AwardcoSim(users=250)
    with Server(sim) as server:
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server, users_source="list"), state, sink)  # it read every key: no check yet
        gone = sim.delete_random(random.Random(5), 6)
        before = sim.requests_to("/api/users")
        awardco.update(cfg(server, users_source="list"), state, sink)  # not due for 24 hours
        assert sim.requests_to("/api/users") - before == 1
        assert len(sink.tables["user"]) == 250
        awardco.update(cfg(server, users_source="list", deletes_check_hours="0"), state, sink)
    assert set(sink.tables["user"]) == {(k,) for k in sim.truth()}
    assert not {(k,) for k in gone} & set(sink.tables["user"])


def test_a_delete_during_the_id_listing_never_deletes_a_live_user():
    """Page-number listing: a user deleted from an already-read page shifts the next page's first user onto
    it. The confirming second listing finds that user; only users missing from both listings go."""
    sim = AwardcoSim(users=250)
    with Server(sim) as server:
        config = awardco.settings(cfg(server, users_source="list"))
        state: dict = {}
        awardco.update(cfg(server, users_source="list"), state, MemorySink(primary_keys=KEYS))
        http = awardco.client(config)
        [table] = awardco.tables(http, config, state, names=["user"])
        [rec] = table.deletes
        entry = state["tables"]["user"]
        sim.scheduler.after(sim.count + 2, lambda: sim.users.delete(5))  # before page 2 of the first listing
        before = sim.count
        held = KeySet.load(entry["keys"])
        assert deletes.reconcile(table, rec, held, deletes.DeletePolicy())[0] == []
        assert sim.count - before == 6  # E000101 slid onto page 1 unseen: a second listing of 3 pages found it
        assert deletes.reconcile(table, rec, held, deletes.DeletePolicy())[0] == ["E000006"]


def test_switching_source_keeps_the_keys_so_deletes_are_still_found():
    sim = AwardcoSim(users=40, polls_before_done=0)
    with Server(sim) as server:
        state: dict = {}
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server), state, sink)
        [gone] = sim.delete_random(random.Random(2), 1)
        awardco.update(cfg(server, users_source="list"), state, sink)
    # The keys came from the other source: the first list sync checks them at once.
    assert (gone,) not in sink.tables["user"] and len(sink.tables["user"]) == 39
    assert state["tables"]["user"]["source"] == "list"


def test_simulator_delete_random_leaves_every_listing_and_the_truth():
    sim = AwardcoSim(users=120, polls_before_done=0, report_page_size=50)
    gone = sim.delete_random(random.Random(9), 7)
    assert len(set(gone)) == 7 and not set(gone) & set(sim.truth()) and not set(gone) & set(sim.report_truth())
    assert not {k for k, _ in sim.metadata_truth()} & set(gone)
    with Server(sim) as server:
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server, users_source="list"), {}, sink)
        assert {k[0] for k in sink.tables["user"]} == set(sim.truth())
        sink = MemorySink(primary_keys=KEYS)
        awardco.update(cfg(server), {}, sink)
        assert {k[0] for k in sink.tables["user"]} == set(sim.report_truth())
    assert len(sim.truth()) == 113 and REPORT_COLUMNS[0] == "EMPLOYEE ID"


