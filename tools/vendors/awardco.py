"""The awardco adapter: its simulator, configuration, edits and truth in the warehouse's terms."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from simulators.harness import Windows
from tools.vendors import Kit, connector

# Per report table: warehouse column -> the simulator's header, compared with the warehouse. The event time
# (``day`` and the date column) comes from the simulator's own clock value, not from the header's text.
EVENT_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "point_transactions": ("date", {"transaction_type": "TRANSACTION TYPE", "employee_id": "EMPLOYEE ID",
                                    "initiator_employee_id": "INITIATOR EMPLOYEE ID", "point_amount": "POINT AMOUNT"}),
    "recognitions": ("date", {"from_employee_id": "FROM EMPLOYEE ID", "to_employee_id": "TO EMPLOYEE ID",
                              "recognition_program": "RECOGNITION PROGRAM", "point_amount": "POINT AMOUNT"}),
    "redemptions": ("date", {"employee_id": "EMPLOYEE ID", "type": "TYPE", "point_amount": "POINT AMOUNT",
                             "meta_department": "meta: Department"}),
    "recognition_status": ("created_date", {"recognition_id": "RECOGNITION ID",
                                            "recognition_status": "RECOGNITION STATUS",
                                            "current_approval_level": "CURRENT APPROVAL LEVEL"}),
    "redemption_point_sources": ("redemption_date", {"employee_id": "EMPLOYEE ID", "points_spent": "POINTS SPENT",
                                                     "budget_taxability": "BUDGET TAXABILITY"}),
    "money_deposits": ("date", {"type": "Type", "amount": "Amount", "invoice": "Invoice #"}),
    "redemption_account_transactions": ("date", {"transaction_type": "TRANSACTION TYPE", "amount": "AMOUNT",
                                                 "order_number": "ORDER NUMBER"}),
    "money_spent": ("date", {"employee_id": "EMPLOYEE ID", "amount": "AMOUNT", "award_option": "AWARD OPTION"}),
    "funding_reconciliation": ("date", {"initiator": "INITIATOR", "employee_id": "EMPLOYEE ID",
                                        "point_amount": "POINT AMOUNT"}),
    "logins": ("login_date", {"employee_id": "EMPLOYEE ID", "source": "SOURCE"}),
    "client_fulfillment": ("date", {"employee_id": "EMPLOYEE ID", "item": "ITEM", "point_amount": "POINT AMOUNT"}),
}
OTHER_FIELDS: dict[str, dict[str, str]] = {
    "point_budgets": {"budget_id": "BUDGET ID", "budget_allocation": "BUDGET ALLOCATION", "status": "STATUS"},
    "user_point_balances": {"employee_id": "EMPLOYEE ID", "incoming": "INCOMING", "ending_balance": "ENDING BALANCE"},
    "program_utilization": {"nominator_employee_id": "NOMINATOR EMPLOYEE ID", "recognitions_given":
                            "RECOGNITIONS GIVEN"},
}
NUMBERS = ("amount", "points", "balance", "incoming", "allocation", "given")


def value(column: str, raw: str) -> Any:
    if raw == "":
        return None
    return float(raw) if any(word in column for word in NUMBERS) else raw


def report_truth(sim: Any) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every report table's rows as the connector must land them: keys derived the connector's way (the key
    rule is the connector's), every compared value from the simulator's own data."""
    ar = connector("awardco").ar
    cfg = {**connector("awardco").defaults(), "start_date": None}
    today = datetime.now(timezone.utc).date()
    zone = ar.ZoneInfo("UTC")
    out: dict[str, dict[Any, dict[str, Any]]] = {r.table: {} for r in ar.REPORTS}
    keys = {r.table: ar.Keys() for r in ar.REPORTS}
    for body in sim.data.windows():
        rid = body["reportId"]
        report = next(r for r in ar.REPORTS if r.report_id == rid)
        reader = ar.Reader(report, None, cfg, {}, None, today)
        pairs = sim.data.rows(rid, body, zone)
        headers = sim.data.headers(rid)
        if report.kind == ar.PROGRAMS:
            window = [body["timeRangeOption"]]
        elif report.kind == ar.PERIODS:
            window = [body["period"].isoformat(), ar.next_month(body["period"]).isoformat()]
        else:
            window = [sim.data.start_day.isoformat(), (today + timedelta(days=1)).isoformat()]
        shaped = reader.shape("truth", headers, [row for _, row in pairs], window, keys[report.table])
        for (at, raw), row in zip(pairs, shaped, strict=True):
            if report.table in EVENT_FIELDS:
                column, fields = EVENT_FIELDS[report.table]
                expected = {column: at.strftime("%Y-%m-%dT%H:%M:%SZ"), "day": at.date()}
            else:
                fields = OTHER_FIELDS[report.table]
                expected = ({"period": window[0]} if report.kind == ar.PROGRAMS
                            else {"period_start": date.fromisoformat(window[0])})
            expected.update({col: value(col, raw[header]) for col, header in fields.items()})
            out[report.table][row["row_key"]] = expected
    return out


