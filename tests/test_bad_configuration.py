"""Malformed configurations for every connector, derived from its SPEC: each is rejected before any
request with a message naming the key and without any secret; state and sink are untouched."""

from __future__ import annotations

import copy

import pytest

from simulators.harness import Server
from synckit.config import Field
from synckit.errors import ConfigError
from synckit.sink import MemorySink
from tools.vendors import connector, kits

KITS = kits()


def malformed(spec: dict[str, Field], good: dict[str, str]) -> list[tuple[dict[str, str], str]]:
    """(configuration, key that must be named) pairs covering each field's ways of being wrong."""
    out: list[tuple[dict[str, str], str]] = []

    def with_(key: str, value: str | None) -> dict[str, str]:
        cfg = dict(good)
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
        return cfg

    for key, field in spec.items():
        if field.required:
            out += [(with_(key, None), key), (with_(key, ""), key), (with_(key, "   "), key)]
        if field.kind is int:
            out += [(with_(key, "abc"), key), (with_(key, "1.5"), key)]
            if field.minimum is not None:
                out.append((with_(key, str(int(field.minimum) - 1)), key))
            if field.maximum is not None:
                out.append((with_(key, str(int(field.maximum) + 1)), key))
        elif field.kind is float:
            out += [(with_(key, "abc"), key), (with_(key, "nan"), key)]
        elif field.kind is bool:
            out.append((with_(key, "maybe"), key))
        elif field.kind == "url":
            out += [(with_(key, "ftp://api.example.com"), key), (with_(key, "not a url"), key),
                    (with_(key, "http://api.example.com"), key), (with_(key, "https://u:p@api.example.com"), key)]
        elif field.kind == "date":
            out.append((with_(key, "31/12/2024"), key))
        elif field.choices:
            out.append((with_(key, "bogus-choice"), key))
        if field.kind is str and field.ascii_only and not field.choices:
            out.append((with_(key, "naïve-valüe"), key))
        out.append((with_(key, " padded"), key))
        out.append((with_(key, "x" * 5000), key))
    out.append(({**good, "unexpected_key": "1"}, "unexpected_key"))
    out.append(({**good, next(iter(spec)) + "s": "1"}, next(iter(spec)) + "s"))
    return out


CASES = []
for _name, _kit in KITS.items():
    _spec = connector(_name).SPEC
    _sim = _kit.make(1)
    _good = _kit.config(_sim, "http://127.0.0.1:9")
    for _i, (_cfg, _key) in enumerate(malformed(_spec, _good)):
        CASES.append(pytest.param(_name, _cfg, _key, id=f"{_name}-{_i}-{_key}"))


def test_at_least_twenty_per_connector():
    for name in KITS:
        assert sum(1 for c in CASES if c.values[0] == name) >= 20, name


@pytest.mark.parametrize("name, config, key", CASES)
def test_rejected_before_any_request(name, config, key):
    kit = KITS[name]
    sim = kit.make(5)
    with Server(sim) as server:
        config = {k: (v.replace("http://127.0.0.1:9", server.url) if isinstance(v, str) else v)
                  for k, v in config.items()}
        state = {"tables": {"x": {"cursor": "2024-01-01T00:00:00Z"}}}
        original = copy.deepcopy(state)
        sink = MemorySink()
        with pytest.raises(ConfigError) as info:
            connector(name).update(config, state, sink)
    message = str(info.value)
    assert f"'{key}'" in message, message
    secrets: list[str] = []
    for k, field in connector(name).SPEC.items():
        if field.secret and config.get(k) and len(config[k].strip()) >= 4:
            secrets.append(config[k].strip())
    assert not any(s in message for s in secrets), "a secret appears in the message"
    assert sim.count == 0, "a request was sent before the configuration was validated"
    assert state == original and sink.ops == []
