"""What to do with each response or transport failure, and how long to wait before retrying."""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass, replace

# urllib3's Retry, reached through requests so deployed folders import nothing Fivetran lacks.
from requests.adapters import Retry


class Action(enum.Enum):
    OK = "ok"
    RETRY = "retry"  # 429, 5xx, timeouts, dropped connections
    REAUTH = "reauth"  # 401: re-acquire the token once
    FAIL = "fail"  # everything else: fail at once with the server's message


def classify(status: int) -> Action:
    """The whole error policy in one place."""
    if status < 400:
        return Action.OK
    if status == 429 or status >= 500:
        return Action.RETRY
    if status == 401:
        return Action.REAUTH
    return Action.FAIL


_parser = Retry()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or invalid."""
    if not value:
        return None
    try:
        # urllib3 already parses both forms, including HTTP dates in the past (-> 0).
        return max(0.0, float(_parser.parse_retry_after(value.strip())))
    except Exception:
        return None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped; an immutable value like urllib3's Retry."""

    attempts: int = 5  # retries after the first try
    factor: float = 0.5
    cap: float = 60.0
    retry_after_cap: float = 300.0
    attempt: int = 0
    rng: random.Random | None = None

    @property
    def exhausted(self) -> bool:
        return self.attempt >= self.attempts

    def increment(self) -> Backoff:
        return replace(self, attempt=self.attempt + 1)

    def delay(self, retry_after: str | None = None) -> float:
        """Seconds before the next try: Retry-After if the server sent one (capped), else jittered backoff."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.retry_after_cap)
        ceiling = min(self.cap, self.factor * (2**self.attempt))
        rng = self.rng or random
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def sleep(seconds: float) -> None:
    """Indirection so tests can count waits without sleeping."""
    if seconds > 0:
        time.sleep(seconds)
