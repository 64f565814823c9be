"""The act adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import base64
import random

from simulators.harness import Windows
from tools.vendors import Kit, connector


def kit() -> Kit:
    from simulators.act import ActSim
    from tests.test_act_e2e import ALL, COMPARED, KEYS, PASSWORD
    from tests.test_act_e2e import truth as table_truth

    tables = list(ALL)  # every table and child table, the custom table included

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> ActSim:
        # Relative volumes of a typical database: as many histories as contacts, fewer of everything else.
        half, quarter = max(1, size // 2), max(1, size // 4)
        return ActSim(size, half, half, half, quarter, tie=tie, faults=faults, latency=latency,
                      histories=size, notes=quarter, groups=max(2, size // 10), contracts=max(2, size // 10))

    def edit(sim: ActSim, rng: random.Random, n: int) -> None:
        """``n`` edits spread over every entity in proportion to its size (at least one each)."""
        total = sum(d.size for d in sim.data.values()) or 1
        for data in sim.data.values():
            data.edit_random(max(1, round(n * data.size / total)), rng)

    def insert(sim: ActSim, rng: random.Random, n: int) -> None:
        total = sum(d.size for d in sim.data.values()) or 1
        for data in sim.data.values():
            for _ in range(max(1, round(n * data.size / total))):
                data.insert()

    a = connector("act")

    def table_of(request) -> str | None:
        """The warehouse table a simulator request served (None for auth and other requests)."""
        parts = [p for p in request.path.lower().removeprefix("/act.web.api").split("/") if p][1:]
        if not parts or request.path.lower().endswith("/authorize"):
            return None
        if parts[0] == "metadata":
            return "custom_contracts" if parts == ["metadata", "entities"] else "field_metadata"
        if parts[:2] == ["custom", "entities"]:
            return "custom_" + parts[2] if len(parts) > 2 else None
        if len(parts) == 3 and parts[0] == "opportunities" and parts[2] == "products":
            return "opportunities_products"
        if len(parts) == 3 and parts[0] == "groups":
            return "groups_contacts"
        if len(parts) == 2 and parts[0] == "opportunities":
            return {"stages": "opportunity_stages", "processes": "opportunity_processes"}.get(parts[1])
        routes = {e.path.lower().removeprefix("/api/"): e.name for e in a.ENDPOINTS}
        return routes.get(parts[0])

    def config(sim: ActSim, url: str) -> dict[str, str]:
        port = url.rsplit(":", 1)[1]
        return {"protocol": "http", "hostname": "127.0.0.1", "port": port, "api_path": "/act.web.api",
                "username": "John Hollo", "password": PASSWORD, "database_name": "ACT2018Demo", "batch_size": "200",
                "rate_limit_pause": "0"}

    def secrets(config: dict[str, str], sim: ActSim) -> list[str]:
        basic = base64.b64encode(f"{config['username']}:{config['password']}".encode()).decode()
        return [config["password"], basic] + list(sim.issued)

    return Kit(
        name="act", keys={t: KEYS[t] for t in tables}, fields={t: COMPARED[t] for t in tables}, make=make,
        config=config, truth=lambda sim: {t: table_truth(sim, t) for t in tables}, edit=edit, insert=insert,
        largest="contacts",
        extra={
            "http": lambda cfg: a.client(a.settings(cfg))[0],
            "budget": {"apply": lambda sim: setattr(sim, "windows", Windows([(20, 2.0)])), "overrides": {},
                       "limit": (20, 2.0), "headers": True},
            # Pages of 20: several pages per large table; every page costs the local tester a checkpoint.
            "page_size": ("batch_size", 20),
            "paths": {"contacts": "/act.web.api/api/contacts"},
            "fault_config": {},
            "fail_config": {},
            "expire_tokens": lambda sim: sim.revoke_tokens(),
            "record_key": "id",
            "sink_table": {},
            "sink_keys": {t["table"]: tuple(t["primary_key"]) for t in a.schema_of(a.catalogue())} | {
                "custom_contracts": ("id",), "custom_contracts_links": ("parent_id", "linked_type", "linked_id")},
            "table_of": table_of,
            "hostile_config": {},
            "debug_config": {"enable_debug_logging": "true"},
            "secrets": secrets,
            "wrong_credentials": {"password": "wrong-act-pass-42"},
            "deny_permission": lambda sim: sim.users.update({"John Hollo": (PASSWORD, False)}),
            "port": 8105,
            "bench_size": 3_000,
            "make_large": lambda size: ActSim(size, 10, 10, 10, 10),
        },
    )
