"""The set of primary keys a table holds in the warehouse, small enough to live in the sync state.

Deletes found by snapshot comparison or id reconciliation need to know which keys were delivered, and
the state is the only thing that survives between syncs. Integer ids, which most APIs hand out densely,
are kept as closed ranges (``[[1, 1000], [1002, 5000]]``): a million dense ids cost a few bytes, and
each delete splits at most one range. Other keys (strings, composite keys as JSON) are kept one by one
(a set in memory, a sorted list in the state).

    keys = KeySet.load(entry.get("keys"))
    keys.add(17); keys.discard(3)
    entry["keys"] = keys.dump()
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator
from typing import Any


def key_value(row: dict[str, Any], primary_key: tuple[str, ...]) -> Any:
    """One hashable, JSON-able value for a row's key: the value itself for a one-column key whose value is
    an int or a string, else a JSON text of the values."""
    if len(primary_key) == 1:
        value = row[primary_key[0]]
        if isinstance(value, bool):
            return json.dumps([value])
        if isinstance(value, int) or (isinstance(value, str) and not value.startswith("[")):
            return value
        return json.dumps([value], default=str)
    return json.dumps([row[k] for k in primary_key], default=str)


def key_row(value: Any, primary_key: tuple[str, ...]) -> dict[str, Any]:
    """The inverse of ``key_value``: the key columns the SDK's delete needs."""
    if len(primary_key) == 1 and not (isinstance(value, str) and value.startswith("[")):
        return {primary_key[0]: value}
    values = json.loads(value)
    return dict(zip(primary_key, values, strict=True))


class KeySet:
    """Integers as sorted disjoint closed ranges; other keys in a sorted list."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._other: set[str] = set()

    # -- persistence ------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> KeySet:
        out = cls()
        if not data:
            return out
        for start, end in data.get("ranges", []):
            out._starts.append(int(start))
            out._ends.append(int(end))
        out._other = {str(k) for k in data.get("other", [])}
        return out

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._starts:
            out["ranges"] = [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]
        if self._other:
            out["other"] = sorted(self._other)
        return out

    def dump_ints(self) -> dict[str, Any]:
        """Only the integer ranges: cheap enough to write at every checkpoint."""
        return {"ranges": [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]} if self._starts else {}

    @property
    def has_others(self) -> bool:
        return bool(self._other)

    # -- the set ----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(e - s + 1 for s, e in zip(self._starts, self._ends, strict=True)) + len(self._other)

    def __contains__(self, key: Any) -> bool:
        if isinstance(key, int) and not isinstance(key, bool):
            i = bisect.bisect_right(self._starts, key) - 1
            return i >= 0 and key <= self._ends[i]
        return str(key) in self._other

    def __iter__(self) -> Iterator[Any]:
        for s, e in zip(self._starts, self._ends, strict=True):
            yield from range(s, e + 1)
        yield from sorted(self._other)

    def add(self, key: Any) -> None:
        if not (isinstance(key, int) and not isinstance(key, bool)):
            self._other.add(str(key))
            return
        i = bisect.bisect_right(self._starts, key) - 1
        if i >= 0 and key <= self._ends[i]:
            return
        joins_left = i >= 0 and self._ends[i] == key - 1
        joins_right = i + 1 < len(self._starts) and self._starts[i + 1] == key + 1
        if joins_left and joins_right:
            self._ends[i] = self._ends[i + 1]
            del self._starts[i + 1], self._ends[i + 1]
        elif joins_left:
            self._ends[i] = key
        elif joins_right:
            self._starts[i + 1] = key
        else:
            self._starts.insert(i + 1, key)
            self._ends.insert(i + 1, key)

    def discard(self, key: Any) -> None:
        if not (isinstance(key, int) and not isinstance(key, bool)):
            self._other.discard(str(key))
            return
        i = bisect.bisect_right(self._starts, key) - 1
        if i < 0 or key > self._ends[i]:
            return
        start, end = self._starts[i], self._ends[i]
        if start == end:
            del self._starts[i], self._ends[i]
        elif key == start:
            self._starts[i] = key + 1
        elif key == end:
            self._ends[i] = key - 1
        else:
            self._ends[i] = key - 1
            self._starts.insert(i + 1, key + 1)
            self._ends.insert(i + 1, end)

    def update(self, keys: Iterable[Any]) -> None:
        for key in keys:
            self.add(key)

    def count_between(self, lo: int, hi: int) -> int:
        """How many integer keys k with lo <= k < hi."""
        total = 0
        i = max(0, bisect.bisect_right(self._starts, lo) - 1)
        while i < len(self._starts) and self._starts[i] < hi:
            s, e = max(self._starts[i], lo), min(self._ends[i], hi - 1)
            if e >= s:
                total += e - s + 1
            i += 1
        return total

    def ints_between(self, lo: int, hi: int) -> Iterator[int]:
        i = max(0, bisect.bisect_right(self._starts, lo) - 1)
        while i < len(self._starts) and self._starts[i] < hi:
            yield from range(max(self._starts[i], lo), min(self._ends[i], hi - 1) + 1)
            i += 1

    @property
    def int_bounds(self) -> tuple[int, int] | None:
        """(smallest, largest) integer key, or None."""
        return (self._starts[0], self._ends[-1]) if self._starts else None

    @property
    def others(self) -> list[str]:
        return sorted(self._other)
