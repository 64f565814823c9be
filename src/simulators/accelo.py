"""Simulator of the Accelo API v0 (see the API notes, section 9 "Simulator decisions").

- ``POST /oauth2/v0/token``: client credentials by HTTP Basic or in the form body, ``scope`` (default
  ``read(all)``), optional ``expires_in``; answers ``token_type: "Bearer"`` and a *string* ``expires_in``.
  Tokens expire; OAuth-shaped errors; more than 100 failed authentications from one IP within 5 minutes
  lock it out (401 ``too_many_failed_logins``, ``Retry-After: 300``, each attempt restarts the timer).
- ``GET /api/v0/{companies,invoices,payments,prospects,jobs,staff}``, ``/{id}``, ``/count`` and
  ``/tokeninfo``, in the ``{"meta":{...},"response":...}`` envelope with every value a string and dates
  as unix-epoch strings. ``_page`` (0-based, overrides ``_offset``), ``_limit`` (default 10, clamped to
  100), ``_fields`` (unknown names omitted, ``_ALL``), ``_filters``: ``<date>_after/_before(unix)``
  (strict) on the documented date filters only, ``order_by_asc/desc(field)`` (ties by ascending id),
  basic ``id(...)``/``standing(...)`` (and ``_not``); any other clause or a date filter the resource
  lacks answers 400 ``invalid_request``. Unknown top-level parameters (``_order_by``) are ignored.
- A fixed window of ``budget`` requests per ``window`` seconds per deployment (5,000 per hour by default)
  starting at the first counted request, ``X-RateLimit-*`` on every ``/api`` response, 429
  ``too_many_requests`` without ``Retry-After``; ``/oauth2`` calls are not counted.
- ``_suppress_http_status``/``_suppress_message``/``_suppress_meta``, POST with a JSON body carrying
  ``_method``, ``_fields`` and ``_filters``; ``.xml``/``.yaml`` output answers 400.

- Basic ``id(...)`` and ``standing(...)``, and ``id_greater_than``/``_less_than`` (``_or_equal``) ranges on
  every resource, on lists and on ``/count``; ``count_shape="bare"`` answers ``/count`` with the bare value
  that some endpoints document (``{"response": "42"}``) instead of ``{"response": {"count": "42"}}``.
- ``_ALL`` returns every field except staff's ``staff_rate`` and ``staff_cost_rate``, which must be named.
- Deletes are permanent, as in Accelo: a deleted record leaves every listing, count and ``/{id}`` (400
  ``invalid_request``); ids are never reused. Deleting a company also deletes its jobs, invoices and sales,
  and deleting an invoice deletes the payments against it (a company's receipts go with it). DECISION: each
  job, invoice and sale belongs to one company for life (jobs show it as ``company``/``against_id``,
  invoices as ``against_type``/``against_id``; a sale reaches its company through an affiliation, a table
  not simulated, so its link is kept inside the simulator), and each payment to one invoice
  (``against_id``).

- The other entities (activities, affiliations, contacts, tasks, issues, milestones, contracts and their
  periods under ``/contracts/{id}/periods``, invoice line items, progression history, custom-field
  definitions and values per object, quotes, expenses, requests, object budgets, purchases, lookups per
  object, addresses, referrals, staff memberships, groups, divisions) are declarations in
  ``accelo_entities``, served by the same code: their owners make the cascades (a company takes its
  affiliations, issues, contracts, jobs and invoices, and those their own children), ``against_type``/
  ``against_id`` name a polymorphic owner, milestones sort only by id or title, contracts and milestones
  answer ``/count`` with the bare value, lookups refuse ``_ALL``, issue and sale types hide inactive ones
  unless filtered by standing, and ``time_allocation`` is expanded only when asked for as
  ``time_allocation(...)``. ``refuse_tokens`` makes every token refused (the token endpoint still issues).

Test hooks: ``edit``/``insert`` (payments' edits keep ``date_created``, as in Accelo), ``delete``/
``delete_random`` (with cascades), ``expire_tokens``, the harness's scheduler, faults and latency.
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from .accelo_entities import BY_NAME, NEW, generate, routes
from .harness import Dataset, Faults, SimApp, json_response, nth_kept, serve_forever, stable_random

MORE_INFO = "https://api.accelo.com/docs/#status-codes"
BASE = ("companies", "invoices", "payments", "prospects", "jobs", "staff")  # hand-written below
RESOURCES = BASE + tuple(r.name for r in NEW)  # the rest are declarations (accelo_entities)
# Filter name -> record field, per resource (the API's own spellings, typos included).
DATE_FILTERS: dict[str, dict[str, str]] = {
    "companies": {"date_created": "date_created", "date_modified": "date_modified"},
    "invoices": {"date_raised": "date_raised", "date_due": "date_due", "date_modified": "date_modified"},
    "payments": {"date_created": "date_created"},
    "prospects": {"date_created": "date_created", "dated_actioned": "date_actioned", "date_due": "date_due",
                  "date_modified": "date_modified"},
    "jobs": {"dated_created": "date_created", "date_modified": "date_modified", "date_started": "date_started",
             "date_commenced": "date_commenced", "date_due": "date_due", "date_completed": "date_completed"},
    "staff": {},
    **{r.name: {d: d for d in r.dates} for r in NEW},
}
# The field each resource's Dataset time stands for (edits move it, except for payments).
TIME_FIELD = {"companies": "date_modified", "invoices": "date_modified", "payments": "date_created",
              "prospects": "date_modified", "jobs": "date_modified", "staff": None,
              **{r.name: r.time for r in NEW}}
DEFAULT_FIELDS = {
    "companies": ("id", "name"), "invoices": ("id", "subject"), "payments": ("id", "amount"),
    "prospects": ("id", "title"), "jobs": ("id", "title"), "staff": ("id", "firstname", "surname"),
    **{r.name: r.defaults for r in NEW},
}
WORDS = ["Planet", "Express", "Momcorp", "Slurm", "Nibbler", "Zapp", "Kif", "Leela", "Bender", "Hermes", "Amy",
         "Zoidberg", "Ørsted", "Café"]
FIRST = ["Philip", "Turanga", "Hubert", "Hermes", "Amy", "John", "Zapp", "Scruffy", "Linda", "Morbo"]
LAST = ["Fry", "Leela", "Farnsworth", "Conrad", "Wong", "Zoidberg", "Brannigan", "O'Malley", "van Schoonhoven"]
# Fields `_ALL` leaves out: they come back only when named.
NOT_IN_ALL = frozenset({"staff_rate", "staff_cost_rate"})
# What a permanent delete takes with it: a company its jobs, invoices and sales (their payments follow the
# invoices); an invoice the payments against it.
OWNED = ("jobs", "invoices", "prospects")
# Every owned resource and its owner kinds (several: a polymorphic against_type/against_id).
PARENTS: dict[str, tuple[str, ...]] = {**{r: ("companies",) for r in OWNED}, "payments": ("invoices",),
                                       **{r.name: r.parents for r in NEW if r.parents}}
ROUTES: dict[str, tuple[str, str | None]] = {**{r: (r, None) for r in BASE}, **routes()}
LINKS = frozenset({"time_allocation"})  # nested objects returned whole only when asked for as `name(...)`
RANGES = ("greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal")
LOCKOUT_FAILURES = 100
LOCKOUT_SECONDS = 300
CLAUSE = re.compile(r"^([A-Za-z_]+)\((.*)\)$", re.S)


def epoch(dt: datetime | None) -> str | None:
    return None if dt is None else str(int(dt.timestamp()))


def _id(index: int | None) -> str | None:
    return None if index is None else str(index + 1)


def split_top(text: str) -> list[str]:
    """Split on commas outside parentheses: ``a(1,2),b(3)`` -> ``["a(1,2)", "b(3)"]``."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.status, self.code = status, code


