"""The AroFlo simulator: auth failures, formats, where/order/paging, the default filter, limits and headers."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest
import requests

from simulators.aroflo import AroFloSim
from simulators.harness import Server
from tests.test_aroflo_signing import load_connector

conn = load_connector()


def call(server: Server, sim: AroFloSim, qs: str, *, secret: str | None = None, when: datetime | None = None,
         accept: str = "text/json", host_ip: str | None = None, drop: str | None = None,
         pencoded: str | None = None, uencoded: str | None = None) -> requests.Response:
    auth = conn.AroFloAuth(secret or sim.secret_key, uencoded or sim.uencoded, pencoded or sim.pencoded,
                           sim.org_encoded, host_ip, accept=accept,
                           clock=(lambda: when) if when else (lambda: datetime.now(timezone.utc)))
    prepared = requests.Request("GET", f"{server.url}/?{qs}", auth=auth).prepare()
    if drop:
        del prepared.headers[drop]
    return requests.Session().send(prepared, timeout=10)


def body(response: requests.Response) -> dict:
    return response.json()


@pytest.fixture
def served():
    sim = AroFloSim(users=40, suppliers=30, payments=50, tie=4, per_second=None, per_minute=None)
    with Server(sim) as server:
        yield sim, server


WIDE = "where=and%7Ccreatedutc%7C%3E%7C2001-01-01"


def test_login_ok_json_envelope_and_types(served):
    sim, server = served
    r = call(server, sim, f"zone=users&{WIDE}&page=1&pageSize=10")
    data = body(r)
    assert r.status_code == 200 and data["status"] == "0" and data["statusmessage"] == "Login OK"
    zr = data["zoneresponse"]
    assert zr["maxpageresults"] == "10" and zr["pagenumber"] == "1" and zr["currentpageresults"] == 10
    user = zr["users"][0]
    assert user["createddatetimeutc"] and user["lastupdateddatetimeutc"]  # the newer examples carry them
    assert user["archived"].lower() in ("true", "false") and isinstance(user["org"], dict)
    payments = body(call(server, sim, "zone=payments&where=and%7Cdatepaid%7C%3E%7C2001%2F01%2F01&pageSize=5&page=1"))
    zr = payments["zoneresponse"]
    assert zr["maxpageresults"] == 5 and "generatedisplayresponsetime" in zr  # a number for payments
    pay = zr["payments"][0]
    assert len(pay["amount"].split(".")[1]) == 4 and len(pay["datepaid"]) == 10 and pay["datepaid"][4] == "/"
    sup = body(call(server, sim, "zone=suppliers&where=and%7Cdatetimeinserted%7C%3E%7C2001-01-01&page=1"))
    stamp = sup["zoneresponse"]["suppliers"][0]["datetimeinserted"]
    datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
    for name in ("Limit", "Remaining", "Daily-Limit", "Daily-Remaining", "Secondary-Daily-Limit",
                 "Secondary-Daily-Remaining"):
        assert f"X-RateLimit-{name}" in r.headers


def test_xml_is_the_default_format(served):
    sim, server = served
    r = call(server, sim, f"zone=users&{WIDE}&page=1&pageSize=2", accept="text/xml")
    root = ET.fromstring(r.text)
    assert root.tag == "imsapi" and root.findtext("status") == "0"
    assert len(root.find("zoneresponse").find("users")) == 2


@pytest.mark.parametrize("case, status, message", [
    ("wrong-secret", "-99999", "Authentication Failed - Signatures do not match"),
    ("stale", "-99999", "Authentication Failed - Payload has expired"),
    ("future", "-99999", "Authentication Failed - Payload has expired"),
    ("missing", "-99999", "Authentication Failed - Required headers are missing"),
    ("password", "2", "Login Failed - Invalid Username or Password"),
    ("user", "-99999", "Authentication Failed - AroFlo API setup is invalid"),
    ("no-zone", "6", "No Zone Specified"),
    ("bad-zone", "1", "Login Failed - Invalid Request String"),
    ("bad-where", "1", "Login Failed - Invalid Request String"),
])
def test_documented_failures_are_http_200_with_a_body_status(served, case, status, message):
    sim, server = served
    now = datetime.now(timezone.utc)
    qs = f"zone=users&{WIDE}&page=1"
    kwargs: dict = {}
    if case == "wrong-secret":
        kwargs["secret"] = "not-the-secret"
    elif case == "stale":
        kwargs["when"] = now - timedelta(seconds=301)
    elif case == "future":
        kwargs["when"] = now + timedelta(seconds=400)
    elif case == "missing":
        kwargs["drop"] = "afdatetimeutc"
    elif case == "password":
        kwargs["pencoded"] = "d3Jvbmc="
    elif case == "user":
        kwargs["uencoded"] = "bm9ib2R5"
    elif case == "no-zone":
        qs = "page=1"
    elif case == "bad-zone":
        qs = "zone=tasksx&page=1"
    elif case == "bad-where":
        qs = "zone=users&where=and%7Cnosuchfield%7C%3D%7Cx"
    r = call(server, sim, qs, **kwargs)
    assert r.status_code == 200
    assert body(r)["status"] == status and body(r)["statusmessage"] == message


def test_fresh_enough_timestamp_and_host_ip_are_accepted(served):
    sim, server = served
    r = call(server, sim, f"zone=users&{WIDE}&page=1", when=datetime.now(timezone.utc) - timedelta(seconds=250),
             host_ip="203.0.113.10")
    assert body(r)["status"] == "0"


def test_bare_request_is_an_invalid_request_string(served):
    sim, server = served
    r = requests.get(server.url + "/", timeout=5)
    assert "Invalid Request String" in r.text


def test_default_filter_without_where(served):
    sim, server = served
    new_id = sim.insert("users")
    data = body(call(server, sim, "zone=users&page=1"))
    assert data["statusmessage"] == "Login OK. No WHERE clause found, default filter applied."
    assert [u["userid"] for u in data["zoneresponse"]["users"]] == [new_id]  # only the last 30 days


def ids(data: dict, zone: str, key: str) -> list[str]:
    return [r[key] for r in data["zoneresponse"][zone]]


def test_where_operators_order_and_paging(served):
    sim, server = served
    truth = sim.truth("users")
    all_ids = list(truth)
    pick = all_ids[3:7]
    q = conn.query_string
    got = ids(body(call(server, sim, q("users", [f"and|userid|IN|{'*'.join(pick)}"]))), "users", "userid")
    assert got == pick
    got = ids(body(call(server, sim, q("users", [f"and|userid|NOT IN|{'*'.join(pick)}"]))), "users", "userid")
    assert set(got) == set(all_ids) - set(pick)
    got = ids(body(call(server, sim, q("users", [f"and|userid|!=|{pick[0]}", "and|createdutc|>|2001-01-01"]))),
              "users", "userid")
    assert pick[0] not in got and len(got) == len(all_ids) - 1
    got = ids(body(call(server, sim, q("users", [f"and|userid|=|{pick[0]}", f"or|userid|=|{pick[1]}"]))),
              "users", "userid")
    assert got == pick[:2]
    got = ids(body(call(server, sim, q("users", ["and|createdutc|>|2001-01-01", "and|(|archived|=|true",
                                                 "or|archived|=|false|)"]))), "users", "userid")
    assert len(got) == len(all_ids)
    archived = [k for k, u in truth.items() if u["archived"].lower() == "true"]
    got = ids(body(call(server, sim, q("users", ["and|archived|=|TRUE"]))), "users", "userid")
    assert got == archived
    # order desc, then 1-based pages that stop on a short page
    desc = ids(body(call(server, sim, q("users", ["and|createdutc|>|2001/01/01"], ["userid|desc"]))), "users", "userid")
    assert desc == sorted(all_ids, reverse=True)
    seen, page = [], 1
    while True:
        data = body(call(server, sim, q("users", ["and|createdutc|>|2001-01-01"], ["userid|asc"], page, 15)))
        seen += ids(data, "users", "userid")
        if data["zoneresponse"]["currentpageresults"] < int(data["zoneresponse"]["maxpageresults"]):
            break
        page += 1
    assert seen == sorted(all_ids) and page == 3
    # created before/after a date, both separators
    created = {k: sim.created(sim.users, i) for i, k in enumerate(all_ids)}
    cut = sorted(created.values())[20]
    got = ids(body(call(server, sim, q("users", [f"and|createddatetimeutc|<|{cut:%Y/%m/%d %H:%M:%S}"]))), "users",
              "userid")
    assert set(got) == {k for k, c in created.items() if c < cut}


def test_page_size_clamped_and_no_page_returns_everything():
    sim = AroFloSim(users=620, suppliers=1, payments=1, per_second=None, per_minute=None)
    with Server(sim) as server:
        data = body(call(server, sim, f"zone=users&{WIDE}&page=1&pageSize=900"))
        assert data["zoneresponse"]["maxpageresults"] == "500" and data["zoneresponse"]["currentpageresults"] == 500
        data = body(call(server, sim, f"zone=users&{WIDE}"))
        assert data["zoneresponse"]["currentpageresults"] == 620
        sim.size_cap = 10_000
        data = body(call(server, sim, f"zone=users&{WIDE}"))
        assert data["status"] == "8" and "Size Rate Limit" in data["statusmessage"]


def test_lastupdate_feed_follows_edits_but_dates_do_not_move(served):
    sim, server = served
    before = sim.truth("payments")
    pid = list(before)[5]
    sid = list(sim.truth("suppliers"))[2]
    sim.payments.edit(5)
    sim.suppliers.edit(2)
    after = sim.truth("payments")
    assert after[pid]["datepaid"] == before[pid]["datepaid"] and after[pid] != before[pid]
    since = (datetime.now(timezone.utc) - timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S")
    for zone, zid in (("payments", pid), ("suppliers", sid)):
        qs = conn.query_string("lastupdate", [f"and|zonename|=|{zone}", f"and|lastupdateutc|>|{since}"],
                               ["lastupdateutc|asc"], 1, 50)
        data = body(call(server, sim, qs))
        entries = data["zoneresponse"]["lastupdates"]
        # The feed's documented zones include suppliers, not payments (entity reference, section 7).
        assert [e["zoneid"] for e in entries] == ([zid] if zone == "suppliers" else [])
        for entry in entries:
            assert entry["zoneidreference"] == "supplierid"
            datetime.strptime(entry["lastupdateutc"], "%Y/%m/%d %H:%M:%S")


def test_per_second_burst_is_429_and_per_minute_is_status_6():
    sim = AroFloSim(users=5, suppliers=1, payments=1, per_second=3, per_minute=5)
    with Server(sim) as server:
        time.sleep(1 - time.time() % 1)  # start at the beginning of a second
        answers = [call(server, sim, f"zone=users&{WIDE}&page=1") for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        assert answers[3].status_code == 429 and body(answers[3])["status"] == "429"
        assert "Retry-After" not in answers[3].headers
        time.sleep(1.05)
        minute = int(time.time() // 60)
        answers = [call(server, sim, f"zone=users&{WIDE}&page=1") for _ in range(3)]
        if int(time.time() // 60) == minute:  # all in one minute window
            assert [body(a)["status"] for a in answers] == ["0", "0", "6"]
            assert answers[2].status_code == 200 and "per minute" in body(answers[2])["statusmessage"]


def test_daily_limit_status_7_lastupdate_exempt_and_roll_day():
    sim = AroFloSim(users=5, suppliers=1, payments=1, per_second=None, per_minute=None, daily=3)
    with Server(sim) as server:
        feed = "zone=lastupdate&where=and%7Czonename%7C%3D%7Cusers&page=1"
        remaining = [call(server, sim, f"zone=users&{WIDE}&page=1").headers["X-RateLimit-Daily-Remaining"]
                     for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        r = call(server, sim, f"zone=users&{WIDE}&page=1")
        assert r.status_code == 200 and body(r)["status"] == "7"
        r = call(server, sim, feed)
        assert body(r)["status"] == "0" and r.headers["X-RateLimit-Daily-Remaining"] == "0"
        uid = list(sim.truth("users"))[0]
        r = call(server, sim, f"zone=users&where=and%7Cuserid%7C%3D%7C{requests.utils.quote(uid, safe='')}")
        assert body(r)["status"] == "0" and r.headers["X-RateLimit-Secondary-Daily-Remaining"] == "19999"
        sim.roll_day()
        assert body(call(server, sim, f"zone=users&{WIDE}&page=1"))["status"] == "0"


def test_ties_and_inserts_in_the_feed():
    sim = AroFloSim(users=1, suppliers=30, payments=1, tie=10, per_second=None, per_minute=None)
    with Server(sim) as server:
        qs = conn.query_string("lastupdate", ["and|zonename|=|suppliers"], ["lastupdateutc|asc"], 1, 500)
        entries = body(call(server, sim, qs))["zoneresponse"]["lastupdates"]
        assert len(entries) == 30 and len({e["lastupdateutc"] for e in entries}) == 3
        new = sim.insert("suppliers")
        sim.suppliers.edit_random(3, random.Random(1))
        entries = body(call(server, sim, qs))["zoneresponse"]["lastupdates"]
        assert new in [e["zoneid"] for e in entries[-4:]]
        assert json.dumps(entries)  # plain JSON
