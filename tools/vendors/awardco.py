"""The awardco adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

from simulators.harness import Windows
from tools.vendors import Kit, connector


def kit() -> Kit:
    from simulators.awardco import AwardcoSim

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> AwardcoSim:
        return AwardcoSim(users=size, tie=tie, faults=faults, per_minute=60 if limits else None, latency=latency,
                          polls_before_done=0)

    def truth(sim: AwardcoSim) -> dict:
        return {"user": {k: {"first_name": u["firstName"], "email": u["email"], "balance": u["balance"],
                             "updated_at": u["updated_at"]} for k, u in sim.truth().items()}}

    return Kit(
        name="awardco",
        keys={"user": "employee_id"},
        fields={"user": ["first_name", "email", "balance", "updated_at"]},
        make=make,
        config=lambda sim, url: {"api_key": "test-key", "base_url": url, "users_source": "list",
                                 "requests_per_minute": "6000" if not sim.windows.limits else "60",
                                 "retry_attempts": "8"},
        truth=truth,
        edit=lambda sim, rng, n: sim.users.edit_random(n, rng),
        insert=lambda sim, rng, n: [sim.users.insert() for _ in range(n)],
        largest="user",
        extra={
            "http": lambda cfg: connector("awardco").client(connector("awardco").settings(cfg)),
            # A small enforced budget (20 requests per 2 s) and the connector paced to exactly that.
            "budget": {"apply": lambda sim: setattr(sim, "windows", Windows([(20, 2.0)])),
                       "overrides": {"requests_per_minute": "600"}, "limit": (20, 2.0), "headers": False},
            "port": 8104,
            "demo_size": 2500,
            "demo_config": {"users_source": "report"},
            "page_size": ("page_size", 20),
            "paths": {"user": "/api/users"},
            "fault_config": {"retry_attempts": "10"},
            "fail_config": {"retry_attempts": "1"},
            # Hostile-response tests: the record key as the API sends it, the sink's table names and keys.
            "record_key": "employeeId",
            "sink_table": {"user": "user"},
            "sink_keys": {"user": ("employeeId",)},
            "hostile_config": {"retry_attempts": "2"},
            "debug_config": {"enable_debug_logging": "true"},
            "secrets": lambda config, sim: [config["api_key"]],
            "wrong_credentials": {"api_key": "wrong-awardco-key-42"},
            "deny_permission": lambda sim: sim.api_keys.update({"test-key": {"reports"}}),
        },
    )
