"""Act! entities beyond the first six, in-process against the simulator (MemorySink): every new table and child
table equals the simulator's truth after edits, inserts and deletes; notes and groups fall back to a read in id
order when the server refuses or ignores $filter/$orderby on edited; fan-outs read only the parents whose edited
moved; custom tables come from the metadata, in schema() too; link rows (hypothesis)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators import act as sim_act
from simulators.act import ActSim
from simulators.harness import Server
from synckit.sink import Crash, MemorySink
from synckit.table import snake
from tests.test_act_connector import PKS, act, config
from tests.test_act_e2e import ALL, COMPARED, KEYS, truth


def sync(server: Server, state: dict, sink: MemorySink, **extra: str) -> None:
    act.run(act.settings(config(server.port, deletes_check_hours="0", **extra)), state, sink)


def warehouse(sink: MemorySink, table: str) -> dict:
    """The sink's live rows of ``table`` keyed as the truth is, with snake-cased columns."""
    key = KEYS[table]
    out = {}
    for row in sink.tables.get(table, {}).values():
        row = {snake(k): v for k, v in row.items()}
        out[row[key] if isinstance(key, str) else tuple(row[k] for k in key)] = row
    return out


def check(sim: ActSim, sink: MemorySink, tables=ALL) -> None:
    for table in tables:
        want = truth(sim, table)
        got = warehouse(sink, table)
        assert set(got) == set(want), table
        for k, row in want.items():
            for column in COMPARED[table]:
                value = got[k].get(column)
                if isinstance(row[column], str) and value is not None:
                    value = str(value)  # the destination stores custom-field values as text
                assert (round(value, 4) if isinstance(value, float) else value) == (
                    round(row[column], 4) if isinstance(row[column], float) else row[column]), (table, k, column)


@pytest.mark.parametrize("envelope", [False, True])
def test_every_new_table_follows_edits_inserts_and_deletes(envelope):
    wrapped = (*sim_act.ENTITIES, *ActSim.SNAPSHOTS, "line_items", "members", "entities", "fields") if envelope else ()
    sim = ActSim(20, 6, 8, 6, 5, tie=3, envelope=wrapped)
    rng = random.Random(7)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink)
        check(sim, sink)
        for data in sim.data.values():
            data.edit_random(2, rng)
            data.insert()
        sim.delete_random(rng, 9)
        sim.history_types.pop()
        sim.teams[0]["roster"].pop()
        sim.stages[1]["name"] = "Needs analysis"
        sim.fields["Contact"].pop()
        sync(server, state, sink)
        check(sim, sink)


def test_fan_outs_read_only_the_parents_whose_edited_moved():
    sim = ActSim(10, 4, 12, 4, 4, groups=6)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink, tables="opportunities,groups")
        fanned = [r.path for r in sim.log if r.path.lower().endswith(("/products", "/associated-contacts"))]
        assert len(fanned) == 12 + 6  # one per opportunity and per group on the first sync
        sim.data["opportunities"].edit(3)
        sim.data["groups"].edit(1)
        start = len(sim.log)
        sync(server, state, sink, tables="opportunities,groups")
        fanned = [r.path.lower() for r in sim.log[start:] if r.path.lower().endswith(("/products",
                                                                                       "/associated-contacts"))]
        edited = {f"/act.web.api/api/opportunities/{sim.record_id('opportunities', 3)}/products",
                  f"/act.web.api/api/groups/{sim.record_id('groups', 1)}/associated-contacts"}
        # The edited parents, plus the one record per table at the committed cursor (the read is inclusive).
        assert edited <= set(fanned) and len(fanned) <= len(edited) + 2, fanned
        check(sim, sink, ["opportunities_products", "groups_contacts"])


class OldMemberRoute(ActSim):
    """A server with only the older membership route, /api/groups/{id}/contacts."""

    def route_more(self, request, parts):
        if len(parts) == 3 and parts[0] == "groups":
            if parts[2] == "associated-contacts":
                from simulators.act import asp_error
                return asp_error(404, "No HTTP resource was found that matches the request URI.")
            parts = [*parts[:2], "associated-contacts"]
        return super().route_more(request, parts)


