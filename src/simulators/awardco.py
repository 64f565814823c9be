"""Simulator of the Awardco API (see the API notes: both the guessed user list and Reports v2).

Decisions implemented: ``apiKey`` header matched case-insensitively, 401/403 bodies
``{"success":false,"message":...}``; ``GET /api/users`` with 1-based ``page``, ``per_page`` clamped to
100, ordered by ``employeeId``, ``updated_since`` inclusive on ``updated_at`` (400 if unparseable);
Reports v2: ``POST /api/v2/reports/{id}`` -> ``{"taskId"}``, status "in progress" for the first
``polls_before_done`` polls, then "completed" with an absolute ``paginatedApiBaseUrl``; CSV pages with a
BOM and a header row each; 60 requests per minute per key, 429 with ``Retry-After`` and no
``X-RateLimit-*`` headers.

USERS report columns are the help centre's (capitals; ``header_style="title"`` writes ``Employee ID``),
including ``Meta : <field>`` metadata columns; ``selectedColumns`` picks columns by name (case, spacing and
punctuation ignored; an unknown name is a 400). Users are archived (status and archived date change, the
user stays in every listing) or, rarely, deleted: a deleted user leaves the list, the report and the truth.

The other reports (point transactions, recognitions, redemptions, budgets, balances, finance reports,
programme utilisation, logins, client fulfilment) are ``awardco_reports.ReportData``: a task snapshots its
rows when it is created; Login (10) takes ``slow_polls`` more polls than the others; pages are CSV, or JSON
(a list of row objects) when the request's ``Accept`` asks for ``application/json``; ``expire_tasks()``
forgets every task (its status is then a 404).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import random
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from .awardco_reports import ZONES, ReportData
from .harness import Dataset, Faults, SimApp, json_response, serve_forever

REPORT_IDS = {2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 18, 21}
USERS_REPORT = 9
REPORT_COLUMNS = ["EMPLOYEE ID", "FIRST NAME", "PREFERRED NAME", "LAST NAME", "EMAIL", "USERNAME", "COUNTRY",
                  "HIRE DATE", "CREATED DATE", "ARCHIVED DATE", "STATUS", "Meta : Department", "Meta : Location"]
METADATA = {"Department": ["Sales", "Finance", "Engineering", "People"], "Location": ["HQ", "Remote", ""]}
COUNTRIES = ["US", "US", "GB", "AU", "DE"]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Zoë", "José"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "O'Brien"]


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def us_time(dt: datetime) -> str:
    """The help centre's ``05/13/2020 4:01:02 PM`` form (month and day unpadded, as the UI writes them)."""
    dt = dt.astimezone(timezone.utc)
    hour = dt.hour % 12 or 12
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02d}:{dt.second:02d} {'AM' if dt.hour < 12 else 'PM'}"


def header_key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.lower())


def title_header(header: str) -> str:
    if header.lower().startswith("meta"):
        return header
    return " ".join(w if w == "ID" else w.capitalize() for w in header.split(" "))


