"""Connector units: configuration, token lifecycle, request building, row shaping, in-process syncs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.harness import Server
from simulators.xurrent import XurrentSim
from synckit import ConfigError, MemorySink, PagingError, SyncError, Window, sync_tables
from tools.vendors import connector

xc = connector("xurrent")

TOKEN = "pat-7a1d9e33c0"
SECRET = "cs-b81f0e2299"
BASE = {"oauth_token": TOKEN, "account_id": "widget"}
KEYS = {t["table"]: tuple(t["primary_key"]) for t in xc.schema({})}


def test_defaults():
    cfg = xc.settings(BASE)
    assert cfg["base_url"] == "https://api.xurrent.com/v1"
    assert (cfg["max_records_per_page"], cfg["request_timeout_seconds"], cfg["retry_attempts"]) == (100, 30, 3)
    assert cfg["enable_incremental_sync"] is True and cfg["initial_sync_days"] is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"account_id": "widget"}, "oauth_token"),
        ({"oauth_token": TOKEN}, "account_id"),
        ({**BASE, "account_id": "wid get"}, "account_id"),
        ({**BASE, "oauth_token": f"{TOKEN} x"}, "oauth_token"),
        ({**BASE, "initial_sync_days": "0"}, "initial_sync_days"),
        ({**BASE, "initial_sync_days": "366"}, "initial_sync_days"),
        ({**BASE, "max_records_per_page": "101"}, "max_records_per_page"),
        ({**BASE, "max_records_per_page": "ten"}, "max_records_per_page"),
        ({**BASE, "request_timeout_seconds": "5"}, "request_timeout_seconds"),
        ({**BASE, "retry_attempts": "11"}, "retry_attempts"),
        ({**BASE, "retry_attempts": "0"}, "retry_attempts"),
        ({**BASE, "enable_incremental_sync": "maybe"}, "enable_incremental_sync"),
        ({**BASE, "sync_frequency_hours": "0"}, "sync_frequency_hours"),
        ({**BASE, "base_url": "http://api.xurrent.com/v1"}, "base_url"),
        ({**BASE, "base_url": "https://api.xurrent.com"}, "base_url"),
        ({**BASE, "base_url": f"https://u:{TOKEN}@api.xurrent.com/v1"}, "base_url"),
        ({**BASE, "client_id": "c", "client_secret": SECRET}, "oauth_token"),
        ({"account_id": "widget", "client_secret": SECRET}, "client_id"),
        ({"account_id": "widget", "client_id": "abc"}, "client_secret"),
        ({"account_id": "widget", "client_id": "abc", "client_secret": SECRET,
          "base_url": "https://xurrent.example.com/v1"}, "token_url"),
        ({**BASE, "oauth_tokn": TOKEN}, "oauth_tokn"),
        ({**BASE, "account_id": " widget"}, "account_id"),
    ],
)
def test_malformed_configuration_is_rejected_naming_the_key(raw, key):
    with pytest.raises(ConfigError) as info:
        xc.settings(raw)
    assert info.value.key == key and f"'{key}'" in str(info.value)
    assert TOKEN not in str(info.value) and SECRET not in str(info.value)


def test_token_url_derivation():
    assert xc.derive_token_url("https://api.xurrent.com/v1") == "https://oauth.xurrent.com/token"
    assert xc.derive_token_url("https://api.au.xurrent.com/v1") == "https://oauth.au.xurrent.com/token"
    assert xc.derive_token_url("https://api.4me.com/v1") == "https://oauth.4me.com/token"
    assert xc.derive_token_url("http://127.0.0.1:8103/v1") == "http://127.0.0.1:8103/token"
    assert xc.derive_token_url("https://xurrent.example.com/v1") is None
    cfg = xc.settings({"account_id": "w", "client_id": "c", "client_secret": SECRET,
                       "base_url": "https://api.uk.xurrent.com/v1"})
    assert cfg["token_url"] == "https://oauth.uk.xurrent.com/token"


def test_filter_values_are_z_form_and_floored():
    dt = datetime(2024, 5, 1, 12, 30, 15, 999999, tzinfo=timezone(timedelta(hours=-5)))
    assert xc.z(dt) == "2024-05-01T17:30:15Z"


def test_shape_flattens_references_and_converts():
    record = {"id": 7345, "sourceID": None, "subject": "WHO", "category": "large", "status": "in_progress",
              "completion_target_at": "2017-01-13T09:00:00-06:00", "completed_at": None,
              "service": {"id": 41, "name": "Warehouse", "provider": {"id": 44, "name": "Ext IT"}},
              "manager": {"id": 6, "name": "Howard"}, "cost_of_effort": "320000.0", "effort": 3200,
              "account": {"id": "wdc", "name": "Widget DC"},
              "created_at": "2016-11-13T13:17:00-06:00", "updated_at": "2016-12-23T05:09:09-06:00"}
    row = xc.shape("projects", record)
    assert row["service_id"] == 41 and row["service_provider_name"] == "Ext IT" and row["manager_name"] == "Howard"
    assert row["customer_id"] is None and row["program_name"] is None
    assert row["account_id"] == "wdc" and row["cost_of_effort"] == 320000.0
    assert row["updated_at"] == "2016-12-23T11:09:09Z" and row["completion_target_at"] == "2017-01-13T15:00:00Z"
    assert set(xc.columns("projects")) <= set(row)
    with pytest.raises(ValueError, match="manager"):
        xc.shape("projects", {**record, "manager": "Howard"})


def test_rows_are_lossless_and_snake_cased():
    # Fields nobody declared land too (flattened, arrays as JSON), named as Fivetran names columns.
    record = {"id": 3, "updated_at": "2024-01-01T00:00:00Z", "remarks": "x", "picture_uri": None,
              "substitute": {"id": 9, "name": "Ellen", "sourceID": "S9"}, "endUserPrivacy": True,
              "business_unit": ["a", 1], "service": {"id": 4, "provider": {"id": 5, "account": {"id": "w"}}}}
    row = xc.shape("organizations", record)
    assert row["remarks"] == "x" and row["picture_uri"] is None and row["end_user_privacy"] is True
    assert row["substitute_id"] == 9 and row["substitute_source_id"] == "S9"
    assert row["business_unit"] == '["a",1]' and row["service_provider_account_id"] == "w"
    assert "parent" not in row and row["parent_id"] is None  # a null reference is its declared nulls


def test_fields_param_asks_for_every_readable_field():
    for name in xc.NAMES:
        asked = xc.fields_param(name).split(",")
        stamps = {"created_at"} if name == "notes" else {"created_at", "updated_at"}
        assert stamps <= set(asked) and len(asked) == len(set(asked))
        nested = set(xc.SPECS[name].nested) if name in xc.SPECS else set()
        assert {c.field for c in xc.CHILDREN[name]} - nested <= set(asked)  # child arrays are asked for too
        assert not nested & set(asked)  # sub-collections are read from their own path
    for name in (*xc.CORE, "requests", "people", "configuration_items", "tasks"):
        assert "sourceID" in xc.fields_param(name).split(",")
    # Fields a collection may not return are never named (time entries' request comes with time_allocation).
    assert not {"note", "internal_note", "time_spent"} & set(xc.fields_param("requests").split(","))
    assert "request" not in xc.fields_param("time_entries").split(",")
    assert "time_allocation" in xc.fields_param("time_entries").split(",")
    assert "custom_fields" in xc.fields_param("projects") and "contacts" in xc.fields_param("organizations")


def test_record_without_updated_at_fails_before_the_cursor_moves():
    sim = XurrentSim(5, 3, 3)
    original = sim.product
    sim.product = lambda i: {**original(i), "updated_at": None}
    with Server(sim) as server, pytest.raises(SyncError, match="updated_at"):
        sync(sim, server.url)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "disabled", "parent", "region", "sourceID"]),
                       st.one_of(st.none(), st.text(max_size=5), st.integers(), st.booleans())))
def test_shape_never_invents_values(extra):
    record = {"id": 1, "updated_at": "2024-01-01T00:00:00Z", **extra}
    try:
        row = xc.shape("organizations", record)
    except ValueError:
        return  # a malformed field is reported, never written
    assert row["id"] == 1 and set(row) == set(xc.columns("organizations"))
    assert all(v is None for k, v in row.items() if k not in {"id", "updated_at"} and k not in
               {"name", "disabled", "region", "source_id", "parent_id", "parent_name"})


def test_schema_and_catalogue_come_from_the_same_declarations():
    tables = xc.schema({})
    assert [t["table"] for t in tables][:7] == ["organizations", "organizations_contacts", "organizations_addresses",
                                                "organizations_custom_fields", "products", "projects",
                                                "projects_custom_fields"]
    parents = [t for t in tables if t["table"] in xc.NAMES]
    assert len(parents) == 21 and len(tables) - len(parents) >= 10
    assert all(t["primary_key"] == ["id"] and t["columns"]["created_at"] == "UTC_DATETIME" for t in parents)
    assert all(t["columns"].get("updated_at") == ("UTC_DATETIME" if t["table"] != "notes" else None)
               for t in parents)
    by_name = {t["table"]: t for t in tables}
    assert by_name["organizations_contacts"]["primary_key"] == ["parent_id", "position"]
    assert by_name["projects_custom_fields"]["primary_key"] == ["parent_id", "field_id"]
    assert by_name["requests_custom_fields"]["primary_key"] == ["parent_id", "field_id"]
    assert by_name["teams_members"]["primary_key"] == ["parent_id", "id"]
    assert by_name["configuration_items_relations"]["primary_key"] == ["parent_id", "id"]
    assert by_name["time_entries"]["columns"]["deleted"] == "BOOLEAN"
    assert by_name["affected_slas"]["columns"]["request_id"] == "LONG"
    assert xc.schema_of(xc.catalogue()) == tables
    reads = {t.name: t.read for t in xc.catalogue()}
    assert reads["affected_slas"] == "window" and reads["notes"] == "feed"
    assert {n for n, r in reads.items() if r == "cursor"} == set(xc.NAMES) - {"affected_slas", "notes"}
    for table in xc.catalogue():
        assert table.doc and (table.refs or table.name in ("sites", "ui_extensions"))
        kinds = [type(d).__name__ for d in table.deletes]
        assert kinds == ([] if table.name == "notes" else ["DeleteFeed", "Reconcile"])
        assert all(ref.split(".")[0] in xc.NAMES for ref in table.refs.values())
    cascades = {t.name: [c for d in t.deletes for c in d.cascade] for t in xc.catalogue()}
    assert cascades["workflows"] == ["tasks"] and cascades["projects"] == ["project_tasks"]
    assert [t["table"] for t in xc.schema({"tables": "projects"})] == ["projects", "projects_custom_fields"]


def test_plan_frequency_incremental_switch_and_start_date():
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    cfg = xc.settings({**BASE, "sync_frequency_hours": "6", "initial_sync_days": "30",
                       "enable_incremental_sync": "false"})
    state = {"tables": {"organizations": {"cursor": "2024-05-01T00:00:00Z"},
                        "products": {"cursor": "2024-05-01T00:00:00Z"}},
             "last_completed_start": "2024-05-31T20:00:00Z"}
    assert xc.plan(cfg, state, now) == (False, None)  # 4 h after the last sync: skipped
    assert "cursor" in state["tables"]["organizations"]
    state["tables"]["products"]["run"] = {"since": None}
    go, start = xc.plan(cfg, state, now)  # an unfinished traversal is never skipped
    assert go and start == now - timedelta(days=30)
    assert "cursor" not in state["tables"]["organizations"]  # full re-read when incremental is off
    assert "cursor" in state["tables"]["products"]  # the unfinished traversal keeps its footing
    del state["tables"]["products"]["run"]
    assert xc.plan(cfg, state, now + timedelta(hours=2))[0]  # 6 h later: runs


def sync(sim: XurrentSim, url: str, state: dict | None = None, **extra: str) -> tuple[MemorySink, dict]:
    cfg = xc.settings({"oauth_token": "test-token", "account_id": "widget", "base_url": f"{url}/v1",
                       "max_records_per_page": "10", "tables": ",".join(xc.CORE), **extra})
    http = xc.client(cfg)
    sink = MemorySink(primary_keys=KEYS)
    state = state if state is not None else {}
    sync_tables(xc.tables(http, cfg, state), state, sink, policy=xc.selection.policy(cfg))
    return sink, state


def test_request_building_and_incremental_filter():
    sim = XurrentSim(25, 12, 12, tie=3)
    with Server(sim) as server:
        sink, state = sync(sim, server.url)
        assert {t: len(sink.tables[t]) for t in xc.CORE} == {"organizations": 25, "products": 12, "projects": 12}
        first = next(r for r in sim.log if r.path == "/v1/organizations")
        assert "sort=updated_at" in first.query and "per_page=10" in first.query and "fields=" in first.query
        params = parse_qs(first.query)
        assert "updated_at" not in params and params["fields"][0] == xc.fields_param("organizations")
        follow = [r for r in sim.log if r.path == "/v1/organizations"][1]
        assert "search_after=" in follow.query
        sim.data["products"].edit(4)
        before = len(sim.log)
        sink, state = sync(sim, server.url, state)
        queries = [r.query for r in sim.log[before:]]
        cursor = state["tables"]["organizations"]["cursor"]
        assert any(f"updated_at=%3E%3D{cursor.replace(':', '%3A')}" in q for q in queries)
        edited = sink.tables["products"][(5,)]["updated_at"]
        assert edited == xc.records.iso(sim.product(4)["updated_at"])
        # The cursor never passes the server's clock at the traversal's start (minus a second).
        assert state["tables"]["products"]["cursor"] <= edited


def test_client_credentials_renewed_before_expiry_and_after_401():
    sim = XurrentSim(5, 5, 5, token_lifetime=2)
    with Server(sim) as server:
        cfg = xc.settings({"account_id": "widget", "base_url": f"{server.url}/v1", "client_id": "test-client",
                           "client_secret": "test-secret"})
        http = xc.client(cfg)
        http.get_json("/organizations")
        assert sim.requests_to("/token") == 1 and http.auth.margin == 0.5
        http.get_json("/products")
        assert sim.requests_to("/token") == 1
        time.sleep(1.6)  # within the margin of a 2 s token: renewed before it is sent
        http.get_json("/projects")
        assert sim.requests_to("/token") == 2 and 401 not in sim.statuses()
        sim.expire_tokens()  # revoked early: one 401, re-acquired once, request repeated
        http.get_json("/projects")
        assert sim.requests_to("/token") == 3 and sim.statuses()[401] == 1
        bad = xc.settings({"account_id": "widget", "base_url": f"{server.url}/v1", "client_id": "test-client",
                           "client_secret": "wrong-secret-1"})
        with pytest.raises(SyncError, match="invalid_client|Client authentication failed") as info:
            xc.client(bad).get_json("/organizations")
        assert "wrong-secret-1" not in str(info.value)


def test_personal_token_refused_fails_without_leaking():
    sim = XurrentSim(5, 5, 5)
    with Server(sim) as server:
        cfg = xc.settings({"oauth_token": "pat-wrong-9876", "account_id": "widget", "base_url": f"{server.url}/v1"})
        with pytest.raises(SyncError, match="401") as info:
            xc.client(cfg).get_json("/organizations")
        assert "pat-wrong-9876" not in str(info.value)


def test_collection_cap_restarts_from_last_updated_at():
    sim = XurrentSim(60, 3, 3, tie=2, max_records=25)
    with Server(sim) as server:
        sink, state = sync(sim, server.url)
        assert len(sink.tables["organizations"]) == 60
        assert "cursor" in state["tables"]["organizations"]
    stuck = XurrentSim(40, 3, 3, tie=40, max_records=25)  # 40 records share one updated_at: cannot narrow
    with Server(stuck) as server, pytest.raises(SyncError, match="organizations"):
        sync(stuck, server.url)


def test_links_to_another_host_fail_loudly():
    sim = XurrentSim(30, 3, 3, link_host="api.4me.com")
    with Server(sim) as server:
        cfg = xc.settings({"oauth_token": "test-token", "account_id": "widget", "base_url": f"{server.url}/v1",
                           "max_records_per_page": "10"})
        table = xc.tables(xc.client(cfg), cfg)[0]
        with pytest.raises(PagingError, match="points outside base_url"):
            list(table.fetch(Window(None)))
        assert sim.requests_to("/v1/organizations") == 1


def test_record_without_id_fails_the_table():
    sim = XurrentSim(5, 3, 3)
    original = sim.organization
    sim.organization = lambda i: {**original(i), "id": None}
    with Server(sim) as server, pytest.raises(SyncError, match="organizations"):
        sync(sim, server.url)
