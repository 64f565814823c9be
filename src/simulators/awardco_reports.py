"""The Awardco simulator's Reports v2 data: event ledgers, recognitions, periods and programmes.

Decisions (the reference marks most columns GUESS): headers in the help centre's capitals (report 4 in
its title case, report 6 with a ``meta: Department`` column); rows carry no id except Recognition Status
(``RECOGNITION ID``); times are written ``M/D/YYYY h:mm:ss AM/PM`` in the request's Windows time zone
(an unknown zone or an IANA name is a 400); ``startDate``/``endDate`` are inclusive local times. Events
happen over the ``days`` before the simulator starts; corrections arrive as new rows dated days back
(a late Return, Reversal or Manual Adjustment); a few rows are exact duplicates of another. Recognition
Details lists completed recognitions by completion time; Recognition Status lists every recognition by
creation time, with its current status. Period reports hold one row per budget or user per calendar
month; programme utilisation one row per programme and nominator for the previous and current month.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from .harness import stable_random

ZONES = {"UTC": "UTC", "Pacific Standard Time": "America/Los_Angeles", "W. Europe Standard Time": "Europe/Berlin",
         "India Standard Time": "Asia/Kolkata", "Eastern Standard Time": "America/New_York",
         "AUS Eastern Standard Time": "Australia/Sydney"}
PROGRAMS = ["Spot Awards", "Peer Nominations", "Service Anniversary"]
BUDGETS = ["Q1 Peer Budget", "Manager Budget", "Company Budget", "Anniversary Budget"]
STATUSES = ["Pending Approval", "Completed", "Completed", "Completed", "Awaiting Delivery"]

# report id -> (table, date header, other headers). Values come from each event's ``values``.
EVENT_REPORTS: dict[int, tuple[str, str, list[str]]] = {
    11: ("point_transactions", "DATE", ["TRANSACTION TYPE", "INITIATOR EMPLOYEE ID", "EMPLOYEE ID", "BUDGET",
                                        "POINT AMOUNT"]),
    6: ("redemptions", "DATE", ["FULL NAME", "EMPLOYEE ID", "TYPE", "AWARD OPTION", "CATEGORY", "POINT AMOUNT",
                                "meta: Department"]),
    21: ("redemption_point_sources", "REDEMPTION DATE", ["EMPLOYEE ID", "RECOGNITION PROGRAM", "BUDGET",
                                                         "BUDGET TAXABILITY", "POINTS SPENT"]),
    4: ("money_deposits", "Date", ["Type", "Amount", "Currency", "Invoice #", "User Full Name"]),
    2: ("redemption_account_transactions", "DATE", ["TRANSACTION TYPE", "AMOUNT", "CURRENCY", "ORDER NUMBER"]),
    3: ("money_spent", "DATE", ["EMPLOYEE ID", "FULL NAME", "AWARD OPTION", "AMOUNT", "CURRENCY"]),
    15: ("funding_reconciliation", "DATE", ["INITIATOR", "INITIATOR EMPLOYEE ID", "EMPLOYEE", "EMPLOYEE ID",
                                            "COUNTRY CODE", "POINT AMOUNT", "AWARD NETWORK"]),
    10: ("logins", "LOGIN DATE", ["EMPLOYEE ID", "FULL NAME", "SOURCE"]),
    14: ("client_fulfillment", "DATE", ["EMPLOYEE ID", "FULL NAME", "ITEM", "STATUS", "POINT AMOUNT"]),
}
# Events per 100 users, per report: realistic relative volumes.
VOLUME = {11: 300, 6: 60, 21: 60, 4: 3, 2: 20, 3: 40, 15: 100, 10: 200, 14: 10}
CORRECTIONS = {11: ("TRANSACTION TYPE", "Manual Adjustment"), 6: ("TYPE", "Return"), 4: ("Type", "Reversal"),
               2: ("TRANSACTION TYPE", "Reversal"), 15: ("INITIATOR", "Awardco Finance")}
RECOGNITION_DETAILS = ["DATE", "FROM EMPLOYEE ID", "FROM FULL NAME", "TO EMPLOYEE ID", "TO FULL NAME",
                       "RECOGNITION PROGRAM", "BUDGET", "POINT AMOUNT", "HASHTAGS", "VISIBILITY", "RECOGNITION SOURCE"]
RECOGNITION_STATUS = ["RECOGNITION ID", "CREATED DATE", "RECOGNITION STATUS", "CURRENT APPROVAL LEVEL",
                      "FROM EMPLOYEE ID", "FROM FULL NAME", "TO EMPLOYEE ID", "TO FULL NAME", "RECOGNITION PROGRAM",
                      "BUDGET", "POINT AMOUNT"]
BUDGET_COLUMNS = ["ACCOUNT TYPE", "BUDGET ALLOCATION", "BUDGET DEALLOCATION", "BUDGET ID", "BUDGET NAME", "STATUS"]
BALANCE_COLUMNS = ["NAME", "FIRST NAME", "LAST NAME", "EMPLOYEE ID", "STARTING BALANCE", "INCOMING", "OUTGOING",
                   "ENDING BALANCE"]
PROGRAM_COLUMNS = ["RECOGNITION PROGRAM", "NOMINATOR EMPLOYEE ID", "NOMINATOR", "PERIOD START", "PERIOD END",
                   "ELIGIBLE", "RECOGNITIONS GIVEN", "POINTS GIVEN"]


def us_time(dt: datetime, zone: ZoneInfo) -> str:
    """``2/5/2023 6:06:26 AM`` in the zone (month and day unpadded, as the UI writes them)."""
    dt = dt.astimezone(zone)
    hour = dt.hour % 12 or 12
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02d}:{dt.second:02d} {'AM' if dt.hour < 12 else 'PM'}"


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass
class Event:
    at: datetime  # UTC
    values: dict[str, str]
    gone: bool = False


@dataclass
class Recognition:
    id: str
    created: datetime
    status: str
    values: dict[str, str]
    completed: datetime | None = None
    level: int = 1
    history: list[str] = field(default_factory=list)


class ReportData:
    """Every report's rows, generated from a seed; ``people`` gives (employee id, full name) of user i."""

    def __init__(self, sim: Any, *, days: int = 10, seed: int = 7, now: datetime | None = None):
        self.sim = sim
        self.now = now or datetime.now(timezone.utc).replace(microsecond=0)
        self.start_day = (self.now - timedelta(days=days + 2)).date()  # the connector's start_date
        self.days = days
        self.rng = random.Random(f"{seed}|reports")
        self.events: dict[int, list[Event]] = {rid: [] for rid in EVENT_REPORTS}
        self.recognitions: list[Recognition] = []
        self.versions: dict[tuple[str, str], int] = {}  # (kind, key) -> version of the current month's figures
        self._people: dict[tuple[int, int], tuple[str, str]] = {}
        users = max(1, sim.users.n)
        for rid, per in VOLUME.items():
            for _ in range(max(2, users * per // 100)):
                self.add_event(rid, self.past())
        for _ in range(max(3, users)):
            self.add_recognition(self.past())

    # Generation -----------------------------------------------------------------------------------------
    def past(self) -> datetime:
        return self.now - timedelta(seconds=self.rng.randint(0, self.days * 86400))

    def person(self) -> tuple[str, str]:
        size = self.sim.users.size
        i = self.rng.randrange(size)
        while not self.sim.users.exists(i) and len(self.sim.users.deleted) < size:
            i = self.rng.randrange(size)  # deleted users make no new events
        key = (i, self.sim.users.version(i))
        if key not in self._people:  # building a user is the costly part of generating events
            u = self.sim.user(i)
            self._people[key] = (u["employeeId"], f"{u['firstName']} {u['lastName']}")
        return self._people[key]

    def add_event(self, rid: int, at: datetime, correction: bool = False) -> Event:
        rng = self.rng
        if rid == 11 and self.events[11] and rng.random() < 0.06:  # an exact duplicate of the last row
            last = self.events[11][-1]
            event = Event(last.at, dict(last.values))
            self.events[rid].append(event)
            return event
        (emp, name), (other, other_name) = self.person(), self.person()
        amount = str(rng.choice([25, 50, 100, 250, 500, 1000]))
        values = {
            "EMPLOYEE ID": emp, "FULL NAME": name, "EMPLOYEE": name, "INITIATOR": other_name,
            "INITIATOR EMPLOYEE ID": other, "BUDGET": rng.choice(BUDGETS), "POINT AMOUNT": amount,
            "POINTS SPENT": amount, "TRANSACTION TYPE": rng.choice(
                ["Recognition", "Allocation", "Deposit", "Transfer", "Redemption", "Auto Point Deposit"]
                if rid == 11 else ["Deposit", "Order", "Order"]),
            "TYPE": rng.choice(["Redemption", "Redemption", "Adjustment"]), "AWARD OPTION": rng.choice(
                ["Amazon", "Gift Card", "Company Store"]), "CATEGORY": rng.choice(["Electronics", "Books", "Home"]),
            "meta: Department": rng.choice(["Sales", "Finance", ""]), "RECOGNITION PROGRAM": rng.choice(PROGRAMS),
            "BUDGET TAXABILITY": rng.choice(["Taxable", "Non-taxable"]), "Type": "Deposit",
            "Amount": f"{rng.randint(1000, 50000)}.00", "Currency": "USD", "Invoice #": f"INV-{rng.randint(1, 9999)}",
            "User Full Name": "Awardco Finance", "AMOUNT": f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}",
            "CURRENCY": "USD", "ORDER NUMBER": f"ORD-{rng.randint(1, 99999)}", "COUNTRY CODE": rng.choice(["US", "GB"]),
            "AWARD NETWORK": "Standard", "SOURCE": rng.choice(["Web", "Mobile", "Slack"]),
            "ITEM": rng.choice(["Hoodie", "Mug", "Plaque"]), "STATUS": rng.choice(["Shipped", "Pending"]),
        }
        if correction and rid in CORRECTIONS:
            column, value = CORRECTIONS[rid]
            values[column] = value
            for money in ("POINT AMOUNT", "AMOUNT", "Amount"):
                values[money] = "-" + values[money]
        headers = EVENT_REPORTS[rid][2]
        event = Event(at, {h: values[h] for h in headers})
        self.events[rid].append(event)
        return event

    def add_recognition(self, created: datetime) -> Recognition:
        rng = self.rng
        (giver, giver_name), (to, to_name) = self.person(), self.person()
        status = rng.choice(STATUSES)
        rec = Recognition(f"R{len(self.recognitions) + 1:07d}", created, status, {
            "FROM EMPLOYEE ID": giver, "FROM FULL NAME": giver_name, "TO EMPLOYEE ID": to, "TO FULL NAME": to_name,
            "RECOGNITION PROGRAM": rng.choice(PROGRAMS), "BUDGET": rng.choice(BUDGETS),
            "POINT AMOUNT": str(rng.choice([0, 50, 100, 250])), "HASHTAGS": rng.choice(["#teamwork", "#wow", ""]),
            "VISIBILITY": rng.choice(["Public", "Private"]), "RECOGNITION SOURCE": rng.choice(["Platform", "Slack"])})
        if status == "Completed":
            rec.completed = min(self.sim_now(), created + timedelta(hours=rng.randint(0, 30)))
        self.recognitions.append(rec)
        return rec

    def sim_now(self) -> datetime:
        return max(self.now, datetime.now(timezone.utc).replace(microsecond=0))

    # Changes ------------------------------------------------------------------------------------------------
    def new_events(self, rng: random.Random, n: int) -> None:
        """n new rows spread over the reports: most now, some corrections dated up to two days back, and
        new recognitions; the current month's budget, balance and programme figures move."""
        now = self.sim_now()
        rids = list(EVENT_REPORTS)
        for k in range(n):
            rid = rng.choice(rids)
            if k % 3 == 2:
                self.add_event(rid, now - timedelta(hours=rng.randint(1, 47)), correction=True)
            else:
                self.add_event(rid, now)
            if k % 2 == 0:
                self.add_recognition(now)
            self.bump(rng)

    def bump(self, rng: random.Random) -> None:
        kind = rng.choice(["budget", "balance", "program"])
        key = {"budget": lambda: rng.choice(BUDGETS), "balance": lambda: self.person()[0],
               "program": lambda: rng.choice(PROGRAMS)}[kind]()
        self.versions[(kind, key)] = self.versions.get((kind, key), 0) + 1

    def decide(self, rng: random.Random, n: int) -> list[str]:
        """n recognitions change status: pending ones complete or are declined, completed ones are declined
        (a completed recognition declined after it was read leaves Recognition Details)."""
        now = self.sim_now()
        recent = [r for r in self.recognitions if r.created >= now - timedelta(days=2)
                  and r.status in ("Pending Approval", "Completed")]
        picks = rng.sample(recent, min(n, len(recent)))
        for r in picks:
            if r.status == "Pending Approval" and rng.random() < 0.5:
                r.status, r.completed = "Completed", now
            else:
                r.status, r.completed = "Declined", None
            r.level += 1
        return [r.id for r in picks]

    def remove(self, rng: random.Random, n: int) -> int:
        """n rows removed from event reports, within the last two days (inside any lookback)."""
        now = self.sim_now()
        pool = [e for rid in EVENT_REPORTS for e in self.events[rid]
                if not e.gone and e.at >= now - timedelta(days=2)]
        picks = rng.sample(pool, min(n, len(pool)))
        for e in picks:
            e.gone = True
        return len(picks)

    # Rows ---------------------------------------------------------------------------------------------------
    def headers(self, rid: int) -> list[str]:
        if rid in EVENT_REPORTS:
            _, when, others = EVENT_REPORTS[rid]
            return [when, *others]
        return {5: RECOGNITION_DETAILS, 7: RECOGNITION_STATUS, 12: BUDGET_COLUMNS, 18: BALANCE_COLUMNS,
                16: PROGRAM_COLUMNS}[rid]

    def rows(self, rid: int, body: dict[str, Any], zone: ZoneInfo) -> list[tuple[datetime | None, dict[str, str]]]:
        """(UTC time or None, row by header) of a report request, in time order."""
        if rid == 16:
            return [(None, r) for r in self.program_rows(str(body.get("timeRangeOption", "current period")))]
        lo = datetime.fromisoformat(str(body["startDate"]))
        hi = datetime.fromisoformat(str(body["endDate"]))
        if len(str(body["endDate"])) == 10:
            hi += timedelta(days=1, seconds=-1)  # a date-only end is the whole day
        lo, hi = lo.replace(tzinfo=zone).astimezone(timezone.utc), hi.replace(tzinfo=zone).astimezone(timezone.utc)
        if rid in (12, 18):
            return [(None, r) for r in self.period_rows(rid, lo.date())]
        out: list[tuple[datetime, dict[str, str]]] = []
        if rid in EVENT_REPORTS:
            when = EVENT_REPORTS[rid][1]
            for e in self.events[rid]:
                if not e.gone and lo <= e.at <= hi:
                    out.append((e.at, {when: us_time(e.at, zone), **e.values}))
        elif rid == 5:
            for r in self.recognitions:
                if r.status == "Completed" and r.completed and lo <= r.completed <= hi:
                    out.append((r.completed, {"DATE": us_time(r.completed, zone), **r.values}))
        elif rid == 7:
            for r in self.recognitions:
                if lo <= r.created <= hi:
                    out.append((r.created, {"RECOGNITION ID": r.id, "CREATED DATE": us_time(r.created, zone),
                                            "RECOGNITION STATUS": r.status, "CURRENT APPROVAL LEVEL": str(r.level),
                                            **r.values}))
        out.sort(key=lambda pair: pair[0])
        return [(at, {h: row[h] for h in self.headers(rid) if h in row}) for at, row in out]

    def figure(self, kind: str, key: str, month: date, *salt: Any) -> random.Random:
        current = month == month_start(self.sim_now().date())
        version = self.versions.get((kind, key), 0) if current else 0
        return stable_random(kind, key, month, version, *salt)

    def period_rows(self, rid: int, month: date) -> list[dict[str, str]]:
        month = month_start(month)
        out = []
        if rid == 12:
            for n, name in enumerate(BUDGETS):
                rng = self.figure("budget", name, month)
                out.append({"ACCOUNT TYPE": "Budget" if n else "Company",
                            "BUDGET ALLOCATION": str(rng.randint(0, 5000)),
                            "BUDGET DEALLOCATION": str(rng.randint(0, 300)), "BUDGET ID": str(84859 + n),
                            "BUDGET NAME": name, "STATUS": "Archived" if n == 3 else "Active"})
            return out
        for i in range(self.sim.users.size):
            if not self.sim.users.exists(i):
                continue
            u = self.sim.user(i)
            rng = self.figure("balance", u["employeeId"], month)
            start, incoming, outgoing = rng.randint(0, 5000), rng.randint(0, 800), rng.randint(0, 600)
            out.append({"NAME": f"{u['firstName']} {u['lastName']}", "FIRST NAME": u["firstName"],
                        "LAST NAME": u["lastName"], "EMPLOYEE ID": u["employeeId"], "STARTING BALANCE": str(start),
                        "INCOMING": str(incoming), "OUTGOING": str(outgoing),
                        "ENDING BALANCE": str(start + incoming - outgoing)})
        return out

    def program_rows(self, option: str) -> list[dict[str, str]]:
        this = month_start(self.sim_now().date())
        month = this if option == "current period" else month_start(this - timedelta(days=1))
        nominators = [i for i in range(min(self.sim.users.size, 12)) if self.sim.users.exists(i)]
        out = []
        for program in PROGRAMS:
            for i in nominators:
                u = self.sim.user(i)
                rng = self.figure("program", program, month, u["employeeId"])
                given = rng.randint(0, 6)
                out.append({"RECOGNITION PROGRAM": program, "NOMINATOR EMPLOYEE ID": u["employeeId"],
                            "NOMINATOR": f"{u['firstName']} {u['lastName']}",
                            "PERIOD START": month.strftime("%m/%d/%Y"),
                            "PERIOD END": (next_month(month) - timedelta(days=1)).strftime("%m/%d/%Y"),
                            "ELIGIBLE": "Yes", "RECOGNITIONS GIVEN": str(given), "POINTS GIVEN": str(given * 50)})
        return out

    def windows(self) -> list[dict[str, Any]]:
        """Request bodies covering everything the connector reads from ``start_day`` (UTC), for the truth."""
        end = self.sim_now().date() + timedelta(days=1)
        bodies = [{"reportId": rid, "startDate": self.start_day.isoformat() + "T00:00:00",
                   "endDate": (datetime.combine(end, datetime.min.time()) - timedelta(seconds=1)).isoformat()}
                  for rid in (*EVENT_REPORTS, 5, 7)]
        month = month_start(self.start_day)
        while month < end:
            for rid in (12, 18):
                bodies.append({"reportId": rid, "startDate": month.isoformat() + "T00:00:00",
                               "endDate": (next_month(month) - timedelta(days=1)).isoformat() + "T23:59:59",
                               "period": month})
            month = next_month(month)
        bodies += [{"reportId": 16, "timeRangeOption": option} for option in ("previous period", "current period")]
        return bodies
