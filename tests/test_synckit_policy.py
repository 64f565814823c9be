import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from synckit.policy import Action, Backoff, classify, parse_retry_after


def test_classify_is_the_whole_policy():
    assert classify(200) is Action.OK
    assert classify(304) is Action.OK
    for status in (429, 500, 502, 503, 504):
        assert classify(status) is Action.RETRY
    assert classify(401) is Action.REAUTH
    for status in (400, 403, 404, 409, 422):
        assert classify(status) is Action.FAIL


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7
    future = datetime.now(timezone.utc) + timedelta(seconds=30)
    seconds = parse_retry_after(format_datetime(future, usegmt=True))
    assert 25 <= seconds <= 31
    past = datetime.now(timezone.utc) - timedelta(seconds=30)
    assert parse_retry_after(format_datetime(past, usegmt=True)) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_after_is_capped():
    assert Backoff(retry_after_cap=60).delay("3600") == 60


@given(st.integers(0, 30), st.floats(min_value=0.01, max_value=5), st.floats(min_value=0.1, max_value=120))
def test_backoff_is_bounded_and_grows(attempt, factor, cap):
    b = Backoff(attempts=50, factor=factor, cap=cap, attempt=attempt, rng=random.Random(attempt))
    ceiling = min(cap, factor * 2**attempt)
    assert ceiling / 2 <= b.delay() <= ceiling


def test_increment_is_immutable_and_exhausts():
    b = Backoff(attempts=2)
    assert not b.exhausted
    b2 = b.increment().increment()
    assert b.attempt == 0 and b2.exhausted
