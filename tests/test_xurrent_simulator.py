"""The Xurrent simulator's API behaviours: auth, paging, filters, sorting, limits, errors."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from simulators.harness import Server
from simulators.xurrent import XurrentSim, decode_cursor

H = {"Authorization": "Bearer test-token", "X-Xurrent-Account": "widget"}


@pytest.fixture
def served():
    sim = XurrentSim(45, 30, 35, tie=4)
    with Server(sim) as server:
        yield sim, server.url


def get(url: str, path: str, headers: dict | None = None, **params) -> requests.Response:
    return requests.get(url + path, headers=H if headers is None else headers, params=params, timeout=10)


def walk(url: str, path: str, **params) -> tuple[list[dict], int]:
    """Follow Link rel=next from the first page; return the records and the number of requests."""
    out, count = [], 0
    response = get(url, path, **params)
    while True:
        assert response.status_code == 200, response.text
        count += 1
        out.extend(response.json())
        nxt = response.links.get("next", {}).get("url")
        if not nxt:
            return out, count
        response = requests.get(nxt, headers=H, timeout=10)


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def test_auth_headers_and_errors(served):
    sim, url = served
    assert get(url, "/v1/organizations", headers={}).json() == {"message": "Unauthorized"}
    assert get(url, "/v1/organizations", headers={**H, "Authorization": "Bearer nope"}).status_code == 401
    assert get(url, "/v1/organizations", headers={"Authorization": H["Authorization"]}).status_code == 401
    assert get(url, "/v1/organizations", headers={**H, "X-Xurrent-Account": "other"}).status_code == 401
    legacy = {"Authorization": H["Authorization"], "X-4me-Account": "widget"}
    assert get(url, "/v1/organizations", headers=legacy).status_code == 200
    assert sim.seen_accounts[-1] == "X-4me-Account"
    assert get(url, "/v1/nothing").json() == {"message": "Not Found"}
    assert get(url, "/v1/organizations/9999").status_code == 404
    one = get(url, "/v1/organizations/3").json()
    assert one["id"] == 3 and "remarks" in one  # a single record carries every field
    assert get(url, "/v1/me").status_code == 200


def test_client_credentials_token_endpoint(served):
    sim, url = served
    post = lambda **form: requests.post(url + "/token", data=form, timeout=10)  # noqa: E731
    assert post(grant_type="password").json()["error"] == "unsupported_grant_type"
    assert post(grant_type="client_credentials").json()["error"] == "invalid_request"
    bad = post(grant_type="client_credentials", client_id="test-client", client_secret="wrong")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    body = post(grant_type="client_credentials", client_id="test-client", client_secret="test-secret").json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    auth = {"Authorization": f"Bearer {body['access_token']}", "X-Xurrent-Account": "widget"}
    assert get(url, "/v1/products", headers=auth).status_code == 200
    sim.expire_tokens()
    assert get(url, "/v1/products", headers=auth).status_code == 401


def test_bare_arrays_default_fields_per_page_and_default_order(served):
    sim, url = served
    response = get(url, "/v1/organizations")
    orgs = response.json()
    assert isinstance(orgs, list) and len(orgs) == 20
    assert set(orgs[0]) >= {"id", "sourceID", "name", "parent", "manager", "created_at", "updated_at"}
    assert "region" not in orgs[0]
    assert [o["name"] for o in orgs] == sorted(o["name"] for o in orgs)  # organizations: name ascending
    projects = get(url, "/v1/projects").json()
    assert [p["id"] for p in projects] == list(range(35, 15, -1))  # projects: id descending
    assert len(get(url, "/v1/organizations", per_page=500).json()) == 45  # clamped to 100 (all 45 here)
    assert response.headers["X-Pagination-Per-Page"] == "20"
    assert response.headers["X-Pagination-Total-Entries"] == "45"
    assert response.headers["X-Pagination-Total-Pages"] == "3"
    assert set(get(url, "/v1/products", fields="brand,updated_at").json()[0]) == {"id", "brand", "updated_at"}
    assert orgs[0]["updated_at"][-6:] in ("-06:00", "-05:00")  # the account's time zone


def test_cursor_links_and_page_number_links(served):
    _, url = served
    first = get(url, "/v1/organizations", per_page=10, sort="updated_at")
    assert set(first.links) == {"next"}  # no first/prev on the first page, never last in cursor mode
    assert "search_after=" in first.links["next"]["url"]
    offset, key = decode_cursor(first.links["next"]["url"].split("search_after=")[1])
    assert offset == 9 and key[-1] == first.json()[-1]["id"]
    second = requests.get(first.links["next"]["url"], headers=H, timeout=10)
    assert set(second.links) == {"first", "prev", "next"}
    back = requests.get(second.links["prev"]["url"], headers=H, timeout=10)
    assert [r["id"] for r in back.json()] == [r["id"] for r in first.json()]
    paged = get(url, "/v1/organizations", per_page=10, page=2)
    assert set(paged.links) == {"first", "prev", "next", "last"}
    assert "page=5" in paged.links["last"]["url"]
    assert paged.headers["X-Pagination-Current-Page"] == "2"
    records, count = walk(url, "/v1/products", per_page=7, sort="updated_at")
    assert count == 5 and sorted(r["id"] for r in records) == list(range(1, 31))


def test_filters_and_sorting_errors(served):
    sim, url = served
    t = sim.organization(12)["updated_at"]  # shared by records 12..15 (tie=4)
    inclusive = get(url, "/v1/organizations", per_page=100, sort="updated_at", updated_at=f">={t}").json()
    strict = get(url, "/v1/organizations", per_page=100, sort="updated_at", updated_at=f">{t}").json()
    assert min(r["id"] for r in inclusive) == 13 and len(inclusive) == 33
    assert min(r["id"] for r in strict) == 17
    z = utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(get(url, "/v1/organizations", per_page=100, updated_at=f">={z}").json()) == 33
    both = get(url, "/v1/organizations", per_page=100, updated_at=f">={t}<{sim.organization(20)['updated_at']}")
    assert sorted(r["id"] for r in both.json()) == list(range(13, 21))
    assert [r["id"] for r in get(url, "/v1/organizations", id="3,5,7", sort="id").json()] == [3, 5, 7]
    assert len(get(url, "/v1/organizations", id="!3,5,7").json()) == 20
    unencoded_plus = get(url, "/v1/organizations", updated_at=">=2023-01-01T00:00:00 00:00")
    assert unencoded_plus.status_code == 400 and "updated_at" in unencoded_plus.json()["message"]
    assert get(url, "/v1/projects", sort="problem").json() == {"message": "Sorting not allowed on fields: problem"}
    assert get(url, "/v1/organizations", region="x").json() == {"message": "Filtering not allowed on fields: region"}
    assert get(url, "/v1/organizations", name=">a").status_code == 400
    desc = get(url, "/v1/projects", sort="-updated_at", per_page=100).json()
    assert [(utc(r["updated_at"]), r["id"]) for r in desc] == sorted(
        ((utc(r["updated_at"]), r["id"]) for r in desc), reverse=True)


def test_predefined_filters(served):
    sim, url = served
    enabled = get(url, "/v1/products/enabled", per_page=100).json()
    disabled = get(url, "/v1/products/disabled", per_page=100, fields="disabled").json()
    assert len(enabled) + len(disabled) == 30 and all(r["disabled"] for r in disabled)
    assert all(r["status"] != "completed" for r in get(url, "/v1/projects/open", per_page=100).json())


def test_rate_limits_headers_and_429():
    sim = XurrentSim(5, 5, 5, rate_limits=[(100, 3600.0), (3, 2.0)])
    with Server(sim) as server:
        first = get(server.url, "/v1/organizations")
        assert first.headers["X-RateLimit-Limit"] == "100" and first.headers["X-RateLimit-Remaining"] == "99"
        assert int(first.headers["X-RateLimit-Reset"]) >= int(datetime.now(timezone.utc).timestamp())
        status = get(server.url, "/v1/rate_limit")
        assert status.json()["remaining"] == "99"  # /rate_limit costs nothing
        get(server.url, "/v1/organizations")
        get(server.url, "/v1/organizations")
        limited = get(server.url, "/v1/organizations")
        assert limited.status_code == 429 and limited.json() == {"message": "Too Many Requests"}
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
        assert sim.limits.rejected == 1


def test_collection_cap_sets_throttled():
    sim = XurrentSim(40, 1, 1, max_records=25)
    with Server(sim) as server:
        records, count = walk(server.url, "/v1/organizations", per_page=10, sort="updated_at")
        assert len(records) == 25 and count == 3
        last = get(server.url, "/v1/organizations", per_page=10, page=3, sort="updated_at")
        assert last.headers.get("X-Pagination-Throttled") == "true" and "next" not in last.links


def test_links_use_the_configured_host():
    sim = XurrentSim(30, 1, 1, link_host="api.4me.com")
    with Server(sim) as server:
        first = get(server.url, "/v1/organizations", per_page=10)
        assert first.links["next"]["url"].startswith("http://api.4me.com/v1/organizations?")


@settings(max_examples=25, deadline=None)
@given(per_page=st.integers(1, 30), tie=st.integers(1, 12), edits=st.lists(st.integers(0, 39), max_size=8))
def test_cursor_paging_returns_each_record_once_in_order(per_page, tie, edits):
    sim = XurrentSim(40, 1, 1, tie=tie, rate_limits=[])
    for i in edits:
        sim.data["organizations"].edit(i)
    client = Client(sim)
    target = f"/v1/organizations?per_page={per_page}&sort=updated_at"
    records = []
    while target:
        response = client.get(target, headers=H)
        assert response.status_code == 200
        records.extend(response.get_json())
        links = requests.utils.parse_header_links(response.headers.get("Link", ""))
        nxt = next((link["url"] for link in links if link.get("rel") == "next"), None)
        target = nxt.split("localhost", 1)[1] if nxt else None
    keys = [(utc(r["updated_at"]), r["id"]) for r in records]
    assert keys == sorted(keys)
    assert sorted(r["id"] for r in records) == list(range(1, 41))
