"""A registry of secret strings and a masking function applied to every message we emit."""

from __future__ import annotations

import logging
import re
import threading

_MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
# Query parameters and headers whose values are secret whatever they hold.
_SECRET_PARAMS = re.compile(
    r"(?i)((?:access_token|token|api_?key|apikey|client_secret|password|secret)=)[^&\s]+"
)


def register(*values: str | None) -> None:
    """Remember values that must never be printed (short values are ignored: they mask too much)."""
    with _lock:
        for value in values:
            if value and len(value) >= 4:
                _secrets.add(value)


def mask(text: object) -> str:
    """Return text with every registered secret and secret-looking query value replaced."""
    out = str(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in out:
            out = out.replace(secret, _MASK)
    return _SECRET_PARAMS.sub(lambda m: m.group(1) + _MASK, out)


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = ()
        return True
