"""The AroFlo simulator's fast paths (first-sync scan, lastupdate feed, id lookups) against its general path.

The general path filters and sorts every record; the fast paths must give byte-identical answers (records,
order, paging fields, JSON or XML) while costing O(page + changes), so that 1,000,000 payments can be served.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from simulators.aroflo import MELBOURNE, AroFloSim, encode_id, signature
from simulators.harness import BASE_TIME
from tests.test_aroflo_signing import load_connector

conn = load_connector()
SPECS = {spec.table: spec for spec in conn.ZONES}
PREFIX = {"users": "U", "suppliers": "S", "payments": "P"}
ZERO = timedelta()
FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M")


def make_sim(users: int, suppliers: int, payments: int, tie: int = 1, step: timedelta | None = None) -> AroFloSim:
    sim = AroFloSim(users, suppliers, payments, tie=tie, per_second=None, per_minute=None, daily=None,
                    secondary_daily=10**9)
    if step is not None:  # wider spacing reaches DST changes and many dates with few records
        for data in (sim.users, sim.suppliers, sim.payments):
            data.step = step
    return sim


def ask(sim: AroFloSim, qs: str, accept: str = "text/json") -> tuple[int, str, bytes]:
    """One signed GET straight into the app's handler: (HTTP status, content type, body)."""
    now = sim.now()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    authorization = f"uencoded={conn.enc(sim.uencoded)}&pencoded={conn.enc(sim.pencoded)}" \
                    f"&orgEncoded={conn.enc(sim.org_encoded)}"
    headers = {"Accept": accept, "Authorization": authorization, "afdatetimeutc": stamp,
               "Authentication": "HMAC " + signature(sim.secret_key, "GET", None, accept, authorization, stamp, qs)}
    environ = EnvironBuilder(method="GET", path="/", query_string=qs, headers=headers).get_environ()
    response = sim.handle(Request(environ))
    return response.status_code, response.content_type, response.get_data()


def both(sim: AroFloSim, qs: str, accept: str = "text/json") -> bool:
    """Assert the fast and general paths answer alike; return whether a fast path answered."""
    sim.fast = False
    slow = ask(sim, qs, accept)
    sim.fast = True
    before = sim.fast_answers
    quick = ask(sim, qs, accept)
    assert quick == slow, qs
    return sim.fast_answers > before


