"""Paginators against a real local server."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from simulators.harness import Server, SimApp, json_response
from synckit.errors import PagingError
from synckit.http import Http
from synckit.paging import LinkHeader, Offset, Page, PageNumber, close, parallel_page_numbers, prefetch
from synckit.policy import Backoff


class Items(SimApp):
    """``n`` items served by page number, offset or Link header."""

    def __init__(self, n: int, **kw):
        super().__init__(**kw)
        self.n = n
        self.link_host: str | None = None

    def handle(self, request: Request) -> Response:
        a = request.args
        if request.path == "/pages":
            size, page = int(a["per_page"]), int(a["page"])
            lo = (page - 1) * size
        elif request.path == "/offset":
            size, lo = int(a["limit"]), int(a["offset"])
        else:
            size, lo = 4, int(a.get("after", 0))
        items = [{"id": i} for i in range(lo, min(self.n, lo + size))]
        headers = {}
        if request.path == "/links" and lo + size < self.n:
            host = self.link_host or request.host_url.rstrip("/")
            headers["Link"] = f'<{host}/links?after={lo + size}>; rel="next", <{host}/links>; rel="first"'
        return json_response(items, headers=headers)


def ids(pages):
    return [r["id"] for p in pages for r in p.records]


def extract(response):
    return response.json()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 45), size=st.integers(1, 12))
def test_page_number_and_offset_read_everything_once(n, size):
    app = Items(n)
    with Server(app) as server:
        http = Http(server.url)
        by_page = list(PageNumber(size=size).pages(http, "/pages", {}, extract))
        by_offset = list(Offset(size=size).pages(http, "/offset", {}, extract))
    assert ids(by_page) == list(range(n)) == ids(by_offset)
    assert by_page[-1].next is None and all(p.next is not None for p in by_page[:-1])
    # A short page is the declared stop: exactly ceil((n+1)/size) requests.
    assert len(by_page) == n // size + 1


def test_page_number_resumes_from_a_token():
    with Server(Items(30)) as server:
        pages = list(PageNumber(size=7).pages(Http(server.url), "/pages", {}, extract, start=3))
    assert ids(pages) == list(range(14, 30))


def test_link_header_follows_next_exactly_and_resumes():
    with Server(Items(10)) as server:
        http = Http(server.url)
        pages = list(LinkHeader().pages(http, "/links", {}, extract))
        assert ids(pages) == list(range(10))
        resumed = list(LinkHeader().pages(http, "/links", {}, extract, start=pages[0].next))
    assert ids(resumed) == list(range(4, 10))


def test_link_to_another_origin_is_refused():
    app = Items(10)
    app.link_host = "https://elsewhere.example.com"
    with Server(app) as server:
        with pytest.raises(PagingError, match="another origin"):
            list(LinkHeader().pages(Http(server.url), "/links", {}, extract))


def test_a_repeating_page_raises_instead_of_looping():
    class Stuck(Items):
        def handle(self, request):
            return json_response([{"id": 1}, {"id": 2}])

    with Server(Stuck(0)) as server:
        with pytest.raises(PagingError, match="repeats"):
            list(PageNumber(size=2).pages(Http(server.url), "/pages", {}, extract))


def test_parallel_pages_come_in_order_and_stop_at_the_short_page():
    calls: list[int] = []
    lock = threading.Lock()
    active, most = [0], [0]

    def fetch(page: int):
        with lock:
            calls.append(page)
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.01 * (page % 3))  # finish out of order
        with lock:
            active[0] -= 1
        lo = page * 10
        return [{"id": i} for i in range(lo, min(95, lo + 10))], None

    pages = list(parallel_page_numbers(fetch, size=10, start=0, workers=4))
    assert ids(pages) == list(range(95))
    assert [p.next for p in pages] == list(range(1, 10)) + [None]
    assert most[0] <= 4  # never more requests in flight than workers
    assert max(calls) <= 9 + 2 * 4  # at most twice the workers queued past the short page


def test_parallel_failure_raises_never_ends_quietly():
    def fetch(page: int):
        if page == 3:
            raise RuntimeError("page 3 failed after retries")
        return [{"id": page}], None

    with pytest.raises(RuntimeError):
        list(parallel_page_numbers(fetch, size=1, start=0, workers=3))


def test_parallel_is_faster_with_latency():
    def fetch(page: int):
        time.sleep(0.05)
        return ([{"id": page}] if page < 20 else []), None

    t = time.monotonic()
    list(parallel_page_numbers(fetch, size=1, start=0, workers=1))
    one = time.monotonic() - t
    t = time.monotonic()
    list(parallel_page_numbers(fetch, size=1, start=0, workers=5))
    five = time.monotonic() - t
    assert five < one / 2.5


def test_retries_inside_paging_do_not_skip_pages():
    from simulators.harness import Faults

    app = Items(50, faults=Faults(rate=0.3, seed=4, kinds=("500", "drop", "malformed", "429")))
    with Server(app) as server:
        http = Http(server.url, backoff=Backoff(attempts=10, factor=0.001), sleep=lambda s: None)
        assert ids(PageNumber(size=6).pages(http, "/pages", {}, extract)) == list(range(50))
    assert sum(app.faults.injected.values()) > 0


def _numbered(n: int, log: list[str], fail_at: int | None = None):
    try:
        for k in range(n):
            if k == fail_at:
                raise PagingError(f"page {k} is broken")
            log.append(f"fetched {k}")
            yield Page([{"id": k}], k + 1 if k + 1 < n else None)
    finally:
        log.append("closed")


def test_prefetch_keeps_order_and_stays_at_most_depth_ahead():
    log: list[str] = []
    seen = []
    for page in prefetch(_numbered(6, log), depth=1):
        time.sleep(0.02)  # the producer has time to run ahead: it must stop one page ahead (plus one in hand)
        fetched = sum(1 for entry in log if entry.startswith("fetched"))
        assert fetched <= page.records[0]["id"] + 3
        seen.append(page.records[0]["id"])
    assert seen == list(range(6)) and log[-1] == "closed"


def test_prefetch_raises_an_error_after_the_pages_before_it():
    log: list[str] = []
    seen = []
    with pytest.raises(PagingError, match="page 3 is broken"):
        for page in prefetch(_numbered(6, log, fail_at=3)):
            seen.append(page.records[0]["id"])
    assert seen == [0, 1, 2]


def test_closing_prefetch_early_stops_and_closes_the_source():
    log: list[str] = []
    pages = prefetch(_numbered(1000, log))
    assert next(pages).records == [{"id": 0}]
    pages.close()
    deadline = time.monotonic() + 5
    while "closed" not in log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log[-1] == "closed" and sum(1 for entry in log if entry.startswith("fetched")) <= 4


def test_close_runs_a_generators_cleanup_and_ignores_plain_iterables():
    cleaned: list[str] = []

    def pages():
        try:
            yield Page([{"id": 1}], None)
            yield Page([{"id": 2}], None)
        finally:
            cleaned.append("done")

    it = pages()
    next(it)
    close(it)
    assert cleaned == ["done"]
    close([Page([], None)])  # nothing to close
    close(iter(()))
