"""The Act! simulator's indexed path: the connector's list queries answered without a scan, exactly as the
general path (generate, filter and sort every record) answers them (hypothesis), and a page at 1,000,000
contacts costs a page."""

from __future__ import annotations

import base64
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from simulators.act import ENTITIES, ID_PREFIX, ActSim, guid, guid_value
from simulators.harness import BASE_TIME, stable_random
from tests.test_act_connector import act

DB = "ACT2018Demo"
BASIC = "Basic " + base64.b64encode(b"John Hollo:act-pass-123").decode()
STEP = timedelta(minutes=7)  # Dataset's default step
PATHS = {"contacts": "/api/contacts", "activities": "/api/activities", "products": "/api/products"}


def token(c: Client) -> str:
    return c.get("/act.web.api/authorize", headers={"Authorization": BASIC, "Act-Database-Name": DB}).get_data(
        as_text=True)


class Both:
    """One simulator queried through the general path and through the indexed path."""

    def __init__(self, sim: ActSim):
        self.sim, self.client = sim, Client(sim)
        self.headers = {"Authorization": f"Bearer {token(self.client)}", "Act-Database-Name": DB}

    def get(self, path: str, params: dict[str, str], indexed: bool) -> Any:
        self.sim.indexed = indexed
        try:
            return self.client.get(f"/act.web.api{path}", query_string=params, headers=self.headers)
        finally:
            self.sim.indexed = True

    def same(self, path: str, params: dict[str, str]) -> tuple[Any, bool]:
        """Both answers, asserted equal byte for byte; returns the response and whether the index served it."""
        slow = self.get(path, params, indexed=False)
        hits = self.sim.indexed_hits
        fast = self.get(path, params, indexed=True)
        assert (fast.status_code, fast.get_data()) == (slow.status_code, slow.get_data()), params
        assert fast.headers.get("Content-Type") == slow.headers.get("Content-Type")
        return fast, self.sim.indexed_hits > hits


def test_guid_formatting_matches_uuid():
    for parts in [("contacts", 11, i) for i in range(2000)] + [("stage", 3), ("process",), ("series", 11, 7)]:
        expected = str(uuid.UUID(int=stable_random("act-guid", *parts).getrandbits(128), version=4))
        assert guid(*parts) == expected
        assert f"{guid_value(*parts):032x}" == expected.replace("-", "")


# hypothesis: random datasets, random positions -----------------------------------------------------------

WHEN = st.sampled_from(["clock", "base", "base+2h", "before", "fixed", "fixed+1s", "fraction"])


def when(kind: str, pick: int, tie: int) -> datetime | None:
    """Edit stamps: the server clock (second resolution, so edits tie), a base time (ties with untouched
    records, in UTC or another offset), before every base time, or a fixed later time shared by edits."""
    base = BASE_TIME + (pick % 9) * STEP
    return {"clock": None, "base": base, "base+2h": base.astimezone(timezone(timedelta(hours=2))),
            "before": BASE_TIME - timedelta(days=1 + pick % 2), "fixed": datetime(2030, 5, 5, tzinfo=timezone.utc),
            "fixed+1s": datetime(2030, 5, 5, 0, 0, 1, tzinfo=timezone.utc),
            "fraction": datetime(2030, 5, 5, 0, 0, 0, 250000, tzinfo=timezone.utc)}[kind]


datasets = st.fixed_dictionaries({
    "entity": st.sampled_from(sorted(PATHS)),
    "n": st.integers(0, 24),
    "tie": st.integers(1, 6),
    "edits": st.lists(st.tuples(st.integers(0, 40), WHEN), max_size=8),
    "inserts": st.lists(WHEN, max_size=4),
    "deletes": st.lists(st.integers(0, 40), max_size=4),
    "envelope": st.booleans(),
    "top_cap": st.sampled_from([5000, 4]),
})

queries = st.fixed_dictionaries({
    "shape": st.sampled_from(["none", "since", "keyset", "keyset", "since+keyset", "since+keyset", "keyset+since", "gt",
                              "probe", "id", "sweep", "sweep"]),
    "key": st.integers(0, 60),  # a record's key, or a synthetic one
    "synthetic": st.sampled_from(["record", "record", "time+random id", "between groups"]),
    "since": st.integers(0, 60),
    "literal": st.sampled_from(["as written", "Z", "+05:30"]),
    "id_literal": st.sampled_from(["right"] * 7 + ["wrong kind"]),
    "order": st.sampled_from(["{c},id", "{c},id", "{c}", "{c} asc,id asc", "{c},id desc", "id", "{c} desc,id"]),
    "top": st.one_of(st.none(), st.integers(0, 12)),
    "skip": st.one_of(st.none(), st.integers(0, 6)),
    "select": st.sampled_from([None] * 5 + ["id,{c}", "{c},created,id", "id,nosuch"]),
})


