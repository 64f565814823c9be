"""Child tables: a parent record's nested array lands as rows of ``<parent>_<child>``, replaced with the parent.

The SDK can only delete a row by its key, so to delete the children that vanished from a parent we must
know which it had. The state keeps, per child table, each parent's child keys (a count for positional
children): ``{"invoices_lines": {"17": [1, 2, 3]}, "invoices_notes": {"17": 2}}``. Parents without children
take no entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .keyset import key_row, key_value
from .sink import Sink
from .table import Child, Table


def child_rows(table: Table, child: Child, record: dict[str, Any], parent_row: dict[str, Any]) -> list[dict]:
    """The child table's rows for one parent record (its raw ``child.field``)."""
    value = record.get(child.field)
    parent = {col: parent_row[k] for k, col in table.parent_columns().items()}
    where = f"table '{table.name}', child '{child.field}': "
    if value is None or value == "" or value == [] or value == {}:
        return []
    if child.mapping:
        if isinstance(value, list):  # an empty object sometimes arrives as []; anything else is a wrong shape
            raise ValueError(f"{where}expected an object of custom fields, got a list")
        if not isinstance(value, dict):
            raise ValueError(f"{where}expected an object, got {type(value).__name__}")
        return [{**parent, "field": str(k), "value": _text(v)} for k, v in value.items()]
    if isinstance(value, dict):
        value = [value]  # a one-element array that an XML-born API sends as a bare object
    if not isinstance(value, list):
        raise ValueError(f"{where}expected an array, got {type(value).__name__}")
    out = []
    for position, element in enumerate(value):
        shaped = child.row(element) if isinstance(element, dict) else {"value": _text(element)}
        row = {**shaped, **parent}
        if child.key:
            missing = [k for k in child.key if row.get(k) in (None, "")]
            if missing:
                raise ValueError(f"{where}element {position + 1} has no {', '.join(missing)}")
        else:
            row["position"] = position
        out.append(row)
    return out


def _text(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return value


def strip(table: Table, record: dict[str, Any]) -> dict[str, Any]:
    """The parent record without the fields its child tables carry (they land there, not as JSON here)."""
    if not table.children:
        return record
    fields = {c.field for c in table.children}
    return {k: v for k, v in record.items() if k not in fields}


COMMON = "*"  # in a mapping child's index: the field names most parents share, stored once


class ChildIndex:
    """Which children each parent has in the warehouse, kept in the state entry ``children``.

    Custom fields (mapping children) usually carry the same field names on every record, so the first
    non-empty set of names is stored once under ``"*"`` and a parent whose names equal it takes no entry.
    A parent absent from the index is taken to hold that common set: at worst its next change deletes rows
    it never had, which the destination ignores."""

    def __init__(self, table: Table, entry: dict[str, Any]):
        self.table = table
        self.index: dict[str, dict[str, Any]] = entry.setdefault("children", {})

    def replace(self, sink: Sink, parent_row: dict[str, Any], rows_by_child: Iterable[tuple[Child, list[dict]]]
                ) -> None:
        """Upsert the parent's current children and delete those it no longer has."""
        parent_key = str(key_value(parent_row, self.table.primary_key))
        for child, rows in rows_by_child:
            name = child.table(self.table.name)
            known = self.index.setdefault(name, {})
            parent = {col: parent_row[k] for k, col in self.table.parent_columns().items()}
            old = known.get(parent_key, known.get(COMMON) if child.mapping else None)
            for row in rows:
                sink.upsert(name, row)
            if child.key or child.mapping:
                own = child.own_key()
                new = [key_value(r, own) for r in rows]
                gone = set(old or []) - set(new)
                for key in sorted(gone, key=str):
                    sink.delete(name, {**parent, **key_row(key, own)})
                stored: Any = sorted(new, key=str) if child.mapping else new  # one order: sets compare equal
            else:
                for position in range(len(rows), old or 0):
                    sink.delete(name, {**parent, "position": position})
                stored = len(rows)
            if child.mapping:
                if rows and COMMON not in known:
                    known[COMMON] = stored
                if stored == known.get(COMMON) or (not rows and COMMON not in known):
                    known.pop(parent_key, None)
                else:
                    known[parent_key] = stored
            elif rows:
                known[parent_key] = stored
            else:
                known.pop(parent_key, None)

    def delete_parent(self, sink: Sink, keys: dict[str, Any]) -> None:
        """The parent was deleted: its children go with it."""
        parent_key = str(key_value(keys, self.table.primary_key))
        parent = {col: keys[k] for k, col in self.table.parent_columns().items()}
        for child in self.table.children:
            name = child.table(self.table.name)
            known = self.index.get(name, {})
            old = known.pop(parent_key, known.get(COMMON) if child.mapping else None)
            if old is None:
                continue
            if isinstance(old, int):
                for position in range(old):
                    sink.delete(name, {**parent, "position": position})
            else:
                for key in old:
                    sink.delete(name, {**parent, **key_row(key, child.own_key())})
