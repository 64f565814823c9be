"""Simulator of the Xurrent (formerly 4me) REST API v1 (see the API notes for every decision).

Implemented: ``Authorization: Bearer`` with personal tokens or client-credentials tokens from
``POST /token`` (one hour by default), plus ``X-Xurrent-Account`` or the legacy ``X-4me-Account``; any
missing or unknown token or account gives 401 ``{"message":"Unauthorized"}``. ``GET /v1/organizations``,
``/v1/products``, ``/v1/projects`` (and their predefined filters, and ``/{id}``) return bare JSON arrays
of the default collection fields (or ``fields=``), ``per_page`` default 20 clamped to 100, ``Link``
headers with ``search_after``/``search_before`` cursors (``page=`` switches to page-number links with
``last``), ``X-Pagination-*`` headers, filters in the ``=>=``/``=<``/``!``/``a,b`` syntax on the
filterable fields only, ``sort=`` on the sortable fields only (ties broken by id in the same direction),
each collection's default order, a configurable 100,000-record cap with ``X-Pagination-Throttled``,
timestamps rendered in the account time zone, and rolling-window limits per token (3,600 per hour and
20 per 2 seconds) with ``X-RateLimit-*`` headers and 429 ``Retry-After``.

List requests in the connector's shape (``sort=updated_at`` with an optional ``updated_at=>=`` and
``search_after`` cursors) and in id order (projects' default, the setup probe) take a fast path that
reads the Dataset's order instead of building every record, so a page of 1,000,000 records stays cheap;
it answers byte for byte as the general path does (``fast_paths=False`` forces the general path).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import collections
import functools
import json
import math
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from .harness import Dataset, Faults, SimApp, json_response, kept, serve_forever, stable_random
from .xurrent_catalog import CATALOG, COLLECTIONS, volumes

RESERVED = {"per_page", "page", "search_after", "search_before", "sort", "fields"}
ADJECTIVES = ["Widget", "Northern", "Global", "Acme", "Blue", "Summit", "Harbor", "Prairie", "Zürich", "O'Neil"]
NOUNS = ["Data Center", "IT Services", "Facilities", "Finance", "Logistics", "Support", "Labs", "Networks"]
PEOPLE = ["Howard Tanner", "Ellen Brown", "Ada Lovelace", "Grace Hopper", "José Núñez", "Radia Perlman"]
TEAMS = ["End-User Support, Houston", "Network Operations", "Service Desk", "Application Development"]
SERVICES = ["Personal Computing", "Warehouse Management", "E-mail", "Telephony", "Document Management"]
PRODUCT_NAMES = ["Adobe Reader", "Dell Latitude", "Cisco Switch", "Office 365", "Slack", "Zoom", "iPhone"]
CATEGORIES = ["software/browser_viewer_application", "computer/laptop", "network/switch", "software/office_suite"]
STATUSES = ["registered", "in_progress", "progress_halted", "completed"]
JUSTIFICATIONS = ["compliance", "correction", "cost_reduction", "new_application", "risk_reduction"]
PROJECT_SUBJECTS = ["Warehouse Ordering", "Data Center Move", "ERP Upgrade", "Network Refresh", "Mobile App"]

# Field types: "int", "datetime", "string", "bool", "ref" (an {id, name} object), "enum".
RESOURCES: dict[str, dict[str, Any]] = {
    "organizations": {
        "types": {"id": "int", "source": "string", "sourceID": "string", "name": "string", "disabled": "bool",
                  "created_at": "datetime", "updated_at": "datetime", "financialID": "string", "parent": "ref"},
        "filterable": ["id", "source", "sourceID", "name", "disabled", "created_at", "updated_at", "financialID",
                       "parent"],
        "sortable": ["id", "sourceID", "name", "created_at", "updated_at"],
        "default_sort": [("name", False)],
        "collection": ["id", "sourceID", "name", "parent", "manager", "created_at", "updated_at"],
        "predefined": ["disabled", "enabled", "external", "internal", "trusted", "directory", "support_domain",
                       "managed_by_me"],
    },
    "products": {
        "types": {"id": "int", "source": "string", "sourceID": "string", "name": "string", "disabled": "bool",
                  "category": "enum", "rule_set": "enum", "support_team": "ref", "service": "ref",
                  "created_at": "datetime", "updated_at": "datetime"},
        "filterable": ["id", "source", "sourceID", "name", "disabled", "category", "rule_set", "support_team",
                       "service", "created_at", "updated_at"],
        "sortable": ["id", "sourceID", "name", "support_team", "service", "created_at", "updated_at"],
        "default_sort": [("name", False)],
        "collection": ["id", "sourceID", "name", "category", "support_team", "service", "created_at", "updated_at"],
        "predefined": ["disabled", "enabled", "supported_by_my_teams"],
    },
    "projects": {
        "types": {"id": "int", "source": "string", "sourceID": "string", "subject": "string", "category": "enum",
                  "status": "enum", "completion_target_at": "datetime", "completed_at": "datetime",
                  "service": "ref", "created_at": "datetime", "updated_at": "datetime"},
        "filterable": ["id", "source", "sourceID", "subject", "category", "status", "completion_target_at",
                       "completed_at", "service", "created_at", "updated_at"],
        "sortable": ["id", "sourceID", "subject", "category", "status", "completion_target_at", "completed_at",
                     "service", "created_at", "updated_at"],
        "default_sort": [("id", True)],
        "collection": ["id", "sourceID", "subject", "manager", "category", "status", "completion_target_at",
                       "completed_at", "service", "created_at", "updated_at"],
        "predefined": ["completed", "open", "managed_by_me"],
    },
}
# The Archive and the Trash: one entry per archived or trashed record, filterable and sortable on id and
# created_at only, newest first by default; the entry names the record's type and references it.
BIN_VERB = {"archive": "archived", "trash": "trashed"}
for _bin, _verb in BIN_VERB.items():
    RESOURCES[_bin] = {
        "types": {"id": "int", "created_at": "datetime"},
        "filterable": ["id", "created_at"],
        "sortable": ["id", "created_at"],
        "default_sort": [("created_at", True)],
        "collection": ["id", "created_at", f"{_verb}_by", _verb, "organization", "product", "project",
                       *(c.kind for c in COLLECTIONS if c.binnable)],
        "predefined": [],
    }
BINS = tuple(BIN_VERB)
SINGULAR = {"organizations": "organization", "products": "product", "projects": "project",
            **{c.name: c.kind for c in COLLECTIONS}}
RESOURCES.update({c.name: c.resource() for c in COLLECTIONS})
# References display a subject or a label instead of a name for these collections.
DISPLAY = {"projects": "subject", **{c.name: c.label for c in COLLECTIONS if c.label in ("subject", "label")}}


class BadRequest(Exception):
    """A 400 with the API's ``{"message": ...}`` body."""