def test_members_fall_back_to_the_older_route_once():
    sim = OldMemberRoute(10, 2, 2, 2, 2, groups=5)
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink, tables="groups")
        check(sim, sink, ["groups", "groups_contacts"])
        refused = [r for r in sim.log if r.path.lower().endswith("/associated-contacts")]
        assert len(refused) == 1  # the route that answered 404 is not asked again for the other groups


@pytest.mark.parametrize("table, mode", [("notes", "refuse"), ("groups", "ignore"), ("notes", "ignore"),
                                         ("groups", "refuse")])
def test_unfiltered_collections_are_read_in_id_order_and_keep_what_moved(table, mode, caplog):
    caplog.set_level("INFO")
    sim = ActSim(30, 3, 3, 3, 3, notes=17, groups=9, unfiltered={table: mode})
    with Server(sim) as server:
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink, tables=table)
        check(sim, sink, [table])
        assert "reading the whole collection in id order" in caplog.text
        for i in (2, 5):
            sim.data[table].edit(i)
        sim.data[table].insert()
        sim.data[table].delete(0)
        ops = len(sink.ops)
        sync(server, state, sink, tables=table)
        check(sim, sink, [t for t in ALL if t == table or t.startswith(table + "_")])
        upserts = [o for o in sink.ops[ops:] if o[0] == "upsert" and o[1] == table]
        # Only the records whose edited moved (plus the one at the committed cursor: the read is inclusive),
        # though every page was read.
        assert 3 <= len(upserts) <= 4


def test_a_crash_during_the_id_order_read_resumes_it():
    sim = ActSim(10, 2, 2, 2, 2, notes=23)
    with Server(sim) as server:
        state: dict = {}
        durable = MemorySink(primary_keys=PKS)
        crashed = MemorySink(primary_keys=PKS, crash_after=40)
        crashed.tables = durable.tables
        with pytest.raises(Crash):
            sync(server, state, crashed, tables="notes")
        state = crashed.state
        assert state["tables"]["notes"]["run"]["resume"]["full"] is True
        sync(server, state, durable, tables="notes")
        check(sim, durable, ["notes", "notes_links"])


def test_custom_tables_are_declared_from_the_metadata_and_typed():
    sim = ActSim(5, 2, 8, 2, 2)
    with Server(sim) as server:
        tables = {t["table"]: t for t in act.schema(config(server.port))}
        assert tables["custom_contracts"]["primary_key"] == ["id"]
        assert tables["custom_contracts"]["columns"]["amount"] == "DOUBLE"
        assert tables["custom_contracts_links"]["primary_key"] == ["parent_id", "linked_type", "linked_id"]
        assert "custom_contracts" not in act.schema(config(server.port, tables="contacts"))
        sink, state = MemorySink(primary_keys=PKS), {}
        sync(server, state, sink, tables="custom_tables")
        assert set(sink.tables) == {"custom_contracts", "custom_contracts_links"}
        check(sim, sink, ["custom_contracts", "custom_contracts_links"])
    with pytest.raises(Exception, match="attempts"):  # an unreachable server: schema() fails with the reason
        act.schema(config(server.port))


link = st.fixed_dictionaries({"id": st.sampled_from(["a", "b", "c"]), "name": st.sampled_from(["x", None])})


@given(st.dictionaries(st.sampled_from(["contacts", "companies", "groups", "opportunities", "opportunity"]),
                       st.lists(link, max_size=4)), st.integers(0, 3))
def test_link_rows_hold_each_linked_record_once(arrays, count):
    record = {"id": "p", **arrays, "contacts_count": count}
    rows = act.link_rows(record)
    keys = [(r["linked_type"], r["linked_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    expected = {(act.LINK_KINDS[a], e["id"]) for a, v in arrays.items() for e in v}
    assert set(keys) == expected
    assert act.link_rows({"id": "g", "contacts": count}) == []  # a group's member count is no array
