"""The aroflo adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import random

from tools.vendors import Kit, connector


def kit() -> Kit:
    from simulators.aroflo import AroFloSim
    from simulators.harness import json_response
    from tests.test_aroflo_e2e import KEYS
    from tests.test_aroflo_e2e import truth as table_truth

    tables = list(KEYS)
    f = connector("aroflo")

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> AroFloSim:
        sim = AroFloSim(users=size, suppliers=max(1, size // 2), payments=size, tie=tie, faults=faults,
                        per_second=3 if limits else 1000, per_minute=120 if limits else 100_000,
                        daily=2000 if limits else 10**7)
        sim.latency = latency
        return sim

    def datasets(sim: AroFloSim) -> list:
        return [sim.users, sim.suppliers, sim.payments]

    def edit(sim: AroFloSim, rng: random.Random, n: int) -> None:
        for data in datasets(sim):
            data.edit_random(max(1, n // 3), rng)

    def insert(sim: AroFloSim, rng: random.Random, n: int) -> None:
        for table in tables:
            for _ in range(max(1, n // 3)):
                sim.insert(table)

    def config(sim: AroFloSim, url: str) -> dict[str, str]:
        return {"secret_key": sim.secret_key, "uencoded": sim.uencoded, "pencoded": sim.pencoded,
                "org_encoded": sim.org_encoded, "base_url": url, "requests_per_second": "1000",
                "requests_per_minute": "60000"}

    def enforce(sim: AroFloSim) -> None:
        sim.per_second, sim.per_minute = 3, 120

    def fail_payments(sim: AroFloSim) -> None:
        original = sim.handle

        def handle(request):
            if request.args.get("zone") == "payments":
                return json_response({"message": "simulated persistent failure"}, 500)
            return original(request)

        sim.handle = handle
        sim._restore = lambda: setattr(sim, "handle", original)

    return Kit(
        name="aroflo", keys=dict(KEYS),
        fields={t: list(next(iter(table_truth(make(3), t).values()))) for t in tables}, make=make,
        config=config, truth=lambda sim: {t: table_truth(sim, t) for t in tables}, edit=edit, insert=insert,
        largest="payments",
        extra={
            "http": lambda cfg: f.Api(f.settings(cfg)).zones,
            "budget": {"apply": enforce, "overrides": {"requests_per_second": "3", "requests_per_minute": "120"},
                       "limit": (3, 1.0), "headers": True},
            "page_size": ("max_records_per_page", 20),
            "paths": {"users": "/"},
            "fail": {"table": "payments", "on": fail_payments, "off": lambda sim: sim._restore()},
            "fault_config": {"retry_attempts": "10"},
            "fail_config": {"retry_attempts": "1"},
            "record_key": "userid",
            "sink_table": {},
            "sink_keys": {t: (k,) for t, k in KEYS.items()},
            "hostile_config": {"retry_attempts": "2"},
            "debug_config": {"enable_debug_logging": "true"},
            "secrets": lambda config, sim: [config["secret_key"], config["pencoded"]],
            "wrong_credentials": {"secret_key": "wrong-aroflo-secret-42"},
            "port": 8102,
            "make_large": lambda size: AroFloSim(users=10, suppliers=10, payments=size, per_second=1000,
                                                 per_minute=100_000, daily=10**7),
            "incremental_note": "aroflo: the lastupdate change feed lists ids only, and suppliers and payments have no "
                                "modification field, so each zone costs its feed request plus one request for the "
                                "changed records by id: 6 for 3 zones, a property of the API. The feed requests are "
                                "exempt from AroFlo's 2,000-a-day budget (last column: the requests it counted).",
            "counted": lambda sim: sim.daily_used,
        },
    )
