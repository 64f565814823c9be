"""A table is a value: name, key, columns, cursor and a function that yields its pages.

    USERS = Table(
        name="user", primary_key=("employeeId",),
        columns={"employeeId": "STRING", "updated_at": "UTC_DATETIME"},
        cursor="updated_at",                      # a row field holding a UTC ISO timestamp, or None
        fetch=lambda window: users_pages(window), # Iterator[Page] for Window(since, resume)
        row=shape_user,                           # raw record -> row with declared types
    )
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .paging import Page
from .records import flatten


@dataclass(frozen=True)
class Window:
    """What a fetch function must return: records with cursor >= ``since`` (None: all), continuing
    after ``resume`` (a token from an earlier Page.next of the same traversal; None: from the start)."""

    since: datetime | None
    resume: Any = None


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: tuple[str, ...]
    fetch: Callable[[Window], Iterator[Page]]
    columns: Mapping[str, Any] = field(default_factory=dict)
    cursor: str | None = None
    row: Callable[[dict], dict] = flatten
    lookback: timedelta = timedelta(0)

    def schema(self) -> dict[str, Any]:
        return {"table": self.name, "primary_key": list(self.primary_key), "columns": dict(self.columns)}
