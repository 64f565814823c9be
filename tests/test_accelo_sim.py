"""The Accelo simulator's API behaviours, driven in-process through werkzeug's test client."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from simulators.accelo import LOCKOUT_FAILURES, RESOURCES, AcceloSim, split_top
from simulators.accelo_entities import BY_NAME

CID, SECRET = "demo@planet-express.accelo.com", "demo-secret"


def token(client: Client, **form: str) -> dict:
    body = {"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET, **form}
    response = client.post("/oauth2/v0/token", data=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


@pytest.fixture
def sim() -> AcceloSim:
    return AcceloSim({"companies": 120, "payments": 30, "staff": 12}, tie=5)


@pytest.fixture
def api(sim):
    client = Client(sim)
    bearer = token(client)["access_token"]

    def get(path: str, **params):
        return client.get(path, query_string=params, headers={"Authorization": f"Bearer {bearer}"})

    return get


def test_token_by_basic_or_body_with_string_expires_in(sim):
    client = Client(sim)
    body = token(client)
    assert body["token_type"] == "Bearer" and body["expires_in"] == "2592000" and body["deployment"]
    basic = base64.b64encode(f"{CID}:{SECRET}".encode()).decode()
    r = client.post("/oauth2/v0/token", data={"grant_type": "client_credentials", "scope": "read(all)",
                                              "expires_in": "60"}, headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200 and r.json["expires_in"] == "60"
    assert "refresh_token" not in r.json


@pytest.mark.parametrize("form,status,error", [
    ({"client_secret": "wrong"}, 401, "invalid_client"),
    ({"client_id": "nobody@x.accelo.com"}, 401, "invalid_client"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ({"scope": "admin(everything"}, 400, "invalid_scope"),
])
def test_token_errors_use_the_oauth_shape(sim, form, status, error):
    body = {"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET, **form}
    r = Client(sim).post("/oauth2/v0/token", data=body)
    assert r.status_code == status and r.json["error"] == error and r.json["error_description"]


def test_expired_unknown_and_doubled_tokens(sim):
    client = Client(sim)
    bearer = token(client, expires_in="1000")["access_token"]
    ok = client.get("/api/v0/companies", headers={"Authorization": f"Bearer {bearer}"})
    assert ok.status_code == 200
    both = client.get(f"/api/v0/companies?_bearer_token={bearer}", headers={"Authorization": f"Bearer {bearer}"})
    assert both.status_code == 400 and both.json["meta"]["status"] == "invalid_request"
    assert client.get(f"/api/v0/companies?_bearer_token={bearer}").status_code == 200
    sim.expire_tokens()
    expired = client.get("/api/v0/companies", headers={"Authorization": f"Bearer {bearer}"})
    assert expired.status_code == 401 and expired.json["meta"]["status"] == "invalid_client"
    assert expired.json["response"] is None
    assert client.get("/api/v0/companies", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_lockout_after_100_failures_restarts_its_timer(sim):
    client = Client(sim)
    bad = {"grant_type": "client_credentials", "client_id": CID, "client_secret": "wrong"}
    for _ in range(LOCKOUT_FAILURES):
        assert client.post("/oauth2/v0/token", data=bad).status_code == 401
    r = client.post("/oauth2/v0/token", data=bad)  # the 101st failure locks the IP
    r = client.post("/oauth2/v0/token", data={**bad, "client_secret": SECRET})
    assert r.status_code == 401 and r.json["meta"]["status"] == "too_many_failed_logins"
    assert r.headers["Retry-After"] == "300"


def test_envelope_strings_paging_and_limit_clamp(sim, api):
    r = api("/api/v0/companies", _fields="_ALL")
    body = r.json
    assert body["meta"]["status"] == "ok" and len(body["response"]) == 10  # default _limit
    assert all(isinstance(v, str) or v is None for rec in body["response"] for v in rec.values())
    assert [rec["id"] for rec in body["response"]] == [str(i) for i in range(1, 11)]
    assert len(api("/api/v0/companies", _limit="500").json["response"]) == 100  # clamped
    page1 = api("/api/v0/companies", _limit="50", _page="1").json["response"]
    assert page1[0]["id"] == "51"
    offset = api("/api/v0/companies", _limit="50", _offset="7").json["response"]
    assert offset[0]["id"] == "8"
    assert api("/api/v0/companies", _limit="50", _page="1", _offset="7").json["response"][0]["id"] == "51"
    assert api("/api/v0/companies", _page="99").json["response"] == []
    assert api("/api/v0/companies", _limit="abc").status_code == 400
    assert api("/api/v0/companies/count").json["response"] == {"count": "120"}
    assert api("/api/v0/companies/7").json["response"]["id"] == "7"
    assert api("/api/v0/companies/7000").json["meta"]["status"] == "invalid_request"


def test_fields_default_named_all_and_unknown(api):
    default = api("/api/v0/companies").json["response"][0]
    assert set(default) == {"id", "name"}
    named = api("/api/v0/companies", _fields="date_modified,phone,no_such_field,postal_address(city)")
    assert set(named.json["response"][0]) == {"id", "name", "date_modified", "phone", "postal_address"}
    assert "staff_bookmarked" in api("/api/v0/companies", _fields="_ALL").json["response"][0]


def test_date_filters_are_strict_and_order_by_breaks_ties_by_id(sim, api):
    rows = api("/api/v0/companies", _fields="date_modified", _limit="100").json["response"]
    t = int(rows[20]["date_modified"])  # five records share each value (tie=5)
    after = api("/api/v0/companies", _fields="date_modified", _limit="100",
                _filters=f"date_modified_after({t})").json["response"]
    assert after and min(int(r["date_modified"]) for r in after) > t
    window = api("/api/v0/companies", _fields="date_modified", _limit="100",
                 _filters=f"date_modified_after({t - 1}),date_modified_before({t + 1})").json["response"]
    assert len(window) == 5 and {int(r["date_modified"]) for r in window} == {t}
    desc = api("/api/v0/companies", _fields="date_modified", _limit="100",
               _filters="order_by_desc(date_modified)").json["response"]
    assert [int(r["date_modified"]) for r in desc] == sorted((int(r["date_modified"]) for r in desc), reverse=True)
    top = [int(r["id"]) for r in desc[:5]]
    assert top == sorted(top)  # ties by ascending id
    count = api("/api/v0/companies/count", _filters=f"date_modified_after({t})").json["response"]["count"]
    assert int(count) == sum(1 for r in sim.truth("companies").values() if int(r["date_modified"]) > t)


def test_edits_move_date_modified_but_not_payments_date_created(sim, api):
    before = api("/api/v0/payments/3", _fields="_ALL").json["response"]
    sim.edit("payments", 2)
    after = api("/api/v0/payments/3", _fields="_ALL").json["response"]
    assert after["date_created"] == before["date_created"] and after != before
    old = api("/api/v0/companies/3", _fields="date_modified").json["response"]["date_modified"]
    sim.edit("companies", 2)
    assert api("/api/v0/companies/3", _fields="date_modified").json["response"]["date_modified"] > old
    new = sim.insert("companies")
    assert api("/api/v0/companies/count").json["response"]["count"] == "121" and new == 120


@pytest.mark.parametrize("path,filters", [
    ("/api/v0/payments", "date_modified_after(1)"),       # payments have only date_created
    ("/api/v0/staff", "date_modified_after(1)"),          # staff has no date filter at all
    ("/api/v0/jobs", "date_created_after(1)"),            # jobs spell it dated_created
    ("/api/v0/companies", "order_by_asc(nonsense)"),
    ("/api/v0/companies", "search(fry)"),
    ("/api/v0/companies", "date_modified_after(yesterday)"),
    ("/api/v0/companies", "date_modified_after(1"),
])
def test_unsupported_filters_answer_400_invalid_request(api, path, filters):
    r = api(path, _filters=filters)
    assert r.status_code == 400 and r.json["meta"]["status"] == "invalid_request" and r.json["response"] is None


def test_supported_variants(api):
    assert api("/api/v0/jobs", _filters="dated_created_after(1)").status_code == 200
    assert api("/api/v0/prospects", _filters="dated_actioned_before(1)").json["response"] == []
    assert len(api("/api/v0/companies", _filters="id(3,5,7)").json["response"]) == 3
    assert [r["id"] for r in api("/api/v0/staff", _filters="id_greater_than(10)").json["response"]] == ["11", "12"]
    # A repeated filter: the last one counts. Unknown top-level parameters are ignored (id order stays).
    assert len(api("/api/v0/companies", _filters="id(3),id(4,5)").json["response"]) == 2
    ids = [r["id"] for r in api("/api/v0/companies", _order_by="date_modified").json["response"]]
    assert ids == [str(i) for i in range(1, 11)]


def test_suppress_json_body_formats_and_unknown_paths(sim, api):
    client = Client(sim)
    bearer = token(client)["access_token"]
    auth = {"Authorization": f"Bearer {bearer}"}
    r = client.get("/api/v0/companies/9999?_suppress_http_status=yes", headers=auth)
    assert r.status_code == 200 and r.json["meta"]["response_code"] == "400"
    assert "meta" not in client.get("/api/v0/companies?_suppress_meta=yes", headers=auth).json
    r = client.post("/api/v0/companies", headers=auth, data=json.dumps(
        {"_method": "GET", "_fields": "date_created", "_filters": {"id": [4, 5]}}), content_type="application/json")
    assert [x["id"] for x in r.json["response"]] == ["4", "5"] and "date_created" in r.json["response"][0]
    assert client.get("/api/v0/companies.xml", headers=auth).status_code == 400
    assert client.get("/api/v0/widgets", headers=auth).json["meta"]["status"] == "invalid_request"
    html = client.get("/nowhere", headers=auth)
    assert html.status_code == 404 and html.content_type.startswith("text/html")
    assert client.get("/api/v0/tokeninfo", headers=auth).json["response"]["deployment"] == sim.deployment


def test_scope_limits_resources(sim):
    client = Client(sim)
    bearer = token(client, scope="read(companies)")["access_token"]
    auth = {"Authorization": f"Bearer {bearer}"}
    assert client.get("/api/v0/companies", headers=auth).status_code == 200
    r = client.get("/api/v0/invoices", headers=auth)
    assert r.status_code == 403 and r.json["meta"]["status"] == "invalid_permission"


def test_hourly_budget_headers_and_429_without_retry_after():
    sim = AcceloSim({"companies": 5}, budget=3, window=3600)
    client = Client(sim)
    bearer = token(client)["access_token"]  # not counted
    token(client)
    auth = {"Authorization": f"Bearer {bearer}"}
    seen = [client.get("/api/v0/companies", headers=auth) for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" and int(r.headers["X-RateLimit-Reset"]) > 1e9 for r in seen)
    assert seen[3].json["meta"]["status"] == "too_many_requests" and "Retry-After" not in seen[3].headers


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["a", "b(1,2)", "c(x(y),z)", "d()"]), min_size=1, max_size=5))
def test_split_top_keeps_parenthesised_commas(parts):
    assert split_top(",".join(parts)) == parts


def test_count_matches_the_listing_on_the_indexed_and_general_paths(sim, api):
    sim.edit("companies", 3)
    sim.insert("companies")
    sim.data["companies"].delete(7)
    for filters in ("", "date_modified_after(1672531200)", "date_modified_after(1672531200),standing(active)",
                    "date_created_after(1672531200)"):
        listed = api("/api/v0/companies", _fields="id", _limit="100", _page="0", _filters=filters).json["response"]
        listed += api("/api/v0/companies", _fields="id", _limit="100", _page="1", _filters=filters).json["response"]
        count = api("/api/v0/companies/count", _filters=filters).json["response"]["count"]
        assert int(count) == len(listed), filters


def test_processes_sharing_a_deployment_accept_one_shared_token():
    first, second = (AcceloSim({"companies": 5}, shared_token="shared-123") for _ in range(2))
    issued = token(Client(first))["access_token"]
    assert issued == "shared-123"
    ok = Client(second).get("/api/v0/companies", headers={"Authorization": f"Bearer {issued}"})
    assert ok.status_code == 200 and len(ok.json["response"]) == 5


# Deletes, id ranges and fields `_ALL` leaves out ----------------------------------------------------------

def test_id_ranges_on_every_resource_in_lists_and_counts(api):
    for resource in ("companies", "payments", "staff"):
        rows = api(f"/api/v0/{resource}", _fields="id", _limit="100",
                   _filters="id_greater_than(3),id_less_than_or_equal(9)").json["response"]
        assert [r["id"] for r in rows] == [str(i) for i in range(4, 10)]
        count = api(f"/api/v0/{resource}/count", _filters="id_greater_than_or_equal(3),id_less_than(9)")
        assert count.json["response"] == {"count": "6"}


def test_a_bare_count_when_asked_for():
    sim = AcceloSim({"companies": 7}, count_shape="bare")
    client = Client(sim)
    bearer = token(client)["access_token"]
    r = client.get("/api/v0/companies/count", headers={"Authorization": f"Bearer {bearer}"})
    assert r.json["response"] == "7"


def test_all_leaves_out_the_staff_rates_unless_they_are_named(api):
    everything = api("/api/v0/staff", _fields="_ALL").json["response"][0]
    assert "timezone" in everything and "staff_rate" not in everything and "staff_cost_rate" not in everything
    named = api("/api/v0/staff", _fields="_ALL,staff_rate,staff_cost_rate").json["response"][0]
    assert {"timezone", "staff_rate", "staff_cost_rate"} <= set(named)
    assert "staff_rate" in AcceloSim({"staff": 1}).truth("staff")[1]


def test_a_deleted_company_takes_its_jobs_invoices_sales_and_their_payments():
    sim = AcceloSim({"companies": 20, "jobs": 60, "invoices": 60, "prospects": 60, "payments": 90})
    client = Client(sim)
    bearer = token(client)["access_token"]

    def get(path: str, **params):
        return client.get(path, query_string=params, headers={"Authorization": f"Bearer {bearer}"}).json

    company = 4
    jobs = [k for k, r in sim.truth("jobs").items() if r["company"] == str(company + 1)]
    invoices = [k for k, r in sim.truth("invoices").items() if r["against_id"] == str(company + 1)]
    payments = [k for k, r in sim.truth("payments").items() if int(r["against_id"]) in invoices]
    assert jobs and invoices and payments
    gone = sim.delete("companies", company)
    assert ("companies", company + 1) in gone and {("jobs", k) for k in jobs} <= set(gone)
    assert {("invoices", k) for k in invoices} | {("payments", k) for k in payments} <= set(gone)
    assert any(t == "prospects" for t, _ in gone)
    assert sim.delete("companies", company) == []  # already gone
    for resource in RESOURCES:
        path = sim.path_of(resource)
        if path is None or BY_NAME.get(resource, BY_NAME["rates"]).objects:
            continue  # listed per contract or per object: covered by the cascade test of the new entities
        dead = {k for t, k in gone if t == resource}
        listed = {int(r["id"]) for r in get(f"/api/v0/{path}", _fields="id", _limit="100")["response"]}
        assert not dead & listed and not dead & set(sim.truth(resource))
        count = get(f"/api/v0/{path}/count")["response"]
        assert int(count["count"] if isinstance(count, dict) else count) == len(sim.truth(resource))
        for key in dead:
            assert get(f"/api/v0/{path}/{key}")["meta"]["status"] == "invalid_request"
    # Every live job, invoice and payment still points at a live parent.
    assert all(int(r["company"]) in sim.truth("companies") for r in sim.truth("jobs").values())
    assert all(int(r["against_id"]) in sim.truth("invoices") for r in sim.truth("payments").values())


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 12), st.integers(0, 130), st.integers(0, 130))
def test_counts_and_id_listings_agree_with_the_truth_after_random_deletes(seed, n, a, b):
    import random

    sim = AcceloSim({"companies": 40, "jobs": 50, "invoices": 50, "prospects": 30, "payments": 60, "staff": 10})
    for _ in range(seed % 3):
        sim.insert("jobs")
    gone = sim.delete_random(random.Random(seed), n)
    assert len(gone) >= min(n, 1) and len(set(gone)) == len(gone)
    lo, hi = min(a, b), max(a, b)
    for resource in RESOURCES:
        clauses = sim.parse_filters(resource, f"id_greater_than({lo}),id_less_than({hi})")
        want = sorted(k for k in sim.truth(resource) if lo < k < hi)
        assert sim.count_matching(resource, clauses) == len(want)
        assert [int(r["id"]) for r in sim.select(resource, clauses, None)] == want
        page = [int(r["id"]) for r in sim.select(resource, clauses, (2, 5))]
        assert page == want[2:7]
