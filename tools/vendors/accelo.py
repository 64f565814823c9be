"""The accelo adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import parse_qs

from tools.vendors import Kit, connector


def kit() -> Kit:
    from fivetran_connector_sdk_core.renaming import redshift_safe

    from simulators.accelo import BASE, RESOURCES, AcceloSim, DeploymentBudget
    from simulators.accelo_entities import BY_NAME
    from tests.test_accelo_connector import CID, SECRET
    from tests.test_accelo_connector import truth as table_truth

    c = connector("accelo")
    tables = list(RESOURCES)

    def warehouse(rows: dict) -> dict:
        """Rows in the warehouse's column names (Fivetran's naming splits digits off: street1 -> street_1)."""
        return {key: {redshift_safe(k): v for k, v in row.items()} for key, row in rows.items()}

    def sizes_for(size: int) -> dict[str, int]:
        """Realistic relative volumes: per company, activities the largest; lookups and definitions fixed."""
        sizes = {t: size for t in BASE}
        sizes["staff"] = max(1, min(size // 4, 60))  # a deployment's own employees: a few pages at most
        for name, res in BY_NAME.items():
            sizes[name] = max(1, round(size * res.ratio)) if res.ratio else res.size
        return sizes

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> AcceloSim:
        return AcceloSim(sizes_for(size), tie=tie, faults=faults, latency=latency, budget=5000 if limits else 10**9)

    # Lookups and field definitions change when an administrator edits them, and are re-read daily
    # (reference_refresh_hours): the edits and inserts go to every other table.
    changing = [t for t in tables if not (t in BY_NAME and BY_NAME[t].reference)]

    def edit(sim: AcceloSim, rng: random.Random, n: int) -> None:
        for table in changing:
            sim.edit_random(table, max(1, n // len(changing)), rng)

    def insert(sim: AcceloSim, rng: random.Random, n: int) -> None:
        for table in changing:
            for _ in range(max(1, n // len(changing))):
                sim.insert(table)

    def table_of(request: Any) -> str | None:
        """The warehouse table a request served: by its path, except the contract-id listing of the
        contract-periods fan-out (``_fields=id`` without an id bound: not a delete check)."""
        table = AcceloSim.resource_of(request.path)
        query = parse_qs(request.query)
        if table == "contracts" and query.get("_fields") == ["id"] and "id_less_than" not in request.query:
            return "contract_periods"
        return table

    return Kit(
        name="accelo", keys={t: "id" for t in tables},
        fields={t: [redshift_safe(col) for col in c.COLUMNS[t] if col != "id"] for t in tables}, make=make,
        config=lambda sim, url: {"deployment": "planet-express", "client_id": CID, "client_secret": SECRET,
                                 "base_url": url, "rate_limit_reserve": "0"},
        truth=lambda sim: {t: warehouse(table_truth(sim, t)) for t in tables}, edit=edit, insert=insert,
        largest="companies",
        extra={
            "http": lambda cfg: c.client(c.settings(cfg)).http,
            "table_of": table_of,
            # 40 requests per 10 s window (Accelo's is 5,000 an hour), the connector waiting for each reset.
            "budget": {"apply": lambda sim: setattr(sim, "windows", DeploymentBudget(40, 10.0)),
                       "overrides": {"on_budget_exhausted": "wait", "max_budget_wait_seconds": "30"},
                       "limit": (40, 10.0), "headers": True, "windows": "from_first"},
            # Payment edits do not move date_created, and contract periods are read daily by default: the
            # matrix re-reads both every sync to see every change.
            "reliability_config": {"payments_full_refresh_hours": "0", "contract_periods_refresh_hours": "0"},
            "page_size": ("page_size", 25),
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
            "incremental_note": "accelo: tables without a modification date (staff, contracts, quotes, expenses, "
                                "purchases, line items, budgets, addresses, lookups, custom-field definitions "
                                "and values) are re-read in full every sync; contract periods (one request per "
                                "contract) once a day; every dated table sends one request when its changes fit "
                                "the first page, and /count only after a full first page.",
        },
    )
