"""Http against a real local server whose responses are scripted per request."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from werkzeug.wrappers import Request, Response

from simulators.harness import Faults, Server, SimApp, json_response
from synckit.auth import ApiKeyHeader, RefreshingToken
from synckit.errors import ApiError, AuthError, PagingError, ResponseError, RetriesExhausted
from synckit.http import Http
from synckit.policy import Backoff


class Scripted(SimApp):
    """Returns the scripted responses in order, then 200 {"ok": true}."""

    def __init__(self, script: list[Callable[[Request], Response]] | None = None, **kw):
        super().__init__(**kw)
        self.script = list(script or [])
        self.seen: list[Request] = []

    def handle(self, request: Request) -> Response:
        self.seen.append(request)
        if self.script:
            return self.script.pop(0)(request)
        return json_response({"ok": True, "auth": request.headers.get("Authorization"),
                              "key": request.headers.get("apiKey")})


def status(code: int, body: object = None, headers: dict | None = None):
    return lambda r: json_response(body if body is not None else {"message": f"status {code}"}, code, headers)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(server: Server, sleeps: Sleeps | None = None, **kw) -> Http:
    sleep = sleeps if sleeps is not None else Sleeps()
    return Http(server.url, kw.pop("auth", ApiKeyHeader("key-abcdef", "apiKey")), sleep=sleep,
                backoff=kw.pop("backoff", Backoff(attempts=4, factor=0.01)), timeout=kw.pop("timeout", 5), **kw)


def test_success_sends_auth_and_timeout():
    app = Scripted()
    with Server(app) as server:
        body = client(server).get_json("/x", params={"a": 1})
    assert body["key"] == "key-abcdef"
    assert app.seen[0].args["a"] == "1"


@pytest.mark.parametrize("code", [429, 500, 502, 503])
def test_transient_statuses_are_retried(code):
    app = Scripted([status(code), status(code)])
    sleeps = Sleeps()
    with Server(app) as server:
        http = client(server, sleeps)
        assert http.get_json("/x")["ok"]
    assert len(sleeps) == 2 and http.stats.retries == 2


def test_retry_after_seconds_and_date_are_honoured():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    app = Scripted([status(429, headers={"Retry-After": "7"}), status(503, headers={"Retry-After": when})])
    sleeps = Sleeps()
    with Server(app) as server:
        http = client(server, sleeps)
        http.get_json("/x")
    assert sleeps[0] == 7 and 15 <= sleeps[1] <= 21
    assert http.stats.rate_limited == 1


def test_retry_after_is_capped():
    app = Scripted([status(429, headers={"Retry-After": "99999"})])
    sleeps = Sleeps()
    with Server(app) as server:
        client(server, sleeps, backoff=Backoff(attempts=2, retry_after_cap=30)).get_json("/x")
    assert sleeps == [30]


@pytest.mark.parametrize("code", [400, 403, 404])
def test_client_errors_fail_at_once_with_the_server_message(code):
    app = Scripted([status(code, {"message": "you asked for something odd"})])
    with Server(app) as server:
        with pytest.raises(ApiError) as info:
            client(server).get("/x")
    assert info.value.status == code and "you asked for something odd" in str(info.value)
    assert len(app.seen) == 1


def test_retries_are_exhausted():
    app = Scripted([status(500)] * 10)
    with Server(app) as server:
        with pytest.raises(RetriesExhausted) as info:
            client(server, backoff=Backoff(attempts=2, factor=0.01)).get("/x")
    assert "3 attempts" in str(info.value) and "500" in str(info.value)


def test_dropped_connection_and_slow_response_are_retried():
    app = Scripted(faults=Faults(forced=["drop", "slow"], slow_seconds=1.5))
    with Server(app) as server:
        http = client(server, timeout=0.5)
        assert http.get_json("/x")["ok"]
    assert http.stats.transport_errors == 2


def test_malformed_json_is_retried_then_reported():
    app = Scripted(faults=Faults(forced=["malformed"]))
    with Server(app) as server:
        assert client(server).get_json("/x")["ok"]
    app = Scripted(faults=Faults(forced=["malformed"] * 5))
    with Server(app) as server:
        with pytest.raises(ResponseError) as info:
            client(server, backoff=Backoff(attempts=1, factor=0.01)).get_json("/x")
    assert "unreadable body" in str(info.value)


def test_401_reacquires_the_token_once():
    tokens = iter(["tok-first-111", "tok-second-222", "tok-third-333"])
    auth = RefreshingToken(lambda: (next(tokens), 3600))
    app = Scripted([status(401)])
    with Server(app) as server:
        body = client(server, auth=auth).get_json("/x")
    assert body["auth"] == "Bearer tok-second-222" and auth.acquired == 2
    app = Scripted([status(401), status(401, {"message": "token tok-third-333 revoked"})])
    with Server(app) as server:
        with pytest.raises(AuthError) as info:
            client(server, auth=RefreshingToken(lambda: (next(tokens, "tok-x-4444"), 3600))).get("/x")
    assert "tok-third-333" not in str(info.value)


def test_static_key_401_fails_without_a_loop():
    app = Scripted([status(401, {"message": "Authorization failed"})])
    with Server(app) as server:
        with pytest.raises(AuthError, match="Authorization failed"):
            client(server).get("/x")
    assert len(app.seen) == 1


def test_token_renewed_before_expiry():
    now = [0.0]
    issued = []

    def fetch():
        issued.append(1)
        return f"token-{len(issued):04d}", 100

    auth = RefreshingToken(fetch, margin=10, clock=lambda: now[0])
    assert auth.token() == "token-0001"
    now[0] = 89
    assert auth.token() == "token-0001"
    now[0] = 91
    assert auth.token() == "token-0002"


def test_cross_origin_urls_and_redirects_are_refused():
    app = Scripted([lambda r: Response("", 302, headers={"Location": "https://evil.example.com/steal"})])
    with Server(app) as server:
        http = client(server)
        with pytest.raises(PagingError):
            http.get("https://evil.example.com/x")
        with pytest.raises(PagingError):
            http.get("/x")
    assert all("evil" not in r.host for r in app.seen)


def test_same_origin_redirect_is_followed():
    app = Scripted([lambda r: Response("", 302, headers={"Location": "/y"})])
    with Server(app) as server:
        assert client(server).get_json("/x")["ok"]
    assert [r.path for r in app.seen] == ["/x", "/y"]


def test_rate_limit_headers_feed_the_limiter():
    app = Scripted([status(200, {"ok": True}, {"X-RateLimit-Remaining": "42", "X-RateLimit-Reset": "60"})])
    with Server(app) as server:
        http = client(server)
        http.get("/x")
    assert http.limiter.remaining == 42


def test_secrets_are_masked_in_errors():
    app = Scripted([status(400, {"message": "bad key key-abcdef given"})])
    with Server(app) as server:
        with pytest.raises(ApiError) as info:
            client(server).get("/x", params={"api_key": "key-abcdef"})
    assert "key-abcdef" not in str(info.value)


def test_json_helper_decodes_bodies():
    app = Scripted([lambda r: Response(json.dumps([1, 2]), 200, content_type="application/json")])
    with Server(app) as server:
        assert client(server).get_json("/x") == [1, 2]


def test_parallel_401s_renew_the_token_once():
    tokens = iter(["tok-a-1111", "tok-b-2222", "tok-c-3333"])
    auth = RefreshingToken(lambda: (next(tokens), 3600))
    assert auth.token() == "tok-a-1111"
    auth.invalidate("Bearer tok-a-1111")  # the first worker's 401
    assert auth.token() == "tok-b-2222"
    auth.invalidate("Bearer tok-a-1111")  # a second worker's 401 for the same old token
    assert auth.token() == "tok-b-2222" and auth.acquired == 2
