"""The Xurrent simulator's fast path (ordered queries on the Dataset) answers exactly as the general path
(build, filter and sort every record) does, and a page stays cheap at 1,000,000 records."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from simulators.harness import BASE_TIME
from simulators.xurrent import XurrentSim, encode_cursor

H = {"Authorization": "Bearer test-token", "X-Xurrent-Account": "widget"}
STEP = timedelta(minutes=7)  # the Dataset's default step between base times
LATER = BASE_TIME + timedelta(days=400)  # where a live clock would stamp edits: after every base time


def next_path(response: Any) -> str | None:
    links = requests.utils.parse_header_links(response.headers.get("Link", ""))
    url = next((link["url"] for link in links if link.get("rel") == "next"), None)
    return url.split("localhost", 1)[1] if url else None


def call(sim: XurrentSim, client: Client, path: str, fast: bool) -> Any:
    """The response, or the exception's type and text (the test client lets a crash propagate)."""
    sim.fast_paths = fast
    try:
        return client.get(path, headers=H)
    except Exception as exc:  # a crash must be the same crash on both paths
        return (type(exc).__name__, str(exc))


def both(sim: XurrentSim, client: Client, path: str, expect_fast: bool = False) -> Any:
    """The fast path's response to ``path``, after asserting the general path's is identical
    (and, with ``expect_fast``, that the fast path answered without scanning every record)."""
    slow = call(sim, client, path, fast=False)
    scans = []
    sim.scan_window = lambda *args: scans.append(1) or XurrentSim.scan_window(sim, *args)  # type: ignore
    fast = call(sim, client, path, fast=True)
    del sim.scan_window
    assert not (expect_fast and scans), f"{path} took the general path"
    if isinstance(slow, tuple) or isinstance(fast, tuple):
        assert fast == slow, path
        return fast
    assert fast.status_code == slow.status_code, path
    assert dict(fast.headers) == dict(slow.headers), path
    assert fast.get_data() == slow.get_data(), path
    return fast


# Stamps: base times (ties with untouched base records), seconds after them, sub-second values (the
# general path compares whole seconds), and clock-like values after every base time (ties among edits).
stamps = st.one_of(
    st.builds(lambda g, s, us: BASE_TIME + g * STEP + timedelta(seconds=s, microseconds=us),
              st.integers(-1, 12), st.sampled_from([0, 0, 1, 59]), st.sampled_from([0, 0, 500_000, 999_999])),
    st.builds(lambda s, us: LATER + timedelta(seconds=s, microseconds=us),
              st.integers(0, 3), st.sampled_from([0, 0, 250_000])),
)
operations = st.lists(st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 60), stamps),
    st.tuples(st.just("insert"), st.just(0), stamps),
    st.tuples(st.just("delete"), st.integers(-1, 62), st.none()),
), max_size=12)


def since_text(when: datetime, style: str) -> str:
    if style == "z":
        return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.astimezone(timezone(timedelta(hours=-6))).isoformat()


def build(resource: str, n: int, tie: int, cap: int, ops: list[tuple[str, int, datetime | None]]) -> XurrentSim:
    sizes = {"organizations": 1, "products": 1, "projects": 1, resource: n}
    sim = XurrentSim(sizes["organizations"], sizes["products"], sizes["projects"], tie=tie, rate_limits=[],
                     max_records=cap)
    ds = sim.data[resource]
    for kind, i, when in ops:
        if kind == "edit":
            ds.edit(i % ds.size, when)
        elif kind == "insert":
            ds.insert(when)
        else:
            ds.delete(i)
    return sim


def traverse(sim: XurrentSim, resource: str, params: list[tuple[str, str]], fast: bool,
             mid_edit: tuple[int, datetime] | None = None) -> None:
    """Follow Link rel=next from the first page, comparing both paths at every page."""
    client = Client(sim)
    path: str | None = f"/v1/{resource}?{urlencode(params)}"
    pages = 0
    while path and pages < 12:
        response = both(sim, client, path, expect_fast=fast)
        assert response.status_code == 200
        path = next_path(response)
        pages += 1
        if pages == 1 and mid_edit is not None:  # a change during the traversal
            ds = sim.data[resource]
            ds.edit(mid_edit[0] % ds.size, mid_edit[1])


