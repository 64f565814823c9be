"""Typed parsing of Fivetran's all-strings configuration.

Every key is declared once as a ``Field``; ``parse`` validates the whole configuration up front and
raises ``ConfigError`` naming the first bad key. Secret fields are registered for masking before any
message can quote them, and no message ever quotes a secret's value.

    SPEC = {
        "api_key": Field(required=True, secret=True),
        "page_size": Field(kind=int, default=100, minimum=1, maximum=100),
    }
    cfg = parse(configuration, SPEC)   # {"api_key": "...", "page_size": 100}
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from . import redact
from .errors import ConfigError

MAX_LENGTH = 2048
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Field:
    """One configuration key: its type, default, range and whether it is secret."""

    kind: type | str = str  # str, int, float, bool, "url", "date"
    required: bool = False
    default: Any = None
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    ascii_only: bool = True
    max_length: int = MAX_LENGTH
    check: Callable[[Any], str | None] | None = None  # extra rule: returns a problem or None
    description: str = ""
    label: str = ""  # the setup form's label; derived from the key when empty
    placeholder: str = ""


def parse(raw: Mapping[str, Any] | None, spec: Mapping[str, Field]) -> dict[str, Any]:
    """Validate ``raw`` against ``spec``; return typed values with defaults filled in."""
    raw = dict(raw or {})
    for key, field in spec.items():
        if field.secret and isinstance(raw.get(key), str):
            redact.register(raw[key].strip())
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(spec), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; accepted keys: {', '.join(sorted(spec))}"
        raise ConfigError(key, f"unknown key{hint}")
    out: dict[str, Any] = {}
    for key, field in spec.items():
        out[key] = _parse_one(key, raw.get(key), field)
    return out


def _describe(value: str, field: Field) -> str:
    return "the value given" if field.secret else repr(value if len(value) <= 60 else value[:57] + "...")


def _parse_one(key: str, value: Any, field: Field) -> Any:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if field.required:
            raise ConfigError(key, "is required and was " + ("missing" if value is None else "empty"))
        return field.default
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string (Fivetran passes every value as text), got {type(value).__name__}")
    if value != value.strip():
        raise ConfigError(key, "has leading or trailing whitespace; remove it")
    if len(value) > field.max_length:
        raise ConfigError(key, f"is {len(value)} characters long; at most {field.max_length} are accepted")
    if field.ascii_only and not value.isascii():
        raise ConfigError(key, "must contain ASCII characters only")
    if "\n" in value or "\r" in value or "\x00" in value:
        raise ConfigError(key, "must not contain line breaks or NUL characters")
    shown = _describe(value, field)
    parsed: Any
    if field.kind is str:
        parsed = value
    elif field.kind is int:
        try:
            parsed = int(value, 10)
        except ValueError:
            raise ConfigError(key, f"must be a whole number, got {shown}") from None
    elif field.kind is float:
        try:
            parsed = float(value)
        except ValueError:
            raise ConfigError(key, f"must be a number, got {shown}") from None
        if parsed != parsed or parsed in (float("inf"), float("-inf")):
            raise ConfigError(key, f"must be a finite number, got {shown}")
    elif field.kind is bool:
        low = value.lower()
        if low not in _TRUE | _FALSE:
            raise ConfigError(key, f"must be 'true' or 'false', got {shown}")
        parsed = low in _TRUE
    elif field.kind == "url":
        parsed = _parse_url(key, value)
    elif field.kind == "date":
        parsed = _parse_date(key, value, shown)
    else:  # pragma: no cover - a programming error in a spec
        raise TypeError(f"unknown field kind {field.kind!r}")
    if field.choices is not None and parsed not in field.choices:
        raise ConfigError(key, f"must be one of {', '.join(field.choices)}; got {shown}")
    if field.minimum is not None and parsed < field.minimum:
        raise ConfigError(key, f"must be at least {_num(field.minimum)}, got {shown}")
    if field.maximum is not None and parsed > field.maximum:
        raise ConfigError(key, f"must be at most {_num(field.maximum)}, got {shown}")
    if field.check is not None:
        problem = field.check(parsed)
        if problem:
            raise ConfigError(key, problem)
    return parsed


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _parse_url(key: str, value: str) -> str:
    """An http(s) URL with a host and no query, fragment or credentials; returned without trailing '/'."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(key, f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(key, "must start with https:// (or http:// for a local simulator)")
    if not parts.hostname:
        raise ConfigError(key, "must name a host, for example https://api.example.com")
    if " " in value or any(c in parts.hostname for c in "_%"):
        raise ConfigError(key, f"has an invalid host name {parts.hostname!r}")
    if parts.username or parts.password:
        raise ConfigError(key, "must not contain credentials; use the dedicated keys")
    if parts.query or parts.fragment:
        raise ConfigError(key, "must not contain a query string or fragment")
    if port == 0:
        raise ConfigError(key, "has port 0; ports run from 1 to 65535")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(key, "must use https:// (plain http is accepted only for 127.0.0.1/localhost)")
    return value.rstrip("/")


def is_loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or bool(host and host.startswith("127."))


def _parse_date(key: str, value: str, shown: str) -> datetime:
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(key, f"must be a date like 2024-01-31 or 2024-01-31T00:00:00Z, got {shown}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
