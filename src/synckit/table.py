"""A table is a value: everything the sync loop, ``schema()`` and the data-model docs need to know of it.

    INVOICES = Table(
        name="invoices", primary_key=("id",),
        columns={"id": "LONG", "date_modified": "UTC_DATETIME", "amount": "DOUBLE"},  # typed; others land as-is
        cursor="date_modified",                 # a row field holding a UTC ISO timestamp, or None
        fetch=reader.pages,                     # Iterator[Page] for Window(since, resume)
        row=shape_invoice,                      # raw record -> row with declared types
        read="cursor",                          # cursor | full | window | fanout | feed (see READS)
        refs={"company_id": "companies.id"},    # foreign keys, drawn in the data-model picture
        children=(Child("lines", key=("id",)),),  # table invoices_lines, replaced with each parent
        deletes=(Reconcile(count=..., ids_between=...),),  # how removed records are found (synckit.deletes)
    )
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .paging import Page
from .records import flatten

READS = {
    "cursor": "incremental: records with the cursor at or after the last committed value",
    "window": "incremental by a frozen date window, paged by id (the API filters but cannot sort on the date)",
    "full": "full re-read every sync",
    "fanout": "per parent: one listing for each parent record",
    "feed": "change feed: the API lists what changed since the last position",
}


def snake(name: str) -> str:
    """Fivetran's naming of tables and columns: ``customFields`` -> ``custom_fields``."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.lower().strip("_")


@dataclass(frozen=True)
class Window:
    """What a fetch function must return: records with cursor >= ``since`` (None: all), continuing
    after ``resume`` (a token from an earlier Page.next of the same traversal; None: from the start)."""

    since: datetime | None
    resume: Any = None


@dataclass(frozen=True)
class Child:
    """A nested array (or object) of the parent's records, landed as table ``<parent>_<name>``.

    Its primary key is the parent's key (as ``parent_<column>``) plus the child's own ``key`` fields, or
    ``position`` (the index in the array) when it has none. ``mapping=True`` reads an object
    ``{"field": value}`` as key/value rows (``field``, ``value``): custom fields held as one object.
    Elements that are not objects land as ``value``. When a parent is upserted, its children that
    vanished from it are deleted."""

    field: str
    key: tuple[str, ...] = ()
    columns: Mapping[str, Any] = field(default_factory=dict)
    refs: Mapping[str, str] = field(default_factory=dict)
    mapping: bool = False
    name: str = ""
    row: Callable[[dict], dict] = flatten
    doc: str = ""

    def table(self, parent: str) -> str:
        return f"{parent}_{self.name or snake(self.field)}"

    def own_key(self) -> tuple[str, ...]:
        if self.mapping:
            return ("field",)
        return self.key or ("position",)


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: tuple[str, ...]
    fetch: Callable[[Window], Iterator[Page]]
    columns: Mapping[str, Any] = field(default_factory=dict)
    cursor: str | None = None
    row: Callable[[dict], dict] = flatten
    lookback: timedelta = timedelta(0)
    read: str = ""  # one of READS; derived from the cursor when empty
    refs: Mapping[str, str] = field(default_factory=dict)  # column -> "table.column"
    children: tuple[Child, ...] = ()
    deletes: tuple[Any, ...] = ()  # synckit.deletes mechanisms, run in order
    doc: str = ""  # one line for the data-model docs: what the table holds, a vendor quirk

    def __post_init__(self) -> None:
        if not self.read:
            object.__setattr__(self, "read", "cursor" if self.cursor else "full")
        if self.read not in READS:
            raise ValueError(f"table {self.name}: read {self.read!r} is not one of {', '.join(READS)}")
        if not self.primary_key:
            raise ValueError(f"table {self.name}: a primary key is required")

    def parent_columns(self) -> dict[str, str]:
        """The child tables' columns naming this parent: ``parent_<key column>``."""
        return {k: f"parent_{k}" for k in self.primary_key}

    def child_schema(self, child: Child) -> dict[str, Any]:
        parent = self.parent_columns()
        columns: dict[str, Any] = {parent[k]: self.columns.get(k, "STRING") for k in self.primary_key}
        if child.mapping:
            columns.update({"field": "STRING", "value": "STRING"})
        elif not child.key:
            columns["position"] = "INT"
        columns.update(child.columns)
        return {"table": child.table(self.name), "primary_key": [*parent.values(), *child.own_key()],
                "columns": columns}

    def schema(self) -> dict[str, Any]:
        return {"table": self.name, "primary_key": list(self.primary_key), "columns": dict(self.columns)}

    def schemas(self) -> list[dict[str, Any]]:
        """This table's schema entry and one per child table."""
        return [self.schema(), *(self.child_schema(c) for c in self.children)]

    def child_refs(self, child: Child) -> dict[str, str]:
        parent = self.parent_columns()
        return {**{parent[k]: f"{self.name}.{k}" for k in self.primary_key}, **child.refs}


def schema_of(tables: list[Table]) -> list[dict[str, Any]]:
    """``schema()`` for the SDK: every table and child table, from the declarations."""
    return [entry for table in tables for entry in table.schemas()]