def cursor_path(resource: str, params: list[tuple[str, str]], key: list[int]) -> str:
    return f"/v1/{resource}?{urlencode([*params, ('search_after', encode_cursor(0, key))])}"


@settings(max_examples=100, deadline=None)
@given(
    resource=st.sampled_from(["projects", "projects", "organizations", "products"]),
    n=st.integers(1, 30),
    tie=st.integers(1, 6),
    cap=st.one_of(st.just(100_000), st.integers(1, 32)),
    ops=operations,
    sort=st.sampled_from(["updated_at", "updated_at", "updated_at,"]),
    per_page=st.sampled_from(["1", "2", "3", "5", "7", "20", "500", "0"]),
    since=st.one_of(st.none(), st.tuples(stamps, st.sampled_from([">=", ">=", ">"]), st.sampled_from(["z", "tz"]))),
    fields=st.sampled_from([None, "id,updated_at", "subject,name,updated_at,nope"]),
    cursors=st.lists(st.tuples(st.booleans(), stamps, st.integers(0, 40), st.integers(-1, 1)), max_size=4),
    mid_edit=st.one_of(st.none(), st.tuples(st.integers(0, 40), stamps)),
)
@example(resource="projects", n=9, tie=3, cap=100_000, ops=[("edit", 4, BASE_TIME + 2 * STEP)], sort="updated_at",
         per_page="2", since=(BASE_TIME + STEP, ">=", "z"), fields=None, cursors=[], mid_edit=None)
def test_updated_at_fast_path_equals_general_path(resource, n, tie, cap, ops, sort, per_page, since, fields, cursors,
                                                  mid_edit):
    sim = build(resource, n, tie, cap, ops)
    ds = sim.data[resource]
    params: list[tuple[str, str]] = [("per_page", per_page), ("sort", sort)]
    if since is not None:
        params.append(("updated_at", since[1] + since_text(since[0], since[2])))
    if fields is not None:
        params.append(("fields", fields))
    # Cursors at arbitrary keys, or next to a record's key (tie boundaries), exercise the rank arithmetic.
    client = Client(sim)
    for near_record, stamp, j, delta in cursors:
        j %= ds.size
        key = [int(ds.time(j).timestamp()), j + 1 + delta] if near_record else [int(stamp.timestamp()), j + delta]
        both(sim, client, cursor_path(resource, params, key), expect_fast=True)
    traverse(sim, resource, params, True, mid_edit)


@settings(max_examples=60, deadline=None)
@given(
    resource=st.sampled_from(["projects", "projects", "organizations"]),
    n=st.integers(1, 20),
    cap=st.one_of(st.just(100_000), st.integers(1, 32)),
    ops=operations,
    sort=st.sampled_from(["id", "-id", None]),
    per_page=st.sampled_from(["1", "2", "3", "5", "500"]),
    cursors=st.lists(st.tuples(st.integers(0, 40), st.integers(-1, 1)), max_size=6),
)
def test_id_order_fast_path_equals_general_path(resource, n, cap, ops, sort, per_page, cursors):
    sim = build(resource, n, 1, cap, ops)
    size = sim.data[resource].size
    params: list[tuple[str, str]] = [("per_page", per_page)] + ([("sort", sort)] if sort else [])
    fast = sort is not None or resource == "projects"  # organizations' default order is by name
    client = Client(sim)
    for first, delta in cursors if fast else []:
        first = first % (size + 3) - 1  # ids -1..size+1, the second component next to the first
        both(sim, client, cursor_path(resource, params, [first, first + delta]), expect_fast=True)
    traverse(sim, resource, params, fast)


