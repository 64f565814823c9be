"""Paginators: one generator interface, ``pages(http, path, params, extract, start) -> Iterator[Page]``.

``extract(response)`` returns the page's records; it raises ``ValueError`` for an unreadable body
(retried by ``Http.fetch``) and ``ResponseError`` for a readable but wrong one (fails at once).
Each yields ``Page(records, next)`` where ``next`` is the token to resume *after* this page (a page
number, an offset or a URL), or None when the declared stop rule says the traversal is over. A token
saved in state resumes the same traversal after a crash. Stop rules are explicit; nothing else ends
a traversal, and a page that would repeat the previous one raises instead of looping.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from .errors import PagingError
from .http import Http

Extract = Callable[[requests.Response], list[dict]]


@dataclass
class Page:
    records: list[dict]
    next: Any  # resume token for the page after this one; None: this was the last page
    response: requests.Response | None = None


class Paginator(Protocol):
    def pages(
        self, http: Http, path: str, params: Mapping[str, Any], extract: Extract, start: Any = None
    ) -> Iterator[Page]: ...


def _with_response(extract: Extract) -> Callable[[requests.Response], tuple[list[dict], requests.Response]]:
    return lambda response: (extract(response), response)


@dataclass(frozen=True)
class PageNumber:
    """``?page=N&per_page=S``; stops on a short page (fewer than ``size`` records).

    ``first`` is 1 for most APIs and 0 for Accelo's ``_page``.
    """

    size: int
    page_param: str = "page"
    size_param: str | None = "per_page"
    first: int = 1

    def request_params(self, params: Mapping[str, Any], page: int) -> dict[str, Any]:
        out = {**params, self.page_param: page}
        if self.size_param:
            out[self.size_param] = self.size
        return out

    def pages(self, http, path, params, extract, start=None):
        page = self.first if start is None else int(start)
        previous: list[dict] | None = None
        while True:
            records, response = http.fetch("GET", path, _with_response(extract),
                                           params=self.request_params(params, page))
            if records and records == previous:
                raise PagingError(f"page {page} of {path} repeats the previous page; stopping to avoid a loop")
            nxt = page + 1 if len(records) >= self.size else None
            yield Page(records, nxt, response)
            if nxt is None:
                return
            page, previous = nxt, records


@dataclass(frozen=True)
class Offset:
    """``?offset=N&limit=S`` (or ``$skip``/``$top``); stops on a short page."""

    size: int
    offset_param: str = "offset"
    limit_param: str = "limit"

    def pages(self, http, path, params, extract, start=None):
        offset = 0 if start is None else int(start)
        while True:
            query = {**params, self.offset_param: offset, self.limit_param: self.size}
            records, response = http.fetch("GET", path, _with_response(extract), params=query)
            nxt = offset + len(records) if len(records) >= self.size else None
            yield Page(records, nxt, response)
            if nxt is None:
                return
            offset = nxt


@dataclass(frozen=True)
class LinkHeader:
    """Follows ``Link: <url>; rel="next"`` exactly; stops when there is no next link.

    The next URL must stay on the API's origin (``Http.url`` refuses others), and a link that points
    back at the page just read raises rather than loops. The resume token is the next URL itself.
    """

    rel: str = "next"

    def pages(self, http, path, params, extract, start=None):
        url, query = (start, None) if start else (path, dict(params))
        seen: set[str] = set()
        while True:
            records, response = http.fetch("GET", url, _with_response(extract), params=query)
            link = response.links.get(self.rel, {}).get("url")
            if link and (link in seen or link == response.url):
                raise PagingError(f"the next link of {path} points back at a page already read")
            if link:
                seen.add(link)
                http.url(link)  # same-origin check before the token is saved anywhere
            yield Page(records, link or None, response)
            if not link:
                return
            url, query = link, None


def parallel_page_numbers(
    fetch: Callable[[int], tuple[list[dict], requests.Response | None]],
    *,
    size: int,
    start: int,
    workers: int,
) -> Iterator[Page]:
    """Fetch page numbers ``start, start+1, ...`` with up to ``workers`` in flight; yield them in order.

    Twice ``workers`` pages are queued, so a worker that finishes picks the next page at once instead of
    waiting for the caller to take the page before it (a caller writing rows would otherwise leave
    workers idle). The traversal ends at the first short page (fewer than ``size`` records); pages
    already requested beyond it are discarded, so ``fetch`` should answer pages it knows are past the
    end without a request. A page that fails after its retries raises: a transient error never looks
    like the end of the table. Callers emit rows from the yielding thread only.
    """
    if workers <= 1:
        page = start
        while True:
            records, response = fetch(page)
            nxt = page + 1 if len(records) >= size else None
            yield Page(records, nxt, response)
            if nxt is None:
                return
            page = nxt
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="page")
    try:
        in_flight: dict[int, cf.Future] = {}
        next_to_submit = start
        page = start
        while True:
            while len(in_flight) < 2 * workers:
                in_flight[next_to_submit] = pool.submit(fetch, next_to_submit)
                next_to_submit += 1
            records, response = in_flight.pop(page).result()
            nxt = page + 1 if len(records) >= size else None
            if nxt is not None:
                # Refill before yielding: the workers keep fetching while the caller writes this page.
                in_flight[next_to_submit] = pool.submit(fetch, next_to_submit)
                next_to_submit += 1
            yield Page(records, nxt, response)
            if nxt is None:
                return
            page = nxt
    finally:
        for future in in_flight.values():
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


def close(pages: Iterable[Any]) -> None:
    """Close a page iterator if it can be closed (a generator's cleanup, a worker pool's shutdown); plain
    iterables need nothing."""
    closer = getattr(pages, "close", None)
    if closer is not None:
        closer()


def prefetch(pages: Iterator[Page], depth: int = 1) -> Iterator[Page]:
    """Run ``pages`` in a background thread up to ``depth`` pages ahead, so the next request is in flight
    while the caller writes this page (keyset and Link paging cannot be parallelised, but they can overlap
    network and processing).

    Only for page iterators whose whole state travels in ``Page.next``: a side effect of fetching page N+1
    would otherwise be visible before page N is checkpointed. Pages come out in order; an error surfaces
    after the pages before it; closing this iterator stops the producer and closes ``pages``.
    (A hand-written queue rather than an executor: the producer must keep one generator frame alive.)
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(exc)
        finally:
            close(pages)

    producer = threading.Thread(target=produce, name="prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=1.0)  # a request in flight finishes on its own; its page is dropped
