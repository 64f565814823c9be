"""Hostile responses for any simulator: a WSGI wrapper that, after the k-th request to a path, mangles
successful JSON responses in one of several ways (every time, so retries cannot hide it, unless
``once``). Used to prove a connector fails clearly before its cursor moves, or handles the record."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

VARIANTS = ("truncated", "html200", "wrong_envelope", "missing_pk", "number_for_string", "long_string",
            "unicode", "nulls")
FAILING = {"truncated", "html200", "wrong_envelope", "missing_pk"}  # must fail the sync clearly
UNICODE = "Zoë 🚀 中文 العربية \u202eevil\u202c \"quoted\" \\ back"


def _records(body: Any, key: str) -> list[dict]:
    """Every dict in the body that carries the record key (depth-first)."""
    found: list[dict] = []
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if key in item:
                found.append(item)
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _string_field(record: dict, key: str) -> str | None:
    for name, value in record.items():
        if name != key and isinstance(value, str) and not value.replace("-", "").replace(":", "").isdigit():
            return name
    return None


class Hostile:
    def __init__(self, app: Callable, variant: str, record_key: str, path: str, after: int = 0, once: bool = False):
        assert variant in VARIANTS
        self.app, self.variant, self.key, self.path, self.after, self.once = app, variant, record_key, path, after, once
        self.seen = 0
        self.mangled = 0

    def __getattr__(self, name: str) -> Any:  # behave like the wrapped simulator (truth, log, ...)
        return getattr(self.app, name)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        if not request.path.startswith(self.path) or (self.once and self.mangled):
            return self.app(environ, start_response)
        self.seen += 1
        if self.seen <= self.after:
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        status = captured["status"]
        headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "content-type")]
        ctype = dict((k.lower(), v) for k, v in captured["headers"]).get("content-type", "")
        if not status.startswith("200") or "json" not in ctype:
            response = Response(body, status=status, headers=headers, content_type=ctype or None)
            return response(environ, start_response)
        new = self.mangle(body)
        if new is None:
            response = Response(body, status=status, headers=headers, content_type=ctype)
        else:
            self.mangled += 1
            content, ctype = new
            response = Response(content, status=200, headers=headers, content_type=ctype)
        return response(environ, start_response)

    def mangle(self, body: bytes) -> tuple[bytes, str] | None:
        v = self.variant
        if v == "truncated":
            return body[: max(1, len(body) // 2)], "application/json"
        if v == "html200":
            return b"<html><body><h1>Down for maintenance</h1></body></html>", "text/html"
        if v == "wrong_envelope":
            return json.dumps({"unexpected": "shape", "items": "none"}).encode(), "application/json"
        data = json.loads(body)
        records = _records(data, self.key)
        if not records:
            return None
        record = records[0]
        if v == "missing_pk":
            del record[self.key]
        elif v == "nulls":
            for name in record:
                if name != self.key and not isinstance(record[name], (dict, list)):
                    record[name] = None
        else:
            field = _string_field(record, self.key)
            if field is None:
                return None
            if v == "number_for_string":
                record[field] = 12345
            elif v == "long_string":
                record[field] = "x" * 1_000_000
            elif v == "unicode":
                record[field] = UNICODE
        return json.dumps(data).encode(), "application/json"
