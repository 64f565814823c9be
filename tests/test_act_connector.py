"""Act! connector units: configuration, URL building, the JWT lifecycle, keyset requests and in-process syncs
against the simulator (MemorySink), including crashes at every few operations and a server that ignores
the filter."""

from __future__ import annotations

import base64
import json
import random
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from simulators.act import ActSim
from simulators.harness import Server
from synckit import AuthError, ConfigError, Offset, PagingError, ResponseError, SyncError, Window, redact
from synckit.sink import Crash, MemorySink
from tools.vendors import connector

ROOT = Path(__file__).resolve().parents[1]


def _load():
    return connector("act")


act = _load()
PASSWORD = "act-pass-123"


def config(port: int | str = "", **extra: str) -> dict[str, str]:
    return {"protocol": "http", "hostname": "127.0.0.1", "port": str(port), "api_path": "/act.web.api",
            "username": "John Hollo", "password": PASSWORD, "database_name": "ACT2018Demo",
            "batch_size": "7", "rate_limit_pause": "0", **extra}


# Configuration -------------------------------------------------------------------------------------------

BAD = [
    ({"protocol": "ftp"}, "protocol"),
    ({"protocol": ""}, "protocol"),
    ({"hostname": "https://act.example.com"}, "hostname"),
    ({"hostname": "act.example.com/act.web.api"}, "hostname"),
    ({"hostname": "act.example.com:8080"}, "hostname"),
    ({"hostname": "bad host"}, "hostname"),
    ({"port": "0"}, "port"),
    ({"port": "65536"}, "port"),
    ({"port": "80a"}, "port"),
    ({"api_path": "https://x/act.web.api"}, "api_path"),
    ({"api_path": "/act.web.api?x=1"}, "api_path"),
    ({"api_path": "/"}, "api_path"),
    ({"username": ""}, "username"),
    ({"password": ""}, "password"),
    ({"database_name": ""}, "database_name"),
    ({"batch_size": "ten"}, "batch_size"),
    ({"batch_size": "0"}, "batch_size"),
    ({"batch_size": "10000"}, "batch_size"),
    ({"rate_limit_pause": "-1"}, "rate_limit_pause"),
    ({"rate_limit_pause": "fast"}, "rate_limit_pause"),
    ({"default_start_date": "yesterday"}, "default_start_date"),
    ({"enable_debug_logging": "maybe"}, "enable_debug_logging"),
    ({"base_url": "https://act.example.com"}, "base_url"),
    ({"pasword": "x"}, "pasword"),
    ({"hostname": " act.example.com"}, "hostname"),
]


@pytest.mark.parametrize(("change", "key"), BAD, ids=[f"{k}-{i}" for i, (_, k) in enumerate(BAD)])
def test_malformed_configuration_is_rejected_naming_the_key(change, key):
    cfg = {**config(8080), "password": "S3cret-Passw0rd!", **change}
    with pytest.raises(ConfigError) as info:
        act.settings(cfg)
    message = str(info.value)
    assert f"'{key}'" in message
    assert "S3cret-Passw0rd!" not in message


def test_missing_required_key_is_named():
    cfg = config(8080)
    del cfg["database_name"]
    with pytest.raises(ConfigError, match="'database_name': is required"):
        act.settings(cfg)


def test_port_error_says_the_range():
    with pytest.raises(ConfigError, match="between 1 and 65535"):
        act.settings(config(70000))


@pytest.mark.parametrize(("protocol", "host", "port", "expected"), [
    ("http", "192.168.7.27", "8080", "http://192.168.7.27:8080/act.web.api"),
    ("http", "192.168.7.27", "", "http://192.168.7.27/act.web.api"),
    ("https", "api.act.com", "8443", "https://api.act.com:8443/act.web.api"),
    ("https", "api.act.com", "", "https://api.act.com/act.web.api"),
    ("https", "api.act.com", "443", "https://api.act.com/act.web.api"),
    ("http", "localhost", "80", "http://localhost/act.web.api"),
])
def test_urls_build_as_the_seed_examples_show(protocol, host, port, expected):
    cfg = act.settings({**config(port), "protocol": protocol, "hostname": host})
    assert cfg["base_url"] == expected


@pytest.mark.parametrize("path", ["act.web.api", "/act.web.api/", "act.web.api/"])
def test_api_path_is_normalised(path):
    assert act.settings(config(8080, api_path=path))["base_url"] == "http://127.0.0.1:8080/act.web.api"


