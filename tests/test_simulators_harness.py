import random
import tracemalloc
from datetime import timedelta

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.harness import (
    BASE_TIME,
    Dataset,
    Faults,
    Scheduler,
    Server,
    SimApp,
    Windows,
    first_true,
    json_response,
    kept,
    nth_kept,
)


def brute(d: Dataset, since, order):
    idx = [i for i in d.all() if d.exists(i) and (since is None or d.time(i) >= since)]
    return sorted(idx, key=(lambda i: i) if order == "id" else (lambda i: (d.time(i), i)))


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 40), tie=st.integers(1, 6),
       edits=st.lists(st.tuples(st.integers(0, 60), st.none() | st.integers(0, 300)), max_size=8),
       inserts=st.integers(0, 4), deletes=st.lists(st.integers(0, 50), max_size=6),
       since_min=st.none() | st.integers(-5, 300) | st.sampled_from([400 * 1440, 400 * 1440 + 1 / 60]),
       offset=st.integers(0, 50), limit=st.integers(1, 20))
def test_queries_match_a_brute_force_scan(n, tie, edits, inserts, deletes, since_min, offset, limit):
    d = Dataset(n, tie=tie)
    for k, (e, minute) in enumerate(edits):
        # Most edits come after every base time; some land among them (a large table's base times reach
        # past today), on a base time's exact minute or between two.
        when = BASE_TIME + (timedelta(days=400, seconds=k // 2) if minute is None else timedelta(minutes=minute))
        d.edit(e % n, when)
    for k in range(inserts):
        d.insert(BASE_TIME + timedelta(days=401, seconds=k))
    for i in deletes:
        d.delete(i % d.size)
    # since may fall among the edits' times: edited records before it are hidden inside the base range.
    since = None if since_min is None else BASE_TIME + timedelta(minutes=since_min)
    assert d.by_id(since, offset, limit) == brute(d, since, "id")[offset:offset + limit]
    assert d.by_time(since, offset, limit) == brute(d, since, "time")[offset:offset + limit]
    full = brute(d, since, "time")
    if full:
        k = min(len(full) - 1, offset % len(full))
        key = (d.time(full[k]), full[k])
        assert d.by_time(since, 0, limit, after=key) == full[k + 1:k + 1 + limit]


@settings(max_examples=200, deadline=None)
@given(lo=st.integers(0, 30), span=st.integers(-3, 40), gone=st.sets(st.integers(0, 80), max_size=20),
       r=st.integers(0, 40), cut=st.integers(0, 80))
def test_index_arithmetic_matches_counting_one_by_one(lo, span, gone, r, cut):
    hi = lo + span
    ordered = sorted(gone)
    assert kept(lo, hi, ordered) == sum(1 for i in range(lo, hi) if i not in gone)
    assert nth_kept(lo, r, ordered) == [i for i in range(lo, lo + r + len(gone) + 1) if i not in gone][r]
    assert first_true(lo, hi, lambda i: i >= cut) == next((i for i in range(lo, hi) if i >= cut), max(lo, hi))


def test_derived_values_are_rebuilt_after_each_change_only():
    d = Dataset(5)
    builds: list[int] = []

    def build(ds: Dataset) -> int:
        builds.append(ds.revision)
        return len(ds.changed) + len(ds.deleted)

    assert d.derive("n", build) == 0 and d.derive("n", build) == 0
    d.edit(1)
    d.edit(1)  # a re-edit changes nothing that a count of changed records would see; the revision does
    assert d.derive("n", build) == 1
    d.delete(2)
    assert d.derive("n", build) == 2
    assert builds == [0, 2, 3]
    changed, deleted, size = d.view()
    assert set(changed) == {1} and deleted == {2} and size == 5


def test_records_are_deterministic_and_edits_change_them():
    a, b = Dataset(10, seed=3), Dataset(10, seed=3)
    assert a.rng(4).random() == b.rng(4).random()
    before = a.rng(4).random()
    a.edit(4)
    assert a.rng(4).random() != before and a.version(4) == 1


def test_a_million_records_cost_little_memory():
    tracemalloc.start()
    d = Dataset(1_000_000, tie=3)
    d.edit_random(1000, random.Random(1))
    page = d.by_id(None, 999_900, 100)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(page) == 100 and peak < 5_000_000


def test_windows_enforce_limits_and_report_headers():
    now = [0.0]
    w = Windows([(3, 1.0), (5, 60.0)], clock=lambda: now[0])
    results = [w.hit()[0] for _ in range(4)]
    assert results == [True, True, True, False]
    now[0] = 1.0
    allowed, headers, _ = w.hit()
    assert allowed and headers["X-RateLimit-Remaining"] == "1" and headers["X-RateLimit-Limit"] == "5"
    w.hit()
    assert w.hit()[0] is False and w.rejected == 2


def test_scheduler_fires_once_after_k():
    s, hits = Scheduler(), []
    s.after(3, lambda: hits.append(1))
    s.fire(2)
    s.fire(3)
    s.fire(4)
    assert hits == [1]


class Hello(SimApp):
    def handle(self, request):
        return json_response({"hello": "world" * 50})


def test_every_fault_kind_is_served():
    kinds = ["429", "429-date", "500", "502", "503", "drop", "slow", "malformed"]
    app = Hello(faults=Faults(forced=list(kinds), slow_seconds=0.05))
    seen = []
    with Server(app) as server:
        for _ in kinds:
            try:
                r = requests.get(server.url + "/x", timeout=5)
                if r.status_code == 200:
                    r.json()
                seen.append((r.status_code, r.headers.get("Retry-After")))
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
                seen.append("dropped")
            except ValueError:
                seen.append("malformed")
    assert seen[0] == (429, "1") and seen[1][0] == 429 and "GMT" in seen[1][1]
    assert [s[0] for s in seen[2:5]] == [500, 502, 503]
    assert seen[5] == "dropped" and seen[6] == (200, None) and seen[7] == "malformed"
    assert app.faults.injected == {k: 1 for k in kinds}


def test_enforced_limit_and_persistent_failure():
    app = Hello(limits=[(2, 60.0)], faults=Faults(failing_paths={"/broken": 503}))
    with Server(app) as server:
        codes = [requests.get(server.url + "/x", timeout=5).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert requests.get(server.url + "/broken", timeout=5).status_code == 503
    assert app.statuses()[429] == 1 and app.requests_to("/x") == 3


def test_servers_sharing_a_port_both_serve():
    """reuse_port: the kernel spreads new connections over every process (here: server) on the port."""
    first_app, second_app = Hello(), Hello()
    with Server(first_app, reuse_port=True) as first, Server(second_app, first.port, reuse_port=True) as second:
        assert second.port == first.port
        for _ in range(60):  # a new connection per request: Werkzeug closes each one
            assert requests.get(first.url + "/x", timeout=5).status_code == 200
    assert first_app.count + second_app.count == 60
    assert first_app.count > 0 and second_app.count > 0
