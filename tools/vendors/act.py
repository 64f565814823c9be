"""The act adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import base64
import random

from simulators.harness import Windows
from tools.vendors import Kit, connector


def kit() -> Kit:
    from simulators.act import ActSim
    from tests.test_act_e2e import FIELDS, PASSWORD
    from tests.test_act_e2e import truth as table_truth

    tables = list(FIELDS)
    datasets = ["contacts", "companies", "opportunities", "activities", "products"]

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> ActSim:
        return ActSim(size, max(1, size // 2), max(1, size // 2), max(1, size // 2), max(1, size // 4), tie=tie,
                      faults=faults, latency=latency)

    def edit(sim: ActSim, rng: random.Random, n: int) -> None:
        for name in datasets:
            sim.data[name].edit_random(max(1, n // len(datasets)), rng)

    def insert(sim: ActSim, rng: random.Random, n: int) -> None:
        for name in datasets:
            for _ in range(max(1, n // len(datasets))):
                sim.data[name].insert()

    a = connector("act")

    def config(sim: ActSim, url: str) -> dict[str, str]:
        port = url.rsplit(":", 1)[1]
        return {"protocol": "http", "hostname": "127.0.0.1", "port": port, "api_path": "/act.web.api",
                "username": "John Hollo", "password": PASSWORD, "database_name": "ACT2018Demo", "batch_size": "200",
                "rate_limit_pause": "0"}

    def secrets(config: dict[str, str], sim: ActSim) -> list[str]:
        basic = base64.b64encode(f"{config['username']}:{config['password']}".encode()).decode()
        return [config["password"], basic] + list(sim.issued)

    return Kit(
        name="act", keys={t: "id" for t in tables}, fields={t: list(FIELDS[t]) for t in tables}, make=make,
        config=config, truth=lambda sim: {t: table_truth(sim, t) for t in tables}, edit=edit, insert=insert,
        largest="contacts",
        extra={
            "http": lambda cfg: a.client(a.settings(cfg))[0],
            "budget": {"apply": lambda sim: setattr(sim, "windows", Windows([(20, 2.0)])), "overrides": {},
                       "limit": (20, 2.0), "headers": True},
            "page_size": ("batch_size", 5),
            "paths": {"contacts": "/act.web.api/api/contacts"},
            "fault_config": {},
            "fail_config": {},
            "expire_tokens": lambda sim: sim.revoke_tokens(),
            "record_key": "id",
            "sink_table": {},
            "sink_keys": {t: ("id",) for t in tables} | {f"{t}_custom_fields": ("parent_id", "field") for t in
                                                         ("contacts", "companies", "opportunities")},
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
