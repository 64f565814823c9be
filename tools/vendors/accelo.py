"""The accelo adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import random

from tools.vendors import Kit, connector


def kit() -> Kit:
    from simulators.accelo import RESOURCES, AcceloSim, DeploymentBudget
    from tests.test_accelo_connector import CID, SECRET
    from tests.test_accelo_connector import truth as table_truth

    c = connector("accelo")
    tables = list(RESOURCES)

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> AcceloSim:
        sizes = {t: size for t in tables}
        sizes["staff"] = max(1, min(size // 4, 60))  # a deployment's own employees: a few pages at most
        return AcceloSim(sizes, tie=tie, faults=faults, latency=latency, budget=5000 if limits else 10**9)

    def edit(sim: AcceloSim, rng: random.Random, n: int) -> None:
        for table in tables:
            sim.edit_random(table, max(1, n // len(tables)), rng)

    def insert(sim: AcceloSim, rng: random.Random, n: int) -> None:
        for table in tables:
            for _ in range(max(1, n // len(tables))):
                sim.insert(table)

    return Kit(
        name="accelo", keys={t: "id" for t in tables},
        fields={t: [col for col in c.COLUMNS[t] if col != "id"] for t in tables}, make=make,
        config=lambda sim, url: {"deployment": "planet-express", "client_id": CID, "client_secret": SECRET,
                                 "base_url": url, "rate_limit_reserve": "0"},
        truth=lambda sim: {t: table_truth(sim, t) for t in tables}, edit=edit, insert=insert, largest="companies",
        extra={
            "http": lambda cfg: c.client(c.settings(cfg)).http,
            # 40 requests per 10 s window (Accelo's is 5,000 an hour), the connector waiting for each reset.
            "budget": {"apply": lambda sim: setattr(sim, "windows", DeploymentBudget(40, 10.0)),
                       "overrides": {"on_budget_exhausted": "wait", "max_budget_wait_seconds": "30"},
                       "limit": (40, 10.0), "headers": True, "windows": "from_first"},
            # Payment edits do not move date_created: the matrix re-reads payments every sync to see them.
            "reliability_config": {"payments_full_refresh_hours": "0"},
            "page_size": ("page_size", 10),
            "paths": {"companies": "/api/v0/companies"},
            "fault_config": {"retry_attempts": "10"},
            "fail_config": {"retry_attempts": "1"},
            "expire_tokens": lambda sim: sim.expire_tokens(),
            "record_key": "id",
            "sink_table": {},
            "sink_keys": {t: ("id",) for t in tables},
            "hostile_config": {"retry_attempts": "2", "max_workers": "2"},
            "debug_config": {"enable_debug_logging": "true"},
            "secrets": lambda config, sim: [config["client_secret"]] + list(sim.tokens),
            "wrong_credentials": {"client_secret": "wrong-accelo-secret-42"},
            "port": 8101,
            "make_large": lambda size: AcceloSim({**{t: 10 for t in tables}, "companies": size}, budget=10**9),
            "incremental_note": "accelo: staff has no date filter in Accelo's API, so every sync reads it in full "
                                "(60 staff here, one request); every other table sends one request when its "
                                "changes fit the first page, and /count only after a full first page.",
        },
    )