def test_defaults_and_schema():
    cfg = act.settings(config(8080))
    assert cfg["batch_size"] == 7 and cfg["default_start_date"] is None
    cfg = act.settings({k: v for k, v in config(8080).items() if k not in ("batch_size", "rate_limit_pause")})
    assert cfg["batch_size"] == 200 and cfg["rate_limit_pause"] == 0.25
    static = ",".join(n for n in act.NAMES if n != act.CUSTOM)  # custom tables need the server's metadata
    tables = act.schema(config(8080, tables=static))
    assert [t["table"] for t in tables][:10] == [
        "contacts", "contacts_custom_fields", "contacts_companies", "companies", "companies_custom_fields",
        "opportunities", "opportunities_custom_fields", "opportunities_links", "opportunities_products",
        "activities"]
    keys = {t["table"]: t["primary_key"] for t in tables}
    assert all(k == ["parent_id", "field"] for t, k in keys.items() if t.endswith("_custom_fields"))
    assert all(k == ["parent_id", "linked_type", "linked_id"] for t, k in keys.items() if t.endswith("_links"))
    assert keys["field_metadata"] == ["recordType", "name"] and keys["groups_contacts"] == ["parent_id", "contact_id"]
    assert {t["table"]: t for t in tables}["products"]["columns"]["editDate"] == "UTC_DATETIME"
    assert tables == act.schema_of(act.catalogue())  # schema() and the docs come from one declaration


def test_catalogue_declares_refs_reads_docs_and_deletes_for_every_table():
    tables = {t.name: t for t in act.catalogue()}
    assert list(tables) == [n for n in act.NAMES if n != act.CUSTOM]
    assert tables["contacts"].refs == {"companyID": "companies.id"}
    assert tables["activities"].refs == {"activityTypeId": "activity_types.id"}
    for name, t in tables.items():
        snapshot = act.BY_NAME[name].cursor is None
        assert t.doc and t.read == ("full" if snapshot else "cursor"), name
        kinds = [type(m).__name__ for m in t.deletes]
        assert kinds == (["Snapshot"] if snapshot else ["Reconcile"]), name
        for ref in [*t.refs.values(), *(r for c in t.children for r in c.refs.values())]:
            assert ref.split(".")[0] in tables, ref  # every foreign key points at a table of the catalogue
    assert [c.table("contacts") for c in tables["contacts"].children] == ["contacts_custom_fields",
                                                                           "contacts_companies"]
    assert tables["contacts"].children[0].mapping
    children = {c.table(t.name) for t in tables.values() for c in t.children}
    assert len(tables) - 6 + len(children) - 3 >= 16  # the tables beyond the first six and their custom fields


def test_tables_selection_unknown_names_and_the_schema_of_a_selection():
    with pytest.raises(ConfigError) as info:
        act.settings(config(8080, tables="contacts, leads"))
    text = str(info.value)
    assert "'tables'" in text and "'leads'" in text and all(n in text for n in act.NAMES)
    cfg = act.settings(config(8080, tables="products,contacts"))
    assert act.selection.chosen(cfg, act.NAMES) == ["contacts", "products"]
    assert [t["table"] for t in act.schema(config(8080, tables="products,contacts"))] == [
        "contacts", "contacts_custom_fields", "contacts_companies", "products"]
    assert act.settings(config(8080))["deletes_check_hours"] == 24.0
    for bad in ({"deletes_check_hours": "-1"}, {"max_delete_percent": "101"}, {"max_delete_percent": "half"}):
        with pytest.raises(ConfigError, match=f"'{next(iter(bad))}'"):
            act.settings(config(8080, **bad))


# Tokens and requests -------------------------------------------------------------------------------------

def make_jwt(claims: dict) -> str:
    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{enc({'alg': 'HS256'})}.{enc(claims)}.c2ln"


def test_jwt_lifetime_from_claims():
    assert act.jwt_lifetime(make_jwt({"iat": 1000, "exp": 4600})) == 3600
    assert act.jwt_lifetime(make_jwt({"exp": 2000}), now=1500) == 500
    assert act.jwt_lifetime("not-a-jwt") is None
    assert act.jwt_lifetime("a.!!!.c") is None
    assert act.jwt_lifetime(make_jwt({"sub": "x"})) is None


