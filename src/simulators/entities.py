"""Simulator entities as declarations: what a vendor simulator serves, with relations, nested arrays,
edits, inserts and deletes (cascading where the real API cascades), and the truth the tests compare with.

    WORLD = World([
        Entity("companies", 1000, build=lambda rng, i: {"name": f"Company {i}"}),
        Entity("jobs", 3000, build=lambda rng, i: {"title": f"Job {i}"},
               refs=(Ref("companies", "company_id", cascade=True),),
               nested=(Nested("lines", lambda rng, parent, pos: {"qty": rng.randint(1, 9)}, most=3),)),
    ])
    WORLD.record("jobs", 7)          # {"id": 8, "company_id": 3, "lines": [...], "title": "Job 7", ...}
    WORLD.delete("companies", 2)     # removes company 3 and every job that points at it
    WORLD.truth("jobs")              # id -> record, deleted ones left out

Records are generated from a seed and the record's version, so a million of them cost nothing until
changed (see ``harness.Dataset``). A child's parent is a pure function of its index (children come in
contiguous blocks per parent), so a cascade finds a parent's children without scanning.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .harness import Dataset, stable_random


@dataclass(frozen=True)
class Ref:
    """A field holding the id of a record of ``entity``; ``cascade``: the API deletes this record with it."""

    entity: str
    field: str
    cascade: bool = False
    optional: bool = False  # some records have no parent (the field is null)


@dataclass(frozen=True)
class Nested:
    """A nested array of each record: ``0..most`` elements, built by ``build(rng, parent_id, position)``;
    each element gets an ``id`` unique within the entity when ``keyed``."""

    field: str
    build: Callable[[random.Random, Any, int], dict]
    most: int = 3
    keyed: bool = True


@dataclass(frozen=True)
class Entity:
    name: str
    volume: int
    build: Callable[[random.Random, int], dict]
    refs: tuple[Ref, ...] = ()
    nested: tuple[Nested, ...] = ()
    tie: int = 1
    first_id: int = 1  # ids are first_id + index: dense integers, as most APIs hand out


class World:
    """Datasets for a catalogue of entities, with relations that hold under edits, inserts and deletes."""

    def __init__(self, entities: list[Entity], *, clock: Callable[[], datetime] | None = None, seed: int = 0,
                 stamp: Callable[[datetime], Any] | None = None):
        self.entities = {e.name: e for e in entities}
        self.seed = seed
        self.stamp = stamp or (lambda dt: dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.data = {e.name: Dataset(e.volume, tie=e.tie, seed=f"{seed}:{e.name}", clock=clock) for e in entities}
        self._inserted_parent: dict[tuple[str, str, int], int] = {}
        for e in entities:
            for ref in e.refs:
                if ref.entity not in self.entities:
                    raise ValueError(f"entity {e.name}: ref {ref.field} names unknown entity {ref.entity}")

    # -- relations ---------------------------------------------------------------------------------------------

    def id_of(self, name: str, i: int) -> int:
        return self.entities[name].first_id + i

    def index_of(self, name: str, ident: Any) -> int:
        return int(ident) - self.entities[name].first_id

    def parent(self, name: str, ref: Ref, i: int) -> int | None:
        """The index of record ``i``'s parent through ``ref``; base records come in contiguous blocks."""
        if ref.optional and stable_random(self.seed, name, ref.field, "null", i).random() < 0.1:
            return None
        n, parents = self.entities[name].volume, self.entities[ref.entity].volume
        if i < n:
            return i * parents // max(n, 1)
        return self._inserted_parent.get((name, ref.field, i))

    def children(self, name: str, ref: Ref, parent: int) -> Iterator[int]:
        """Indices of ``name`` records whose ``ref`` points at parent index ``parent``."""
        n, parents = self.entities[name].volume, self.entities[ref.entity].volume
        lo = -(-parent * n // max(parents, 1))
        hi = -(-(parent + 1) * n // max(parents, 1))
        for i in range(lo, min(hi, n)):
            if self.parent(name, ref, i) == parent:
                yield i
        for (child, field, i), p in self._inserted_parent.items():
            if child == name and field == ref.field and p == parent:
                yield i

    # -- records -----------------------------------------------------------------------------------------------

    def record(self, name: str, i: int) -> dict[str, Any]:
        entity, ds = self.entities[name], self.data[name]
        rng = ds.rng(i)
        ident = self.id_of(name, i)
        out: dict[str, Any] = {"id": ident}
        for ref in entity.refs:
            p = self.parent(name, ref, i)
            out[ref.field] = None if p is None else self.id_of(ref.entity, p)
        out.update(entity.build(rng, i))
        for nested in entity.nested:
            count = rng.randint(0, nested.most)
            elements = []
            for position in range(count):
                element = nested.build(rng, ident, position)
                if nested.keyed:
                    element = {"id": ident * (nested.most + 1) + position, **element}
                elements.append(element)
            out[nested.field] = elements
        out["created_at"] = self.stamp(ds.created(i))
        out["updated_at"] = self.stamp(ds.time(i))
        return out

    def live(self, name: str) -> Iterator[int]:
        ds = self.data[name]
        changed, deleted, size = ds.view()
        return (i for i in range(size) if i not in deleted)

    def truth(self, name: str) -> dict[Any, dict[str, Any]]:
        return {self.id_of(name, i): self.record(name, i) for i in self.live(name)}

    # -- changes -----------------------------------------------------------------------------------------------

    def insert(self, name: str, rng: random.Random | None = None) -> int:
        entity = self.entities[name]
        rng = rng or random.Random(len(self._inserted_parent))
        i = self.data[name].insert()
        for ref in entity.refs:
            parents = [p for p in self.live(ref.entity)]
            if parents:
                self._inserted_parent[(name, ref.field, i)] = rng.choice(parents)
        return i

    def delete(self, name: str, i: int) -> list[tuple[str, int]]:
        """Delete record ``i`` and, where the API cascades, every record that hangs from it; returns all
        (entity, index) removed, the record itself first."""
        ds = self.data[name]
        if not ds.exists(i):
            return []
        ds.delete(i)
        removed = [(name, i)]
        for child in self.entities.values():
            for ref in child.refs:
                if ref.entity == name and ref.cascade:
                    for j in list(self.children(child.name, ref, i)):
                        removed += self.delete(child.name, j)
        return removed

    def delete_random(self, rng: random.Random, n: int, names: list[str] | None = None) -> list[tuple[str, int]]:
        """Delete ``n`` live records spread over the entities (cascades come on top)."""
        names = names or list(self.entities)
        removed: list[tuple[str, int]] = []
        for k in range(n):
            name = names[k % len(names)]
            candidates = list(self.live(name))
            if candidates:
                removed += self.delete(name, rng.choice(candidates))
        return removed

    def edit_random(self, rng: random.Random, n: int) -> None:
        for k, name in enumerate(self.entities):
            live = list(self.live(name))
            for i in rng.sample(live, min(len(live), max(1, n // len(self.entities)) if k < n else 0)):
                self.data[name].edit(i)
