"""synckit.oauth: the client-credentials fetch, its parsing, and its use by RefreshingToken."""

from __future__ import annotations

import pytest

from simulators.accelo import AcceloSim
from simulators.harness import Server
from synckit import AuthError, Http, RefreshingToken, ResponseError
from synckit.oauth import client_credentials, parse_token
from synckit.policy import Backoff
from synckit.redact import mask

CID, SECRET = "demo@planet-express.accelo.com", "demo-secret"


@pytest.mark.parametrize("body,expected", [
    ({"access_token": "abc123", "token_type": "Bearer", "expires_in": "2592000"}, ("abc123", 2592000.0)),
    ({"access_token": "abc123", "token_type": "bearer", "expires_in": 60}, ("abc123", 60.0)),
    ({"access_token": "abc123"}, ("abc123", 3600.0)),
])
def test_parse_token_accepts_both_documented_forms(body, expected):
    assert parse_token(body) == expected
    assert mask("token abc123") == "token ***"


@pytest.mark.parametrize("body", [
    [], {"token_type": "Bearer"}, {"access_token": ""}, {"access_token": "abcd", "token_type": "mac"},
    {"access_token": "abcd", "expires_in": "soon"}, {"access_token": "abcd", "expires_in": "-5"},
])
def test_parse_token_rejects_malformed_answers(body):
    with pytest.raises(ResponseError):
        parse_token(body)


@pytest.mark.parametrize("send", ["basic", "body"])
def test_fetch_against_the_simulator(send):
    sim = AcceloSim({})
    with Server(sim) as server:
        fetch = client_credentials(Http(server.url), "/oauth2/v0/token", CID, SECRET, scope="read(all)", send=send)
        token, lifetime = fetch()
        assert token in sim.tokens and lifetime == 2592000.0


def test_refused_credentials_fail_once_without_looping():
    sim = AcceloSim({})
    with Server(sim) as server:
        fetch = client_credentials(Http(server.url, backoff=Backoff(attempts=3)), "/oauth2/v0/token", CID,
                                   "wrong-secret-value")
        with pytest.raises(AuthError) as info:
            fetch()
        assert "Client authentication failed" in str(info.value)
        assert "wrong-secret-value" not in str(info.value)
        assert sim.requests_to("/oauth2/") == 1


def test_refreshing_token_renews_before_expiry_with_the_fetch():
    sim = AcceloSim({})
    now = [0.0]
    with Server(sim) as server:
        fetch = client_credentials(Http(server.url), "/oauth2/v0/token", CID, SECRET, extra={"expires_in": "600"})
        auth = RefreshingToken(fetch, margin=60, clock=lambda: now[0])
        first = auth.token()
        now[0] = 500.0
        assert auth.token() == first and auth.acquired == 1
        now[0] = 541.0  # within the margin of expiry: renewed before the server would refuse it
        assert auth.token() != first and auth.acquired == 2
        assert auth.invalidate() and auth.token() and auth.acquired == 3
        assert sim.tokens_issued == 3


def test_send_must_be_known():
    with pytest.raises(ValueError):
        client_credentials(Http("http://127.0.0.1:9"), "/t", "a", "b", send="header")
