"""AroFlo's HMAC-SHA512 signature: the two published vectors, the connector's signer and the simulator's check."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators import aroflo as sim_module
from tools.vendors import connector

ROOT = Path(__file__).resolve().parents[1]


def load_connector():
    return connector("aroflo")


conn = load_connector()

SECRET = "top-secret"
ACCEPT = "text/json"
AUTHORIZATION = "uencoded=test-user&pencoded=test-pass&orgEncoded=test-org"
STAMP = "2024-05-13T23:14:15.000Z"
VECTORS = [
    ("203.0.113.10",
     "zone=lastupdate&where=and%7Czonename%7C%3D%7Ctasks&order=lastupdateutc%7Casc&page=1",
     "92b116903c261939c95edf99be9dcc9d0875cadbcfe4ea39eb1610a23150eb66c978552e0a3b7f35e532120cec474decf08056d906bafea9d03"
     "47eee1fdb7ec4"),
    (None,
     "zone=lastupdate&where=and%7Czonename%7C%3D%7Cquotes&where=and%7Clastupdateutc%7C%3E%7C2022%2F02%2F01"
     "&order=lastupdateutc%7Casc&page=2&pageSize=250",
     "44b846cb9789c4bdc867f360b81e9713dde09770e92f0dd14f8ade11048c3894a8a5d92afda10818d2d63dfca4ba79817d91c0837f61fcb7217"
     "676bf2619db98"),
]


def test_published_vectors_with_the_connector_and_the_simulator():
    for host_ip, var_string, expected in VECTORS:
        assert conn.sign(SECRET, "GET", host_ip, ACCEPT, AUTHORIZATION, STAMP, var_string) == expected
        assert sim_module.signature(SECRET, "GET", host_ip, ACCEPT, AUTHORIZATION, STAMP, var_string) == expected


def test_query_builder_reproduces_the_vector_query_strings():
    assert conn.query_string("lastupdate", ["and|zonename|=|tasks"], ["lastupdateutc|asc"], 1) == VECTORS[0][1]
    assert conn.query_string("lastupdate", ["and|zonename|=|quotes", "and|lastupdateutc|>|2022/02/01"],
                             ["lastupdateutc|asc"], 2, 250) == VECTORS[1][1]
    # '*' (the IN separator) is left alone, as encodeURIComponent does; '=' '+' '/' in ids are encoded.
    expected = "zone=users&where=and%7Cuserid%7CIN%7CQQ%3D%3D*Qk%2B%2F"
    assert conn.query_string("users", ["and|userid|IN|QQ==*Qk+/"]) == expected


def test_auth_object_signs_the_prepared_request_as_sent():
    clock = lambda: datetime(2024, 5, 13, 23, 14, 15, tzinfo=timezone.utc)  # noqa: E731
    auth = conn.AroFloAuth(SECRET, "test-user", "test-pass", "test-org", "203.0.113.10", clock=clock)
    prepared = requests.Request("GET", "https://api.aroflo.com/?" + VECTORS[0][1], auth=auth).prepare()
    assert prepared.url.split("?", 1)[1] == VECTORS[0][1]  # requests did not re-encode the query
    assert prepared.headers["Authorization"] == AUTHORIZATION
    assert prepared.headers["afdatetimeutc"] == STAMP
    assert prepared.headers["HostIP"] == "203.0.113.10"
    assert prepared.headers["Accept"] == "text/json"
    assert prepared.headers["Authentication"] == "HMAC " + VECTORS[0][2]
    assert SECRET not in repr(auth)


def test_credentials_are_url_encoded_in_the_authorization_value():
    auth = conn.AroFloAuth("k" * 8, "JCQ6X+RR/UCAg==", "p=w", "org&1")
    assert auth.authorization == "uencoded=JCQ6X%2BRR%2FUCAg%3D%3D&pencoded=p%3Dw&orgEncoded=org%261"


@settings(max_examples=60, deadline=None)
@given(value=st.text(min_size=1, max_size=30).filter(lambda v: "|" not in v),
       host=st.one_of(st.none(), st.sampled_from(["203.0.113.10", "10.0.0.1"])))
def test_any_where_value_signed_by_the_connector_verifies_in_the_simulator(value, host):
    """Sign with the connector, verify with the simulator's recipe over the raw query string."""
    qs = conn.query_string("users", [conn.clause("givennames", "=", value)], page=1)
    sig = conn.sign("s3cret-key", "GET", host, ACCEPT, AUTHORIZATION, STAMP, qs)
    prepared = requests.Request("GET", "http://127.0.0.1:1/?" + qs).prepare()
    raw = prepared.url.split("?", 1)[1]
    assert raw == qs
    assert sim_module.signature("s3cret-key", "GET", host, ACCEPT, AUTHORIZATION, STAMP, raw) == sig