def test_keyset_filter_literals():
    since = datetime(2024, 1, 31, tzinfo=timezone.utc)
    assert act.keyset_filter("edited", since, None, True) == "edited ge 2024-01-31T00:00:00Z"
    key = {"at": "2025-04-14T10:02:33.1234567+00:00", "id": "19bfc4c5-bf3a-4865-8b88-1bc4b8ccd993"}
    assert act.keyset_filter("edited", None, key, True) == (
        "(edited gt 2025-04-14T10:02:33.1234567+00:00 or (edited eq 2025-04-14T10:02:33.1234567+00:00 "
        "and id gt 19bfc4c5-bf3a-4865-8b88-1bc4b8ccd993))")
    both = act.keyset_filter("editDate", since, {"at": "2025-01-01T00:00:00Z", "id": "it's-1"}, False)
    assert both.startswith("editDate ge 2024-01-31T00:00:00Z and (") and "id gt 'it''s-1'" in both
    assert act.keyset_filter("edited", None, None, True) is None
    with pytest.raises(ResponseError):
        act.keyset_filter("edited", None, {"at": "2025-01-01T00:00:00Z", "id": "x' or 1 eq 1"}, True)
    with pytest.raises(PagingError):
        act.keyset_filter("edited", None, {"at": "2025-01-01) or (1 eq 1", "id": "x"}, False)


def test_check_forward_rejects_pages_that_do_not_advance():
    prev = {"at": "2025-01-01T00:00:00+00:00", "id": "b"}
    ok = [{"at": "2025-01-01T00:00:00+00:00", "id": "c"}, {"at": "2025-01-02T00:00:00Z", "id": "a"}]
    act.check_forward(ok, prev, None, "t")
    for keys in ([{"at": "2024-12-31T00:00:00Z", "id": "z"}],
                 [{"at": "2025-01-01T00:00:00Z", "id": "b"}],
                 [{"at": "2025-01-02T00:00:00Z", "id": "a"}, {"at": "2025-01-01T12:00:00Z", "id": "c"}],
                 [{"at": "2025-01-02T00:00:00Z", "id": "a"}, {"at": "2025-01-02T00:00:00Z", "id": "a"}]):
        with pytest.raises(PagingError):
            act.check_forward(keys, prev, None, "t")
    with pytest.raises(PagingError, match="honour \\$filter"):
        act.check_forward(ok, None, datetime(2025, 1, 1, 1, tzinfo=timezone.utc), "t")


def test_rows_flatten_convert_and_refuse_collisions_and_naive_times():
    shape = act.shaper(act.ENDPOINTS[0])
    row = shape({"id": "x", "edited": "2025-04-14T12:02:33+02:00", "businessAddress": {"city": "Phoenix"},
                 "acl": ["a"], "customFields": {}, "businessAddress_latitude": None, "fieldAddedLater": {"a": 1}})
    assert row["edited"] == "2025-04-14T10:02:33Z" and row["businessAddress_city"] == "Phoenix"
    assert row["acl"] == '["a"]' and row["customFields"] is None
    assert row["fieldAddedLater_a"] == 1  # an undeclared field lands too
    assert shape({"id": "x", "businessAddress": {"latitude": "33.4"}})["businessAddress_latitude"] == 33.4
    with pytest.raises(ValueError, match="same column name"):
        shape({"id": "x", "address": {"street": "a"}, "address_street": "b"})
    with pytest.raises(ValueError, match="edited"):
        shape({"id": "x", "edited": "2025-04-14T10:02:33"})


def test_extract_accepts_both_envelopes_only():
    class R:
        url = "http://h/api/contacts"

        def __init__(self, body):
            self.body = body

        def json(self):
            return self.body

    assert act.extract(R([{"id": 1}])) == [{"id": 1}]
    assert act.extract(R({"value": [{"id": 1}], "Count": 1})) == [{"id": 1}]
    for body in ({"items": []}, {"value": None}, "x", None):
        with pytest.raises(ResponseError):
            act.extract(R(body))


@pytest.fixture
def sim_server():
    sim = ActSim(40, 12, 12, 12, 9, tie=9, token_lifetime=3600)
    with Server(sim) as server:
        yield sim, server


def test_token_is_cached_renewed_with_bearer_and_reacquired_after_401(sim_server):
    sim, server = sim_server
    sim.token_lifetime = 3
    skew = [0.0]  # the client's clock, moved forward instead of sleeping
    http, auth = act.client(act.settings(config(server.port)), clock=lambda: time.monotonic() + skew[0])
    http.get_json("/api/contacts", params={"$top": 1})
    http.get_json("/api/contacts", params={"$top": 1})
    assert sim.authorize_calls == {"basic": 1, "bearer": 0, "refused": 0}
    assert 0.29 <= auth.margin <= 0.31
    skew[0] = 2.8  # inside the renewal margin: renewed with the old token before it expires
    http.get_json("/api/contacts", params={"$top": 1})
    assert sim.authorize_calls["bearer"] == 1 and sim.statuses().get(401, 0) == 0
    sim.revoke_tokens()  # the server forgets every token: 401, then Basic again, then the retry succeeds
    assert http.get_json("/api/contacts", params={"$top": 1})
    assert sim.authorize_calls["basic"] == 2 and http.stats.reauths == 1
    assert all(redact.mask(t) == "***" for t in sim.issued)