def build(spec: dict[str, Any]) -> ActSim:
    sizes = {name: 0 for name in ("contacts", "companies", "opportunities", "activities", "products")}
    sizes[spec["entity"]] = spec["n"]
    sim = ActSim(**sizes, tie=spec["tie"], envelope=(spec["entity"],) if spec["envelope"] else (),
                 top_cap=spec["top_cap"])
    data = sim.data[spec["entity"]]
    for pick, kind in spec["edits"]:
        if data.size:
            data.edit(pick % data.size, when(kind, pick, spec["tie"]))
    for k, kind in enumerate(spec["inserts"]):
        data.insert(when(kind, k, spec["tie"]))
    for pick in spec["deletes"]:
        if data.size:
            data.delete(pick % data.size)
    return sim


def literal(at: datetime, form: str) -> str:
    if form == "Z":
        return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if form == "+05:30":
        return at.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    return at.astimezone(timezone.utc).isoformat()  # as the simulator writes it


def params_for(sim: ActSim, entity: str, q: dict[str, Any]) -> tuple[dict[str, str], bool]:
    """The query, and whether the indexed path must serve it (the connector's shapes)."""
    cursor = ENTITIES[entity].cursor or ""
    data = sim.data[entity]
    guid_ids = entity != "activities"
    ordered = sorted((data.time(i), sim.record_id(entity, i)) for i in range(data.size))
    if not ordered or q["synthetic"] == "time+random id":
        at = ordered[q["key"] % len(ordered)][0] if ordered else BASE_TIME
        rid: Any = str(uuid.UUID(int=random.Random(q["key"]).getrandbits(128)))
        rid = rid if guid_ids else rid + "01042023"
    elif q["synthetic"] == "between groups":
        at, rid = BASE_TIME + (q["key"] % 9) * STEP + timedelta(minutes=3), sim.record_id(entity, 0)
    else:
        at, rid = ordered[q["key"] % len(ordered)]
    since = ordered[q["since"] % len(ordered)][0] if ordered else BASE_TIME + q["since"] * STEP
    wrong = q["id_literal"] == "wrong kind"
    if wrong and not guid_ids:
        rid = rid[:36]  # a bare GUID literal against string ids: a 400 on both paths
    key = {"at": literal(at, q["literal"]), "id": rid}
    shape = q["shape"]
    where: str | None
    if shape in ("probe", "id"):
        where = None
    elif shape == "sweep":  # the delete sweep: id gt the key's id, as the connector writes the literal
        where = f"id gt {act.id_literal(rid, guid_ids != wrong)}" if q["key"] % 5 else None
    elif shape == "gt":
        where = f"{cursor} gt {literal(since, q['literal'])}"
    else:
        # The connector's own filter builder, for the shapes it sends.
        where = act.keyset_filter(cursor, since if "since" in shape else None,
                                  key if "keyset" in shape else None, guid_ids != wrong)
        if shape == "keyset+since" and where:
            first, _, rest = where.partition(" and ")
            where = f"{rest} and {first}"
    params: dict[str, str] = {}
    if where:
        params["$filter"] = where
    order = q["order"].format(c=cursor)
    if shape in ("id", "sweep"):
        params["$orderby"] = "id"
    elif shape != "probe":
        params["$orderby"] = order
    if q["top"] is not None:
        params["$top"] = str(q["top"])
    elif shape == "probe":
        params["$top"] = "1"
    if q["skip"] is not None:
        params["$skip"] = str(q["skip"])
    if q["select"]:
        params["$select"] = q["select"].format(c=cursor)
    covered = shape in ("probe", "id", "sweep") or order in (f"{cursor},id", cursor, f"{cursor} asc,id asc")
    # A literal of the wrong kind is a 400 on both paths, except on an empty entity, where the general path has no
    # record to type-check it against and answers 200: the connector never sends one, so it need not be indexed.
    covered = covered and not (wrong and where)
    return params, covered


@settings(max_examples=100, deadline=None)
@given(datasets, st.lists(queries, min_size=1, max_size=6))
def test_indexed_path_answers_exactly_as_the_general_path(spec, qs):
    sim = build(spec)
    both = Both(sim)
    entity = spec["entity"]
    for q in qs:
        params, covered = params_for(sim, entity, q)
        response, hit = both.same(PATHS[entity], params)
        if covered and response.status_code == 200:
            assert hit, params  # the connector's shapes never fall back to the scan


def test_full_keyset_traversal_with_edits_between_pages_matches_page_by_page():
    sim = ActSim(30, 1, 1, 30, 1, tie=4)
    both = Both(sim)
    rng = random.Random(3)
    for entity, guid_ids in (("contacts", True), ("activities", False)):
        key, seen = None, 0
        while True:
            where = act.keyset_filter("edited", None, key, guid_ids)
            params = {"$orderby": "edited,id", "$top": "4"} | ({"$filter": where} if where else {})
            response, hit = both.same(PATHS[entity], params)
            rows = response.get_json()
            assert hit
            if not rows:
                break
            seen += len(rows)
            key = {"at": rows[-1]["edited"], "id": rows[-1]["id"]}
            sim.data[entity].edit(rng.randrange(30))  # moves a record past the end of the order
            if seen % 8 == 0:
                sim.data[entity].insert()
        assert seen >= 30


