import threading

import pytest

from synckit.budget import RateLimiter
from synckit.errors import BudgetExhausted


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.slept += seconds


def limiter(clock, limits=None, **kw):
    return RateLimiter(limits or [], clock=clock, wall=lambda: 1.7e9 + clock.now, sleep=clock.sleep, **kw)


def test_per_second_window_spaces_requests():
    clock = FakeClock()
    rl = limiter(clock, [(3, 1.0)])
    for _ in range(9):
        rl.acquire()
    # 9 requests at 3 per second need two full waits of one second.
    assert 1.9 <= clock.slept <= 2.1
    assert rl.waits >= 2


def test_two_windows_the_tighter_wins():
    clock = FakeClock()
    rl = limiter(clock, [(20, 2.0), (30, 60.0)])
    for _ in range(30):
        rl.acquire()
    assert clock.slept < 5
    rl.acquire()  # the 31st must wait for the minute window
    assert clock.slept >= 55


def test_headers_stop_before_the_budget_is_spent():
    clock = FakeClock()
    rl = limiter(clock, reserve=2)
    rl.update({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "30"})
    rl.acquire()  # 3 -> 2 left
    before = clock.slept
    rl.acquire()  # at the reserve: waits for the reset
    assert clock.slept - before >= 29


def test_reset_as_epoch_timestamp():
    clock = FakeClock()
    rl = limiter(clock)
    rl.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(1.7e9 + clock.now + 12))})
    rl.acquire()
    assert 11 <= clock.slept <= 13


def test_budget_exhausted_when_wait_exceeds_max_wait():
    clock = FakeClock()
    rl = limiter(clock, max_wait=10)
    rl.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3600"})
    with pytest.raises(BudgetExhausted) as info:
        rl.acquire()
    assert info.value.resume_at is not None
    assert "3600s" in str(info.value)


def test_new_window_from_headers_replaces_the_count():
    clock = FakeClock()
    rl = limiter(clock)
    rl.update({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "10"})
    rl.update({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "9"})  # out-of-order answer, same window
    assert rl.remaining == 5
    clock.now += 20
    rl.update({"X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "60"})  # next window
    assert rl.remaining == 99


def test_no_headers_no_change():
    rl = RateLimiter()
    rl.update({})
    assert rl.remaining is None
    rl.acquire()


def test_thread_safe_counting():
    rl = RateLimiter([(1000, 60.0)])
    threads = [threading.Thread(target=lambda: [rl.acquire() for _ in range(100)]) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rl._sent[60.0]) == 500


def test_counting_from_response_holds_a_slot_until_the_answer():
    clock = FakeClock()
    rl = limiter(clock, [(2, 1.0)], count_from_response=True)
    rl.acquire()
    rl.acquire()
    assert rl._wait_needed() > 0  # both slots held by requests in flight
    clock.now += 0.5
    rl.finished()  # the first answer comes at 1000.5: its slot frees at 1001.5, not 1001.0
    clock.now += 0.6
    rl.finished()
    rl.acquire()
    assert clock.now == pytest.approx(1001.5)


def test_counting_from_response_is_safe_against_any_arrival_jitter():
    """Whatever the delays, no window of the server's (arrival times) holds more than the limit."""
    import random

    rnd = random.Random(7)
    clock = FakeClock()
    rl = limiter(clock, [(5, 1.0)], count_from_response=True)
    arrivals = []
    for _ in range(200):
        rl.acquire()
        sent = clock.now
        arrival = sent + rnd.uniform(0, 0.3)
        answer = arrival + rnd.uniform(0, 0.3)
        arrivals.append(arrival)
        clock.now = answer
        rl.finished()
    arrivals.sort()
    for i, a in enumerate(arrivals):
        assert sum(1 for b in arrivals[i:] if b < a + 1.0) <= 5


def test_finished_does_not_count_again_when_counting_from_send():
    clock = FakeClock()
    rl = limiter(clock, [(2, 1.0)])
    rl.acquire()
    assert rl.in_flight == 1
    rl.finished()
    assert len(rl._sent[1.0]) == 1 and rl.in_flight == 0
