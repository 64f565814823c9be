"""Authentication strategies as ``requests.auth.AuthBase`` classes.

Each attempt of a request is prepared afresh, so a strategy sees the final URL and body and a renewed
token is used at once. ``invalidate()`` lets the HTTP loop do "401 -> re-acquire once".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from requests.auth import AuthBase

from . import redact


class ApiKeyHeader(AuthBase):
    """A static key in a header, e.g. ``apiKey: <key>``."""

    def __init__(self, key: str, header: str = "X-API-Key", extra: dict[str, str] | None = None):
        redact.register(key)
        self.key, self.header, self.extra = key, header, dict(extra or {})

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self.key
        request.headers.update(self.extra)
        return request

    def invalidate(self, sent: str | None = None) -> bool:
        return False  # a static key cannot be renewed


class BearerToken(AuthBase):
    """A static bearer token, plus optional fixed headers (an account or database name)."""

    def __init__(self, token: str, extra: dict[str, str] | None = None):
        redact.register(token)
        self.token, self.extra = token, dict(extra or {})

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        request.headers.update(self.extra)
        return request

    def invalidate(self, sent: str | None = None) -> bool:
        return False


class RefreshingToken(AuthBase):
    """A bearer token obtained by ``fetch()`` -> (token, lifetime_seconds), renewed before it expires.

    Subclasses or callers supply ``fetch`` (OAuth2 client credentials, a JWT from /authorize, ...).
    Thread-safe: parallel workers share one token and only one of them renews it.
    """

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float]],
        *,
        margin: float = 60.0,
        extra: dict[str, str] | None = None,
        scheme: str = "Bearer",
        clock: Callable[[], float] = time.monotonic,
        max_renewals: int = 1,
        useless_limit: int | None = None,
    ):
        self._fetch, self.margin, self.extra, self.scheme, self._clock = fetch, margin, dict(extra or {}), scheme, clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.acquired = 0
        # A request refused with a 401 renews the token once per refused token, up to max_renewals times
        # (Http reads it). useless_limit bounds the renewals in a row after which no request succeeded:
        # a token endpoint issuing tokens the API refuses ends the sync instead of looping (None: no bound).
        self.max_renewals, self.useless_limit, self.useless = max_renewals, useless_limit, 0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self.margin:
                token, lifetime = self._fetch()
                redact.register(token)
                self._token, self._expires_at = token, self._clock() + lifetime
                self.acquired += 1
            return self._token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"{self.scheme} {self.token()}"
        request.headers.update(self.extra)
        return request

    def invalidate(self, sent: str | None = None) -> bool:
        """Forget the token that was refused. ``sent`` is the Authorization header of the refused request:
        if another worker has already renewed the token since, the new one is kept (one renewal, not N)."""
        with self._lock:
            if sent is None or self._token is None or self._token in sent:
                if self.useless_limit is not None and self.useless >= self.useless_limit:
                    return False
                if self._token is not None:
                    self.useless += 1
                self._token = None
        return True

    def accepted(self) -> None:
        """A request sent with a renewed token succeeded: the renewals so far helped."""
        self.useless = 0

    def refusal_note(self) -> str:
        if self.useless_limit is not None and self.useless >= self.useless_limit:
            return f" (gave up after {self.useless} renewed tokens in a row were refused)"
        return ""