class DeploymentBudget:
    """One fixed window of ``limit`` requests per ``period`` seconds, starting at the first counted request.

    Same interface as the harness's ``Windows``; it starts at the first request (not at a wall-clock
    multiple of the period) so tests with small budgets behave the same at any time of day."""

    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.time):
        self.limits = [(limit, period)]
        self.limit, self.period, self._clock = limit, period, clock
        self.start: float | None = None
        self.used = 0
        self.rejected = 0
        self._lock = threading.Lock()

    def hit(self, count: bool = True) -> tuple[bool, dict[str, str], float]:
        with self._lock:
            now = self._clock()
            if self.start is None or now >= self.start + self.period:
                self.start, self.used = now, 0
            allowed = self.used < self.limit
            if allowed and count:
                self.used += 1
            if not allowed:
                self.rejected += 1
            reset = self.start + self.period
            headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.limit - self.used),
                       "X-RateLimit-Reset": str(int(reset + 0.999))}
            return allowed, headers, (0.0 if allowed else reset - now)


class AcceloSim(SimApp):
    def __init__(self, sizes: dict[str, int] | None = None, *, tie: int = 1, seed: int = 5,
                 clients: dict[str, str] | None = None, deployment: str = "planet-express",
                 budget: int = 5000, window: float = 3600.0, token_lifetime: int = 2592000,
                 faults: Faults | None = None, latency: float = 0.0, shared_token: str | None = None,
                 count_shape: str = "object"):
        super().__init__(faults=faults, latency=latency)
        self.windows = DeploymentBudget(budget, window)  # type: ignore[assignment]
        sizes = {**{name: 50 for name in BASE}, **{r.name: r.size for r in NEW}, **dict(sizes or {})}
        self.data = {name: Dataset(sizes[name], tie=tie, seed=seed + k, step=timedelta(minutes=7))
                     for k, name in enumerate(RESOURCES)}
        self.clients = clients if clients is not None else {"demo@planet-express.accelo.com": "demo-secret"}
        self.deployment = deployment
        self.count_shape = count_shape  # "object": {"count": "42"}; "bare": "42"
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, tuple[float, str]] = {}  # token -> (expires at, scope)
        self.tokens_issued = 0
        self.refuse_tokens = False  # every token is refused (the token endpoint still issues them)
        # Several processes serving one deployment (a load benchmark) hand out and accept this one token.
        self.shared_token = shared_token
        if shared_token:
            self.tokens[shared_token] = (float("inf"), "read(all)")
        self._created: dict[tuple[str, int], datetime] = {}  # creation time of inserted records
        self._payment_versions: dict[int, int] = {}  # payments: edits that keep date_created
        self._cache: dict[tuple, dict[str, str | None]] = {}  # records are deterministic: generate once
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._auth_lock = threading.Lock()

    # Records ------------------------------------------------------------------------------------
    def edit(self, resource: str, i: int) -> None:
        if resource == "payments":
            with self._auth_lock:
                self._payment_versions[i] = self._payment_versions.get(i, 0) + 1
        else:
            self.data[resource].edit(i)

    def edit_random(self, resource: str, count: int, rng: Any) -> list[int]:
        picks = [rng.randrange(self.data[resource].size) for _ in range(count)]
        for i in picks:
            self.edit(resource, i)
        return picks

    def insert(self, resource: str) -> int:
        i = self.data[resource].insert()
        self._created[(resource, i)] = self.data[resource].time(i)
        return i

    def owner(self, resource: str, i: int) -> int | None:
        """The company (index) job, invoice or sale ``i`` belongs to, for life: edits never move it. A record
        inserted later belongs to a company that still exists."""
        return self._pick(resource, i, "companies")

    def _pick(self, resource: str, i: int, kind: str) -> int | None:
        parents = self.data[kind]
        if not parents.n:
            return None
        c = (i * 7919 + 17 * self.data[resource].seed) % parents.n
        if i >= self.data[resource].n:
            for _ in range(parents.n):
                if parents.exists(c):
                    break
                c = (c + 1) % parents.n
        return c

    def parent(self, resource: str, i: int) -> tuple[str, int] | None:
        """(owner resource, index) of record ``i``, for life; None for a resource nobody owns."""
        kinds = PARENTS.get(resource)
        if not kinds:
            return None
        if resource == "payments":
            k = self.invoice_of(i)
            return None if k is None else ("invoices", k)
        kinds = tuple(k for k in kinds if self.data[k].n) or kinds
        kind = kinds[(i * 31 + 7) % len(kinds)]
        c = self._pick(resource, i, kind)
        return None if c is None else (kind, c)

    def invoice_of(self, i: int) -> int | None:
        """The invoice (index) payment ``i`` is against, for life."""
        invoices = self.data["invoices"]
        if not invoices.n:
            return None
        k = (i * 7907 + 5) % invoices.n
        if i >= self.data["payments"].n:
            for _ in range(invoices.n):
                if invoices.exists(k):
                    break
                k = (k + 1) % invoices.n
        return k

    def delete(self, resource: str, i: int) -> list[tuple[str, int]]:
        """Delete record ``i`` permanently with what Accelo deletes with it; returns every (resource, id) removed."""
        ds = self.data[resource]
        if not ds.exists(i):
            return []
        gone: list[tuple[str, int]] = []
        ds.delete(i)  # first: children inserted meanwhile never pick a deleted owner
        for child, kinds in PARENTS.items():
            if resource in kinds:
                data = self.data[child]
                for k in [k for k in data.all() if data.exists(k) and self.parent(child, k) == (resource, i)]:
                    gone += self.delete(child, k)
        gone.append((resource, i + 1))
        return gone

    def delete_random(self, rng: Any, n: int) -> list[tuple[str, int]]:
        """Delete ``n`` records spread over the resources: about a third companies that own records (whose
        jobs, invoices, sales and payments go with them), the rest one of each other resource in turn.
        Returns every (resource, id) removed, cascades included."""
        # Lookups and field definitions are deactivated, not deleted, in practice: they are left alone.
        others = [r for r in RESOURCES if r != "companies" and not (r in BY_NAME and BY_NAME[r].reference)]
        plan = ["companies"] * max(1, n // 3)
        plan += [others[k % len(others)] for k in range(max(0, n - len(plan)))]
        gone: list[tuple[str, int]] = []
        for resource in plan:
            ds = self.data[resource]
            live = [i for i in ds.all() if ds.exists(i)]
            if resource == "companies":
                owners = {self.owner(c, k) for c in OWNED for k in self.data[c].all() if self.data[c].exists(k)}
                live = [i for i in live if i in owners] or live
            if live:
                gone += self.delete(resource, rng.choice(live))
        return gone

    def created(self, resource: str, i: int) -> datetime:
        ds = self.data[resource]
        if i >= ds.n:
            return self._created.get((resource, i), ds.time(i))
        return ds.base_time(i) - timedelta(days=30)

    def record(self, resource: str, i: int) -> dict[str, str | None]:
        """Record ``i`` with every field (all strings or null), as ``_fields=_ALL`` returns it."""
        ds = self.data[resource]
        version = self._payment_versions.get(i, 0) if resource == "payments" else ds.version(i)
        key = (resource, i, version, ds.time(i))
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) > 500_000:
                self._cache.clear()
            cached = self._cache[key] = self._generate(resource, i, version)
        return cached

    def _generate(self, resource: str, i: int, version: int) -> dict[str, str | None]:
        ds = self.data[resource]
        rng = stable_random(ds.seed, i, version)
        rid = str(i + 1)
        modified = ds.time(i)
        created = self.created(resource, i)

        def later(dt: datetime, hours: int) -> str:
            return epoch(dt + timedelta(seconds=rng.randrange(0, hours * 3600)))

        def flag() -> str:
            return rng.choice(["0", "1"])

        def ref() -> str:
            return str(rng.randrange(1, 400))

        def money(lo: float, hi: float) -> str:
            return f"{rng.uniform(lo, hi):.2f}"

        if resource in BY_NAME:
            res = BY_NAME[resource]
            owner = self.parent(resource, i)
            sizes = {name: data.size for name, data in self.data.items()}
            out = generate(res, i, rng, created=created, modified=modified, owner=owner, sizes=sizes,
                           object_=self.object_of(resource, i, owner))
            out["_object"] = self.object_of(resource, i, owner)
            return out
        if resource == "companies":
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rid}"
            return {"id": rid, "name": name, "date_created": epoch(created), "date_modified": epoch(modified),
                    "date_last_interacted": later(modified, 48) if rng.random() > 0.2 else None,
                    "phone": str(rng.randrange(10**9, 10**10)), "fax": None if rng.random() < 0.7 else
                    str(rng.randrange(10**9, 10**10)), "website": f"www.{name.split()[0].lower()}{rid}.example",
                    "comments": rng.choice(["", "Key account", "Prefers email, not \"phone\"", "Ünïcode ✓"]),
                    "standing": rng.choice(["active", "inactive", "prospect"]), "status": str(rng.randrange(1, 6)),
                    "postal_address": ref(), "default_affiliation": ref(), "staff_bookmarked": flag()}
        if resource == "invoices":
            amount = rng.uniform(10, 9000)
            tax = amount / 10
            return {"id": rid, "subject": f"Invoice for {rng.choice(WORDS)}", "amount": f"{amount:.2f}",
                    "tax": f"{tax:.2f}", "outstanding": f"{rng.choice([0, amount + tax]):.2f}",
                    "date_raised": epoch(created), "date_due": epoch(created + timedelta(days=14)),
                    "date_modified": epoch(modified), "currency_id": "0", "owner_id": ref(), "modified_by": ref(),
                    "creator_id": ref(), "created_by": ref(), "contact": ref(), "affiliation_id": ref(),
                    "affiliation": ref(), "notes": rng.choice(["", "Net 14", "Paid by card"]),
                    "invoice_number": None if rng.random() < 0.3 else f"INV-{rid}",
                    "against_type": "company", "against_id": _id(self.owner(resource, i))}
        if resource == "payments":
            return {"id": rid, "receipt_id": ref(), "amount": money(1, 5000), "currency_id": "0",
                    "method_id": str(rng.randrange(1, 4)), "against_id": _id(self.invoice_of(i)),
                    "against_type": "account_invoice",
                    "date_created": epoch(ds.time(i)), "created_by_staff_id": ref(),
                    "direction": rng.choice(["credit", "debit"]), "payment_currency": "0",
                    "payment_method": str(rng.randrange(1, 4)), "payment_receipt": ref()}
        if resource == "prospects":
            value = rng.uniform(100, 50000)
            return {"id": rid, "title": f"{rng.choice(WORDS)} deal", "date_created": epoch(created),
                    "date_actioned": later(created, 72), "date_due": later(created, 24 * 60),
                    "date_last_interacted": later(modified, 24), "date_modified": epoch(modified),
                    "value": f"{value:.2f}", "success": rng.choice(["yes", "no"]),
                    "progress": f"{rng.random():.4f}", "weighting": str(rng.randrange(1, 6)),
                    "value_weighted": f"{value / 4:.2f}", "status": str(rng.randrange(1, 5)),
                    "standing": rng.choice(["active", "inactive"]), "type": str(rng.randrange(1, 4)),
                    "manager": ref(), "contact": ref(), "affiliation": ref(),
                    "prospect_probability": str(rng.randrange(0, 101)), "comments": rng.choice(["", "Hot lead"]),
                    "staff_bookmarked": flag()}
        if resource == "jobs":
            company = _id(self.owner(resource, i))
            return {"id": rid, "title": f"{rng.choice(WORDS)} project", "date_created": epoch(created),
                    "date_modified": epoch(modified), "date_started": later(created, 48),
                    "date_due": later(created, 24 * 30), "date_commenced": later(created, 24),
                    "date_completed": later(modified, 24) if rng.random() < 0.3 else None,
                    "date_last_interacted": later(modified, 24), "status": str(rng.randrange(1, 7)),
                    "standing": rng.choice(["active", "paused", "complete"]), "type": str(rng.randrange(1, 5)),
                    "job_type": str(rng.randrange(1, 5)), "against": company and f"companies/{company}",
                    "against_id": company, "against_type": "company", "company": company, "manager": ref(),
                    "modified_by": ref(), "rate": ref(), "rate_charged": money(50, 250), "paused": flag(),
                    "affiliation": ref(), "custom_id": f"JOB#{rid}", "staff_bookmarked": flag()}
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return {"id": rid, "firstname": first, "surname": last, "standing": rng.choice(["active", "inactive"]),
                "financial_level": rng.choice(["all", "none", "own"]), "title": rng.choice(["Mr", "Ms", "Dr", ""]),
                "email": f"{first.lower()}.{rid}@planet-express.example", "mobile": f"0400 {rng.randrange(10**5):06d}",
                "phone": f"03 9000 {rng.randrange(10**4):04d}", "fax": None, "position": rng.choice(["Pilot", "Dev"]),
                "username": f"{first.lower()}{rid}", "timezone": "Australia/Melbourne",
                "staff_rate": money(80, 250), "staff_cost_rate": money(30, 80)}

    @staticmethod
    def resource_of(path: str) -> str | None:
        """The resource a request path reads (its list, a record or its count); None for any other path."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["api", "v0"] or len(parts) < 3:
            return None
        parts = parts[2:]
        if len(parts) >= 3 and parts[0] == "contracts" and parts[2] == "periods":
            return "contract_periods"
        n = next((n for n in (3, 2, 1) if "/".join(parts[:n]) in ROUTES), 0)
        return ROUTES["/".join(parts[:n])][0] if n else None

    @staticmethod
    def path_of(resource: str) -> str | None:
        """A list path of ``resource`` under /api/v0 (the first object's, for a per-object one); None for
        contract periods, listed per contract."""
        return next((path for path, (name, _) in ROUTES.items() if name == resource), None)

    @staticmethod
    def object_of(resource: str, i: int, owner: tuple[str, int] | None) -> str | None:
        """The object (path segment) whose list shows record ``i`` of a per-object resource: its owner's."""
        res = BY_NAME.get(resource)
        if res is None or not res.objects:
            return None
        return owner[0] if owner else res.objects[i % len(res.objects)]

    def truth(self, resource: str) -> dict[int, dict[str, Any]]:
        """Every live record as ``_ALL`` returns it (nested objects expanded), plus ``object`` for a resource
        listed per object (the path segment it is listed under)."""
        ds = self.data[resource]
        out: dict[int, dict[str, Any]] = {}
        for i in ds.all():
            if ds.exists(i):
                record = dict(self.record(resource, i))
                obj = record.pop("_object", None)
                if obj is not None:
                    record["object"] = obj
                out[i + 1] = record
        return out

    # Authentication ------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as if its lifetime ran out)."""
        with self._auth_lock:
            self.tokens = {t: (0.0, scope) for t, (_, scope) in self.tokens.items()}

    def _locked(self, ip: str) -> Response | None:
        with self._auth_lock:
            now = time.time()
            if self._locked_until.get(ip, 0) > now:
                self._locked_until[ip] = now + LOCKOUT_SECONDS  # every attempt restarts the timer
                body = {"meta": {"status": "too_many_failed_logins", "message": "Too many failed logins; use "
                                 "the 'Retry-After' header to know when to try again", "more_info": MORE_INFO},
                        "response": None}
                return json_response(body, 401, {"Retry-After": str(LOCKOUT_SECONDS)})
        return None

    def _failed(self, ip: str) -> None:
        with self._auth_lock:
            now = time.time()
            recent = [t for t in self._failures.get(ip, []) if t > now - LOCKOUT_SECONDS] + [now]
            self._failures[ip] = recent
            if len(recent) > LOCKOUT_FAILURES:
                self._locked_until[ip] = now + LOCKOUT_SECONDS

    def exempt(self, request: Request) -> bool:
        return request.path.startswith("/oauth2/")  # not counted against the hourly budget

    def token_endpoint(self, request: Request) -> Response:
        ip = request.remote_addr or "?"
        locked = self._locked(ip)
        if locked:
            return locked

        def oauth_error(code: str, description: str, status: int) -> Response:
            if status == 401:
                self._failed(ip)
            return json_response({"error": code, "error_description": description}, status)

        if request.method != "POST":
            return oauth_error("invalid_request", "The token endpoint accepts POST only.", 400)
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return oauth_error("invalid_client", "Malformed Basic credentials.", 401)
        if not client_id or client_id not in self.clients or self.clients[client_id] != client_secret:
            return oauth_error("invalid_client", "Client authentication failed.", 401)
        if form.get("grant_type") != "client_credentials":
            return oauth_error("unsupported_grant_type", "Service applications use grant_type=client_credentials.",
                               400)
        scope = form.get("scope") or "read(all)"
        if not re.fullmatch(r"(read|write)\((all|[a-z_]+(,[a-z_]+)*)\)(,(read|write)\((all|[a-z_]+(,[a-z_]+)*)\))*",
                            scope):
            return oauth_error("invalid_scope", f"Unknown scope {scope!r}.", 400)
        lifetime = self.token_lifetime
        if form.get("expires_in"):
            try:
                lifetime = int(form["expires_in"])
            except ValueError:
                return oauth_error("invalid_request", "expires_in must be a number of seconds.", 400)
        token = self.shared_token or secrets.token_urlsafe(18)
        with self._auth_lock:
            self.tokens[token] = (time.time() + lifetime, scope)
            self.tokens_issued += 1
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": str(lifetime),
                              "deployment": self.deployment, "deployment_name": self.deployment.title(),
                              "deployment_uri": f"https://{self.deployment}.accelo.com", "account_id": "1",
                              "account_details": {"user_access": "", "locale": "en-AU"}})

    def _scope(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        query = request.args.get("_bearer_token")
        if header and query:
            raise BadRequest("Send the token in the Authorization header or in _bearer_token, not both.")
        token = header[7:].strip() if header.lower().startswith("bearer ") else query
        with self._auth_lock:
            entry = self.tokens.get(token or "")
        if entry is None or entry[0] <= time.time() or self.refuse_tokens:
            self._failed(request.remote_addr or "?")
            raise BadRequest("The access token is missing, invalid or expired.", 401, "invalid_client")
        return entry[1]

    # HTTP ---------------------------------------------------------------------------------------
    def envelope(self, request: Request, response: Any, status: int = 200, code: str = "ok",
                 message: str = "Everything executed as expected.") -> Response:
        meta: dict[str, Any] = {"status": code, "message": message, "more_info": MORE_INFO}
        args = request.args
        if args.get("_suppress_message") in ("yes", "1", "true"):
            meta = {"status": code}
        body: dict[str, Any] = {"meta": meta, "response": response}
        if args.get("_suppress_http_status") in ("yes", "1", "true"):
            meta["response_code"] = str(status)
            status = 200
        if args.get("_suppress_meta") in ("yes", "1", "true") and status == 200 and code == "ok":
            body.pop("meta")
        return json_response(body, status)

    def rate_limited(self, request: Request, headers: dict[str, str], wait: float) -> Response:
        body = {"meta": {"status": "too_many_requests", "message": f"Rate limit exceeded for {self.deployment}"
                         ".api.accelo.com", "more_info": "api.accelo.com/docs/#rate-limiting"}, "response": None}
        return json_response(body, 429, headers)  # no Retry-After: Accelo documents it only for lockouts

    def error_body(self, status: int) -> Response:
        return json_response({"meta": {"status": "server_error", "message": f"Internal error ({status})",
                                       "more_info": MORE_INFO}, "response": None}, status)

    def handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/oauth2/v0/"):
            if path.rstrip("/") == "/oauth2/v0/token":
                return self.token_endpoint(request)
            return Response("<html><body><h1>404 Not Found</h1></body></html>", 404, content_type="text/html")
        if not path.startswith("/api/"):
            return Response("<html><body><h1>404 Not Found</h1></body></html>", 404, content_type="text/html")
        try:
            locked = self._locked(request.remote_addr or "?")
            if locked:
                return locked
            scope = self._scope(request)
            return self.api(request, path, scope)
        except BadRequest as exc:
            return self.envelope(request, None, exc.status, exc.code, str(exc))

    def api(self, request: Request, path: str, scope: str) -> Response:
        parts = [p for p in path.split("/") if p][1:]  # drop "api"
        if not parts or parts[0] != "v0":
            raise BadRequest("Unknown API version; use /api/v0.")
        parts = parts[1:]
        wanted = request.headers.get("Accept-Type", "").lower()
        if (parts and re.search(r"\.(xml|yaml)$", parts[-1])) or "xml" in wanted or "yaml" in wanted:
            raise BadRequest("Only JSON output is available from this simulator.")
        params: dict[str, Any] = dict(request.args)
        if request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or str(body.get("_method", "")).upper() != "GET":
                raise BadRequest("Writes are not simulated; POST a JSON body with \"_method\":\"GET\" to read.")
            for key in ("_fields", "_filters", "_limit", "_page", "_offset"):
                if key in body:
                    params[key] = body[key]
        elif request.method != "GET":
            raise BadRequest("Only GET (or POST with _method=GET) is simulated.")
        if parts == ["tokeninfo"]:
            return self.envelope(request, {"deployment": self.deployment, "scope": scope})
        resource, scoped, rest = self.route(parts)
        if not self._allowed(scope, parts[0]):
            raise BadRequest(f"The token's scope does not allow reading {parts[0]}.", 403, "invalid_permission")
        res = BY_NAME.get(resource)
        clauses = self.parse_filters(resource, params.get("_filters"))
        if res is not None and res.hide_inactive and scoped.get("_object", ("", ["", ""]))[1][1] in \
                res.hide_inactive and not any(k.startswith("standing") for k in clauses):
            clauses["_hidden"] = ("not", ["standing", "inactive"])  # Accelo's default on these type lists
        clauses.update(scoped)
        if rest == ["count"]:
            count = str(self.count_matching(resource, clauses))
            bare = self.count_shape == "bare" or (res is not None and res.bare_count)
            return self.envelope(request, count if bare else {"count": count})
        fields = self.parse_fields(resource, params.get("_fields"))
        expanded = self.expansions(params.get("_fields"))
        if rest:
            try:
                i = int(rest[0]) - 1
            except ValueError:
                raise BadRequest(f"Unknown {resource} id {rest[0]!r}.") from None
            if not self.data[resource].exists(i) or not _matches(self.record(resource, i), list(scoped.values())):
                raise BadRequest(f"No {resource} with id {rest[0]}.")
            return self.envelope(request, self.project(self.record(resource, i), fields, expanded))
        limit = self._int(params, "_limit", 10, 1)
        limit = min(limit, 100)  # clamped without notice
        offset = self._int(params, "_offset", 0, 0)
        if "_page" in params:
            offset = self._int(params, "_page", 0, 0) * limit
        rows = self.select(resource, clauses, (offset, limit))
        return self.envelope(request, [self.project(r, fields, expanded) for r in rows])

    def route(self, parts: list[str]) -> tuple[str, dict[str, tuple[str, list[str]]], list[str]]:
        """(resource, the clauses the path itself implies, what follows the list path: [], [id] or [count])."""
        if len(parts) >= 3 and parts[0] == "contracts" and parts[2] == "periods" and parts[1].isdigit():
            if not self.data["contracts"].exists(int(parts[1]) - 1):
                raise BadRequest(f"No contracts with id {parts[1]}.")
            resource, scoped, rest = "contract_periods", {"_contract": ("in", ["contract_id", parts[1]])}, parts[3:]
        else:
            n = next((n for n in (3, 2, 1) if "/".join(parts[:n]) in ROUTES), 0)  # the longest route first
            if not n:
                raise BadRequest(f"Unknown resource {'/'.join(parts) or '(none)'}.")
            (resource, obj), rest = ROUTES["/".join(parts[:n])], parts[n:]
            scoped = {"_object": ("in", ["_object", obj])} if obj else {}
        if len(rest) > 1:
            raise BadRequest(f"Unknown resource {'/'.join(parts)}.")
        return resource, scoped, rest

    @staticmethod
    def _allowed(scope: str, resource: str) -> bool:
        for _kind, names in re.findall(r"(read|write)\(([^)]*)\)", scope):
            if names == "all" or resource in names.split(","):
                return True
        return False

    @staticmethod
    def _int(params: dict[str, Any], key: str, default: int, minimum: int) -> int:
        raw = params.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = int(str(raw))
        except ValueError:
            raise BadRequest(f"{key} must be an integer.") from None
        if value < minimum:
            raise BadRequest(f"{key} must be at least {minimum}.")
        return value

    def parse_fields(self, resource: str, raw: Any) -> tuple[str, ...]:
        """The default fields plus the names asked for; ``_ALL`` stands for every field but NOT_IN_ALL."""
        if isinstance(raw, list):
            raw = ",".join(map(str, raw))
        names = [re.sub(r"\(.*\)$", "", f).strip() for f in split_top(str(raw or ""))]
        if "_ALL" in names and resource in BY_NAME and BY_NAME[resource].no_all:
            raise BadRequest(f"_ALL is not supported on {resource}; name the fields.")
        return tuple(dict.fromkeys([*DEFAULT_FIELDS[resource], *names]))

    @staticmethod
    def expansions(raw: Any) -> frozenset[str]:
        """Linked objects asked for with ``name(...)``: returned whole instead of as their id."""
        if isinstance(raw, list):
            raw = ",".join(map(str, raw))
        return frozenset(m.group(1) for f in split_top(str(raw or "")) if (m := CLAUSE.match(f.strip())))

    @staticmethod
    def project(record: dict[str, Any], fields: tuple[str, ...],
                expanded: frozenset[str] = frozenset()) -> dict[str, Any]:
        if "_ALL" in fields:
            out = {k: v for k, v in record.items() if (k not in NOT_IN_ALL or k in fields) and k[0] != "_"}
        else:
            out = {f: record[f] for f in fields if f in record and f[0] != "_"}  # unknown names are omitted
        for k in LINKS.intersection(out).difference(expanded):
            out[k] = out[k].get("id") if isinstance(out[k], dict) else out[k]  # a link not expanded is its id
        return out

    def parse_filters(self, resource: str, raw: Any) -> dict[str, tuple[str, list[str]]]:
        """``_filters`` -> {clause name: (kind, args)}; a repeated clause keeps the last one."""
        if isinstance(raw, dict):  # JSON body form: {"date_created_after": [1498175480]}
            items = [(str(k), [str(v) for v in (vs if isinstance(vs, list) else [vs])]) for k, vs in raw.items()]
        else:
            items = []
            for clause in split_top(unquote(str(raw or ""))):
                m = CLAUSE.match(clause)
                if not m:
                    raise BadRequest(f"Malformed filter {clause!r}.")
                items.append((m.group(1), [a.strip() for a in m.group(2).split(",") if a.strip()]))
        out: dict[str, tuple[str, list[str]]] = {}
        # The fields a filter may name: the declaration's, or a generated record's for the first six.
        sample = BY_NAME[resource].fields if resource in BY_NAME else (
            self.record(resource, 0) if self.data[resource].size else {})
        for name, args in items:
            m = re.fullmatch(r"(.+)_(after|before)", name)
            if name in ("order_by_asc", "order_by_desc"):
                sortable = BY_NAME[resource].sortable if resource in BY_NAME else None
                if len(args) != 1 or args[0] not in sample or (sortable is not None and args[0] not in sortable):
                    raise BadRequest(f"Cannot order {resource} by {','.join(args)!r}.")
                out["order"] = ("asc" if name.endswith("asc") else "desc", args)
            elif m and m.group(1) in DATE_FILTERS[resource]:
                if len(args) != 1 or not re.fullmatch(r"-?\d+", args[0]):
                    raise BadRequest(f"Filter {name} takes one unix timestamp.")
                out[name] = (m.group(2), [DATE_FILTERS[resource][m.group(1)], args[0]])
            elif re.fullmatch(r"(id|standing)(_not)?", name) and name.split("_")[0] in sample:
                out[name] = ("not" if name.endswith("_not") else "in", [name.split("_")[0], *args])
            elif re.fullmatch(r"id_(greater|less)_than(_or_equal)?", name):
                if len(args) != 1 or not args[0].isdigit():
                    raise BadRequest(f"Filter {name} takes one number.")
                out[name] = (name[3:], ["id", args[0]])
            else:
                raise BadRequest(f"Filter {name!r} is not supported on {resource}.")
        return out

    def _indexed(self, resource: str, clauses: dict[str, tuple[str, list[str]]]) -> tuple[bool, datetime | None]:
        """(True, since) when the query is the common incremental read the Dataset answers without a scan:
        at most one "> t" on the dataset's own time, in id order."""
        order = clauses.get("order", ("asc", ["id"]))
        rest = [c for k, c in clauses.items() if k != "order"]
        if order != ("asc", ["id"]) or len(rest) > 1 or \
                not all(kind == "after" and args[0] == TIME_FIELD[resource] for kind, args in rest):
            return False, None
        since = datetime.fromtimestamp(int(rest[0][1][1]) + 1, tz=timezone.utc) if rest else None
        return True, since

    def _id_range(self, resource: str, clauses: dict[str, tuple[str, list[str]]]) -> tuple[int, int] | None:
        """Indices [lo, hi) when every clause is an id range, in id order (the delete checks' counts and id
        listings): answered from the dataset without generating a record."""
        if clauses.get("order", ("asc", ["id"])) != ("asc", ["id"]):
            return None
        lo, hi = 0, self.data[resource].size
        for key, (kind, args) in clauses.items():
            if key == "order":
                continue
            if kind not in RANGES:
                return None
            v = int(args[1])  # id v is index v - 1
            if kind == "greater_than":
                lo = max(lo, v)
            elif kind == "greater_than_or_equal":
                lo = max(lo, v - 1)
            elif kind == "less_than":
                hi = min(hi, v - 1)
            else:
                hi = min(hi, v)
        return lo, max(lo, hi)

    def _in_range(self, resource: str, lo: int, hi: int, window: tuple[int, int] | None) -> list[int]:
        ds = self.data[resource]
        with ds.lock:
            gone = sorted(i for i in ds.deleted if lo <= i < hi)
        offset, limit = window or (0, 10**12)
        out: list[int] = []
        i = nth_kept(lo, offset, gone)
        skip = set(gone)
        while len(out) < limit and i < hi:
            if i not in skip:
                out.append(i)
            i += 1
        return out

    def count_matching(self, resource: str, clauses: dict[str, tuple[str, list[str]]]) -> int:
        indexed, since = self._indexed(resource, clauses)
        if indexed:
            return len(self.data[resource].by_id(since, 0, 10**12))  # indices only: no record is generated
        span = self._id_range(resource, clauses)
        if span is not None:
            ds = self.data[resource]
            with ds.lock:
                return span[1] - span[0] - sum(1 for i in ds.deleted if span[0] <= i < span[1])
        return len(self.select(resource, clauses, None))

    def select(self, resource: str, clauses: dict[str, tuple[str, list[str]]],
               window: tuple[int, int] | None) -> list[dict[str, Any]]:
        """Matching records in order; ``window`` = (offset, limit), or None for all of them."""
        ds = self.data[resource]
        order = clauses.get("order", ("asc", ["id"]))
        rest = [c for k, c in clauses.items() if k != "order"]
        indexed, since = self._indexed(resource, clauses)
        if indexed:
            offset, limit = window or (0, 10**9)
            return [self.record(resource, i) for i in ds.by_id(since, offset, limit)]
        span = self._id_range(resource, clauses)
        if span is not None:
            return [self.record(resource, i) for i in self._in_range(resource, *span, window)]
        rows = [r for r in (self.record(resource, i) for i in ds.all() if ds.exists(i)) if _matches(r, rest)]
        key_field = order[1][0]

        def key(r: dict[str, Any]) -> tuple:
            value = r.get(key_field)
            try:
                v: Any = (0, float(value)) if value is not None else (-1, 0.0)
            except ValueError:
                v = (1, value)
            return v

        rows.sort(key=lambda r: int(r["id"]))
        rows.sort(key=key, reverse=order[0] == "desc")  # stable: ties stay by ascending id
        if window is None:
            return rows
        offset, limit = window
        return rows[offset:offset + limit]


def _matches(record: dict[str, Any], clauses: list[tuple[str, list[str]]]) -> bool:
    for kind, args in clauses:
        if kind in ("after", "before"):
            value = record.get(args[0])
            if value is None:
                return False
            if kind == "after" and not int(value) > int(args[1]):
                return False
            if kind == "before" and not int(value) < int(args[1]):
                return False
        elif kind in ("in", "not"):
            hit = str(record.get(args[0])) in args[1:]
            if hit != (kind == "in"):
                return False
        else:  # id ranges
            value, bound = int(record["id"]), int(args[1])
            ok = {"greater_than": value > bound, "less_than": value < bound,
                  "greater_than_or_equal": value >= bound, "less_than_or_equal": value <= bound}[kind]
            if not ok:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description="Accelo API v0 simulator")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--records", type=int, default=1000,
                        help="records of each of the first six resources (staff: a tenth); the others in proportion")
    parser.add_argument("--budget", type=int, default=5000, help="requests per hour")
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    sizes = {name: args.records for name in BASE}
    sizes["staff"] = max(1, args.records // 10)
    sizes.update({r.name: max(1, round(args.records * r.ratio)) if r.ratio else r.size for r in NEW})
    app = AcceloSim(sizes, tie=3, budget=args.budget, latency=args.latency)
    client_id, secret = next(iter(app.clients.items()))
    serve_forever(app, args.port, f"Accelo simulator (deployment {app.deployment}, {args.records} records per "
                                  f"resource; client_id {client_id}, client_secret {secret})")


if __name__ == "__main__":
    main()