def moment(rnd: random.Random, sim: AroFloSim, created: bool) -> datetime:
    """Mostly a record's creation time (``created``) or base change time, exactly or a little either side
    (exact ties and bounds inside a block matter most); else anywhere from before the first record to past
    the last."""
    store = sim.payments  # every zone has the same tie and step
    groups = max(sim.users.n, sim.suppliers.n, store.n) // store.tie + 1
    if rnd.random() < 0.7:
        group = rnd.choice([rnd.randint(0, groups), rnd.randint(0, groups), 399 // store.tie])  # ids reorder at 400
        at = BASE_TIME + group * store.step - (timedelta(days=30) if created else ZERO)
        return at + timedelta(seconds=rnd.choice([0, 0, 0, 0, 1, -1, 59, 3600, -5 * 3600, 86400, -86400]))
    seconds = rnd.randint(0, int((groups * store.step + timedelta(days=34)).total_seconds()))
    return BASE_TIME - timedelta(days=32) + timedelta(seconds=seconds - seconds % rnd.choice([1, 60, 420]))


def change(rnd: random.Random, sim: AroFloSim) -> None:
    """Inserts (often at base creation times), edits (often at another record's base time: feed ties, or
    earlier than late base times), then deletes (often of changed records)."""

    def now_at(when: datetime) -> None:  # move the server clock: inserts and default edits land there
        sim.clock_offset = (when - datetime.now(timezone.utc)).total_seconds()

    for _ in range(rnd.choice([0, 1, 3, 8, 15, 25])):
        zone = rnd.choice(list(PREFIX))
        store = sim.zones[zone].data
        what = rnd.random()
        if what < 0.5:
            if rnd.random() < 0.8:
                now_at(moment(rnd, sim, created=True))
            sim.insert(zone)
        elif store.size and what < 0.75 and store.n:
            store.edit(rnd.randrange(store.size), store.base_time(rnd.randrange(store.n)))
        elif store.size:
            store.edit(rnd.randrange(store.size), moment(rnd, sim, created=False) if rnd.random() < 0.6 else None)
    for _ in range(rnd.choice([0, 0, 1, 4])):
        zone = rnd.choice(list(PREFIX))
        store = sim.zones[zone].data
        pick_changed = store.changed and rnd.random() < 0.5
        i = rnd.choice(sorted(store.changed)) if pick_changed else rnd.randint(0, store.size + 1)
        if rnd.random() < 0.5:
            store.delete(i)
        else:  # as delete_random does: suppliers then show in the feed with isdeleted = 1
            sim.delete(zone, i)
    now_at(moment(rnd, sim, created=True) if rnd.random() < 0.5 else datetime.now(timezone.utc))


def scan_query(rnd: random.Random, sim: AroFloSim, zone: str, page: int, size: int | None) -> tuple[str, bool]:
    spec, z = SPECS[zone], sim.zones[zone]
    field = rnd.choice(sorted(z.scan_fields))
    fmt = rnd.choice((spec.scan_format,) + FORMATS)
    local = MELBOURNE if spec.scan_local else timezone.utc  # suppliers and payments: local dates and times
    bound = moment(rnd, sim, created=True).astimezone(local).replace(tzinfo=None)
    orders = rnd.choice([list(spec.order), list(spec.order), [], [f"{field}|ASC", f"{z.key}|asc"],
                         [f"{z.key}|asc"], [f"{field}|desc", f"{z.key}|asc"]])
    fast = page >= 1 and (orders == [] or "desc" not in orders[0]) and orders != [f"{z.key}|asc"]
    return conn.query_string(zone, [conn.clause(field, ">", bound.strftime(fmt))], orders, page, size), fast


def feed_query(rnd: random.Random, sim: AroFloSim, zone: str, page: int, size: int | None) -> tuple[str, bool]:
    name = zone if rnd.random() < 0.85 else rnd.choice(["Users", "tasks"])
    wheres = [conn.clause("zonename", "=", name)]
    for op in rnd.choice([[">"], [">"], [">", "<"], ["<"], [], [">", ">", "<"]]):
        when = moment(rnd, sim, created=False)
        wheres.append(conn.clause("lastupdateutc", op, when.strftime(rnd.choice(FORMATS))))
    rnd.shuffle(wheres)
    orders = rnd.choice([["lastupdateutc|asc"], ["lastupdateutc|asc"], [], ["lastupdateutc|desc"]])
    fast = page >= 1 and orders != ["lastupdateutc|desc"]
    return conn.query_string("lastupdate", wheres, orders, page, size), fast


def ids_query(rnd: random.Random, sim: AroFloSim, zone: str, page: int, size: int | None) -> tuple[str, bool]:
    spec, z = SPECS[zone], sim.zones[zone]
    values = [encode_id(PREFIX[zone], rnd.randint(0, z.data.size + 2)) for _ in range(rnd.randint(0, 8))]
    values += rnd.sample(["x", "", encode_id("Q", 1), encode_id("P", 2), encode_id(PREFIX[zone], 3)[:-2]],
                         rnd.choice([0, 0, 1, 2]))
    op = "IN" if len(values) != 1 or rnd.random() < 0.5 else "="
    wheres = [f"and|{z.key}|{op}|{'*'.join(values)}"]
    extra = rnd.random()
    if extra < 0.3:
        wheres.append(conn.clause(sorted(z.scan_fields)[0], ">", "2001-01-01"))
        rnd.shuffle(wheres)
    elif extra < 0.45:  # OR widens the answer beyond the ids asked: the general path must answer
        bound = moment(rnd, sim, created=True).astimezone(MELBOURNE).strftime("%Y-%m-%d %H:%M:%S")
        wheres.append(conn.clause(sorted(z.scan_fields)[0], ">", bound, conj="or"))
    orders = rnd.choice([[f"{z.key}|asc"], [f"{z.key}|asc"], [], [f"{z.key}|desc"], list(spec.order)])
    page_or_none = rnd.choice([page, None])  # no page: everything (page 0 is refused before any query)
    return conn.query_string(zone, wheres, orders, page_or_none, size), page_or_none != 0 and not 0.3 <= extra < 0.45


@settings(max_examples=100)
@given(sizes=st.tuples(*[st.integers(0, 40)] * 3), big=st.booleans(), tie=st.sampled_from([1, 2, 3, 7, 25]),
       step=st.sampled_from([None, timedelta(hours=2), timedelta(days=1, minutes=7), timedelta(days=9),
                             timedelta(days=12, hours=1, minutes=36)]),
       rnd=st.randoms(use_true_random=True))
def test_fast_paths_answer_exactly_like_the_general_path(sizes: tuple[int, int, int], big: bool, tie: int,
                                                         step: timedelta | None, rnd: random.Random) -> None:
    if big:  # ids sort like indices below 400 only ("P0000399~" > "P0000400~" once encoded): reach past it
        sizes = tuple(rnd.randint(380, 430) if zone == rnd.randrange(3) else n for zone, n in enumerate(sizes))
    sim = make_sim(*sizes, tie=tie, step=step)
    change(rnd, sim)
    for _ in range(10):
        kind, zone = rnd.choice([scan_query, feed_query, ids_query]), rnd.choice(list(PREFIX))
        size = rnd.choice([1, 2, 3, 4, 5, 7, 12, None, 600])
        deep = rnd.randint(1, sim.zones[zone].data.size // min(size or 500, 500) + 2)  # anywhere in the zone
        page = rnd.choice([1, 1, 2, 3, 0, deep, deep])
        qs, fast = kind(rnd, sim, zone, page, size)
        assert both(sim, qs, rnd.choice(["text/json", "text/json", "text/xml"])) == fast, qs


def test_dst_end_in_supplier_and_payment_scans() -> None:
    """Melbourne repeats 02:00-03:00 on 2023-04-02: supplier wall-clock times go backwards there, so the fast
    scan's blocks are local days. Default spacing (7 minutes) puts record ~24,900 on that night."""
    sim = make_sim(1, 25_200, 25_200)
    fallback = datetime(2023, 4, 1, 16, tzinfo=timezone.utc)  # 03:00 AEDT becomes 02:00 AEST
    middle = (fallback + timedelta(days=30) - BASE_TIME) // timedelta(minutes=7)
    sim.insert("suppliers")
    sim.suppliers.delete(middle - 3)
    for zone in ("suppliers", "payments"):
        spec = SPECS[zone]
        bound = datetime(2023, 4, 1, 12).strftime(spec.scan_format)
        for page in (1, 2, 3, 4, 5, 60):
            qs = conn.query_string(zone, [conn.clause(spec.scan_field, ">", bound)], list(spec.order), page, 50)
            assert both(sim, qs)
    locals_ = [sim.supplier_local_created(i) for i in range(middle - 10, middle + 10)]
    assert locals_ != sorted(locals_)  # the hour really repeats inside the compared pages


def test_ties_where_ids_and_centiseconds_do_not_follow_the_index() -> None:
    """Tie groups of 3 around record 400: "P0000399~" encodes above "P0000400~", and supplier 399 carries
    990 ms while 400 carries 0, so neither order follows the index there."""
    sim = make_sim(420, 420, 420, tie=3)
    assert encode_id("U", 400) < encode_id("U", 399) and sim.supplier_local_created(400) < \
        sim.supplier_local_created(399)
    for zone in PREFIX:
        spec = SPECS[zone]
        local = MELBOURNE if spec.scan_local else timezone.utc
        bound = (sim.created(sim.zones[zone].data, 396) - timedelta(seconds=1)).astimezone(local)
        for page in (1, 2, 3):
            qs = conn.query_string(zone, [conn.clause(spec.scan_field, ">", bound.strftime("%Y-%m-%d %H:%M:%S"))],
                                   list(spec.order), page, 4)
            assert both(sim, qs)


def test_id_lookups_and_feed_with_many_changes() -> None:
    sim = make_sim(30, 30, 30, tie=4)
    for i in range(0, 30, 3):
        sim.payments.edit(i, BASE_TIME + timedelta(minutes=7 * (i % 5)))  # ties with base times
    sim.payments.delete(4)
    new = sim.insert("payments")
    asked = [encode_id("P", i) for i in (29, 4, 0, 7, 31)] + [new, "bogus"]
    qs = conn.query_string("payments", [f"and|paymentid|IN|{'*'.join(asked)}"], ["paymentid|asc"], 1, 100)
    assert both(sim, qs) and both(sim, qs, "text/xml")
    qs = conn.query_string("payments", [f"and|paymentid|=|{encode_id('P', 7)}"])
    assert both(sim, qs)
    for page in (1, 2, 3, 4):
        qs = conn.query_string("lastupdate", ["and|zonename|=|payments", "and|lastupdateutc|>|2022-12-31 23:59:59"],
                               ["lastupdateutc|asc"], page, 7)
        assert both(sim, qs)


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_pages_stay_cheap_at_a_million_payments() -> None:
    """A generous bound (the fast paths take milliseconds; the general path takes minutes at this size)."""
    sim = make_sim(10, 10, 1_000_000)
    zone = sim.zones["payments"]
    for i in range(0, 1_000_000, 10_007):
        sim.payments.edit(i)
    for _ in range(200):
        sim.insert("payments")
    for i in range(5, 1_000_000, 50_021):
        sim.payments.delete(i)
    scan = [conn.PAYMENTS.scan_where({"initial_sync_days": 0}, datetime.now(timezone.utc))]
    feed = ["and|zonename|=|payments", "and|lastupdateutc|>|2025-01-01 00:00:00"]
    ids = "*".join(encode_id("P", i) for i in range(0, 1_000_000, 10_000))
    before = sim.fast_answers
    worst = max([
        timed(lambda: sim.query_zone(zone, scan, list(conn.PAYMENTS.order), (0, 500))),
        timed(lambda: sim.query_zone(zone, scan, list(conn.PAYMENTS.order), (600_000, 500))),
        timed(lambda: sim.query_zone(zone, scan, list(conn.PAYMENTS.order), (999_800, 500))),
        timed(lambda: sim.query_zone(zone, scan, [], (0, 1))),
        timed(lambda: sim.query_lastupdate(feed, ["lastupdateutc|asc"], (0, 100))),
        timed(lambda: sim.query_lastupdate(feed, ["lastupdateutc|asc"], (500_000, 100))),
        timed(lambda: sim.query_zone(zone, [f"and|paymentid|IN|{ids}"], ["paymentid|asc"], (0, 100))),
    ])
    assert sim.fast_answers - before == 7
    assert worst < 1.0, f"a page took {worst:.2f} s"
    rows, _ = sim.query_zone(zone, scan, list(conn.PAYMENTS.order), (999_800, 500))
    assert len(rows) == 1_000_000 + 200 - 20 - 999_800  # the last page: inserts in, deletes out
