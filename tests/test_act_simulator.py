"""The Act! Web API simulator: auth, routes, OData options (the $filter parser tested with hypothesis),
envelopes, limits and error bodies."""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from simulators import act as sim_act
from simulators.act import (
    DELETABLE,
    ActSim,
    BoolOp,
    Compare,
    Func,
    Literal,
    Not,
    ODataError,
    Prop,
    parse_datetime,
    parse_filter,
    parse_orderby,
    tokenize,
)
from simulators.harness import Faults

DB = "ACT2018Demo"
BASIC = "Basic " + base64.b64encode(b"John Hollo:act-pass-123").decode()


def client(sim: ActSim) -> Client:
    return Client(sim)


def token(c: Client, auth: str = BASIC, db: str | None = DB) -> str:
    headers = {"Authorization": auth} | ({"Act-Database-Name": db} if db else {})
    response = c.get("/act.web.api/authorize", headers=headers)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def get(c: Client, path: str, tok: str, **params: str):
    return c.get(f"/act.web.api{path}", query_string=params,
                 headers={"Authorization": f"Bearer {tok}", "Act-Database-Name": DB})


@pytest.fixture(scope="module")
def sim() -> ActSim:
    return ActSim(60, 20, 20, 20, 15, tie=6)


@pytest.fixture(scope="module")
def tok(sim) -> str:
    return token(client(sim))


# Auth ----------------------------------------------------------------------------------------------------

def test_authorize_returns_a_jwt_and_refuses_with_a_bare_401(sim):
    c = client(sim)
    jwt = token(c)
    header, payload, _ = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["exp"] - claims["iat"] == pytest.approx(3600, abs=1) and claims["db"] == DB
    wrong_pw = "Basic " + base64.b64encode(b"John Hollo:nope").decode()
    wrong_user = "Basic " + base64.b64encode(b"Nobody:act-pass-123").decode()
    for headers in ({"Authorization": wrong_pw, "Act-Database-Name": DB},
                    {"Authorization": wrong_user, "Act-Database-Name": DB},
                    {"Authorization": BASIC, "Act-Database-Name": "Other"},
                    {"Authorization": BASIC},
                    {"Authorization": "Basic !!!", "Act-Database-Name": DB},
                    {"Act-Database-Name": DB}):
        response = c.get("/act.web.api/authorize", headers=headers)
        assert response.status_code == 401 and response.get_data() == b""


def test_data_calls_need_the_bearer_token_and_database(sim, tok):
    c = client(sim)
    assert get(c, "/api/contacts", tok).status_code == 200
    for headers in ({"Authorization": f"Bearer {tok}"}, {"Authorization": f"Bearer {tok}x", "Act-Database-Name": DB},
                    {"Authorization": BASIC, "Act-Database-Name": DB}, {}):
        response = c.get("/act.web.api/api/contacts", headers=headers)
        assert response.status_code == 401 and response.get_data() == b""
    assert c.get("/act.web.api/api/system").get_json()["apiVersion"]


def test_renewal_expiry_revocation_and_permission():
    sim = ActSim(5, 1, 1, 1, 1, token_lifetime=60, users={"A": ("pw-a-1", True), "B": ("pw-b-1", False)})
    c = client(sim)
    first = token(c, "Basic " + base64.b64encode(b"A:pw-a-1").decode())
    renewed = token(c, f"Bearer {first}")
    assert renewed != first and sim.authorize_calls["bearer"] == 1
    assert get(c, "/api/contacts", renewed).status_code == 200
    sim.revoke_tokens()
    assert get(c, "/api/contacts", renewed).status_code == 401
    assert c.get("/act.web.api/authorize", headers={"Authorization": f"Bearer {renewed}",
                                                    "Act-Database-Name": DB}).status_code == 401
    sim.token_lifetime = -1  # already expired when issued
    expired = token(c, "Basic " + base64.b64encode(b"A:pw-a-1").decode())
    assert get(c, "/api/contacts", expired).status_code == 401
    response = c.get("/act.web.api/authorize", headers={"Authorization": "Basic " + base64.b64encode(
        b"B:pw-b-1").decode(), "Act-Database-Name": DB})
    assert response.status_code == 403 and "4032" in response.get_json()["message"]


# Routes and envelopes ------------------------------------------------------------------------------------

