"""The one place that sends requests: timeout, rate limit, retries with backoff, re-auth once, typed errors.

    http = Http("https://api.example.com", auth=ApiKeyHeader(key, "apiKey"), timeout=30,
                backoff=Backoff(attempts=5), limiter=RateLimiter([(60, 60.0)]))
    data = http.get_json("/api/users", params={"page": 1})

Retries live above ``Session.send`` so that every attempt is prepared again: auth is re-applied (a fresh
HMAC timestamp, a renewed token) and every wait is counted and logged. Redirects are never followed
automatically; a redirect or absolute URL to another origin is refused so credentials stay at home.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from . import log, policy
from .budget import RateLimiter
from .errors import ApiError, AuthError, OriginError, ResponseError, RetriesExhausted
from .redact import mask

TRANSIENT_EXCEPTIONS = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass
class Stats:
    """Counters a sync reports at its end."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429s received
    server_errors: int = 0
    transport_errors: int = 0
    reauths: int = 0
    wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def server_message(response: requests.Response, limit: int = 300) -> str:
    """The server's own words: a message field of a JSON body, else the start of the text."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "Message", "error_description", "error", "errors", "statusmessage", "meta"):
            if body.get(key):
                value = body[key]
                text = value if isinstance(value, str) else json.dumps(value)
                break
    text = " ".join(text.split())
    return mask(text[:limit] or response.reason or "no message")


class Http:
    def __init__(
        self,
        base_url: str,
        auth: requests.auth.AuthBase | None = None,
        *,
        timeout: float = 30.0,
        backoff: policy.Backoff | None = None,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        allowed_origins: Iterable[str] = (),
        sleep: Callable[[float], None] = policy.sleep,
        classify: Callable[[requests.Response], policy.Action] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.backoff = backoff or policy.Backoff()
        self.limiter = limiter or RateLimiter()
        self.session = session or requests.Session()
        self.session.trust_env = False  # no proxies or netrc credentials from the environment
        self.session.verify = True
        self.headers = {"User-Agent": "synckit-connector/1.0", **dict(headers or {})}
        self._origins = {origin(self.base_url)} | {origin(u) for u in allowed_origins}
        self._sleep = sleep
        self._classify = classify or (lambda r: policy.classify(r.status_code))
        self.stats = Stats()

    def url(self, path_or_url: str) -> str:
        """Resolve a path against base_url; refuse an absolute URL on another origin."""
        if path_or_url.startswith(("http://", "https://")):
            full = path_or_url
        else:
            full = self.base_url + "/" + path_or_url.lstrip("/")
        if origin(full) not in self._origins:
            raise OriginError(f"refusing to send credentials to another origin: {mask(full)}")
        return full

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        auth: requests.auth.AuthBase | None | bool = True,
    ) -> requests.Response:
        """Send with retries; return a 2xx response or raise a typed error."""
        url = self.url(path_or_url)
        use_auth = self.auth if auth is True else (auth or None)
        backoff = self.backoff
        refused: set[str | None] = set()  # Authorization headers refused with a 401 during this request
        redirects = 0
        while True:
            self.limiter.acquire()
            request = requests.Request(
                method, url, params=params, headers={**self.headers, **dict(headers or {})},
                json=json_body, data=data, auth=use_auth,
            )
            prepared = self.session.prepare_request(request)
            self.stats.add(requests=1)
            log.debug(f"{method} {prepared.url}")
            try:
                try:
                    response = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
                finally:
                    self.limiter.finished()
            except TRANSIENT_EXCEPTIONS as exc:
                self.stats.add(transport_errors=1)
                backoff = self._retry_or_raise(backoff, f"{type(exc).__name__} on {method} {url}", None)
                continue
            self.limiter.update(response.headers)
            if response.is_redirect:
                target = urljoin(url, response.headers.get("Location", ""))
                redirects += 1
                if redirects > 5:
                    raise ApiError(response.status_code, mask(url), "too many redirects")
                url = self.url(target)  # raises for another origin
                continue
            action = self._classify(response)
            if action is policy.Action.OK:
                if refused and hasattr(use_auth, "accepted"):
                    use_auth.accepted()  # a renewed token worked
                return response
            if action is policy.Action.RETRY:
                if response.status_code == 429:
                    self.stats.add(rate_limited=1)
                else:
                    self.stats.add(server_errors=1)
                what = f"HTTP {response.status_code} on {method} {url}: {server_message(response, 120)}"
                backoff = self._retry_or_raise(backoff, what, response.headers.get("Retry-After"))
                continue
            if action is policy.Action.REAUTH and use_auth is not None:
                # One renewal per refused token, up to the auth's max_renewals (default 1) for this request.
                sent = response.request.headers.get("Authorization")
                invalidate = getattr(use_auth, "invalidate", None)
                if (invalidate is not None and sent not in refused
                        and len(refused) < getattr(use_auth, "max_renewals", 1) and invalidate(sent)):
                    refused.add(sent)
                    self.stats.add(reauths=1)
                    log.info(f"HTTP 401 on {mask(url)}: re-acquiring the token")
                    continue
            error = AuthError if response.status_code == 401 else ApiError
            note = getattr(use_auth, "refusal_note", lambda: "")() if response.status_code == 401 else ""
            raise error(response.status_code, mask(url), server_message(response) + note)

    def _retry_or_raise(self, backoff: policy.Backoff, what: str, retry_after: str | None) -> policy.Backoff:
        if backoff.exhausted:
            raise RetriesExhausted(f"gave up after {backoff.attempt + 1} attempts: {mask(what)}")
        delay = backoff.delay(retry_after)
        self.stats.add(retries=1, wait_seconds=delay)
        log.warning(f"{mask(what)}; retry {backoff.attempt + 1}/{backoff.attempts} in {delay:.1f}s")
        self._sleep(delay)
        return backoff.increment()

    def get(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path_or_url, **kwargs)

    def get_json(self, path_or_url: str, **kwargs: Any) -> Any:
        """GET and decode JSON; a truncated or malformed body is retried like a dropped connection."""
        return self.json("GET", path_or_url, **kwargs)

    def json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        return self.fetch(method, path_or_url, lambda response: response.json(), **kwargs)

    def fetch(self, method: str, path_or_url: str, parse: Callable[[requests.Response], Any], **kwargs: Any) -> Any:
        """Send, then ``parse(response)``. A ``ValueError`` from parsing (truncated JSON or CSV, a body cut
        by a dropped connection) is retried within the same backoff budget; other errors propagate."""
        backoff = self.backoff
        while True:
            response = self.request(method, path_or_url, **kwargs)
            try:
                return parse(response)
            except ValueError as exc:
                snippet = " ".join((response.text or "")[:80].split())
                what = f"unreadable body from {method} {response.url} ({type(exc).__name__}; starts {snippet!r})"
                if backoff.exhausted:
                    raise ResponseError(f"gave up after {backoff.attempt + 1} attempts: {mask(what)}") from None
                backoff = self._retry_or_raise(backoff, what, None)
