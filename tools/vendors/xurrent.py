"""The xurrent adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import random
import time
from typing import Any

from tools.vendors import Kit, connector

CORE = ("organizations", "products", "projects")


def kit() -> Kit:
    from simulators.xurrent import XurrentSim
    from simulators.xurrent_catalog import CATALOG
    from tests.test_xurrent_e2e import (
        ALL_TABLES,
        CHILD_KEYS,
        CHILDREN,
        NESTED_CHILDREN,
        RESOURCE,
        TOKEN,
        expected,
        nested_truth,
    )

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> XurrentSim:
        # The documented limits (3,600 an hour, 20 per 2 s) are always enforced, as the real API does. The
        # service-management collections come at their relative volumes (notes twice the requests, a tenth as
        # many teams), one requests per four organizations so that a paced test stays short.
        return XurrentSim(size, size, size, tie=tie, tokens={TOKEN}, faults=faults, latency=latency,
                          catalog=max(1, size // 4))

    def resource(table: str) -> str:
        return RESOURCE.get(table, table)

    def edit(sim: XurrentSim, rng: random.Random, n: int) -> None:
        # Spread over every table (at least one record each); notes are never edited (they have no
        # updated_at), and some time entries are deleted, which the API shows as an edit with deleted true.
        editable = [t for t in ALL_TABLES if sim.data[resource(t)].size and t != "notes"]
        for k in range(max(n, len(editable))):
            table = editable[k % len(editable)]
            sim.data[resource(table)].edit_random(1, rng)
        live = sorted(sim.truth("time_entries"))
        if live and n >= 3:
            sim.delete_time_entry(rng.choice(live))
        next_second()

    def next_second() -> None:
        # Edits and deletes stamp records with the current second; the affected-SLA window ends a second
        # before the server's clock, so the sync that must see them starts in a later second.
        time.sleep(1.05 - time.time() % 1)

    def delete(sim: XurrentSim, rng: random.Random, n: int) -> Any:
        gone = sim.delete_random(rng, n)
        next_second()
        return gone

    def insert(sim: XurrentSim, rng: random.Random, n: int) -> None:
        for table in ALL_TABLES:
            for _ in range(max(1, n // len(ALL_TABLES))):
                if resource(table) in CATALOG:
                    sim.insert(resource(table), rng)
                else:
                    sim.data[table].insert()
        next_second()

    def core_children(sim: XurrentSim) -> dict:
        """The child tables of organizations and projects: key -> the element's compared fields."""
        out: dict = {}
        for name, (parent, field) in CHILDREN.items():
            rows = {}
            for pk, record in sim.truth(parent).items():
                for position, e in enumerate(record.get(field) or []):
                    own = e["id"] if field == "custom_fields" else position
                    rows[(pk, own)] = {"field_id": e.get("id"), "label": e.get("label")}
            out[name] = rows
        return out

    def truth(sim: XurrentSim) -> dict:
        return {**{t: expected(sim, t) for t in ALL_TABLES}, **nested_truth(sim), **core_children(sim)}

    def table_of(request: Any) -> str | None:
        """The table a request served: /v1/cis/7/ci_relations -> configuration_items_relations."""
        parts = request.path.strip("/").split("/")[1:]
        if not parts:
            return None
        by_path = {x.path_of(t).strip("/"): t for t in x.NAMES}
        table = by_path.get(parts[0])
        if table is not None and len(parts) == 3:
            child = {"ci_relations": "relations"}.get(parts[2], parts[2])
            return f"{table}_{child}"
        return table

    x = connector("xurrent")
    sample = make(8)
    fields = {t: sorted(next(iter(expected(sample, t).values()))) for t in ALL_TABLES}
    fields.update({name: list(spec[3]) for name, spec in NESTED_CHILDREN.items()})
    keys: dict[str, Any] = {t: "id" for t in ALL_TABLES}
    keys.update({name: ("parent_id", spec[2]) for name, spec in NESTED_CHILDREN.items()})
    keys.update(CHILD_KEYS)
    fields.update({name: ["field_id"] if field == "custom_fields" else ["label"]
                   for name, (_, field) in CHILDREN.items()})
    return Kit(
        name="xurrent", keys=keys, fields=fields, make=make,
        config=lambda sim, url: {"oauth_token": TOKEN, "account_id": "widget", "base_url": f"{url}/v1"},
        truth=truth, edit=edit, insert=insert, delete=delete, largest="projects",
        extra={
            "http": lambda cfg: x.client(x.settings(cfg)),
            "budget": {"apply": lambda sim: None, "overrides": {}, "limit": (20, 2.0), "headers": True,
                       "windows": "rolling"},
            "page_size": ("max_records_per_page", 10),
            "paths": {"products": "/v1/products", "organizations": "/v1/organizations"},
            "fault_config": {"retry_attempts": "10"},
            "fail_config": {"retry_attempts": "1"},
            "expire_tokens": lambda sim: sim.expire_tokens(),
            "token_config": {"oauth_token": "", "client_id": "test-client", "client_secret": "test-secret"},
            "record_key": "id",
            "sink_table": {},
            "sink_keys": {t["table"]: tuple(t["primary_key"]) for t in x.schema({})},  # child tables too
            "hostile_config": {"retry_attempts": "2"},
            "debug_config": {},
            "secrets": lambda config, sim: [config["oauth_token"]],
            "wrong_credentials": {"oauth_token": "wrong-xurrent-token-42"},
            "port": 8103,
            "bench_size": 3_000,
            "table_of": table_of,
            # The memory run lifts the documented limits on both sides: at 3,600 requests an hour a million
            # records take three hours, and pacing changes how long a sync takes, not what it holds.
            "make_large": lambda size: XurrentSim(10, 10, size, tokens={TOKEN}, rate_limits=[(10**9, 3600.0)]),
            "budget_note": "xurrent: the API counts 20 per rolling 2 s, so allowed is 20 at the first arrival "
                           "plus 20 for each full 2 s after it; the connector counts each request from its answer, "
                           "with no margin.",
            "unpaced": unpace_xurrent,
        },
    )


def unpace_xurrent(module: Any) -> None:
    module.BURST_LIMIT, module.HOURLY_LIMIT = (10**9, 1.0), (10**9, 3600.0)
