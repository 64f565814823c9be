"""One adapter per vendor so the demo, the reliability matrix and the benchmarks drive every connector
and simulator the same way: build a simulator, configure the connector for it, change data, and read
the truth in the warehouse's terms (Fivetran snake-cases column names)."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


@dataclass
class Kit:
    name: str
    keys: dict[str, str]  # warehouse table -> primary key column
    fields: dict[str, list[str]]  # warehouse table -> columns compared with the truth
    make: Callable[..., Any]  # make(size, tie=1, faults=None, limits=False, latency=0.0) -> SimApp
    config: Callable[[Any, str], dict[str, str]]  # (sim, base URL) -> configuration
    truth: Callable[[Any], dict[str, dict[Any, dict[str, Any]]]]  # table -> key -> row
    edit: Callable[[Any, random.Random, int], None]  # edit n records spread over the tables
    insert: Callable[[Any, random.Random, int], None]
    largest: str = ""  # the table the memory benchmark grows
    extra: dict[str, Any] = field(default_factory=dict)


_loaded: dict[str, ModuleType] = {}


def connector(name: str) -> ModuleType:
    """Import connectors/<name>/connector.py as a module (the folder is not a package)."""
    if name not in _loaded:
        path = ROOT / "connectors" / name / "connector.py"
        spec = importlib.util.spec_from_file_location(f"{name}_connector", path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # helper modules beside connector.py
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
        _loaded[name] = module
    return _loaded[name]


def _awardco() -> Kit:
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
            "budget": ([(20, 2.0)], {"requests_per_minute": "600"}),
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


FACTORIES: dict[str, Callable[[], Kit]] = {"awardco": _awardco}


def kits(names: list[str] | None = None) -> dict[str, Kit]:
    """The adapters for the named connectors (all that exist when None)."""
    out = {}
    for name, factory in FACTORIES.items():
        if names and name not in names:
            continue
        out[name] = factory()
    return out