def test_id_order_beyond_the_kept_prefix_uses_the_full_order_and_deleted_smallest_ids_are_skipped():
    n = ID_PREFIX + 200
    sim = ActSim(n, 1, 1, 1, 1)
    both = Both(sim)
    data = sim.data["contacts"]
    smallest = sorted(range(n), key=lambda i: sim.record_id("contacts", i))
    for i in smallest[:3]:
        data.delete(i)
    data.insert()
    for params, expect_hit in (({"$top": "1"}, True), ({"$orderby": "id", "$top": "5", "$skip": "2"}, True),
                               ({"$orderby": "id", "$top": str(ID_PREFIX), "$skip": "5"}, True),
                               ({"$orderby": "id", "$top": "5000", "$select": "id"}, True),
                               ({"$orderby": "id", "$filter": f"id gt {sim.record_id('contacts', 7)}",
                                 "$top": "300", "$skip": "1", "$select": "id"}, True),
                               ({"$orderby": "id", "$filter": "id ge 00000000-0000-4000-8000-000000000000"}, False)):
        response, hit = both.same("/api/contacts", params)
        assert hit == expect_hit, params
    assert both.same("/api/contacts", {"$top": "1"})[0].get_json()[0]["id"] == sim.record_id("contacts",
                                                                                             smallest[3])


def test_other_shapes_take_the_general_path():
    sim = ActSim(12, 1, 1, 1, 1, tie=3)
    both = Both(sim)
    for params in ({"$filter": "edited lt 2023-01-01T00:20:00Z", "$orderby": "edited,id"},
                   {"$filter": "edited ge 2023-01-01T00:00:00Z or lastName eq 'Hopper'", "$orderby": "edited,id"},
                   {"$filter": "edited ge 2023-01-01T00:00:00Z", "$orderby": "lastName,id"},
                   {"$orderby": "edited desc,id"}, {"$filter": "edited ge 2023-01-01T00:00:00Z"}):
        _, hit = both.same("/api/contacts", params)
        assert not hit, params
    shuffled = ActSim(12, 1, 1, 1, 1, tie=3, shuffle_ties=True)
    c = Client(shuffled)
    headers = {"Authorization": f"Bearer {token(c)}", "Act-Database-Name": DB}
    c.get("/act.web.api/api/contacts", query_string={"$orderby": "edited,id"}, headers=headers)
    assert shuffled.indexed_hits == 0


# A million contacts ---------------------------------------------------------------------------------------

def test_a_page_at_a_million_contacts_costs_a_page():
    sim = ActSim(1_000_000, 10, 10, 10, 10)
    c = Client(sim)
    headers = {"Authorization": f"Bearer {token(c)}", "Act-Database-Name": DB}

    def page(where: str | None) -> tuple[float, list[dict]]:
        params = {"$orderby": "edited,id", "$top": "200"} | ({"$filter": where} if where else {})
        started = time.perf_counter()
        response = c.get("/act.web.api/api/contacts", query_string=params, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        return elapsed, response.get_json()

    def after(row: dict) -> str | None:
        return act.keyset_filter("edited", None, {"at": row["edited"], "id": row["id"]}, True)

    timings = []
    elapsed, rows = page(None)  # the first sync's first page
    timings.append(elapsed)
    elapsed, rows = page(after(rows[-1]))
    timings.append(elapsed)
    middle = sim.record("contacts", 500_000)
    elapsed, rows = page(after(middle))
    timings.append(elapsed)
    assert rows[0]["id"] == sim.record_id("contacts", 500_001)
    elapsed, rows = page(act.keyset_filter("edited", datetime(2030, 1, 1, tzinfo=timezone.utc), None, True))
    timings.append(elapsed)
    data = sim.data["contacts"]
    data.edit_random(1000, random.Random(2))  # one clock second: 1,000 ties among the edited records
    edited_at = data.time(data._sorted_changed[0][1])
    elapsed, rows = page(act.keyset_filter("edited", edited_at, None, True))
    timings.append(elapsed)
    assert len(rows) == 200 and all(r["edited"] >= edited_at.isoformat() for r in rows)
    elapsed, rows = page(after(rows[-1]))
    timings.append(elapsed)
    elapsed, rows = page(after(middle))
    timings.append(elapsed)
    assert sim.indexed_hits == len(timings)
    # A scan of a million records takes minutes; a page well under a second even on a loaded machine.
    assert max(timings) < 1.0, timings
