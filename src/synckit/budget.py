"""A proactive, thread-safe rate limiter: fixed per-period limits plus what X-RateLimit headers say.

    limiter = RateLimiter([(3, 1.0), (120, 60.0)], reserve=5, max_wait=30)
    limiter.acquire()            # blocks until every window has room, or raises BudgetExhausted
    limiter.update(response.headers)

The sliding windows keep send times of the last period only, so memory is bounded by the limits.

A server counts a request when it arrives, which is after we send it and before its answer comes back. With
``count_from_response=True`` each request holds a slot from ``acquire()`` until ``finished()`` and then counts
from that moment: no window of the server's can hold more than the limit, however the network jitters, so
the limits can be the documented ones with no safety margin.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping

from .errors import BudgetExhausted

IN_FLIGHT_POLL = 0.01  # seconds between looks when every slot is held by a request still in flight


class RateLimiter:
    def __init__(
        self,
        limits: list[tuple[int, float]] | None = None,
        *,
        reserve: int = 0,
        max_wait: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        remaining_header: str = "X-RateLimit-Remaining",
        reset_header: str = "X-RateLimit-Reset",
        count_from_response: bool = False,
    ):
        self.limits = sorted(limits or [], key=lambda lp: lp[1])
        self.reserve = reserve
        self.max_wait = max_wait
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self._sent: dict[float, collections.deque[float]] = {p: collections.deque() for _, p in self.limits}
        self._lock = threading.Lock()
        self._remaining: int | None = None  # from headers: requests left in the server's window
        self._reset_at: float | None = None  # monotonic time the server's window resets
        self.count_from_response = count_from_response
        self._in_flight = 0  # acquired and not finished
        self.remaining_header, self.reset_header = remaining_header, reset_header
        self.waits = 0
        self.waited_seconds = 0.0

    def acquire(self) -> None:
        """Block until a request may be sent; raise BudgetExhausted if that would take longer than max_wait."""
        while True:
            with self._lock:
                wait = self._wait_needed()
                if wait <= 0:
                    self._in_flight += 1
                    if not self.count_from_response:
                        self._count(self._clock())
                    if self._remaining is not None:
                        self._remaining -= 1
                    return
                if wait > self.max_wait:
                    raise BudgetExhausted(
                        f"request budget spent; it refills in {wait:.0f}s, more than the {self.max_wait:.0f}s "
                        "this sync may wait",
                        resume_at=self._wall() + wait,
                    )
                self.waits += 1
                self.waited_seconds += wait
            self._sleep(min(wait, 5.0))

    def finished(self) -> None:
        """The answer to an acquired request came (or the attempt failed): it is no longer in flight, and with
        count_from_response it counts from now on."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if self.count_from_response:
                self._count(self._clock())

    @property
    def in_flight(self) -> int:
        """Requests acquired whose answers have not come yet (a server may not have counted them)."""
        return self._in_flight

    def _count(self, now: float) -> None:
        for deque in self._sent.values():
            deque.append(now)

    def _wait_needed(self) -> float:
        now = self._clock()
        wait = 0.0
        for limit, period in self.limits:
            deque = self._sent[period]
            while deque and deque[0] <= now - period:
                deque.popleft()
            # Counting from the answer, a request in flight holds its slot; counting from the send, it is in
            # the deque already.
            pending = self._in_flight if self.count_from_response else 0
            over = len(deque) + pending - limit + 1  # entries that must leave before one more fits
            if over > 0:
                # Requests still in flight leave no earlier than a period after their answer: poll for it.
                wait = max(wait, deque[over - 1] + period - now if over <= len(deque) else IN_FLIGHT_POLL)
        if self._remaining is not None and self._remaining <= self.reserve:
            if self._reset_at is None or self._reset_at <= now:
                self._remaining = None  # the server's window has rolled over; trust headers again
            else:
                wait = max(wait, self._reset_at - now)
        return wait

    def update(self, headers: Mapping[str, str]) -> None:
        """Adopt the server's view of the budget from X-RateLimit-Remaining/Reset, when present."""
        remaining = _int(headers.get(self.remaining_header))
        if remaining is None:
            return
        reset = _float(headers.get(self.reset_header))
        with self._lock:
            now = self._clock()
            new_window = self._remaining is None or self._reset_at is None
            if reset is not None:
                # Reset is either an epoch timestamp or seconds until reset; tell them apart by size.
                seconds = reset - self._wall() if reset > 1e9 else reset
                reset_at = now + max(0.0, seconds)
                new_window = new_window or reset_at > self._reset_at + 1.5
                self._reset_at = reset_at if new_window or self._reset_at is None else self._reset_at
            # Within one window responses may arrive out of order across threads: keep the lowest figure,
            # minus the requests already sent that the server has not counted yet.
            if new_window:
                self._remaining = remaining
            else:
                self._remaining = min(self._remaining, remaining)

    @property
    def remaining(self) -> int | None:
        return self._remaining


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(str(value).strip()) if value is not None else None
    except ValueError:
        return None