def kit() -> Kit:
    from simulators.awardco import AwardcoSim

    ar = connector("awardco").ar
    current: dict[str, AwardcoSim] = {}

    def make(size: int, tie: int = 1, faults=None, limits: bool = False, latency: float = 0.0) -> AwardcoSim:
        sim = AwardcoSim(users=size, tie=tie, faults=faults, per_minute=60 if limits else None, latency=latency,
                         polls_before_done=0, slow_polls=1, report_page_size=100)
        current["sim"] = sim
        return sim

    def truth(sim: AwardcoSim) -> dict:
        users = {"user": {k: {"first_name": u["firstName"], "email": u["email"], "balance": u["balance"],
                              "updated_at": u["updated_at"]} for k, u in sim.truth().items()}}
        # The matrix reads users from the list (users_source=list), which has no metadata: none may land.
        return {**users, "user_metadata": {}, **report_truth(sim)}

    def edit(sim: AwardcoSim, rng, n: int) -> None:
        sim.users.edit_random(max(1, n // 2), rng)
        sim.data.new_events(rng, n)
        sim.data.decide(rng, max(1, n // 4))

    def delete(sim: AwardcoSim, rng, n: int) -> list:
        gone = sim.delete_random(rng, max(1, n // 2))
        sim.data.remove(rng, n)
        sim.data.decide(rng, max(1, n // 4))
        return gone + [None] * n

    def table_of(request) -> str | None:
        """The warehouse table a simulator request served (report tasks by their report id)."""
        path = request.path.rstrip("/")
        if path == "/api/users":
            return "user"
        parts = path.split("/")
        if path.startswith("/api/v2/reports/tasks/") and len(parts) >= 6 and "sim" in current:
            task = current["sim"]._tasks.get(int(parts[5])) if parts[5].isdigit() else None
            report = task["report"] if task else None
        elif path.startswith("/api/v2/reports/") and parts[-1].isdigit():
            report = int(parts[-1])
        else:
            return None
        if report == 9:
            return "user"
        return next((r.table for r in ar.REPORTS if r.report_id == report), None)

    names = [r.table for r in ar.REPORTS]
    report_fields = {t: ["day", column, *fields] for t, (column, fields) in EVENT_FIELDS.items()}
    report_fields.update({t: [("period" if t == "program_utilization" else "period_start"), *fields]
                          for t, fields in OTHER_FIELDS.items()})
    return Kit(
        name="awardco",
        keys={"user": "employee_id", "user_metadata": ("parent_employee_id", "field"), **{t: "row_key" for t in names}},
        fields={"user": ["first_name", "email", "balance", "updated_at"], "user_metadata": ["value"], **report_fields},
        make=make,
        config=lambda sim, url: {"api_key": "test-key", "base_url": url, "users_source": "list",
                                 "requests_per_minute": "6000" if not sim.windows.limits else "60",
                                 "retry_attempts": "8", "poll_seconds": "0.01", "poll_max_seconds": "0.05",
                                 "start_date": sim.data.start_day.isoformat(),
                                 "tables": ",".join(["user", *names])},
        truth=truth,
        edit=edit,
        insert=lambda sim, rng, n: ([sim.users.insert() for _ in range(n)], sim.data.new_events(rng, n)),
        delete=delete,
        largest="point_transactions",
        extra={
            "http": lambda cfg: connector("awardco").client(connector("awardco").settings(cfg)),
            # A small enforced budget (20 requests per 2 s) and the connector paced to exactly that.
            "budget": {"apply": lambda sim: setattr(sim, "windows", Windows([(20, 2.0)])),
                       "overrides": {"requests_per_minute": "600"}, "limit": (20, 2.0), "headers": False},
            "port": 8104,
            "demo_size": 2500,
            "throughput_config": {"tables": "user"},  # the users list: plain GETs a bare loop can replay
            "demo_config": {"users_source": "report"},
            "page_size": ("page_size", 20),
            "paths": {"user": "/api/users"},
            "fault_config": {"retry_attempts": "10"},
            "fail_config": {"retry_attempts": "1"},
            # Hostile-response tests: the record key as the API sends it, the sink's table names and keys.
            "record_key": "employeeId",
            "sink_table": {"user": "user"},
            "sink_keys": {"user": ("employeeId",), **{t: ("row_key",) for t in names}},
            "hostile_config": {"retry_attempts": "2"},
            # Debug logging on; the users table and one report table cover both request flows (list, report tasks).
            "debug_config": {"enable_debug_logging": "true", "tables": "user,point_transactions"},
            "secrets": lambda config, sim: [config["api_key"]],
            "wrong_credentials": {"api_key": "wrong-awardco-key-42"},
            "deny_permission": lambda sim: sim.api_keys.update({"test-key": {"reports"}}),
            "table_of": table_of,
        },
    )