def test_routes_are_case_insensitive_and_activity_types_live_at_task_types(sim, tok):
    c = client(sim)
    assert len(get(c, "/API/Products", tok).get_json()) == 15
    assert get(c, "/api/tasks", tok).get_json() == get(c, "/api/activities", tok).get_json()
    types = get(c, "/api/task-types", tok).get_json()
    assert {t["name"] for t in types} >= {"Meeting", "Call", "To-do", "Appointment"}
    missing = get(c, "/api/activity-types", tok)
    assert missing.status_code == 404 and "No HTTP resource" in missing.get_json()["message"]
    one = get(c, "/api/contacts", tok, **{"$top": "1"}).get_json()[0]
    assert get(c, f"/api/contacts/{one['id'].upper()}", tok).get_json() == one
    assert get(c, f"/api/contacts/{uuid.uuid4()}", tok).status_code == 404
    activity = get(c, "/api/activities", tok, **{"$top": "1"}).get_json()[0]
    assert len(activity["id"]) == 44 and activity["created"].endswith("+00:00")


def test_envelope_option():
    sim = ActSim(12, 3, 3, 3, 3, envelope=("contacts",))
    c = client(sim)
    tok = token(c)
    body = get(c, "/api/contacts", tok, **{"$top": "5"}).get_json()
    assert set(body) == {"value", "Count"} and body["Count"] == 5 == len(body["value"])
    assert isinstance(get(c, "/api/companies", tok).get_json(), list)


# OData options -------------------------------------------------------------------------------------------

def test_top_skip_and_cap():
    sim = ActSim(30, 1, 1, 1, 1, top_cap=10)
    c = client(sim)
    tok = token(c)
    assert len(get(c, "/api/contacts", tok).get_json()) == 10  # no $top: the cap
    assert len(get(c, "/api/contacts", tok, **{"$top": "500"}).get_json()) == 10
    ordered = get(c, "/api/contacts", tok, **{"$orderby": "edited,id", "$top": "10"}).get_json()
    skipped = get(c, "/api/contacts", tok, **{"$orderby": "edited,id", "$top": "4", "$skip": "3"}).get_json()
    assert skipped == ordered[3:7]
    for bad in ({"$top": "-1"}, {"$top": "x"}, {"$skip": "-2"}, {"$count": "true"}, {"$filter": "edited ge"},
                {"$filter": "editdate ge 2023-01-01T00:00:00Z"}, {"$orderby": "edited sideways"},
                {"$orderby": "nosuch"}, {"$select": "id,nosuch"}, {"$filter": "edited ge 'yesterday'"},
                {"$filter": "id gt 'abc'"}, {"$filter": "edited ge 2023-01-01T00:00:00"}):
        response = get(c, "/api/contacts", tok, **bad)
        assert response.status_code == 400, bad
        assert response.get_json()["message"].startswith("The query specified in the URI is not valid.")


def test_orderby_several_keys_desc_and_select(sim, tok):
    c = client(sim)
    rows = get(c, "/api/contacts", tok, **{"$orderby": "lastName desc, edited asc, id"}).get_json()
    keys = [(r["lastName"], r["edited"], r["id"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (_neg(k[0]), k[1], k[2]))
    picked = get(c, "/api/products", tok, **{"$select": "id,editDate", "$top": "3"}).get_json()
    assert all(set(p) == {"id", "editDate"} for p in picked)
    nested = get(c, "/api/contacts", tok, **{"$filter": "businessAddress/state eq 'AZ'"}).get_json()
    assert nested and all(r["businessAddress"]["state"] == "AZ" for r in nested)
    found = get(c, "/api/contacts", tok, **{"$filter": "startswith(emailAddress, 'ada') and isPrivate eq false"})
    assert all(r["emailAddress"].startswith("ada") for r in found.get_json())


def _neg(text: str) -> tuple:
    return tuple(-ord(ch) for ch in text) + (1,)


def test_parser_precedence_and_literals():
    tree = parse_filter("a eq 1 or b eq 2 and not (c ne 'x''y')")
    assert tree == BoolOp("or", Compare("eq", Prop(("a",)), Literal("number", 1)),
                          BoolOp("and", Compare("eq", Prop(("b",)), Literal("number", 2)),
                                 Not(Compare("ne", Prop(("c",)), Literal("string", "x'y")))))
    dt = parse_filter("edited gt 2025-04-14T12:02:33.1234567+02:00").right.value
    assert dt == datetime(2025, 4, 14, 10, 2, 33, 123456, tzinfo=timezone.utc)
    assert parse_filter("id eq 19BFC4C5-bf3a-4865-8b88-1bc4b8ccd993").right == Literal(
        "guid", "19bfc4c5-bf3a-4865-8b88-1bc4b8ccd993")
    assert parse_orderby("edited desc,id") == [(("edited",), True), (("id",), False)]
    for bad in ("", "a eq", "(a eq 1", "a eq 1)", "a foo 1", "eq eq 1", "a eq 1 and", "'open", "a eq 1 2"):
        with pytest.raises(ODataError):
            parse_filter(bad)


# hypothesis: render a random tree, parse it back ---------------------------------------------------------

KEYWORDS = {"eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "true", "false", "null", "contains",
            "startswith", "endswith"}
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
props = st.lists(names, min_size=1, max_size=2).map(lambda parts: Prop(tuple(parts)))
datetimes = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1),
                         timezones=st.just(timezone.utc))
