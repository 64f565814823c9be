"""The configuration every connector shares for breadth: which tables to sync and how deletes are checked.

    SPEC = {..., **selection.spec(TABLE_NAMES)}
    chosen = selection.chosen(cfg, TABLE_NAMES)        # names in catalogue order; empty "tables": all
    policy = selection.policy(cfg)                      # DeletePolicy(every_hours, max_share)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .config import Field
from .deletes import DeletePolicy
from .errors import ConfigError


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def spec(names: Sequence[str], *, tables_hint: str = "") -> dict[str, Field]:
    """The ``tables``, ``deletes_check_hours`` and ``max_delete_percent`` keys; ``names`` is the catalogue."""
    valid = list(names)

    def check(value: str) -> str | None:
        unknown = [n for n in _names(value) if n not in valid]
        if unknown:
            return f"unknown table {', '.join(map(repr, unknown))}; valid tables: {', '.join(valid)}"
        return None

    return {
        "tables": Field(check=check, max_length=8192, label="Tables",
                        description="comma-separated tables to sync; empty syncs all: " + ", ".join(valid)
                        + (f". {tables_hint}" if tables_hint else ""),
                        placeholder="all tables"),
        "deletes_check_hours": Field(kind=float, default=24.0, minimum=0, maximum=24 * 365,
                                     description="hours between id reconciliations that find deleted records "
                                                 "(0: every sync)"),
        "max_delete_percent": Field(kind=float, default=50.0, minimum=0, maximum=100,
                                    description="a delete check that would remove more than this share of a "
                                                "table stops and deletes nothing"),
    }


def chosen(cfg: dict[str, Any], names: Sequence[str]) -> list[str]:
    picked = _names(cfg.get("tables") or "")
    unknown = [n for n in picked if n not in names]
    if unknown:  # parse() already checked; a connector that builds cfg by hand gets the same message
        raise ConfigError("tables", f"unknown table {', '.join(map(repr, unknown))}; valid tables: "
                                    f"{', '.join(names)}")
    return [n for n in names if not picked or n in picked]


def policy(cfg: dict[str, Any], clock: Callable[[], float] | None = None) -> DeletePolicy:
    kwargs: dict[str, Any] = {"every_hours": float(cfg.get("deletes_check_hours", 24.0)),
                              "max_share": float(cfg.get("max_delete_percent", 50.0)) / 100.0}
    if clock is not None:
        kwargs["clock"] = clock
    return DeletePolicy(**kwargs)


def checkpoints(default: float = 10.0) -> dict[str, Field]:
    """The ``checkpoint_seconds`` key of connectors whose sinks are ``SpacedCheckpoints``."""
    return {"checkpoint_seconds": Field(kind=float, default=default, minimum=0, maximum=3600,
                                        description="the shortest time between two checkpoints (0: after every "
                                                    "page)")}