@dataclass
class Window:
    """One page cut from a sorted, filtered collection: ``items`` are (sort key, record) at positions
    ``start..end`` of the ``total`` reachable records (capped at max_records; ``throttled`` if more)."""

    items: list[tuple[list[Any], dict[str, Any]]]
    start: int
    end: int
    total: int
    throttled: bool


@dataclass
class ChangeIndex:
    """What the fast path needs beyond index arithmetic on the base records, each list sorted:
    ``removed``, base indices taken out of index order (changed or deleted); ``extra``, (epoch second, id)
    of the live changed and inserted records; ``gone``, the ids of deleted records."""

    removed: list[int]
    extra: list[tuple[int, int]]
    gone: list[int]


def change_index(ds: Dataset) -> ChangeIndex:
    """The dataset's ChangeIndex, rebuilt only after the dataset changed."""
    return ds.derive("xurrent.change_index", _build_change_index)


def _build_change_index(ds: Dataset) -> ChangeIndex:
    n, size, changed, deleted = ds.n, ds.size, ds.changed, ds.deleted
    removed = sorted({i for i in changed if i < n} | {i for i in deleted if 0 <= i < n})
    # ds.time(i) of a changed record is its stamp; an insert is always changed, but fall back to its base
    # time as ds.time would. Sorting by whole seconds then id can reorder sub-second stamps.
    extra = sorted([(int(t.timestamp()), i + 1) for i, (_, t) in changed.items() if i not in deleted]
                   + [(int(ds.base_time(i).timestamp()), i + 1) for i in range(n, size)
                      if i not in changed and i not in deleted])
    return ChangeIndex(removed, extra, sorted(i + 1 for i in deleted if 0 <= i < size))


def encode_cursor(offset: int, key: list[Any]) -> str:
    raw = json.dumps({"offset": offset, "cursor": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[int, list[Any]]:
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, key = int(body["offset"]), list(body["cursor"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"Invalid cursor: {token[:40]}") from exc
    return offset, key


def parse_datetime(field: str, raw: str) -> datetime:
    try:
        dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00") if raw.strip().endswith("Z") else raw)
    except ValueError:
        raise BadRequest(f"Invalid date-time value for {field}: {raw}") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _cmp(a: Any, b: Any) -> int:
    """Nulls sort first; otherwise natural order."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return (a > b) - (a < b)


class RollingLimits:
    """Rolling windows per token: ``[(limit, seconds), ...]``; the first limit's figures go in the headers."""

    def __init__(self, limits: list[tuple[int, float]], clock: Callable[[], float] = time.time):
        self.limits = limits
        self._clock = clock
        self._sent: dict[str, dict[float, collections.deque[float]]] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def reset(self) -> None:
        with self._lock:
            self._sent.clear()

    def hit(self, token: str, count: bool = True) -> tuple[bool, dict[str, str], float]:
        with self._lock:
            now = self._clock()
            windows = self._sent.setdefault(token, {p: collections.deque() for _, p in self.limits})
            wait = 0.0
            for limit, period in self.limits:
                sent = windows[period]
                while sent and sent[0] <= now - period:
                    sent.popleft()
                if len(sent) >= limit:
                    wait = max(wait, sent[0] + period - now)
            allowed = wait <= 0
            if allowed and count:
                for sent in windows.values():
                    sent.append(now)
            if not allowed:
                self.rejected += 1
            headers: dict[str, str] = {}
            if self.limits:
                limit, period = self.limits[0]
                sent = windows[period]
                # Rolling window: the reset is when the oldest counted request leaves it.
                reset = sent[0] + period if sent else now
                headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - len(sent))),
                           "X-RateLimit-Reset": str(int(math.ceil(reset)))}
            return allowed, headers, wait


