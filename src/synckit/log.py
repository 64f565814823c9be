"""Logging through the SDK's logger while the SDK runs the connector, else the standard library's;
every message passes through the secret mask first."""

from __future__ import annotations

import logging

from . import redact

try:  # the SDK is present wherever connectors run; the toolkit alone (tests, benchmarks) may lack it
    from fivetran_connector_sdk import Logging as _sdk
except ImportError:  # pragma: no cover
    _sdk = None

_std = logging.getLogger("synckit")
_debug = False


def set_debug(enabled: bool) -> None:
    """Turn request-level debug lines on (they never carry secrets)."""
    global _debug
    _debug = enabled


def _sdk_active() -> bool:
    # The SDK sets its level when it runs update(); in-process callers (benchmarks) leave it unset.
    return _sdk is not None and getattr(_sdk, "LOG_LEVEL", None) is not None


def _emit(level: str, message: str) -> None:
    text = redact.mask(message)
    if _sdk_active():
        if level == "debug":
            # The SDK hides debug lines unless its own level allows them; ours are opt-in, so show them.
            _sdk.info("[debug] " + text)
        else:
            getattr(_sdk, level)(text)
    else:
        {"debug": _std.debug, "info": _std.info, "warning": _std.warning, "severe": _std.error}[level](text)


def debug(message: str) -> None:
    if _debug:
        _emit("debug", message)


def info(message: str) -> None:
    _emit("info", message)


def warning(message: str) -> None:
    _emit("warning", message)


def severe(message: str) -> None:
    _emit("severe", message)
