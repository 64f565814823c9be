"""Hostile responses for every connector: each either fails the sync with a clear message before the
cursor of the table it hit moves, or is handled record by record; never a silent skip."""

from __future__ import annotations

import copy
import random

import pytest

from simulators.harness import Server
from simulators.hostile import FAILING, UNICODE, VARIANTS, Hostile
from synckit.errors import SyncError
from synckit.sink import MemorySink
from tools.vendors import connector, kits

KITS = kits()
CASES = [(name, table, variant) for name, kit in KITS.items() for table in list(kit.extra["paths"])[:1]
         for variant in VARIANTS]
CLEAR = ("unreadable body", "expected", "primary key", "envelope", "missing", "not ", "invalid", "unexpected",
         "has no", " no ")


def keys(sink: MemorySink, kit, table: str) -> set:
    rows = sink.tables.get(table, {})
    return {k[0] if isinstance(k, tuple) and len(k) == 1 else k for k in rows}


@pytest.mark.parametrize("name, table, variant", CASES)
def test_hostile_response(name, table, variant):
    kit = KITS[name]
    module = connector(name)
    sim = kit.make(60)
    hostile = Hostile(sim, variant, kit.extra["record_key"], kit.extra["paths"][table], after=10**9)
    with Server(hostile) as server:
        config = {**kit.config(sim, server.url), **kit.extra.get("hostile_config", {})}
        state: dict = {}
        first = MemorySink(primary_keys=kit.extra["sink_keys"])
        module.update(config, state, first)
        kit.edit(sim, random.Random(2), 10)
        before = copy.deepcopy(state)
        hostile.after = hostile.seen  # mangle from the next request on
        sink = MemorySink(primary_keys=kit.extra["sink_keys"])
        sink.tables = copy.deepcopy(first.tables)
        try:
            module.update(config, state, sink)
            error = None
        except SyncError as exc:
            error = exc
    assert hostile.mangled, "the hostile response was never served"
    source_table = kit.extra["sink_table"].get(table, table)
    cursor_before = before.get("tables", {}).get(source_table, {}).get("cursor")
    if variant in FAILING or error is not None:
        assert error is not None, f"{variant}: the sync succeeded on a response it cannot read"
        message = str(error)
        assert any(word in message for word in CLEAR), message
        assert sink.state.get("tables", {}).get(source_table, {}).get("cursor") == cursor_before or not sink.state
        return
    # Handled record by record: every record is still there, the mangled one as sent.
    truth_keys = {str(k) for k in kit.truth(sim)[table]}
    got = {str(k) for k in keys(sink, kit, source_table)}
    assert truth_keys <= got, f"{variant}: {len(truth_keys - got)} records silently skipped"
    values = [v for row in sink.tables[source_table].values() for v in row.values()]
    if variant == "unicode":
        assert UNICODE in values
    if variant == "long_string":
        assert any(isinstance(v, str) and len(v) == 1_000_000 for v in values)