class XurrentSim(SimApp):
    def __init__(
        self,
        organizations: int = 120,
        products: int = 90,
        projects: int = 150,
        *,
        tie: int = 1,
        tokens: set[str] | None = None,
        clients: dict[str, str] | None = None,
        accounts: set[str] | None = None,
        token_lifetime: int = 3600,
        rate_limits: list[tuple[int, float]] | None = None,
        max_records: int = 100_000,
        time_zone: str = "America/Chicago",
        link_host: str | None = None,
        faults: Faults | None = None,
        seed: int = 11,
        latency: float = 0.0,
        fast_paths: bool = True,
        catalog: int | dict[str, int] | None = None,
        users: dict[str, str] | None = None,
    ):
        super().__init__(faults=faults, latency=latency)
        self.fast_paths = fast_paths  # False: every list request takes the general O(n) path (tests compare)
        self.data = {
            "organizations": Dataset(organizations, tie=tie, seed=seed),
            "products": Dataset(products, tie=tie, seed=seed + 1),
            "projects": Dataset(projects, tie=tie, seed=seed + 2),
        }
        # The further collections: ``catalog`` size units (each at its relative volume), or counts by name.
        counts = catalog if isinstance(catalog, dict) else volumes(catalog or 0)
        for c in COLLECTIONS:
            self.data[c.name] = Dataset(counts.get(c.name, 0), tie=tie, seed=f"{seed}:{c.name}")
        self.parents: dict[tuple[str, int], int] = {}  # an inserted child's parent index
        self.cascaded: dict[tuple[str, int], list[tuple[str, int]]] = {}  # records archived with a parent
        self.tombstones: set[int] = set()  # time entries deleted (they stay listed with deleted: true)
        self.tokens = tokens if tokens is not None else {"test-token"}
        self.clients = clients if clients is not None else {"test-client": "test-secret"}
        self.accounts = accounts if accounts is not None else {"widget"}
        self.token_lifetime = token_lifetime
        self.issued: dict[str, float] = {}  # client-credentials token -> expiry (time.time())
        self.limits = RollingLimits(rate_limits if rate_limits is not None else [(3600, 3600.0), (20, 2.0)])
        self.max_records = max_records
        self.tz = ZoneInfo(time_zone)
        self.link_host = link_host
        self.seen_accounts: list[str] = []  # the account header name each API request used
        self.issued_to: dict[str, str] = {}  # client-credentials token -> the client (the API user) it was issued to
        self.users = users or {}  # personal token -> its user: every token of one user shares the limits
        # The Archive and the Trash: entries in id order; the next entry id of each.
        self.bins: dict[str, list[dict[str, Any]]] = {name: [] for name in BINS}
        self.bin_ids: dict[str, int] = {name: 0 for name in BINS}
        self.bins_lock = threading.Lock()
        self.bin_readers: set[str] | None = None  # tokens with the administrator role the bins need (None: all)

    # Records -------------------------------------------------------------------------------------
    def stamp(self, dt: datetime | None) -> str | None:
        return dt.astimezone(self.tz).isoformat() if dt is not None else None

    @staticmethod
    def org_name(i: int) -> str:
        from .harness import stable_random

        rng = stable_random("org-name", i)
        return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {i + 1}"

    def organization(self, i: int) -> dict[str, Any]:
        ds = self.data["organizations"]
        rng = ds.rng(i)
        parent = None if i < 3 or rng.random() < 0.3 else rng.randrange(0, min(i, ds.n))
        person = rng.randrange(len(PEOPLE))
        bu = rng.randrange(0, 3)
        rec = {
            "id": i + 1,
            "sourceID": f"ORG-{i + 1:05d}" if rng.random() < 0.4 else None,
            "name": self.org_name(i),
            "parent": {"id": parent + 1, "name": self.org_name(parent)} if parent is not None else None,
            "manager": {"id": 600 + person, "name": PEOPLE[person]} if rng.random() < 0.8 else None,
            "created_at": self.stamp(ds.created(i)),
            "updated_at": self.stamp(ds.time(i)),
            "disabled": rng.random() < 0.1,
            "region": rng.choice(["North", "South", "EMEA", None]),
            "financialID": f"FIN{rng.randrange(10000):04d}" if rng.random() < 0.5 else None,
            "business_unit_organization": {"id": bu + 1, "name": self.org_name(bu)} if i % 4 == 0 else None,
            "remarks": rng.choice(["", "Moved in 2016.", "Üñíçødé remark"]),
            "source": "4me",
        }
        if i % 9 == 5:  # a record of another account in a directory setup
            rec["account"] = {"id": "wdc", "name": "Widget Data Center"}
        # Nested arrays from their own random stream (so the fields above keep their values); an edit can
        # add or drop elements. Contacts and addresses carry no key of their own; custom fields do.
        extra = stable_random(ds.seed, "nested", i, ds.version(i))
        rec["contacts"] = [{"label": extra.choice(["work", "fax", "mobile"]),
                            "telephone": f"+1 555 {extra.randrange(10000):04d}"} for _ in range(extra.randrange(3))]
        rec["addresses"] = [{"label": "work", "street": f"{extra.randrange(1, 999)} Main St",
                             "city": extra.choice(["Houston", "Chicago", "Zürich"])}] if extra.random() < 0.5 else []
        rec["custom_fields"] = self.custom_fields(extra)
        return rec

    @staticmethod
    def custom_fields(rng: Any) -> list[dict[str, Any]] | None:
        """``[{"id", "value"}]`` (any JSON value), or null when the record has none."""
        fields = [("cost_center", lambda: f"CC-{rng.randrange(100):02d}"), ("priority", lambda: rng.randrange(1, 6)),
                  ("vip", lambda: rng.random() < 0.5), ("tags", lambda: rng.sample(["a", "b", "c"], 2))]
        chosen = [(name, make()) for name, make in fields if rng.random() < 0.5]
        return [{"id": name, "value": value} for name, value in chosen] or None

    def product(self, i: int) -> dict[str, Any]:
        ds = self.data["products"]
        rng = ds.rng(i)
        service, team = rng.randrange(len(SERVICES)), rng.randrange(len(TEAMS))
        return {
            "id": i + 1,
            "sourceID": None,
            "name": f"{PRODUCT_NAMES[i % len(PRODUCT_NAMES)]} {i + 1}",
            "category": rng.choice(CATEGORIES),
            "service": {"id": 20 + service, "name": SERVICES[service],
                        "provider": {"id": 32, "name": "Widget Data Center, Internal IT"}},
            "support_team": {"id": 9 + team, "name": TEAMS[team]},
            "created_at": self.stamp(ds.created(i)),
            "updated_at": self.stamp(ds.time(i)),
            "disabled": rng.random() < 0.15,
            "brand": rng.choice(["Adobe", "Dell", "Cisco", "Microsoft", None]),
            "model": rng.choice(["Latitude 7440", "Catalyst 9300", None]),
            "productID": f"P-{rng.randrange(100000):05d}",
            "rule_set": rng.choice(["software", "hardware", "other"]),
            "financial_owner": {"id": 44, "name": "Widget Data Center, External IT"} if rng.random() < 0.5 else None,
            "supplier": {"id": 70 + i % 3, "name": ["Dell Inc.", "CDW", "SHI"][i % 3]},
            "useful_life": rng.choice([3, 4, 5, None]),
            "depreciation_method": rng.choice(["straight_line", "double_declining_balance", "not_depreciated"]),
            "source": "4me",
        }

    def project(self, i: int) -> dict[str, Any]:
        ds = self.data["projects"]
        rng = ds.rng(i)
        service, person = rng.randrange(len(SERVICES)), rng.randrange(len(PEOPLE))
        status = rng.choice(STATUSES)
        target = ds.created(i).replace(hour=15, minute=0, second=0)
        account = {"id": "widget", "name": "Widget International"}
        return {
            "id": i + 1,
            "sourceID": None,
            "subject": f"{PROJECT_SUBJECTS[i % len(PROJECT_SUBJECTS)]} ({i + 1})",
            "category": rng.choice(["large", "medium", "small"]),
            "status": status,
            "completion_target_at": self.stamp(target),
            "completed_at": self.stamp(ds.time(i)) if status == "completed" else None,
            "service": {"id": 40 + service, "name": SERVICES[service],
                        "provider": {"id": 44, "name": "Widget Data Center, External IT", "account": account},
                        "localized_name": SERVICES[service]},
            "manager": {"id": 600 + person, "name": PEOPLE[person], "account": account},
            "customer": {"id": 44, "name": "Widget Data Center, External IT", "account": account},
            "program": {"id": 3, "name": "Digital Workplace"} if rng.random() < 0.3 else None,
            "justification": rng.choice(JUSTIFICATIONS),
            "time_zone": "Central Time (US & Canada)",
            "work_hours": {"id": 1, "name": "Mon-Fri 8:00-17:00"},
            "cost_of_effort": f"{rng.randrange(0, 500000)}.0",
            "effort": rng.randrange(0, 5000),
            "created_at": self.stamp(ds.created(i)),
            "updated_at": self.stamp(ds.time(i)),
            "source": "4me",
            "custom_fields": self.custom_fields(stable_random(ds.seed, "nested", i, ds.version(i))),
        }

    def record(self, resource: str, i: int) -> dict[str, Any]:
        if resource in CATALOG:
            return self.catalog_record(resource, i)
        return {"organizations": self.organization, "products": self.product, "projects": self.project}[resource](i)

    def label(self, resource: str, j: int) -> str:
        """Record j's display value as references show it."""
        if resource == "organizations":
            return self.org_name(j)
        if resource == "products":
            return f"{PRODUCT_NAMES[j % len(PRODUCT_NAMES)]} {j + 1}"
        if resource == "projects":
            return f"{PROJECT_SUBJECTS[j % len(PROJECT_SUBJECTS)]} ({j + 1})"
        c = CATALOG.get(resource)
        return f"{c.title if c else resource.replace('_', ' ').capitalize()} {j + 1}"

    def reference(self, target: str, j: int) -> dict[str, Any]:
        return {"id": j + 1, DISPLAY.get(target, "name"): self.label(target, j)}

    def sub_rng(self, resource: str, ident: int) -> Any:
        """The random stream of a record's nested collection: it changes when the record is edited."""
        ds = self.data[resource]
        return stable_random(ds.seed, "sub", ident, ds.version(ident - 1))

    def parent_of(self, resource: str, i: int) -> int | None:
        """A child's parent index: base children come in contiguous blocks per parent."""
        c = CATALOG[resource]
        target = c.fields[c.parent][1] if c.parent else None
        if target is None:
            return None
        n, parents = self.data[resource].n, self.data[target].n
        if i >= n:
            return self.parents.get((resource, i))
        return i * parents // n if parents else None

    def children_of(self, parent: str, j: int) -> list[tuple[str, int]]:
        """(collection, index) of the live records that go with record j of ``parent``."""
        out = []
        for c in COLLECTIONS:
            if c.parent and c.fields[c.parent][1] == parent:
                ds = self.data[c.name]
                out += [(c.name, i) for i in ds.all() if ds.exists(i) and self.parent_of(c.name, i) == j]
        return out

    def catalog_record(self, resource: str, i: int) -> dict[str, Any]:
        c, ds = CATALOG[resource], self.data[resource]
        rng, ident, at = ds.rng(i), i + 1, ds.time(i)
        rec: dict[str, Any] = {"id": ident}
        if c.label:
            rec[c.label] = self.label(resource, i)
        for name, gen in c.fields.items():
            kind = gen[0]
            if name == c.parent:
                j = self.parent_of(resource, i)
                rec[name] = self.reference(gen[1], j) if j is not None else None
            elif kind == "pick":
                rec[name] = rng.choice(gen[1])
            elif kind == "ref":
                size = self.data[gen[1]].n if gen[1] in self.data else 8  # base records: inserts change no ref
                null = rng.random() < gen[2]
                j = rng.randrange(max(1, size))
                rec[name] = None if null or not size else self.reference(gen[1], j)
            elif kind == "int":
                rec[name] = rng.randint(gen[1], gen[2])
            elif kind == "bool":
                rec[name] = rng.random() < gen[1]
            elif kind == "at":
                offset = rng.randrange(-48, 96)
                rec[name] = None if rng.random() < gen[1] else self.stamp(at.replace(minute=0, second=0)
                                                                           + timedelta(hours=offset))
            elif kind == "target":
                rec[name] = rng.choice(["best_effort", "no_target", "clock_stopped",
                                        self.stamp(at.replace(second=0) + timedelta(hours=rng.randrange(1, 72)))])
            elif kind == "date":
                rec[name] = at.astimezone(self.tz).date().isoformat()
            elif kind == "money":
                rec[name] = f"{rng.randrange(40, 150)}.0"
            elif kind == "text":
                rec[name] = None if rng.random() < gen[2] else f"{gen[1]} {ident}"
            elif kind == "custom":
                rec[name] = self.custom_fields(stable_random(ds.seed, "nested", i, ds.version(i)))
            elif kind == "list":
                rec[name] = []
        if resource == "time_entries" and ident in self.tombstones:
            rec["deleted"] = True
        if c.stamped:
            rec["created_at"] = self.stamp(ds.created(i))
            rec["updated_at"] = self.stamp(at)
        else:  # notes: created once, never updated; created_at grows with the id
            rec["created_at"] = self.stamp(at)
        if i % 11 == 7 and resource in ("requests", "people", "teams", "slas"):
            rec["account"] = {"id": "wdc", "name": "Widget Data Center"}  # a trusted account's record
        return rec

    def subcollection(self, resource: str, i: int, sub: str) -> list[dict[str, Any]]:
        return CATALOG[resource].subs[sub](self, i + 1)

    def insert(self, resource: str, rng: Any = None) -> int:
        """Insert a record (a child gets a random live parent)."""
        i = self.data[resource].insert()
        c = CATALOG.get(resource)
        if c is not None and c.parent:
            target = self.data[c.fields[c.parent][1]]
            live = [j for j in target.all() if target.exists(j)]
            if live:
                self.parents[(resource, i)] = (rng or random.Random(i)).choice(live)
        return i

    def delete_time_entry(self, ident: int) -> None:
        """DELETE /time_entries/:id: the entry stays listed with deleted: true (updated_at moves: GUESS)."""
        self.tombstones.add(ident)
        self.data["time_entries"].edit(ident - 1)

    def truth(self, resource: str) -> dict[int, dict[str, Any]]:
        ds = self.data[resource]
        return {i + 1: self.record(resource, i) for i in ds.all() if ds.exists(i)}

    # Archive, trash, restore ---------------------------------------------------------------------
    # Archiving or trashing takes a record out of its collections (and id-only listings); its entry in
    # /archive or /trash names it. Its nested arrays go with it. A restore removes the entry and brings
    # the record back unchanged (updated_at too: the docs do not say it changes); erasing a trash entry
    # (the 28-day purge) removes the entry and the record for good.
    def remove(self, resource: str, ident: int, to: str = "trash") -> dict[str, Any]:
        ds = self.data[resource]
        i = ident - 1
        if not ds.exists(i):
            raise KeyError(f"{resource} {ident} does not exist")
        rec = self.record(resource, i)
        verb = BIN_VERB[to]
        with self.bins_lock:
            self.bin_ids[to] += 1
            kind = SINGULAR[resource]
            label = rec.get("name") or rec.get("subject")
            entry = {"id": self.bin_ids[to], "created_at": self.stamp(ds.clock()),
                     f"{verb}_by": {"id": 6, "name": "Howard Tanner"}, verb: kind,
                     kind: {"id": ident, "href": f"/{resource}/{ident}", "display_name": f"{ident} {label}"}}
            self.bins[to].append(entry)
        ds.delete(i)
        # Tasks go with their workflow, project tasks with their project; no entry names them.
        self.cascaded[(resource, ident)] = self.children_of(resource, i)
        for child, j in self.cascaded[(resource, ident)]:
            self.data[child].delete(j)
        return entry

    def _entry(self, resource: str, ident: int, bins: tuple[str, ...] = BINS) -> tuple[str, dict] | None:
        kind = SINGULAR[resource]
        for name in bins:
            for entry in self.bins[name]:
                if entry[BIN_VERB[name]] == kind and entry[kind]["id"] == ident:
                    return name, entry
        return None

    def restore(self, resource: str, ident: int) -> None:
        found = self._entry(resource, ident)
        if found is None:
            raise KeyError(f"{resource} {ident} is neither archived nor trashed")
        with self.bins_lock:
            self.bins[found[0]].remove(found[1])
        self.data[resource].restore(ident - 1)
        for child, j in self.cascaded.pop((resource, ident), []):
            self.data[child].restore(j)

    def erase(self, resource: str, ident: int) -> None:
        """The trash's 28-day purge: the entry goes, the record stays gone."""
        found = self._entry(resource, ident, ("trash",))
        if found is None:
            raise KeyError(f"{resource} {ident} is not in the trash")
        with self.bins_lock:
            self.bins["trash"].remove(found[1])

    def move_to_trash(self, resource: str, ident: int) -> None:
        """A retention policy moving an archived record on to the trash: a new trash entry replaces it."""
        found = self._entry(resource, ident, ("archive",))
        if found is None:
            raise KeyError(f"{resource} {ident} is not archived")
        with self.bins_lock:
            self.bins["archive"].remove(found[1])
        self.data[resource].restore(ident - 1)
        for child, j in self.cascaded.pop((resource, ident), []):
            self.data[child].restore(j)
        self.remove(resource, ident, "trash")

    def delete_random(self, rng: Any, n: int) -> list[tuple[str, int]]:
        """Archive or trash ``n`` live records spread over the entities; organizations with nested arrays
        (contacts, addresses, custom fields, which go with them) are picked first. Returns (entity, id)."""
        order = ["organizations", "products", "projects",
                 *(c.name for c in COLLECTIONS if c.binnable and self.data[c.name].size)]
        picked: list[tuple[str, int]] = []
        for j, resource in enumerate(order):
            count = n // len(order) + (j < n % len(order))
            ds = self.data[resource]
            live = [i for i in ds.all() if ds.exists(i)]
            nested = [i for i in live if self._nested(self.record(resource, i))] if resource == "organizations" else []
            first = rng.sample(nested, min(len(nested), (count + 1) // 2))
            rest = [i for i in live if i not in set(first)]
            for i in first + rng.sample(rest, min(len(rest), count - len(first))):
                picked.append((resource, i + 1))
        for resource, ident in picked:
            self.remove(resource, ident, rng.choice(BINS))
        return picked

    @staticmethod
    def _nested(rec: dict[str, Any]) -> bool:
        return bool(rec.get("contacts") or rec.get("addresses") or rec.get("custom_fields"))

    def bin_records(self, name: str) -> list[dict[str, Any]]:
        with self.bins_lock:
            return [dict(e) for e in self.bins[name]]

    # Auth ----------------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Expire every client-credentials token issued so far (a scheduler action in tests)."""
        self.issued = {t: 0.0 for t in self.issued}

    def exempt(self, request: Request) -> bool:
        # GET /rate_limit reports the budget without using it (the docs allow one call per second).
        return request.path.rstrip("/") in ("/token", "/v1/rate_limit")

    def token_endpoint(self, request: Request) -> Response:
        if request.method != "POST":
            return json_response({"error": "invalid_request", "error_description": "use POST"}, 405)
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "only client_credentials is supported"}, 400)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if not client_id or not secret:
            return json_response({"error": "invalid_request",
                                  "error_description": "client_id and client_secret are required"}, 400)
        if self.clients.get(client_id) != secret:
            return json_response({"error": "invalid_client", "error_description": "Client authentication failed"},
                                 400)
        token = secrets.token_urlsafe(24)
        self.issued[token] = time.time() + self.token_lifetime
        self.issued_to[token] = client_id
        return json_response({"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime})

    def user_of(self, token: str) -> str:
        """The API user a token acts for: the limits are counted per user, not per token."""
        return self.users.get(token) or self.issued_to.get(token, token)

    @staticmethod
    def token_of(request: Request) -> str:
        return request.headers.get("Authorization", "")[len("Bearer "):].strip()

    def authenticate(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = header[len("Bearer "):].strip()
        if token not in self.tokens and self.issued.get(token, 0.0) <= time.time():
            return None
        account = request.headers.get("X-Xurrent-Account")
        name = "X-Xurrent-Account"
        if account is None:
            account, name = request.headers.get("X-4me-Account"), "X-4me-Account"
        if account not in self.accounts:
            return None
        self.seen_accounts.append(name)
        return token

    # HTTP ----------------------------------------------------------------------------------------
    def rate_limited(self, request: Request, headers: dict[str, str], wait: float) -> Response:
        return json_response({"message": "Too Many Requests"}, 429,
                             {**headers, "Retry-After": str(max(1, int(wait + 0.999)))})

    def error_body(self, status: int) -> Response:
        return json_response({"message": f"Internal Server Error ({status})"}, status)

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/token":
            return self.token_endpoint(request)
        if not path.startswith("/v1/"):
            return json_response({"message": "Not Found"}, 404)
        token = self.authenticate(request)
        if token is None:
            return json_response({"message": "Unauthorized"}, 401)
        parts = path.split("/")[2:]
        if parts == ["rate_limit"]:
            _, headers, _ = self.limits.hit(self.user_of(token), count=False)
            return json_response({"limit": headers.get("X-RateLimit-Limit"),
                                  "remaining": headers.get("X-RateLimit-Remaining"),
                                  "reset": headers.get("X-RateLimit-Reset")}, headers=headers)
        # The hourly limit is per API user: every token of one client (or one personal token's user) shares it.
        allowed, headers, wait = self.limits.hit(self.user_of(token))
        if not allowed:
            return self.rate_limited(request, headers, wait)
        response = self.route(request, parts)
        response.headers.update(headers)
        return response

    def route(self, request: Request, parts: list[str]) -> Response:
        if request.method != "GET":
            return json_response({"message": "Method Not Allowed"}, 405)
        if parts == ["me"]:
            return json_response({"id": 6, "name": "API User", "primary_email": "api@example.com"})
        resource = parts[0]
        if resource not in RESOURCES:
            return json_response({"message": "Not Found"}, 404)
        if resource in BINS and self.bin_readers is not None and self.token_of(request) not in self.bin_readers:
            return json_response({"message": "Forbidden: the Archive and the Trash need an administrator role"},
                                 403)
        try:
            if len(parts) == 1:
                return self.collection(request, resource, None)
            if resource in BINS:
                return json_response({"message": "Not Found"}, 404)
            if len(parts) == 2 and parts[1] in RESOURCES[resource]["predefined"]:
                return self.collection(request, resource, parts[1])
            if len(parts) == 2 and parts[1].isdigit():
                i = int(parts[1]) - 1
                if self.data[resource].exists(i):
                    return json_response(self.record(resource, i))
            if (len(parts) == 3 and parts[1].isdigit() and resource in CATALOG
                    and parts[2] in CATALOG[resource].subs and self.data[resource].exists(int(parts[1]) - 1)):
                return json_response(self.subcollection(resource, int(parts[1]) - 1, parts[2]))
            return json_response({"message": "Not Found"}, 404)
        except BadRequest as exc:
            return json_response({"message": str(exc)}, 400)

    # Collections ---------------------------------------------------------------------------------
    @staticmethod
    def predefined(resource: str, name: str | None, rec: dict[str, Any]) -> bool:
        if name == "disabled":
            return bool(rec.get("disabled"))
        if name == "enabled":
            return not rec.get("disabled")
        if name == "completed":
            return rec.get("status") == "completed"
        if name == "open":
            return rec.get("status") != "completed"
        return True  # filters whose attributes are not modelled serve the whole collection

    def value(self, resource: str, field: str, rec: dict[str, Any]) -> Any:
        """A field's comparable value: epoch seconds for date-times, the id for references."""
        ftype = RESOURCES[resource]["types"].get(field)
        raw = rec.get(field)
        if raw is None:
            return None
        if ftype == "datetime":
            return int(datetime.fromisoformat(raw).timestamp())
        if ftype == "ref":
            return raw.get("id")
        return raw

    def sort_value(self, resource: str, field: str, rec: dict[str, Any]) -> Any:
        if RESOURCES[resource]["types"].get(field) == "ref":
            target = rec.get(field) or {}
            return target.get("name") or target.get("subject") or target.get("label")
        return self.value(resource, field, rec)

    def condition(self, resource: str, field: str, raw: str) -> Callable[[dict[str, Any]], bool]:
        ftype = RESOURCES[resource]["types"][field]

        def convert(text: str) -> Any:
            if ftype == "datetime":
                return int(parse_datetime(field, text).timestamp())
            if ftype in ("int", "ref"):
                try:
                    return int(text)
                except ValueError:
                    raise BadRequest(f"Invalid integer value for {field}: {text}") from None
            if ftype == "bool":
                if text not in ("true", "false"):
                    raise BadRequest(f"Invalid boolean value for {field}: {text}")
                return text == "true"
            return text

        if raw == "":
            return lambda rec: self.value(resource, field, rec) in (None, "")
        if raw == "!":
            return lambda rec: self.value(resource, field, rec) not in (None, "")
        if raw[0] in "<>":
            if ftype not in ("int", "datetime"):
                raise BadRequest(f"Comparison not allowed on field: {field}")
            m = re.fullmatch(r"(?:(>=|>)([^<>]+))?(?:(<=|<)([^<>]+))?", raw)
            if not m or not (m.group(1) or m.group(3)):
                raise BadRequest(f"Invalid condition for {field}: {raw}")
            low = (m.group(1), convert(m.group(2))) if m.group(1) else None
            high = (m.group(3), convert(m.group(4))) if m.group(3) else None

            def compare(rec: dict[str, Any]) -> bool:
                v = self.value(resource, field, rec)
                if v is None:
                    return False
                if low and not (v >= low[1] if low[0] == ">=" else v > low[1]):
                    return False
                return not (high and not (v <= high[1] if high[0] == "<=" else v < high[1]))

            return compare
        negate = raw.startswith("!")
        body = raw[1:] if negate else raw
        wanted = {convert(x) for x in body.split(",")} if "," in body else {convert(body)}
        if len(wanted) > 1 and ftype not in ("int", "ref", "enum"):
            raise BadRequest(f"Lists are allowed on integer and enumeration fields only: {field}")
        return lambda rec: (self.value(resource, field, rec) in wanted) != negate

    def collection(self, request: Request, resource: str, predefined: str | None) -> Response:
        spec = RESOURCES[resource]
        args = request.args
        try:
            per_page = int(args.get("per_page", "20"))
        except ValueError:
            raise BadRequest("per_page must be an integer") from None
        per_page = min(100, max(1, per_page))
        sort = spec["default_sort"]
        if args.get("sort"):
            sort = [(f.lstrip("-"), f.startswith("-")) for f in args["sort"].split(",") if f]
            bad = [f for f, _ in sort if f not in spec["sortable"]]
            if bad:
                raise BadRequest(f"Sorting not allowed on fields: {', '.join(bad)}")
        bad = [k for k in args if k not in RESERVED and k not in spec["filterable"]]
        if bad:
            raise BadRequest(f"Filtering not allowed on fields: {', '.join(bad)}")
        conditions = [self.condition(resource, k, args[k]) for k in args if k not in RESERVED]
        window = self.fast_window(resource, predefined, args, sort, per_page) if self.fast_paths else None
        if window is None:
            window = self.scan_window(resource, predefined, args, sort, per_page, conditions)
        return self.render(request, resource, args, per_page, window)

    def keyed(self, resource: str, sort: list[tuple[str, bool]], rec: dict[str, Any]) -> tuple[list[Any], dict]:
        """A record with its sort key (the sort fields' values, then the id): what cursors encode."""
        return [self.sort_value(resource, f, rec) for f, _ in sort] + [rec["id"]], rec

    def scan_window(self, resource: str, predefined: str | None, args: Any, sort: list[tuple[str, bool]],
                    per_page: int, conditions: list[Callable[[dict[str, Any]], bool]]) -> Window:
        """The general path: build, filter and sort every record (O(n) per request), then cut the page."""
        if resource in BINS:
            recs = self.bin_records(resource)
        else:
            ds = self.data[resource]
            recs = [self.record(resource, i) for i in ds.all() if ds.exists(i)]
        recs = [r for r in recs if self.predefined(resource, predefined, r) and all(c(r) for c in conditions)]
        keyed = [self.keyed(resource, sort, r) for r in recs]
        directions = [desc for _, desc in sort] + [sort[-1][1]]

        def order(a: list[Any], b: list[Any]) -> int:
            for x, y, desc in zip(a, b, directions, strict=True):
                c = _cmp(x, y)
                if c:
                    return -c if desc else c
            return 0

        keyed.sort(key=functools.cmp_to_key(lambda a, b: order(a[0], b[0])))
        total = min(len(keyed), self.max_records)
        reachable = keyed[:total]
        throttled = len(keyed) > self.max_records
        if "page" in args:
            try:
                page = int(args["page"])
            except ValueError:
                raise BadRequest("page must be an integer") from None
            if page < 1:
                raise BadRequest("page must be 1 or more")
            start = (page - 1) * per_page
            end = min(start + per_page, total)
        elif args.get("search_after"):
            _, key = decode_cursor(args["search_after"])
            start = next((n for n, (k, _) in enumerate(reachable) if order(k, key) > 0), total)
            end = min(start + per_page, total)
        elif args.get("search_before"):
            _, key = decode_cursor(args["search_before"])
            end = next((n for n, (k, _) in enumerate(reachable) if order(k, key) >= 0), total)
            start = max(0, end - per_page)
        else:
            start, end = 0, min(per_page, total)
        items = reachable[start:end] if start < total else []
        return Window(items, start, end, total, throttled)

    # The fast path ---------------------------------------------------------------------------------
    # The connector's query (sort=updated_at, an optional updated_at=>=..., search_after cursors) and the
    # setup probe (per_page=1 in projects' default id order) are answered from the Dataset's structure:
    # base records are already in order by index, only changed/inserted/deleted records are looked at,
    # so a page costs O(page size + changes) instead of O(n). Anything else returns None: general path.

    def fast_window(self, resource: str, predefined: str | None, args: Any, sort: list[tuple[str, bool]],
                    per_page: int) -> Window | None:
        if resource in BINS or predefined is not None or "page" in args or args.get("search_before"):
            return None
        filters = [k for k in args if k not in RESERVED]
        by_updated = sort == [("updated_at", False)] and filters in ([], ["updated_at"])
        by_id = sort in ([("id", False)], [("id", True)]) and not filters
        since = self.lower_bound(args["updated_at"]) if by_updated and filters else None
        if not (by_id or by_updated) or (filters and since is None):
            return None
        after: tuple[int, int] | None = None
        if args.get("search_after"):
            _, key = decode_cursor(args["search_after"])  # a bad token is the same 400 as the general path's
            if len(key) != 2 or any(type(x) is not int for x in key):
                return None  # odd keys compare (or fail) in ways only the general path reproduces
            after = (key[0], key[1])
        if by_updated:
            return self.window_by_updated(resource, sort, per_page, since, after)
        return self.window_by_id(resource, sort, per_page, after)

    @staticmethod
    def lower_bound(raw: str) -> int | None:
        """``>=t`` or ``>t`` (already validated by ``condition``) as the least epoch second that passes."""
        m = re.fullmatch(r"(>=|>)([^<>]+)", raw)
        if not m:
            return None
        bound = int(parse_datetime("updated_at", m.group(2)).timestamp())
        return bound if m.group(1) == ">=" else bound + 1

    def window_by_updated(self, resource: str, sort: list[tuple[str, bool]], per_page: int, since: int | None,
                          after: tuple[int, int] | None) -> Window:
        """Records ordered by (updated_at in epoch seconds, id), as the general path sorts them.

        Two sorted runs are merged: A, the untouched base records (index order is key order, since base
        times never decrease with the index), and E, the changed and inserted records sorted by key."""
        ds = self.data[resource]
        with ds.lock:  # a consistent snapshot while edits may arrive from other threads
            n, tie = ds.n, ds.tie
            groups = -(-n // tie)

            def group_sec(g: int) -> int:
                return int(ds.base_time(g * tie).timestamp())

            def first_base(sec: int, strict: bool = False) -> int:
                """First base index whose second is >= sec (> sec when strict)."""
                g = (bisect.bisect_right if strict else bisect.bisect_left)(range(groups), sec, key=group_sec)
                return min(n, g * tie)

            index = change_index(ds)
            removed, extra = index.removed, index.extra

            lo = first_base(since) if since is not None else 0
            e_lo = bisect.bisect_left(extra, (since,)) if since is not None else 0
            matched = kept(lo, n, removed) + len(extra) - e_lo
            total = min(matched, self.max_records)
            a, e, start = lo, e_lo, 0
            if after is not None:
                sec, ident = after
                # Base records with key <= (sec, ident): every one below the second, and those in it
                # whose id (index + 1) is <= ident.
                below = min(first_base(sec, strict=True), max(first_base(sec), ident))
                a = max(lo, below)
                e = max(e_lo, bisect.bisect_right(extra, (sec, ident)))
                start = min(total, kept(lo, a, removed) + (e - e_lo))
            end = min(start + per_page, total)
            picks: list[int] = []
            r = bisect.bisect_left(removed, a)
            while len(picks) < end - start:
                while r < len(removed) and removed[r] <= a:
                    a += removed[r] == a
                    r += 1
                base_key = (group_sec(a // tie), a + 1) if a < n else None
                if e < len(extra) and (base_key is None or extra[e] < base_key):
                    picks.append(extra[e][1] - 1)
                    e += 1
                elif base_key is not None:
                    picks.append(a)
                    a += 1
                else:
                    break  # unreachable: the counts above say enough records remain
            items = [self.keyed(resource, sort, self.record(resource, i)) for i in picks]
        return Window(items, start, end, total, matched > self.max_records)

    def window_by_id(self, resource: str, sort: list[tuple[str, bool]], per_page: int,
                     after: tuple[int, int] | None) -> Window:
        """Records by id, ascending or descending (projects' default order); the key is [id, id]."""
        ds = self.data[resource]
        desc = sort[0][1]
        with ds.lock:
            size, deleted, gone = ds.size, ds.deleted, change_index(ds).gone
            matched = size - len(gone)
            total = min(matched, self.max_records)
            if desc:
                # Ids >= first come at or before the cursor key (id == k1 only if k1 >= k2).
                first = size + 1 if after is None else after[0] + (after[0] < after[1])
                first = min(size + 1, max(1, first))
                done = (size + 1 - first) - (len(gone) - bisect.bisect_left(gone, first))
                ids: range = range(first - 1, 0, -1)
            else:
                # Ids <= last come at or before the cursor key (id == k1 only if k1 <= k2).
                last = 0 if after is None else after[0] - (after[0] > after[1])
                last = min(size, max(0, last))
                done = last - bisect.bisect_right(gone, last)
                ids = range(last + 1, size + 1)
            start = min(total, done)
            end = min(start + per_page, total)
            picks: list[int] = []
            for ident in ids:
                if len(picks) >= end - start:
                    break
                if ident - 1 not in deleted:
                    picks.append(ident - 1)
            items = [self.keyed(resource, sort, self.record(resource, i)) for i in picks]
        return Window(items, start, end, total, matched > self.max_records)

    # Rendering -------------------------------------------------------------------------------------
    def render(self, request: Request, resource: str, args: Any, per_page: int, window: Window) -> Response:
        spec = RESOURCES[resource]
        items, start, end, total = window.items, window.start, window.end, window.total
        page_mode = "page" in args
        fields = [f for f in args.get("fields", "").split(",") if f] or spec["collection"]
        barred = [f for f in fields if resource in CATALOG and f in CATALOG[resource].barred]
        if barred:
            raise BadRequest(f"Fields not allowed in collections: {', '.join(barred)}")
        if resource == "time_entries" and "time_allocation" in fields:
            # What the entry was spent on comes with time_allocation, and only when set.
            fields = [*fields, *(f for f in ("request", "problem", "task", "project_task") if f not in fields)]
        only_set = CATALOG[resource].barred if resource in CATALOG else ()
        body = [{k: r.get(k) for k in ["id", *fields, "account"]
                 if (k in r and not (k in only_set and r[k] is None))
                 or (k in spec["collection"] and resource not in BINS)} for _, r in items]

        pages = max(1, -(-total // per_page))
        headers = {"X-Pagination-Per-Page": str(per_page), "X-Pagination-Current-Page": str(start // per_page + 1),
                   "X-Pagination-Total-Pages": str(pages), "X-Pagination-Total-Entries": str(total)}
        base_params = [(k, v) for k, v in args.items(multi=True) if k not in ("page", "search_after", "search_before")]
        host = self.link_host or request.host
        root = f"{request.scheme}://{host}{request.path}"

        def link(extra: list[tuple[str, str]], rel: str) -> str:
            query = urlencode(base_params + extra)
            return f"<{root}{'?' + query if query else ''}>; rel=\"{rel}\""

        links = []
        if page_mode:
            page = start // per_page + 1
            links.append(link([("page", "1")], "first"))
            if page > 1:
                links.append(link([("page", str(page - 1))], "prev"))
            if end < total:
                links.append(link([("page", str(page + 1))], "next"))
            links.append(link([("page", str(pages))], "last"))
        else:
            if start > 0:
                links.append(link([], "first"))
                if items:
                    links.append(link([("search_before", encode_cursor(start, items[0][0]))], "prev"))
            if items and end < total:
                links.append(link([("search_after", encode_cursor(end - 1, items[-1][0]))], "next"))
        if links:
            headers["Link"] = ", ".join(links)
        if window.throttled and end >= total:
            headers["X-Pagination-Throttled"] = "true"
        return json_response(body, headers=headers)


def main() -> None:
    parser = argparse.ArgumentParser(description="Xurrent (4me) REST API v1 simulator")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--records", type=int, default=500, help="records per entity")
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--account", default="widget")
    args = parser.parse_args()
    app = XurrentSim(args.records, args.records, args.records, tie=3, tokens={args.token}, accounts={args.account})
    serve_forever(app, args.port, f"Xurrent simulator ({args.records} organizations, products and projects; "
                                  f"account '{args.account}', base_url http://127.0.0.1:{args.port}/v1, "
                                  f"token_url http://127.0.0.1:{args.port}/token, client test-client/test-secret)")


if __name__ == "__main__":
    main()