literals = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12).map(
        lambda s: Literal("string", s)),
    datetimes.map(lambda d: Literal("datetime", d)),
    st.uuids().map(lambda u: Literal("guid", str(u))),
    st.integers(-10**9, 10**9).map(lambda n: Literal("number", n)),
    st.booleans().map(lambda b: Literal("bool", b)),
    st.just(Literal("null", None)),
)
operands = st.one_of(props, literals)
comparisons = st.builds(Compare, st.sampled_from(sorted(sim_act.COMPARISONS)), operands, operands)
functions = st.builds(Func, st.sampled_from(sim_act.FUNCTIONS), operands, operands)
trees = st.recursive(
    st.one_of(comparisons, functions),
    lambda inner: st.one_of(st.builds(BoolOp, st.sampled_from(["and", "or"]), inner, inner), st.builds(Not, inner)),
    max_leaves=8,
)


def render_operand(node) -> str:
    if isinstance(node, Prop):
        return "/".join(node.path)
    kind, value = node.kind, node.value
    if kind == "string":
        return "'" + value.replace("'", "''") + "'"
    if kind == "datetime":
        return value.isoformat().replace("+00:00", "Z") if value.microsecond % 2 else value.isoformat()
    if kind == "bool":
        return "true" if value else "false"
    if kind == "null":
        return "null"
    return str(value)


def render(node) -> str:
    if isinstance(node, BoolOp):
        return f"({render(node.left)}) {node.op} ({render(node.right)})"
    if isinstance(node, Not):
        return f"not ({render(node.expr)})"
    if isinstance(node, Func):
        return f"{node.name}({render_operand(node.left)}, {render_operand(node.right)})"
    return f"{render_operand(node.left)} {node.op} {render_operand(node.right)}"


@settings(max_examples=150, deadline=None)
@given(trees)
def test_parse_inverts_render(tree):
    assert parse_filter(render(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abeqgtlndor ()',-:.TZ0123456789/", max_size=40))
def test_arbitrary_text_parses_or_fails_with_odata_error(text):
    try:
        parse_filter(text)
    except ODataError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_tokenizer_never_crashes_otherwise(text):
    try:
        tokenize(text)
    except ODataError:
        pass


def test_datetime_literal_forms_agree():
    a = parse_datetime("2025-01-01T10:00:00Z")
    assert a == parse_datetime("2025-01-01T12:00:00+02:00") == parse_datetime("2025-01-01T10:00:00.000Z")
    assert a == parse_datetime("2025-01-01T10:00Z")
    with pytest.raises(ODataError):
        parse_datetime("2025-01-01T10:00:00")


# hypothesis: filters evaluated by the simulator agree with a direct computation --------------------------

KEYSET_SIM = ActSim(40, 1, 1, 1, 1, tie=7)
KEYSET_CLIENT = Client(KEYSET_SIM)
KEYSET_TOKEN = token(KEYSET_CLIENT)


def _key(record: dict) -> tuple:
    return (parse_datetime(record["edited"]), record["id"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 39), st.integers(0, 3), st.integers(1, 15), st.booleans())
def test_keyset_filter_returns_exactly_the_records_after_the_key(pick, edits, top, with_since):
    for i in range(edits):
        KEYSET_SIM.data["contacts"].edit((pick * 7 + i) % 40)
    records = sorted(KEYSET_SIM.truth("contacts").values(), key=_key)
    at, rid = records[pick]["edited"], records[pick]["id"]
    since = records[0]["edited"] if not with_since else records[max(0, pick - 10)]["edited"]
    where = f"edited ge {since} and (edited gt {at} or (edited eq {at} and id gt {rid}))"
    got = get(KEYSET_CLIENT, "/api/contacts", KEYSET_TOKEN,
              **{"$filter": where, "$orderby": "edited,id", "$top": str(top)}).get_json()
    expected = [r for r in records if _key(r) > _key(records[pick]) and parse_datetime(r["edited"])
                >= parse_datetime(since)][:top]
    assert [r["id"] for r in got] == [r["id"] for r in expected]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(sim_act.COMPARISONS)), st.integers(0, 59), st.sampled_from(["edited", "created"]),
       st.sampled_from(["and", "or"]), st.integers(0, 100))
