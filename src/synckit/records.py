"""Record shaping: flatten nested objects, keep arrays as JSON, convert vendor strings to typed values.

Converters return None for empty input and raise ``ValueError`` naming the bad value otherwise, so a
malformed field never silently becomes a wrong number or date.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

_SCALARS = frozenset({str, int, float, bool, type(None)})
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def flatten(record: Mapping[str, Any], sep: str = "_", prefix: str = "", *, strict: bool = False) -> dict[str, Any]:
    """``{"address": {"street": "x"}, "tags": [1]}`` -> ``{"address_street": "x", "tags": "[1]"}``.

    ``strict``: two source fields that land on one column name (``a_b`` and ``a: {b}``) raise ValueError
    naming it, instead of the later one overwriting the earlier."""
    out: dict[str, Any] = {}
    _flatten_into(out, record, sep, prefix, strict)
    return out


def _flatten_into(out: dict[str, Any], record: Mapping[str, Any], sep: str, prefix: str, strict: bool) -> None:
    for key, value in record.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        kind = type(value)
        if kind in _SCALARS:  # the common case first: no ABC checks per value
            leaf = value
        elif isinstance(value, Mapping):
            if value:
                _flatten_into(out, value, sep, name, strict)  # into the same dict: one pass, no copies
                continue
            leaf = None
        elif isinstance(value, (list, tuple)):
            leaf = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        else:
            leaf = value
        if strict and name in out:
            raise ValueError(f"fields flatten to the same column name {name!r}")
        out[name] = leaf


def to_utc_iso(dt: datetime) -> str:
    """A timezone-aware datetime as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r} has no zone")
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=8192)  # cursor values repeat (ties, boundaries): parse each once
def parse_iso(value: str, default_tz: str | None = "UTC") -> datetime:
    """Parse ISO 8601 (``Z``, offsets, fractions); a value without zone is read in ``default_tz``."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        if default_tz is None:
            raise ValueError(f"timestamp {value!r} has no time zone")
        dt = dt.replace(tzinfo=ZoneInfo(default_tz))
    return dt.astimezone(timezone.utc)


def epoch(value: Any) -> str | None:
    """Epoch seconds (int or string, as Accelo sends them) -> UTC ISO string; '0'/'' -> None."""
    if value is None or value == "" or str(value) == "0":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"not an epoch timestamp: {value!r}") from None
    return to_utc_iso(datetime.fromtimestamp(seconds, tz=timezone.utc))


@functools.lru_cache(maxsize=8192)
def _iso(value: str, default_tz: str) -> str:
    return to_utc_iso(parse_iso(value, default_tz))


def is_canonical(text: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SSZ``: the form we emit, whose string order is time order."""
    return len(text) == 20 and text[19] == "Z" and text[10] == "T" and text[4] == "-" and text[13] == ":"


def iso(value: Any, default_tz: str = "UTC") -> str | None:
    """ISO string (any offset, or none: then ``default_tz``) -> UTC ISO string."""
    if value is None or value == "":
        return None
    text = str(value)
    if is_canonical(text):
        datetime.fromisoformat(text[:19])  # validates; already UTC and canonical
        return text
    return _iso(text, default_tz)


def local(value: Any, fmt: str, tz: str) -> str | None:
    """A local-time string in ``fmt`` (e.g. ``%Y/%m/%d %H:%M:%S``) in zone ``tz`` -> UTC ISO string."""
    if value is None or value == "":
        return None
    naive = datetime.strptime(str(value).strip(), fmt)
    # zoneinfo resolves DST gaps and folds by the fold attribute (0: the first occurrence).
    return to_utc_iso(naive.replace(tzinfo=ZoneInfo(tz)))


def money(value: Any) -> float | None:
    """``"1234.5000"`` or ``"$1,234.50"`` -> 1234.5; '' -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().replace(",", "").replace("$", "")
    try:
        return float(Decimal(text))
    except InvalidOperation:
        raise ValueError(f"not a money amount: {value!r}") from None


def boolean(value: Any) -> bool | None:
    """``"true"/"false"``, ``"1"/"0"``, ``"yes"/"no"`` and real booleans; '' -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"not an integer: {value!r}") from None


def number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a number: {value!r}") from None


def text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def convert(row: Mapping[str, Any], converters: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """Apply ``converters[column](value)`` to the row's columns; a failure names the column and where."""
    return _convert_into(dict(row), converters, where)


def _convert_into(row: dict[str, Any], converters: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``convert`` in place, for a row the caller has just built (no copy per record)."""
    for column, fn in converters.items():
        if column in row:
            try:
                row[column] = fn(row[column])
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{where}column '{column}': {exc}") from None
    return row


# Fivetran column types -> the converter that reads an API's value into that type.
BY_TYPE = {"STRING": text, "LONG": integer, "INT": integer, "SHORT": integer, "DOUBLE": number,
           "FLOAT": number, "DECIMAL": money, "BOOLEAN": boolean, "UTC_DATETIME": iso, "NAIVE_DATETIME": text,
           "NAIVE_DATE": text, "JSON": text}


def typed(columns: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
          sep: str = "_", *, strict: bool = True) -> Any:
    """A row function that loses nothing: declared columns converted by their type (or by ``overrides``:
    column -> converter, e.g. ``epoch``), every other field kept as it comes, nested objects flattened,
    arrays as JSON. A field the API adds later lands without a code change. Two fields that flatten to one
    column name (``a_b`` and ``a: {b}``) are an error naming it, never one silently overwriting the other.

        row = typed({"id": "LONG", "date_modified": "UTC_DATETIME"}, {"date_modified": epoch})"""
    converters: dict[str, Any] = {}
    for column, kind in columns.items():
        if overrides and column in overrides:
            converters[column] = overrides[column]
        elif isinstance(kind, str) and kind in BY_TYPE:
            converters[column] = BY_TYPE[kind]
    for column in overrides or {}:
        converters.setdefault(column, overrides[column])  # type: ignore[index]

    def shape(record: Mapping[str, Any]) -> dict[str, Any]:
        return _convert_into(flatten(record, sep, strict=strict), converters)

    return shape
