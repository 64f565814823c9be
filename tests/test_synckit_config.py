from datetime import datetime, timezone

import pytest

from synckit import redact
from synckit.config import Field, parse
from synckit.errors import ConfigError

SPEC = {
    "api_key": Field(required=True, secret=True),
    "base_url": Field(kind="url", required=True),
    "page_size": Field(kind=int, default=100, minimum=1, maximum=100),
    "ratio": Field(kind=float, default=0.5, minimum=0, maximum=1),
    "enabled": Field(kind=bool, default=True),
    "mode": Field(default="report", choices=("report", "list")),
    "start": Field(kind="date"),
}
GOOD = {"api_key": "sekrit-123", "base_url": "https://api.example.com/"}


def test_defaults_and_types():
    cfg = parse({**GOOD, "page_size": "20", "ratio": "0.25", "enabled": "false", "start": "2024-01-31"}, SPEC)
    assert cfg["base_url"] == "https://api.example.com"
    assert cfg["page_size"] == 20 and cfg["ratio"] == 0.25 and cfg["enabled"] is False
    assert cfg["mode"] == "report"
    assert cfg["start"] == datetime(2024, 1, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "change, key, words",
    [
        ({"api_key": None}, "api_key", "required"),
        ({"api_key": ""}, "api_key", "empty"),
        ({"api_key": "   "}, "api_key", "empty"),
        ({"api_key": " sekrit-123"}, "api_key", "whitespace"),
        ({"api_key": "clé-secrète"}, "api_key", "ASCII"),
        ({"api_key": "x" * 5000}, "api_key", "at most"),
        ({"base_url": "ftp://x.example.com"}, "base_url", "https://"),
        ({"base_url": "https://"}, "base_url", "host"),
        ({"base_url": "http://api.example.com"}, "base_url", "https://"),
        ({"base_url": "https://user:pw@api.example.com"}, "base_url", "credentials"),
        ({"base_url": "https://api.example.com?x=1"}, "base_url", "query"),
        ({"base_url": "https://api.example.com:99999"}, "base_url", "URL"),
        ({"base_url": "https://bad_host.example.com"}, "base_url", "host"),
        ({"page_size": "abc"}, "page_size", "whole number"),
        ({"page_size": "0"}, "page_size", "at least 1"),
        ({"page_size": "101"}, "page_size", "at most 100"),
        ({"page_size": 10}, "page_size", "string"),
        ({"page_size": "1.5"}, "page_size", "whole number"),
        ({"ratio": "nan"}, "ratio", "finite"),
        ({"enabled": "maybe"}, "enabled", "true"),
        ({"mode": "both"}, "mode", "one of"),
        ({"start": "31/01/2024"}, "start", "date"),
        ({"page_sise": "10"}, "page_sise", "did you mean 'page_size'"),
        ({"zzz": "1"}, "zzz", "unknown key"),
        ({"api_key": "abc\ndef"}, "api_key", "line breaks"),
    ],
)
def test_malformed_configurations_name_the_key(change, key, words):
    raw = {**GOOD}
    for k, v in change.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    with pytest.raises(ConfigError) as info:
        parse(raw, SPEC)
    message = str(info.value)
    assert f"'{key}'" in message and words in message
    assert "sekrit-123" not in message


def test_secret_values_are_never_quoted():
    spec = {"token": Field(secret=True, kind=int)}
    with pytest.raises(ConfigError) as info:
        parse({"token": "not-a-number-secret"}, spec)
    assert "not-a-number-secret" not in str(info.value)
    assert redact.mask("x not-a-number-secret y") == "x *** y"


def test_loopback_http_is_allowed_for_simulators():
    assert parse({**GOOD, "base_url": "http://127.0.0.1:8104"}, SPEC)["base_url"] == "http://127.0.0.1:8104"
    assert parse({**GOOD, "base_url": "http://localhost:8104/"}, SPEC)["base_url"] == "http://localhost:8104"