def test_odd_cursors_and_filters_answer_as_the_general_path():
    sim = XurrentSim(1, 1, 25, tie=3, rate_limits=[])
    sim.data["projects"].edit(4, LATER)
    client = Client(sim)
    base = "/v1/projects?sort=updated_at&per_page=5"
    for token in ["garbage", encode_cursor(0, [1]), encode_cursor(0, [None, 3]), encode_cursor(0, [1.5, 2]),
                  encode_cursor(0, ["a", 1]), encode_cursor(0, [True, 1]), encode_cursor(0, [1, 2, 3])]:
        both(sim, client, f"{base}&search_after={token}")
    for raw in ["", "!", ">=2023-01-01T01:00:00Z<2023-01-01T02:00:00Z", "<2023-01-01T01:00:00Z",
                ">=not-a-date", "2023-01-01T00:07:00Z", ">=2023-01-01T00:07:00.5+00:00"]:
        both(sim, client, f"{base}&{urlencode({'updated_at': raw})}")
    for extra in ["&page=2", "&search_before=" + encode_cursor(0, [0, 9]), "&per_page=x", "&id=3,4"]:
        both(sim, client, base + extra)
    both(sim, client, "/v1/projects/open?sort=updated_at&per_page=5")
    both(sim, client, "/v1/projects?sort=-updated_at&per_page=5")


def test_changes_after_a_request_are_seen():
    """The fast path's cached change lists follow every edit (also a re-edit), insert and delete."""
    sim = XurrentSim(1, 1, 12, tie=2, rate_limits=[])
    ds = sim.data["projects"]
    client = Client(sim)
    changes = [lambda: ds.edit(3, LATER), lambda: ds.edit(3, BASE_TIME + STEP), lambda: ds.edit(3, LATER),
               lambda: ds.insert(BASE_TIME), lambda: ds.delete(5), lambda: ds.delete(3), lambda: ds.delete(12),
               lambda: ds.edit_random(3, random.Random(4), BASE_TIME + 3 * STEP)]
    for change in changes:
        change()
        for path in ["/v1/projects?sort=updated_at&per_page=5", "/v1/projects?per_page=1", "/v1/projects?sort=id"]:
            both(sim, client, path, expect_fast=True)


def test_collection_cap_boundaries_answer_as_the_general_path():
    """X-Pagination-Throttled and the last page when the matches are just under, at and over the cap."""
    since = (BASE_TIME + 2 * STEP).strftime("%Y-%m-%dT%H:%M:%SZ")
    for cap in (7, 8, 9, 10, 11, 12):
        sim = build("projects", 12, 2, cap, [("edit", 3, LATER), ("insert", 0, LATER), ("delete", 11, None)])
        for params in ([("sort", "updated_at")], [("sort", "updated_at"), ("updated_at", f">={since}")],
                       [("sort", "id")], []):
            traverse(sim, "projects", [("per_page", "4"), *params], True)


def test_a_page_of_a_million_projects_is_cheap():
    """Generous bounds: the general path needs minutes for one page of 1,000,000 records."""
    sim = XurrentSim(1, 1, 1_000_000, tie=3, rate_limits=[])
    ds = sim.data["projects"]
    for i in range(0, 1_000_000, 997):  # about 1,000 edits sharing a few clock seconds, plus inserts
        ds.edit(i, LATER + timedelta(seconds=i % 5))
    for _ in range(20):
        ds.insert(LATER + timedelta(seconds=2))
    ds.delete(500_001)
    client = Client(sim)
    fields = "id,subject,updated_at"
    middle = (BASE_TIME + (500_000 // 3) * STEP).strftime("%Y-%m-%dT%H:%M:%SZ")
    starts = [
        f"/v1/projects?sort=updated_at&per_page=100&fields={fields}",
        f"/v1/projects?sort=updated_at&per_page=100&fields={fields}&updated_at=%3E%3D{middle}",
        f"/v1/projects?sort=updated_at&per_page=100&updated_at=%3E%3D{LATER.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "/v1/projects?per_page=1",  # the setup probe: projects' default order, id descending
    ]
    for path in starts:
        for _ in range(3):  # the first pages of each traversal
            began = time.perf_counter()
            response = client.get(path, headers=H)
            elapsed = time.perf_counter() - began
            assert response.status_code == 200 and response.get_json()
            assert elapsed < 1.0, f"{path}: {elapsed:.2f}s for one page"
            path = next_path(response)
            if path is None:
                break
    middle_page = client.get(starts[1], headers=H)
    assert int(middle_page.headers["X-Pagination-Total-Entries"]) == 100_000  # capped
    assert middle_page.headers["X-Pagination-Total-Pages"] == "1000"
    assert middle_page.get_json()[0]["id"] == (500_000 // 3) * 3 + 1  # the first of the tie group at `middle`
    assert client.get(starts[3], headers=H).get_json()[0]["id"] == 1_000_020  # the newest insert
