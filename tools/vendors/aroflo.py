"""The aroflo adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

import random

from tools.vendors import Kit, connector


def kit() -> Kit:
    from simulators.aroflo import AroFloSim
    from simulators.aroflo_zones import DECLS
    from simulators.harness import json_response
    from tests.test_aroflo_e2e import CHILDREN, KEYS, fields
    from tests.test_aroflo_e2e import truth as table_truth

    tables = list(KEYS)
    f = connector("aroflo")
    lists = {decl.list_key: decl.name for decl in DECLS}

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> AroFloSim:
        # The mid-size tenant's proportions (entity reference, section 5.2): size is the number of users;
        # tasks and the zones that scale with them are a fifth of it (at least 4 tasks).
        sim = AroFloSim(users=size, suppliers=max(1, size // 2), payments=max(1, size // 4),
                        tasks=max(4, size // 5), tie=tie, faults=faults,
                        per_second=3 if limits else 1000, per_minute=120 if limits else 100_000,
                        daily=2000 if limits else 10**7)
        sim.latency = latency
        return sim

    def edit(sim: AroFloSim, rng: random.Random, n: int) -> None:
        """n edits spread over every zone by its volume (at least one each)."""
        total = sum(z.data.size for z in sim.zones.values()) or 1
        for zone in sim.zones.values():
            zone.data.edit_random(max(1, round(n * zone.data.size / total)), rng)

    def insert(sim: AroFloSim, rng: random.Random, n: int) -> None:
        for name in sim.zones:
            for _ in range(max(1, n // len(sim.zones))):
                sim.insert(name)

    def table_of(request) -> str | None:
        """The warehouse table a simulator request served (the feed's requests: the zone they list)."""
        from urllib.parse import parse_qsl

        params = dict(parse_qsl(request.query, keep_blank_values=True))
        zone = params.get("zone", "").lower()
        if zone == "lastupdate":
            where = [v for k, v in parse_qsl(request.query) if k == "where"]
            named = [w.split("|")[3] for w in where if w.split("|")[1:2] == ["zonename"]]
            return named[0] if named else None
        return lists.get(zone, zone) if zone in KEYS or zone in lists else None

    def config(sim: AroFloSim, url: str) -> dict[str, str]:
        # deletes_check_hours 0: timesheets, schedules and payments show edits to older records only in the
        # re-read that comes with the delete check.
        return {"secret_key": sim.secret_key, "uencoded": sim.uencoded, "pencoded": sim.pencoded,
                "org_encoded": sim.org_encoded, "base_url": url, "requests_per_second": "1000",
                "requests_per_minute": "60000", "deletes_check_hours": "0", "max_delete_percent": "100"}

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
        fields={t: fields(t) for t in tables}, make=make,
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
            "sink_keys": {t: k if isinstance(k, tuple) else (k,) for t, k in KEYS.items()},
            "hostile_config": {"retry_attempts": "2"},
            "debug_config": {"enable_debug_logging": "true"},
            "secrets": lambda config, sim: [config["secret_key"], config["pencoded"]],
            "wrong_credentials": {"secret_key": "wrong-aroflo-secret-42"},
            "port": 8102,
            "make_large": lambda size: AroFloSim(users=10, suppliers=10, payments=size, per_second=1000,
                                                 per_minute=100_000, daily=10**7),
            "table_of": table_of,
            "children": dict(CHILDREN),
            "incremental_note": "aroflo: feed zones cost their (budget-exempt) lastupdate request plus one request "
                                "for the changed records by id; zones outside the feed re-read a last-updated "
                                "filter, a date window or (lookups) the whole zone; with deletes_check_hours 0 every "
                                "sync also reconciles ids, a property of the API (last column: the requests counted "
                                "against AroFlo's 2,000-a-day budget).",
            "counted": lambda sim: sim.daily_used,
        },
    )