def test_wrong_credentials_and_missing_permission_are_clear(sim_server):
    sim, server = sim_server
    sim.users["No Api"] = ("pw-no-api-1", False)
    for change in ({"password": "wrong-pass-999"}, {"database_name": "Nope"}, {"username": "Nobody"}):
        http, auth = act.client(act.settings({**config(server.port), **change}))
        with pytest.raises(AuthError) as info:
            auth.token()
        text = str(info.value)
        assert "'username'" in text and "'password'" in text and "'database_name'" in text
        assert "wrong-pass-999" not in text and "Basic" not in text
    http, auth = act.client(act.settings({**config(server.port), "username": "No Api", "password": "pw-no-api-1"}))
    with pytest.raises(SyncError, match="4032.*Web API Access"):
        auth.token()
    http, auth = act.client(act.settings(config(server.port, api_path="/wrong.api")))
    with pytest.raises(SyncError, match="api_path"):
        auth.token()


# In-process syncs ----------------------------------------------------------------------------------------

def truth_ids(sim: ActSim) -> dict[str, set]:
    return {name: set(sim.truth(name)) for name in ("contacts", "companies", "opportunities", "activities",
                                                    "products", "activity_types")}


def run_sync(server: Server, state: dict, sink: MemorySink, **extra: str) -> None:
    act.run(act.settings(config(server.port, **extra)), state, sink)


def check_sink(sim: ActSim, sink: MemorySink) -> None:
    for name, ids in truth_ids(sim).items():
        got = sink.tables.get(name, {})
        assert {k[0] for k in got} == ids, name
        if name != "activity_types":
            field = act.ENDPOINTS[[e.name for e in act.ENDPOINTS].index(name)].cursor
            for rid, record in sim.truth(name).items():
                assert got[(rid,)][field] == act.act_time(record[field]), (name, rid)
                assert "customFields" not in got[(rid,)] and "customFields_user6" not in got[(rid,)]
    for name in ("contacts", "companies", "opportunities"):
        got = {k: r["value"] for k, r in sink.tables.get(f"{name}_custom_fields", {}).items()}
        assert got == custom_truth(sim, name), name


PKS = {t["table"]: tuple(t["primary_key"]) for t in act.schema_of(act.catalogue())} | {
    "custom_contracts": ("id",), "custom_contracts_links": ("parent_id", "linked_type", "linked_id")}


PARENTS = {e.name for e in act.ENDPOINTS if e.cursor}  # snapshot tables are re-read whole by design


def custom_truth(sim: ActSim, name: str) -> dict[tuple, object]:
    return {(rid, k): v for rid, r in sim.truth(name).items() for k, v in (r.get("customFields") or {}).items()}


def test_many_ties_edits_during_sync_and_deleted_task_types(sim_server):
    sim, server = sim_server
    sink = MemorySink(primary_keys=PKS)
    state: dict = {}
    rng = random.Random(4)
    # Edits land while the first sync runs, on every entity.
    for k in (3, 8, 14):
        sim.scheduler.after(sim.count + k, lambda: [sim.data[n].edit_random(3, rng) for n in sim.data])
    run_sync(server, state, sink)
    run_sync(server, state, sink)
    check_sink(sim, sink)
    def parent_upserts() -> int:  # child rows (custom fields) are upserted with each parent
        return sum(1 for kind, table, _ in sink.ops if kind == "upsert" and table in PARENTS)

    upserts = parent_upserts()
    sim.task_types.pop()  # a removed custom type is deleted by the next snapshot
    sim.task_types[0]["name"] = "Meeting (renamed)"
    sim.data["products"].insert()
    run_sync(server, state, sink)
    check_sink(sim, sink)
    assert sink.tables["activity_types"][(1,)]["name"] == "Meeting (renamed)"
    assert parent_upserts() - upserts < 60, "the incremental sync re-read whole tables"
    assert all("run" not in entry for entry in state["tables"].values())