class AwardcoSim(SimApp):
    def __init__(self, users: int = 250, *, tie: int = 1, api_keys: dict[str, set[str]] | None = None,
                 per_minute: int | None = 60, report_page_size: int = 1000, polls_before_done: int = 2,
                 faults: Faults | None = None, seed: int = 7, latency: float = 0.0, header_style: str = "upper",
                 days: int = 10, slow_polls: int = 2):
        super().__init__(faults=faults, limits=[(per_minute, 60.0)] if per_minute else None, latency=latency)
        self.users = Dataset(users, tie=tie, seed=seed)
        self.api_keys = api_keys if api_keys is not None else {"test-key": {"users", "reports"}}
        self.report_page_size = report_page_size
        self.polls_before_done = polls_before_done
        self._tasks: dict[int, dict[str, Any]] = {}
        self._task_ids = itertools.count(101)
        self._tasks_lock = threading.Lock()
        self.fail_next_task: tuple[str, str] | None = None  # (errorCode, message)
        self.header_style = header_style
        self.archived: dict[int, datetime] = {}  # users archived through archive(), with the day
        self.report_bodies: list[dict[str, Any]] = []  # each report request body, for the tests
        self.slow_polls = slow_polls
        self.data = ReportData(self, days=days, seed=seed)

    # Records ------------------------------------------------------------------------------------
    @staticmethod
    def employee_id(i: int) -> str:
        return f"E{i + 1:06d}"

    def user(self, i: int) -> dict[str, Any]:
        rng = self.users.rng(i)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return {
            "employeeId": self.employee_id(i),
            "firstName": first,
            "lastName": last,
            "email": f"{first.lower()}.{i + 1}@example.com",
            "balance": round(rng.uniform(0, 5000), 2),
            "currencyCode": rng.choice(["USD", "USD", "EUR", "AUD"]),
            "created_at": iso(self.users.created(i)),
            "updated_at": iso(self.users.time(i)),
        }

    def report_row(self, i: int) -> dict[str, str]:
        """The USERS report row, keyed by the columns of REPORT_COLUMNS; every value a string."""
        u = self.user(i)
        rng = random.Random(f"{self.users.seed}|report|{i}|{self.users.version(i)}")
        created = self.users.created(i)
        archived_on = self.archived.get(i)
        if archived_on is None and rng.random() < 0.1:
            archived_on = created + timedelta(days=rng.randint(1, 400))
        hired = created - timedelta(days=rng.randint(0, 3000))
        return {"EMPLOYEE ID": u["employeeId"], "FIRST NAME": u["firstName"],
                "PREFERRED NAME": rng.choice(["", "", u["firstName"][:3]]), "LAST NAME": u["lastName"],
                "EMAIL": u["email"], "USERNAME": u["email"].split("@")[0], "COUNTRY": rng.choice(COUNTRIES),
                "HIRE DATE": hired.strftime("%m/%d/%Y"), "CREATED DATE": us_time(created),
                "ARCHIVED DATE": archived_on.strftime("%m/%d/%Y") if archived_on else "",
                "STATUS": "Archived" if archived_on else "Active",
                **{f"Meta : {k}": rng.choice(v) for k, v in METADATA.items()}}

    def truth(self) -> dict[str, dict[str, Any]]:
        return {self.employee_id(i): self.user(i) for i in self.users.all() if self.users.exists(i)}

    def report_truth(self) -> dict[str, dict[str, str]]:
        return {self.employee_id(i): self.report_row(i) for i in self.users.all() if self.users.exists(i)}

    def metadata_truth(self) -> dict[tuple[str, str], str]:
        """(employeeId, metadata field) -> value, for the non-empty metadata of users that exist."""
        out = {}
        for key, r in self.report_truth().items():
            for column, value in r.items():
                if column.startswith("Meta : ") and value:
                    out[(key, column[len("Meta : "):])] = value
        return out

    # Changes ------------------------------------------------------------------------------------
    def index_of(self, employee_id: str) -> int:
        return int(employee_id[1:]) - 1

    def archive(self, i: int) -> None:
        """Archive a user as Awardco does: an update (status, archived date), never a disappearance."""
        self.archived[i] = self.users.clock()
        self.users.edit(i)

    def delete_random(self, rng: random.Random, n: int) -> list[str]:
        """Delete n distinct existing users; returns their employeeIds. Awardco documents no hard delete of
        users (they are archived), so this stands for the rare removal a complete snapshot still shows. A
        deleted user's metadata goes with it (in the report it is columns of the user's row)."""
        live = [i for i in self.users.all() if self.users.exists(i)]
        picks = rng.sample(live, min(n, len(live)))
        for i in picks:
            self.users.delete(i)
        return [self.employee_id(i) for i in picks]

    # HTTP ---------------------------------------------------------------------------------------
    def rate_limited(self, request: Request, headers: dict[str, str], wait: float) -> Response:
        # Awardco publishes no X-RateLimit-* headers; only Retry-After.
        return json_response({"success": False, "message": "Too many requests"}, 429,
                             {"Retry-After": str(max(1, int(wait + 0.999)))})

    def error_body(self, status: int) -> Response:
        return json_response({"success": False, "message": f"Internal error ({status})"}, status)

    def handle(self, request: Request) -> Response:
        key = request.headers.get("apiKey")  # werkzeug headers are case-insensitive
        if not key or key not in self.api_keys:
            return json_response({"success": False, "message": "Authorization failed"}, 401)
        scopes = self.api_keys[key]
        path = request.path.rstrip("/")
        if path == "/api/users" and request.method == "GET":
            if "users" not in scopes:
                return json_response({"success": False, "message": "API key lacks the users scope"}, 403)
            return self.list_users(request)
        if path.startswith("/api/v2/reports"):
            if "reports" not in scopes:
                return json_response({"success": False, "message": "API key lacks the reports scope"}, 403)
            return self.reports(request, path)
        return json_response({"success": False, "message": "Not found"}, 404)

    def list_users(self, request: Request) -> Response:
        try:
            page = int(request.args.get("page", "1"))
            per_page = min(100, max(1, int(request.args.get("per_page", "100"))))
        except ValueError:
            return json_response({"success": False, "message": "page and per_page must be integers"}, 400)
        if page < 1:
            return json_response({"success": False, "message": "page starts at 1"}, 400)
        since = None
        raw = request.args.get("updated_since")
        if raw is not None:
            try:
                since = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
            except ValueError:
                return json_response({"success": False, "message": f"invalid updated_since: {raw}"}, 400)
        indices = self.users.by_id(since, (page - 1) * per_page, per_page)
        return json_response({"success": True, "users": [self.user(i) for i in indices]})

    def reports(self, request: Request, path: str) -> Response:
        parts = path.split("/")[1:]  # api v2 reports ...
        if request.method == "POST" and len(parts) == 4:
            try:
                report_id = int(parts[3])
            except ValueError:
                report_id = -1
            if report_id not in REPORT_IDS:
                return json_response({"success": False, "message": "Report not found"}, 404)
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return json_response({"success": False, "message": "request body must be a JSON object"}, 400)
            self.report_bodies.append(body)
            if report_id != USERS_REPORT:
                return self.create_task(report_id, body)
            columns = list(REPORT_COLUMNS)
            wanted = body.get("selectedColumns")
            if wanted:
                by_key = {header_key(c): c for c in REPORT_COLUMNS}
                unknown = [c for c in wanted if not isinstance(c, str) or header_key(c) not in by_key]
                if unknown:
                    return json_response({"success": False, "message": f"unknown columns {unknown}"}, 400)
                picked = {by_key[header_key(c)] for c in wanted}
                columns = [c for c in REPORT_COLUMNS if c in picked]
            with self._tasks_lock:
                task_id = next(self._task_ids)
                self._tasks[task_id] = {"report": report_id, "polls": 0, "failure": self.fail_next_task,
                                        "rows": self.users.size if report_id == USERS_REPORT else 0,
                                        "columns": columns}
                self.fail_next_task = None
            return json_response({"taskId": task_id})
        if request.method == "GET" and len(parts) == 6 and parts[3] == "tasks":
            try:
                task = self._tasks[int(parts[4])]
            except (ValueError, KeyError):
                return json_response({"success": False, "message": "Task not found"}, 404)
            task_id = int(parts[4])
            if parts[5] == "status":
                return self.task_status(request, task_id, task)
            if parts[5] == "pages":
                if "data" in task:
                    return self.data_page(request, task)
                return self.task_page(request, task)
        return json_response({"success": False, "message": "Not found"}, 404)

    def task_status(self, request: Request, task_id: int, task: dict[str, Any]) -> Response:
        task["polls"] += 1
        base = {"taskId": task_id, "errorCode": None, "message": None, "paginatedApiBaseUrl": None,
                "totalPages": None, "downloadUrl": None}
        if task["polls"] <= self.polls_before_done + (self.slow_polls if task["report"] == 10 else 0):
            return json_response({**base, "status": "in progress"})
        if task["failure"]:
            code, message = task["failure"]
            return json_response({**base, "status": "error", "errorCode": code, "message": message})
        pages = max(1, -(-task["rows"] // self.report_page_size))
        root = request.host_url.rstrip("/")
        return json_response({**base, "status": "completed", "totalPages": pages,
                              "paginatedApiBaseUrl": f"{root}/api/v2/reports/tasks/{task_id}/pages",
                              "downloadUrl": f"{root}/api/v2/reports/tasks/{task_id}/pages?page=1"})

    def create_task(self, report_id: int, body: dict[str, Any]) -> Response:
        zone_name = body.get("timezone", "UTC")
        if zone_name not in ZONES:
            return json_response({"success": False, "message": f"unknown timezone {zone_name!r}"}, 400)
        zone = ZoneInfo(ZONES[zone_name])
        if report_id == 16:
            if body.get("timeRangeOption") not in ("current period", "previous period"):
                return json_response({"success": False, "message": "report 16 takes current period or previous "
                                                                   "period"}, 400)
        else:
            try:
                datetime.fromisoformat(str(body["startDate"]))
                datetime.fromisoformat(str(body["endDate"]))
            except (KeyError, ValueError):
                return json_response({"success": False, "message": "startDate and endDate are required ISO "
                                                                   "dates"}, 400)
        rows = [row for _, row in self.data.rows(report_id, body, zone)]
        with self._tasks_lock:
            task_id = next(self._task_ids)
            self._tasks[task_id] = {"report": report_id, "polls": 0, "failure": self.fail_next_task,
                                    "rows": len(rows), "data": rows, "columns": self.data.headers(report_id)}
            self.fail_next_task = None
        return json_response({"taskId": task_id})

    def expire_tasks(self) -> None:
        with self._tasks_lock:
            self._tasks.clear()

    def page_start(self, request: Request, task: dict[str, Any]) -> int | Response:
        """The first row index of the page asked for, or the 400 a bad page number gets."""
        try:
            page = int(request.args.get("page", "1"))
        except ValueError:
            return json_response({"success": False, "message": "page must be an integer"}, 400)
        pages = max(1, -(-task["rows"] // self.report_page_size))
        if page < 1 or page > pages:
            return json_response({"success": False, "message": f"page {page} out of range 1..{pages}"}, 400)
        return (page - 1) * self.report_page_size

    def data_page(self, request: Request, task: dict[str, Any]) -> Response:
        start = self.page_start(request, task)
        if isinstance(start, Response):
            return start
        rows = task["data"][start:start + self.report_page_size]
        columns = task["columns"]
        names = [title_header(c) if self.header_style == "title" else c for c in columns]
        if "application/json" in request.headers.get("Accept", ""):
            body = [{n: r[c] for n, c in zip(names, columns, strict=True)} for r in rows]
            return Response(json.dumps(body), status=200, headers={"Content-Type": "application/json"})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(names)
        for r in rows:
            writer.writerow([r[c] for c in columns])
        return Response("\ufeff" + out.getvalue(), status=200, headers={"Content-Type": "text/csv"})

    def task_page(self, request: Request, task: dict[str, Any]) -> Response:
        start = self.page_start(request, task)
        if isinstance(start, Response):
            return start
        out = io.StringIO()
        columns = task["columns"]
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([title_header(c) if self.header_style == "title" else c for c in columns])
        for i in range(start, min(task["rows"], start + self.report_page_size)):
            if self.users.exists(i):  # a deleted user is in no page; an archived one is, as Archived
                values = self.report_row(i)
                writer.writerow([values[c] for c in columns])
        return Response("\ufeff" + out.getvalue(), status=200, headers={"Content-Type": "text/csv"})


def main() -> None:
    parser = argparse.ArgumentParser(description="Awardco API simulator")
    parser.add_argument("--port", type=int, default=8104)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args()
    app = AwardcoSim(args.users, api_keys={args.api_key: {"users", "reports"}})
    serve_forever(app, args.port, f"Awardco simulator ({args.users} users)")


if __name__ == "__main__":
    main()