def test_comparisons_on_dates_and_numbers_match_python(op, pick, field, joiner, score):
    c = KEYSET_CLIENT
    everything = {r["id"]: r for r in KEYSET_SIM.truth("contacts").values()}
    literal = sorted(everything.values(), key=_key)[pick % len(everything)][field]
    where = f"{field} {op} {literal} {joiner} customFields/user7 lt {score}"
    got = {r["id"] for r in get(c, "/api/contacts", KEYSET_TOKEN, **{"$filter": where}).get_json()}
    ops = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
           "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}

    def match(r: dict) -> bool:
        left = ops[op](parse_datetime(r[field]), parse_datetime(literal))
        right = r["customFields"]["user7"] < score
        return (left and right) if joiner == "and" else (left or right)

    assert got == {rid for rid, r in everything.items() if match(r)}


def test_shuffled_ties_make_skip_paging_unstable_but_not_keyset_order():
    sim = ActSim(50, 1, 1, 1, 1, tie=50, shuffle_ties=True)
    c = client(sim)
    tok = token(c)
    seen = []
    for skip in range(0, 50, 10):
        seen += [r["id"] for r in get(c, "/api/contacts", tok,
                                      **{"$orderby": "edited", "$top": "10", "$skip": str(skip)}).get_json()]
    assert len(set(seen)) < 50  # duplicates and losses, as observed on the real API
    first = get(c, "/api/contacts", tok, **{"$orderby": "edited,id"}).get_json()
    assert first == get(c, "/api/contacts", tok, **{"$orderby": "edited,id"}).get_json()


# Limits and faults ---------------------------------------------------------------------------------------

def test_cloud_mode_rate_limit_headers_and_429_without_retry_after():
    sim = ActSim(5, 1, 1, 1, 1, per_minute=3)
    c = client(sim)
    tok = token(c)  # /authorize does not count
    statuses = []
    for _ in range(4):
        response = get(c, "/api/contacts", tok)
        statuses.append(response.status_code)
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response.headers.keys())
        assert int(response.headers["X-RateLimit-Reset"]) > 1e9
    assert statuses == [200, 200, 200, 429]
    assert "Retry-After" not in response.headers and response.get_json()["message"]
    self_hosted = ActSim(5, 1, 1, 1, 1)
    c2 = client(self_hosted)
    assert "X-RateLimit-Limit" not in get(c2, "/api/contacts", token(c2)).headers


def test_server_errors_have_asp_net_bodies():
    sim = ActSim(5, 1, 1, 1, 1, faults=Faults(forced=["500"]))
    c = client(sim)
    tok = token(c)  # exempt from faults
    body = get(c, "/api/contacts", tok).get_json()
    assert {"message", "exceptionMessage", "exceptionType", "stackTrace"} <= set(body)


def test_edits_and_inserts_move_records_to_the_end(sim, tok):
    c = client(sim)
    sim.data["products"].edit(0)
    new = sim.data["products"].insert()
    rows = get(c, "/api/products", tok, **{"$orderby": "editDate,id"}).get_json()
    assert {rows[-1]["id"], rows[-2]["id"]} == {sim.record_id("products", 0), sim.record_id("products", new)}
    assert parse_datetime(rows[-1]["editDate"]) > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_deleted_records_leave_every_listing_lookups_and_the_truth():
    sim = ActSim(12, 6, 6, 6, 6, tie=3)
    c = client(sim)
    tok = token(c)
    gone = sim.delete_random(random.Random(2), 7)
    assert [name for name, _ in gone] == ["contacts", "companies", "opportunities", "activities", "products",
                                          "histories", "notes"]
    assert len(set(gone)) == 7
    for name, path in (("contacts", "/api/contacts"), ("activities", "/api/activities"),
                       ("products", "/api/products")):
        ids = {rid for n, rid in gone if n == name}
        cursor = "editDate" if name == "products" else "edited"
        for params in ({}, {"$orderby": f"{cursor},id"}, {"$orderby": "id", "$select": "id"},
                       {"$orderby": "id", "$filter": "id gt '0'" if name == "activities"
                        else "id gt 00000000-0000-4000-8000-000000000000"}):
            listed = {r["id"] for r in get(c, path, tok, **params).get_json()}
            assert not (listed & ids) and listed == set(sim.truth(name)), (name, params)
        for rid in ids:
            assert get(c, f"{path}/{rid}", tok).status_code == 404
    # Deleting every record of a small entity passes over it instead of failing.
    small = ActSim(1, 1, 1, 1, 1)
    assert len(small.delete_random(random.Random(1), 12)) == len(DELETABLE)
    assert all(not small.truth(name) for name in DELETABLE)