def test_crash_at_every_few_operations_then_resume(sim_server):
    sim, server = sim_server
    state: dict = {}
    durable = MemorySink(primary_keys=PKS)
    rng = random.Random(9)
    crashes = 0
    for _ in range(25):
        sink = MemorySink(primary_keys=PKS, crash_after=rng.randint(1, 30))
        sink.tables = durable.tables  # the warehouse outlives the process
        if rng.random() < 0.3:
            sim.data[rng.choice(list(sim.data))].edit_random(2, rng)
        try:
            run_sync(server, state, sink)
        except Crash:
            crashes += 1
        state = json.loads(json.dumps(sink.state or state))
    assert crashes >= 15
    final = MemorySink(primary_keys=PKS)
    final.tables = durable.tables
    run_sync(server, state, final)
    run_sync(server, state, final)
    check_sink(sim, final)


def test_default_start_date_limits_the_first_sync(sim_server):
    sim, server = sim_server
    sink = MemorySink(primary_keys=PKS)
    run_sync(server, {}, sink, default_start_date="2023-01-01T00:21:00Z")
    start = datetime(2023, 1, 1, 0, 21, tzinfo=timezone.utc)
    expected = {rid for rid, r in sim.truth("contacts").items() if act.records.parse_iso(r["edited"]) >= start}
    assert {k[0] for k in sink.tables["contacts"]} == expected and 0 < len(expected) < 40


class IgnoresFilter(ActSim):
    def list_records(self, request, name, rows, entity=None):
        request.args = request.args.copy()
        request.args.pop("$filter", None)
        return super().list_records(request, name, rows, entity)


def test_a_server_that_ignores_the_filter_fails_instead_of_looping():
    sim = IgnoresFilter(30, 5, 5, 5, 5, tie=1)
    with Server(sim) as server:
        cfg = act.settings(config(server.port))
        http, _ = act.client(cfg)
        pages = act.keyset_pages(http, act.ENDPOINTS[0], Window(None), 7)
        with pytest.raises(PagingError, match="does not move past"):
            for _ in range(5):
                next(pages)
        assert sim.requests_to("/act.web.api/api/contacts") == 2


def test_offset_paging_loses_a_row_that_keyset_paging_keeps(sim_server):
    """The published example's $skip paging against ours, with one edit between page 1 and page 2."""
    sim, server = sim_server
    cfg = act.settings(config(server.port))
    http, _ = act.client(cfg)
    endpoint = act.ENDPOINTS[0]

    def traverse(pages):
        seen, first = [], True
        for page in pages:
            seen += [r["id"] for r in page.records]
            if first:  # the first record read moves to the end of the order
                sim.data["contacts"].edit(next(i for i in sim.data["contacts"].all()
                                               if sim.record_id("contacts", i) == seen[0]))
                first = False
        return seen

    params = {"$orderby": "edited"}
    offset = traverse(Offset(size=7, offset_param="$skip", limit_param="$top").pages(
        http, endpoint.path, params, act.extract))
    assert len(set(offset)) < len(sim.truth("contacts"))  # a row shifted into the pages already read
    keyset = traverse(act.keyset_pages(http, endpoint, Window(None), 7))
    assert set(keyset) == set(sim.truth("contacts"))


def test_a_server_cap_below_batch_size_loses_nothing():
    # The connector asks for 500; the server sends 250: pages of 250 are not taken for the end.
    sim = ActSim(1200, 2, 2, 2, 2, tie=5, top_cap=250)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        run_sync(server, state, sink, batch_size="500")
        check_sink(sim, sink)
        contacts = [r for r in sim.log if r.path.endswith("/api/contacts") and "select" not in r.query]
        assert len(contacts) == 5 + 1  # 1,200 rows in pages of 250, then the empty page that proves the end
        before = len(sim.log)
        run_sync(server, state, sink, batch_size="500", deletes_check_hours="0")  # a first sync sends no sweep
    sweep = [r for r in sim.log[before:] if r.path.endswith("/api/contacts") and "select" in r.query]
    assert len(sweep) == 5 + 1  # the delete sweep asks for 5000 ids; the cap serves 250, and nothing is lost


def test_a_short_page_ends_the_traversal_without_an_empty_page():
    sim = ActSim(20, 2, 2, 2, 2, tie=5)
    with Server(sim) as server:
        run_sync(server, {}, MemorySink(primary_keys=PKS))  # batch_size 7: pages of 7, 7 and 6
    assert len([r for r in sim.log if r.path.endswith("/api/contacts") and "select" not in r.query]) == 3


def test_cloud_rate_limit_headers_feed_the_limiter():
    sim = ActSim(5, 1, 1, 1, 1, per_minute=100)
    with Server(sim) as server:
        http, _ = act.client(act.settings(config(server.port)))
        http.get_json("/api/contacts")
        http.get_json("/api/companies")
        assert http.limiter.remaining == 98  # /authorize is not counted
