"""Logging through the SDK's logger when it is present, always passed through the secret mask."""

from __future__ import annotations

import logging

from . import redact

try:  # the SDK is present wherever connectors run; tests of the toolkit alone may not have it
    from fivetran_connector_sdk import Logging as _sdk
except ImportError:  # pragma: no cover
    _sdk = None

_std = logging.getLogger("synckit")
_debug = False


def set_debug(enabled: bool) -> None:
    """Turn request-level debug lines on (they never carry secrets)."""
    global _debug
    _debug = enabled


def debug(message: str) -> None:
    if not _debug:
        return
    text = redact.mask(message)
    if _sdk is not None:
        _sdk.fine(text)
    else:
        _std.debug(text)


def info(message: str) -> None:
    text = redact.mask(message)
    _sdk.info(text) if _sdk is not None else _std.info(text)


def warning(message: str) -> None:
    text = redact.mask(message)
    _sdk.warning(text) if _sdk is not None else _std.warning(text)


def severe(message: str) -> None:
    text = redact.mask(message)
    _sdk.severe(text) if _sdk is not None else _std.error(text)
