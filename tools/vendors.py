"""One adapter per vendor so the demo, the reliability matrix and the benchmarks drive every connector
and simulator the same way: build a simulator, configure the connector for it, change data, and read
the truth in the warehouse's terms (Fivetran snake-cases column names)."""

from __future__ import annotations

import base64
import importlib.util
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from simulators.harness import Windows  # noqa: E402


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
    # delete n records spread over the tables (with cascading children where the API cascades): the simulator's
    # delete_random(rng, n), which removes them from every listing and from the truth
    delete: Callable[[Any, random.Random, int], Any] = lambda sim, rng, n: sim.delete_random(rng, n)
    largest: str = ""  # the table the memory benchmark grows
    extra: dict[str, Any] = field(default_factory=dict)


_loaded: dict[str, ModuleType] = {}


def connector(name: str) -> ModuleType:
    """Import connectors/<name>/connector.py as a module (the folder is not a package)."""
    if name not in _loaded and f"{name}_connector" in sys.modules:
        _loaded[name] = sys.modules[f"{name}_connector"]
    if name not in _loaded:
        path = ROOT / "connectors" / name / "connector.py"
        spec = importlib.util.spec_from_file_location(f"{name}_connector", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
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


def _xurrent() -> Kit:
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


def _act() -> Kit:
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


def _aroflo() -> Kit:
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


def _accelo() -> Kit:
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


FACTORIES: dict[str, Callable[[], Kit]] = {"accelo": _accelo, "act": _act, "aroflo": _aroflo, "awardco": _awardco,
                                           "xurrent": _xurrent}


def kits(names: list[str] | None = None) -> dict[str, Kit]:
    """The adapters for the named connectors (all that exist when None)."""
    out = {}
    for name, factory in FACTORIES.items():
        if names and name not in names:
            continue
        out[name] = factory()
    return out
