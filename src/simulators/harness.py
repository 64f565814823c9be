"""The shared simulator harness: a real HTTP server on 127.0.0.1 and what every vendor simulator needs.

- ``Dataset``: deterministic records generated lazily from a seed (1,000,000 per entity cost almost no
  memory: only edits and inserts are stored), a cursor timestamp that several consecutive records
  share (ties across page boundaries), edits and inserts stamped with the server clock.
- ``Faults``: a seeded schedule of 429 (Retry-After in seconds or as an HTTP date), 500/502/503,
  dropped connections, slow responses and malformed JSON, plus persistent failure of chosen paths.
- ``Windows``: enforced rate limits (requests per period) that report their remaining budget.
- ``Scheduler``: actions (edits, inserts, token expiry) fired after the k-th request: changes during a sync.
- ``SimApp``: WSGI base class that counts and logs requests, then applies schedule, limits and faults
  before the vendor's ``handle``; ``serve()`` runs it on an ephemeral or fixed port.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

BASE_TIME = datetime(2023, 1, 1, tzinfo=timezone.utc)


def stable_random(*parts: Any) -> random.Random:
    """A Random seeded from the parts, identical across runs and processes."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Dataset:
    """Records ``0..n-1`` (plus inserts) of one entity. Record ``i``'s base cursor time is
    ``BASE_TIME + (i // tie) * step`` (non-decreasing, ``tie`` records share each value); an edit
    stamps the record with the current clock and bumps its version."""

    def __init__(self, n: int, *, tie: int = 1, step: timedelta = timedelta(minutes=7), seed: int = 0,
                 clock: Callable[[], datetime] | None = None):
        self.n, self.tie, self.step, self.seed = n, max(1, tie), step, seed
        self.clock = clock or (lambda: datetime.now(timezone.utc).replace(microsecond=0))
        self.changed: dict[int, tuple[int, datetime]] = {}  # i -> (version, cursor time)
        self.inserted = 0
        self.deleted: set[int] = set()
        self._sorted_changed: list[tuple[datetime, int]] = []  # (time, i) for the changed records
        self._lock = threading.RLock()
        self.revision = 0  # bumped by every edit, insert and delete
        self._derived: dict[str, tuple[int, Any]] = {}

    @property
    def size(self) -> int:
        return self.n + self.inserted

    def base_time(self, i: int) -> datetime:
        return BASE_TIME + (i // self.tie) * self.step

    def time(self, i: int) -> datetime:
        changed = self.changed.get(i)
        return changed[1] if changed else self.base_time(i)

    def version(self, i: int) -> int:
        changed = self.changed.get(i)
        return changed[0] if changed else 0

    def created(self, i: int) -> datetime:
        return self.base_time(min(i, self.n - 1)) - timedelta(days=30) if i < self.n else self.time(i)

    def rng(self, i: int) -> random.Random:
        return stable_random(self.seed, i, self.version(i))

    def edit(self, i: int, when: datetime | None = None) -> None:
        with self._lock:
            self._touch(i, self.version(i) + 1, when or self.clock())

    def insert(self, when: datetime | None = None) -> int:
        with self._lock:
            i = self.n + self.inserted
            self.inserted += 1
            self._touch(i, 0, when or self.clock())
            return i

    def delete(self, i: int) -> None:
        with self._lock:
            self.deleted.add(i)
            self.revision += 1

    def restore(self, i: int) -> None:
        """Undo ``delete`` (a record restored from an API's trash); derived indexes are rebuilt."""
        with self._lock:
            self.deleted.discard(i)
            self.revision += 1

    def _touch(self, i: int, version: int, when: datetime) -> None:
        old = self.changed.get(i)
        if old:
            self._sorted_changed.remove((old[1], i))
        self.changed[i] = (version, when)
        bisect.insort(self._sorted_changed, (when, i))
        self.revision += 1

    @property
    def changes(self) -> list[tuple[datetime, int]]:
        """(time, index) of every changed or inserted record, sorted; read it holding ``lock``."""
        return self._sorted_changed

    @property
    def lock(self) -> threading.RLock:
        """Held while reading several fields that must agree (changes run on other request threads)."""
        return self._lock

    def view(self) -> tuple[dict[int, tuple[int, datetime]], set[int], int]:
        """A consistent copy of (changed, deleted, size): scheduled changes run on other request threads."""
        with self._lock:
            return dict(self.changed), set(self.deleted), self.size

    def derive(self, key: str, build: Callable[[Dataset], Any]) -> Any:
        """``build(self)``, computed under the lock and kept until the next change: a simulator's index over the
        few changed records costs one rebuild per change instead of one per request."""
        with self._lock:
            cached = self._derived.get(key)
            if cached is not None and cached[0] == self.revision:
                return cached[1]
            value = build(self)
            self._derived[key] = (self.revision, value)
            return value

    def exists(self, i: int) -> bool:
        return 0 <= i < self.size and i not in self.deleted

    def edit_random(self, count: int, rng: random.Random, when: datetime | None = None) -> list[int]:
        picks = [rng.randrange(self.size) for _ in range(count)]
        for i in picks:
            self.edit(i, when)
        return picks

    # Queries. Both orders are computed without touching untouched records, so paging stays cheap at
    # 1,000,000 records: base records with time >= since form one index range, merged with the changes.

    def _first_base(self, since: datetime | None) -> int:
        if since is None or since <= BASE_TIME:
            return 0
        steps = -(-(since - BASE_TIME) // self.step)  # ceil
        return min(self.n, steps * self.tie)

    def by_id(self, since: datetime | None = None, offset: int = 0, limit: int = 100) -> list[int]:
        """Indices with time >= since, ascending by index; ``offset`` counts only those (deleted records and
        records edited to before ``since`` take no place), as an API's offset does."""
        with self._lock:
            lo = self._first_base(since)

            def visible(i: int, t: datetime) -> bool:
                return i not in self.deleted and (since is None or t >= since)

            # Changed records below lo come first, then the base range [lo, n) less the few hidden in it,
            # then inserts. Only changes and deletes are enumerated, so a page costs O(limit + changes).
            low = sorted(i for i, (_, t) in self.changed.items() if i < lo and visible(i, t))
            high = sorted(i for i, (_, t) in self.changed.items() if i >= self.n and visible(i, t))
            hidden = sorted({i for i in self.deleted if lo <= i < self.n}
                            | {i for i, (_, t) in self.changed.items() if lo <= i < self.n and not visible(i, t)})
            out = low[offset:offset + limit]
            skip = max(0, offset - len(low))
            base_visible = (self.n - lo) - len(hidden)
            if len(out) < limit and skip < base_visible:
                i = lo + skip  # the skip-th visible base index: step over each hidden one at or before it
                for h in hidden:
                    if h > i:
                        break
                    i += 1
                gone = set(hidden)
                while len(out) < limit and i < self.n:
                    if i not in gone:
                        out.append(i)
                    i += 1
            skip = max(0, skip - base_visible)
            out.extend(high[skip:skip + limit - len(out)])
            return out

    def by_time(self, since: datetime | None = None, offset: int = 0, limit: int = 100,
                after: tuple[datetime, int] | None = None, strict: bool = False) -> list[int]:
        """Indices with time >= since (> since when ``strict``), ascending by (time, index); with
        ``after=(t, i)`` only those strictly after that key (keyset paging)."""
        with self._lock:
            lo = self._first_base(since)
            if after is not None:
                lo = max(lo, self._first_base(after[0]))
            out: list[int] = []
            skipped = 0

            def take(i: int, t: datetime) -> bool:
                nonlocal skipped
                if i in self.deleted:
                    return True
                if since is not None and (t < since or (strict and t == since)):
                    return True
                if after is not None and (t, i) <= after:
                    return True
                if skipped < offset:
                    skipped += 1
                    return True
                out.append(i)
                return len(out) < limit

            start = lo - lo % self.tie  # the start of the tie group, so keyset ties are seen

            def base() -> Iterator[tuple[datetime, int]]:
                for i in range(start, self.n):
                    if i not in self.changed:
                        yield self.base_time(i), i

            # Never-changed base records are in (time, index) order already; changed records are merged in
            # by their stamps, which can fall before late base times (a million records reach past 2036).
            first = (since,) if since is not None else ()
            if after is not None and (not first or after > first):
                first = after
            changes = self._sorted_changed[bisect.bisect_left(self._sorted_changed, first):]
            for t, i in heapq.merge(base(), changes):
                if not take(i, t):
                    break
            return out

    def all(self) -> range:
        return range(self.size)


# Index arithmetic for simulators' fast paths: base records are index ranges, and the few that were changed
# or deleted are a sorted list ``gone`` taken out of them.

def first_true(lo: int, hi: int, pred: Callable[[int], bool]) -> int:
    """The first i in [lo, hi) where ``pred`` (false then true along the range) holds; hi if none."""
    return lo + bisect.bisect_left(range(lo, hi), True, key=pred)


def kept(lo: int, hi: int, gone: list[int]) -> int:
    """How many indices in [lo, hi) are not in the sorted list ``gone``."""
    if hi <= lo:
        return 0
    return hi - lo - (bisect.bisect_left(gone, hi) - bisect.bisect_left(gone, lo))


def nth_kept(lo: int, r: int, gone: list[int]) -> int:
    """The r-th (from 0) index >= lo not in the sorted list ``gone``: the least fixed point of
    idx = lo + r + |gone within [lo, idx]|, reached from below in a few bisections."""
    before = bisect.bisect_left(gone, lo)
    idx = lo + r
    while True:
        nxt = lo + r + bisect.bisect_right(gone, idx) - before
        if nxt == idx:
            return idx
        idx = nxt


FAULT_KINDS = ("429", "429-date", "500", "502", "503", "drop", "slow", "malformed")


@dataclass
class Faults:
    """A seeded schedule of transient faults, and persistent failures of chosen paths."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 1
    slow_seconds: float = 0.3
    retry_after: int = 1
    failing_paths: dict[str, int] = field(default_factory=dict)  # path prefix -> status
    forced: list[str] = field(default_factory=list)  # faults for the next requests, in order
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def pick(self, path: str, exempt: bool = False) -> str | None:
        with self._lock:
            for prefix, status in self.failing_paths.items():
                if path.startswith(prefix):
                    return f"persistent-{status}"
            if exempt:
                return None
            if self.forced:
                kind = self.forced.pop(0)
            elif self.rate and self._rng.random() < self.rate:
                kind = self._rng.choice(self.kinds)
            else:
                return None
            self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


class Windows:
    """Enforced rate limits: ``[(limit, period_seconds), ...]`` with fixed windows, as most APIs count."""

    def __init__(self, limits: list[tuple[int, float]] | None = None, clock: Callable[[], float] = time.time):
        self.limits = list(limits or [])
        self._clock = clock
        self._counts: dict[float, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def hit(self, count: bool = True) -> tuple[bool, dict[str, str], float]:
        """Count one request; return (allowed, headers for the tightest window, seconds until it resets)."""
        with self._lock:
            now = self._clock()
            allowed, headers, wait = True, {}, 0.0
            tightest: tuple[float, int, int, float] | None = None
            windows = []
            for limit, period in self.limits:
                start, used = self._counts.get(period, (now - now % period, 0))
                if now >= start + period:
                    start, used = now - now % period, 0
                if used >= limit:
                    allowed = False
                    wait = max(wait, start + period - now)
                windows.append((limit, period, start, used))
            for limit, period, start, used in windows:
                if allowed and count:
                    used += 1  # a rejected request costs nothing in any window
                self._counts[period] = (start, used)
                remaining = max(0, limit - used)
                if tightest is None or remaining / limit < tightest[1] / tightest[2]:
                    tightest = (period, remaining, limit, start + period)
            if not allowed:
                self.rejected += 1
            if tightest:
                headers = {"X-RateLimit-Limit": str(tightest[2]), "X-RateLimit-Remaining": str(tightest[1]),
                           "X-RateLimit-Reset": str(int(tightest[3]))}
            return allowed, headers, wait


class Scheduler:
    """Actions to run after the k-th request (k counts every request the app receives)."""

    def __init__(self) -> None:
        self._actions: list[tuple[int, Callable[[], None]]] = []
        self._lock = threading.Lock()

    def after(self, k: int, action: Callable[[], None]) -> None:
        with self._lock:
            self._actions.append((k, action))

    @property
    def pending(self) -> int:
        """Actions not yet run."""
        with self._lock:
            return len(self._actions)

    def fire(self, count: int) -> None:
        with self._lock:
            due = [a for k, a in self._actions if k <= count]
            self._actions = [(k, a) for k, a in self._actions if k > count]
        for action in due:
            action()


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    fault: str | None = None
    at: float = 0.0  # wall-clock time the request arrived
    exempt: bool = False  # not counted by rate limits (token requests and the like)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class SimApp:
    """Base WSGI app: log, scheduled actions, rate limits, faults, then ``handle``.

    Subclasses implement ``handle(request) -> Response`` and may override ``rate_limited``,
    ``fault_response`` and ``exempt`` to speak their vendor's dialect.
    """

    def __init__(self, *, faults: Faults | None = None, limits: list[tuple[int, float]] | None = None,
                 latency: float = 0.0):
        self.faults = faults or Faults()
        self.windows = Windows(limits)
        self.scheduler = Scheduler()
        self.latency = latency
        self.log: list[LoggedRequest] = []
        self.count = 0
        self._lock = threading.Lock()

    # Hooks for subclasses.
    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def exempt(self, request: Request) -> bool:
        """Requests that neither count against limits nor draw transient faults (token endpoints...)."""
        return False

    def rate_limited(self, request: Request, headers: dict[str, str], wait: float) -> Response:
        return json_response({"message": "Too many requests"}, 429,
                             {**headers, "Retry-After": str(max(1, int(wait + 0.999)))})

    def error_body(self, status: int) -> Response:
        return json_response({"message": f"simulated server error {status}"}, status)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        arrived = time.time()
        request = Request(environ)
        with self._lock:
            self.count += 1
            count = self.count
        self.scheduler.fire(count)
        exempt = self.exempt(request)
        fault = self.faults.pick(request.path, exempt=exempt)
        if self.latency:
            time.sleep(self.latency)
        response: Response | None = None
        if fault and fault.startswith("persistent-"):
            response = self.error_body(int(fault.split("-")[1]))
        elif not exempt and self.windows.limits:
            allowed, headers, wait = self.windows.hit()
            if not allowed:
                response = self.rate_limited(request, headers, wait)
            else:
                response = self._faulted(request, fault) or self.handle(request)
                response.headers.update(headers)
        if response is None:
            response = self._faulted(request, fault) or self.handle(request)
        self.log.append(LoggedRequest(request.method, request.path, request.query_string.decode(),
                                      response.status_code, fault, arrived, exempt))
        if fault == "drop":
            return self._dropped(response, environ, start_response)
        return response(environ, start_response)

    def _faulted(self, request: Request, fault: str | None) -> Response | None:
        if fault in ("429", "429-date"):
            after = str(self.faults.retry_after)
            if fault == "429-date":
                after = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=self.faults.retry_after),
                                        usegmt=True)
            response = self.rate_limited(request, {}, self.faults.retry_after)
            response.headers["Retry-After"] = after
            return response
        if fault in ("500", "502", "503"):
            return self.error_body(int(fault))
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        if fault == "malformed":
            good = self.handle(request)
            body = good.get_data()
            return Response(body[: max(1, len(body) // 2)], status=200, content_type=good.content_type)
        return None

    @staticmethod
    def _dropped(response: Response, environ: dict, start_response: Callable) -> Any:
        """Send the headers and half the body, then break the connection."""
        body = response.get_data()
        start_response(response.status, [("Content-Type", response.content_type or "application/json"),
                                          ("Content-Length", str(len(body) + 10))])

        def chunks():
            yield body[: len(body) // 2]
            raise ConnectionAbortedError("simulated dropped connection")

        return chunks()

    def requests_to(self, prefix: str = "") -> int:
        return sum(1 for r in self.log if r.path.startswith(prefix))

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.log:
            out[r.status] = out.get(r.status, 0) + 1
        return out


class _KeepAlive(WSGIRequestHandler):
    """HTTP/1.1 framing (Werkzeug still closes each connection after its response)."""

    protocol_version = "HTTP/1.1"


class Server:
    """Serve a WSGI app on 127.0.0.1 in a background thread; port 0 picks a free port.

    ``reuse_port`` lets several processes listen on one port (SO_REUSEPORT): the kernel spreads connections
    over them, so a load benchmark is not bounded by one Python process serving every request."""

    def __init__(self, app: Callable, port: int = 0, reuse_port: bool = False):
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.app = app
        self._socket: socket.socket | None = None
        fd = None
        if reuse_port:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self._socket.bind(("127.0.0.1", port))
            self._socket.listen(128)
            fd = self._socket.fileno()
        self._server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_KeepAlive, fd=fd)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(app: Callable, port: int, banner: str) -> None:
    """Run a simulator in the foreground (the CLI of each vendor module)."""
    server = Server(app, port)
    print(f"{banner} listening on {server.url} (Ctrl-C stops it)", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
