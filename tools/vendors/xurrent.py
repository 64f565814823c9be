"""The xurrent adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import random
from typing import Any

from tools.vendors import Kit, connector


def kit() -> Kit:
    from simulators.xurrent import XurrentSim
    from tests.test_xurrent_e2e import TABLES, TOKEN, expected

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> XurrentSim:
        # The documented limits (3,600 an hour, 20 per 2 s) are always enforced, as the real API does.
        return XurrentSim(size, size, size, tie=tie, tokens={TOKEN}, faults=faults, latency=latency)

    def edit(sim: XurrentSim, rng: random.Random, n: int) -> None:
        for table in TABLES:
            sim.data[table].edit_random(max(1, n // len(TABLES)), rng)

    def insert(sim: XurrentSim, rng: random.Random, n: int) -> None:
        for table in TABLES:
            for _ in range(max(1, n // len(TABLES))):
                sim.data[table].insert()

    def truth(sim: XurrentSim) -> dict:
        return {t: expected(sim, t) for t in TABLES}

    x = connector("xurrent")
    fields = {t: sorted(next(iter(expected(make(2), t).values()))) for t in TABLES}
    return Kit(
        name="xurrent", keys={t: "id" for t in TABLES}, fields=fields, make=make,
        config=lambda sim, url: {"oauth_token": TOKEN, "account_id": "widget", "base_url": f"{url}/v1"},
        truth=truth, edit=edit, insert=insert, largest="projects",
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
