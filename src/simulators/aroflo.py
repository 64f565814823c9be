"""Simulator of the AroFlo zone API (see the AroFlo API notes, section 9 "Simulator decisions").

One endpoint, ``GET /?zone=<zone>|lastupdate``: users, suppliers and payments as written here, and the
field-service zones from their declarations in ``simulators.aroflo_zones`` (``tasks=`` sets their volume).
Implemented decisions:

- Auth: HMAC-SHA512 over ``METHOD+[HostIP+]+Accept+Authorization+afdatetimeutc+<raw query string>``, checked
  against the query string exactly as received; hex compared case-insensitively. ``afdatetimeutc`` more than
  ``freshness`` seconds (300) from the server clock: ``-99999`` "Payload has expired"; missing headers:
  "Required headers are missing"; unknown ``uencoded``/``orgEncoded``: "AroFlo API setup is invalid"; wrong
  ``pencoded``: status ``2``. A bare request (no query, no auth) gets ``1`` "Invalid Request String".
- Errors are HTTP 200 with a non-zero body ``status`` (per-minute limit ``6``, daily limit ``7``, size ``8``);
  only the per-second burst is HTTP 429 (body status ``"429"``). No ``Retry-After``.
- JSON only with ``Accept: text/json``; otherwise XML with root ``imsapi``.
- ``where=and|field|op|value`` (also ``or`` and ``(``/``)`` groups; ``=``, ``<``, ``>``, ``!=``, ``IN``, ``NOT IN``;
  ``*``-separated lists); dates accept ``-`` or ``/`` (a date alone is 00:00:00). Fields ending in ``utc`` are
  UTC; other date fields are local time in Australia/Melbourne. No ``where``: the 30-day default filter and the
  "default filter applied" message.
- ``order=field|asc|desc`` (repeatable, any filterable field; default creation order); ``page`` from 1,
  ``pageSize`` default 500 and clamped to 500; ``maxpageresults`` echoes the effective size (a string for
  users and suppliers, a number for payments); no ``page``: everything, subject to the 3.5 MB cap.
- Users carry created/updated fields (the newer examples). ``lastupdate`` lists the feed's documented zones
  only (suppliers and the declared feed zones; not users or payments) with each record's last change (an
  edit moves it; ``datepaid`` and supplier dates never move) and, for deletes, ``isdeleted`` = 1.
- Limits: 3 per second, 120 per minute, 2,000 per day (all configurable), 20,000 per day for GETs whose only
  ``where`` is an equality on the id field; ``lastupdate`` is exempt from the daily counts. Days roll over at
  00:00 Australia/Melbourne (``roll_day()`` does it on demand). Six ``X-RateLimit-*`` headers on every answer.
- Scale: the connector's own query shapes (the first-sync scan by creation/paid date then id, the ``lastupdate``
  feed of one zone between bounds, lookups by id) are answered per page without visiting every record, so
  1,000,000 payments page in milliseconds; any other query filters and sorts every record (``fast=False``
  forces that everywhere, and the tests check both give identical answers).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from .aroflo_zones import DECLS, UTC_DT, ZoneDecl, moment, naive, volume, write
from .harness import Dataset, Faults, SimApp, first_true, kept, nth_kept, serve_forever

MELBOURNE = ZoneInfo("Australia/Melbourne")
FRESHNESS_SECONDS = 300
SIZE_CAP = 3_500_000
MAX_PAGE_SIZE = 500

OK = "Login OK"
OK_DEFAULT = "Login OK. No WHERE clause found, default filter applied."
MSG_SIGNATURE = "Authentication Failed - Signatures do not match"
MSG_EXPIRED = "Authentication Failed - Payload has expired"
MSG_HEADERS = "Authentication Failed - Required headers are missing"
MSG_SETUP = "Authentication Failed - AroFlo API setup is invalid"
MSG_PASSWORD = "Login Failed - Invalid Username or Password"
MSG_REQUEST = "Login Failed - Invalid Request String"
MSG_METHOD = "Invalid Request Method"
MSG_NO_ZONE = "No Zone Specified"
MSG_SECOND = "Too Many Requests Per Second (max x3)"
MSG_SIZE = "Exceeded Size Rate Limit - Please try filtering your request down"
MSG_TIMEOUT = "IMSAPI request has timed out - please refine your query."

FIRST = ["Bradley", "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Radia", "Ken", "Zoë"]
LAST = ["Sandbox", "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "O'Brien", "Nguyen"]
SUPPLIERS = ["Cables4U", "Pipe & Co", "Sparky Wholesale", "Plumb Right", "Tool Town", "Copper Kings"]
METHODS = ["Direct Debit", "EFT", "Credit Card", "Cheque", "Cash"]
GROUPS = ["Management", "Office", "Field Staff", "Apprentices"]
SUPPLIER_FIELDS = [("Account Manager", "text", ["Jo", "Sam", ""]), ("Preferred", "checkbox", ["TRUE", "FALSE"]),
                   ("Rebate %", "numeric", ["0", "2.5", "5"])]
SUBURBS = [("Ringwood", "VIC", "3134"), ("Parramatta", "NSW", "2150"), ("Fortitude Valley", "QLD", "4006")]


def signature(secret: str, method: str, host_ip: str | None, accept: str, authorization: str, stamp: str,
              var_string: str) -> str:
    """AroFlo's documented signing recipe (lowercase hex)."""
    payload = "+".join([method] + ([host_ip] if host_ip else []) + ["", accept, authorization, stamp, var_string])
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha512).hexdigest()


def encode_id(prefix: str, i: int) -> str:
    """Opaque base64 ids like AroFlo's ("JCQ6XyRRUCAgCg=="); they contain '=' and may contain '+' or '/'."""
    return base64.b64encode(f"{prefix}{i:07d}~".encode()).decode()


def _parse_when(value: str) -> datetime:
    text = value.strip().replace("/", "-")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


class Zone:
    """One zone's records and filterable fields: name -> (kind, getter(i) -> comparable value).

    ``scan_fields`` share one creation key (the first sync's where and order field). ``label(i)``, for base
    records only, groups them into blocks for the fast scan: it never decreases with ``i``, is at most the
    record's key, and every key of a block is below the next block's label (so blocks are ordered)."""

    def __init__(self, name: str, key: str, data: Dataset, record: Callable[[int], dict[str, Any]],
                 fields: dict[str, tuple[str, Callable[[int], Any]]], default_field: str, *,
                 scan_fields: tuple[str, ...] = (), label: Callable[[int], datetime] | None = None,
                 joins: tuple[str, ...] = (), feed_deletes: bool = False, in_feed: bool = True,
                 list_key: str = "", join_map: dict[str, str] | None = None, decl: ZoneDecl | None = None):
        self.name, self.key, self.data, self.record = name, key, data, record
        self.fields, self.default_field = fields, default_field
        self.scan_fields, self.label = frozenset(scan_fields), label
        self.joins = frozenset(joins)
        # join name -> the area it fills; an area not joined comes back as an empty placeholder
        self.join_map = join_map if join_map is not None else {j: j for j in joins}
        self.feed_deletes = feed_deletes  # a deletion shows in lastupdate as an entry with isdeleted = 1
        self.in_feed = in_feed  # the lastupdate feed lists this zone's changes
        self.list_key = list_key or name  # the zoneresponse key of the records (inventory: items)
        self.decl = decl


class AroFloSim(SimApp):
    def __init__(self, users: int = 120, suppliers: int = 80, payments: int = 150, *, tasks: int = 0, tie: int = 1,
                 secret_key: str = "sim-secret-key", uencoded: str = "dGVzdC11c2Vy", pencoded: str = "cGFzc3dvcmQ=",
                 org_encoded: str = "JCdKUyZRMCAgCg==", per_second: int | None = 3, per_minute: int | None = 120,
                 daily: int | None = 2000, secondary_daily: int = 20000, size_cap: int = SIZE_CAP,
                 freshness: int = FRESHNESS_SECONDS, faults: Faults | None = None, seed: int = 11,
                 clock_offset: float = 0.0, fast: bool = True):
        super().__init__(faults=faults)
        # fast: answer the connector's query shapes without visiting every record (see "Fast paths");
        # False keeps only the general path, which the tests compare against.
        self.fast = fast
        self.fast_answers = 0  # queries the fast paths answered (tests check they were taken)
        self.secret_key, self.uencoded, self.pencoded, self.org_encoded = secret_key, uencoded, pencoded, org_encoded
        self.per_second, self.per_minute, self.daily, self.secondary_daily = per_second, per_minute, daily, \
            secondary_daily
        self.size_cap, self.freshness, self.clock_offset = size_cap, freshness, clock_offset
        self.forced_status: list[tuple[str, str]] = []  # body statuses for the next zone requests (tests)
        self._limit_lock = threading.Lock()
        self._second: tuple[int, int] = (0, 0)  # (epoch second, count)
        self._minute: tuple[int, int] = (0, 0)
        self._day = self._melbourne_day()
        self.daily_used = 0
        self.secondary_used = 0
        self.daily_rejected = 0
        self._inserted_at: dict[tuple[int, int], datetime] = {}
        self.deleted_at: dict[tuple[str, int], datetime] = {}  # (zone, index) -> when, for feed_deletes zones
        step = timedelta(minutes=7)
        clock = self.now_second
        self.users = Dataset(users, tie=tie, step=step, seed=seed, clock=clock)
        self.suppliers = Dataset(suppliers, tie=tie, step=step, seed=seed + 1, clock=clock)
        self.payments = Dataset(payments, tie=tie, step=step, seed=seed + 2, clock=clock)
        self.zones = {
            "users": Zone("users", "userid", self.users, self.user, {
                "userid": ("str", lambda i: self.user_id(i)),
                "givennames": ("str", lambda i: self.user(i)["givennames"]),
                "surname": ("str", lambda i: self.user(i)["surname"]),
                "position": ("str", lambda i: self.user(i)["position"]),
                "createdutc": ("date", lambda i: self.created(self.users, i).replace(tzinfo=None)),
                "createddatetimeutc": ("date", lambda i: self.created(self.users, i).replace(tzinfo=None)),
                "lastupdatedutc": ("date", lambda i: self.users.time(i).replace(tzinfo=None)),
                "lastupdateddatetimeutc": ("date", lambda i: self.users.time(i).replace(tzinfo=None)),
                "archived": ("bool", lambda i: self.user(i)["archived"]),
            }, "createdutc", scan_fields=("createdutc", "createddatetimeutc"),
                label=lambda i: self.created(self.users, i).replace(tzinfo=None),
                joins=("customfields", "permissiongroups")),
            "suppliers": Zone("suppliers", "supplierid", self.suppliers, self.supplier, {
                "supplierid": ("str", lambda i: self.supplier_id(i)),
                "suppliername": ("str", lambda i: self.supplier(i)["suppliername"]),
                "postable": ("bool", lambda i: self.supplier(i)["postable"]),
                "archived": ("bool", lambda i: self.supplier(i)["archived"]),
                "datecreated": ("date", self.supplier_local_created),
                "dateinserted": ("date", self.supplier_local_created),
                "datetimeinserted": ("date", self.supplier_local_created),
            }, "datetimeinserted", scan_fields=("datecreated", "dateinserted", "datetimeinserted"),
                label=self.supplier_local_day, joins=("customfields", "locations", "contacts"), feed_deletes=True),
            "payments": Zone("payments", "paymentid", self.payments, self.payment, {
                "paymentid": ("str", lambda i: self.payment_id(i)),
                "datepaid": ("date", self.payment_date),
            }, "datepaid", scan_fields=("datepaid",), label=self.payment_date, in_feed=False),
        }
        self.zones["users"].in_feed = False  # the feed's documented zones do not include users or payments
        self.soft_deleted: dict[tuple[str, int], datetime] = {}  # (zone, index) -> when, for line zones
        for n, decl in enumerate(DECLS):  # the field-service zones, from their declarations
            data = Dataset(volume(decl, tasks), tie=tie, step=step, seed=seed + 10 + n, clock=clock)
            self.zones[decl.name] = self.declared_zone(decl, data)

    # Clock ---------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset)

    def now_second(self) -> datetime:
        return self.now().replace(microsecond=0)

    def _melbourne_day(self) -> str:
        return self.now().astimezone(MELBOURNE).date().isoformat()

    def roll_day(self) -> None:
        """Start a new AroFlo day now (as 00:00 Australia/Melbourne would)."""
        with self._limit_lock:
            self.daily_used = self.secondary_used = 0

    # Declared zones ------------------------------------------------------------------------------
    def zone_id(self, zone: str, i: int) -> str:
        z = self.zones[zone]
        return encode_id(z.decl.prefix, i) if z.decl else z.fields[z.key][1](i)

    def declared_zone(self, decl: ZoneDecl, data: Dataset) -> Zone:
        name = decl.name
        fields: dict[str, tuple[str, Callable[[int], Any]]] = {decl.key: ("str", lambda i: encode_id(decl.prefix, i))}
        for field_name, spec in decl.dates.items():
            fields[field_name] = ("date", self._date_getter(decl, field_name, spec))
        for alias, target in decl.aliases.items():
            fields[alias] = fields[target]
        for field_name, path in decl.extra_fields.items():
            fields[field_name] = ("str", self._path_getter(name, path))
        return Zone(name, decl.key, data, lambda i: self.declared_record(decl, i), fields,
                    decl.default_field, joins=tuple(decl.joins.values()), feed_deletes=decl.feed,
                    in_feed=decl.feed, list_key=decl.list_key, join_map=dict(decl.joins), decl=decl)

    def _date_getter(self, decl: ZoneDecl, field_name: str, spec: Any) -> Callable[[int], datetime]:
        def get(i: int) -> datetime:
            if self._unset(decl, field_name, i):
                return datetime.min  # an unset date matches no ``>`` filter
            return naive(moment(self, decl, spec, i), spec)
        return get

    def _path_getter(self, zone: str, path: tuple[str, ...]) -> Callable[[int], Any]:
        def get(i: int) -> Any:
            value: Any = self.zones[zone].record(i)
            for part in path:
                value = value.get(part, "") if isinstance(value, dict) else ""
            return value
        return get

    def _unset(self, decl: ZoneDecl, field_name: str, i: int) -> bool:
        data = self.zones[decl.name].data
        return field_name in decl.unset_until_edited and i < data.n and data.version(i) == 0

    def declared_record(self, decl: ZoneDecl, i: int) -> dict[str, Any]:
        data = self.zones[decl.name].data
        record: dict[str, Any] = {} if decl.hidden_key else {decl.key: encode_id(decl.prefix, i)}
        record.update(decl.build(self, data.rng(i), i))
        for field_name, spec in decl.dates.items():
            unset = self._unset(decl, field_name, i)
            record[field_name] = (" " if " " in spec.fmt else "") if unset else write(moment(self, decl, spec, i),
                                                                                        spec)
        if decl.soft_delete:
            live, dead = decl.soft_delete
            when = self.soft_deleted.get((decl.name, i))
            local = when.astimezone(MELBOURNE) if when else None
            record.update({"deleted": dead if when else live,
                           "deleteddate": local.strftime("%Y/%m/%d") if local else "",
                           "deleteddatetime": local.strftime("%Y/%m/%d %H:%M:%S") if local else " "})
        return record

    def alive(self, zone: str, i: int) -> bool:
        """In the zone and not soft-deleted (a soft-deleted line is still listed, with ``deleted`` set)."""
        return self.zones[zone].data.exists(i) and (zone, i) not in self.soft_deleted

    # Records -------------------------------------------------------------------------------------
    def created(self, data: Dataset, i: int) -> datetime:
        """Creation time: 30 days before the base change time, or the moment of insertion (never moves)."""
        if i < data.n:
            return data.base_time(i) - timedelta(days=30)
        return self._inserted_at[(id(data), i)]

    def insert(self, zone: str) -> str:
        """Insert a new record into a zone now; return its id."""
        data = self.zones[zone].data
        when = self.now_second()
        i = data.insert(when)
        self._inserted_at[(id(data), i)] = when
        return self.zones[zone].fields[self.zones[zone].key][1](i)

    def user_id(self, i: int) -> str:
        return encode_id("U", i)

    def supplier_id(self, i: int) -> str:
        return encode_id("S", i)

    def payment_id(self, i: int) -> str:
        return encode_id("P", i)

    def user(self, i: int) -> dict[str, Any]:
        rng = self.users.rng(i)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        record = {
            "userid": self.user_id(i), "givennames": first, "surname": last, "username": f"{first}.{last}{i}",
            "email": f"{first.lower()}.{i}@example.com", "email2": "", "phone": "",
            "mobile": f"04{rng.randrange(10**8):08d}", "fax": "", "position": rng.choice(["Tech", "Admin", ""]),
            "accesstype": rng.choice(["Admin", "User", "Field"]),
            "archived": rng.choice(["false", "false", "false", "true", "FALSE"]),
            "org": {"orgid": self.org_encoded, "orgname": "Bradley Sandbox"},
            "customfields": [{"fieldid": "IyYqQyUK", "value": rng.choice(["Yes", "No"]), "archived": "false",
                              "type": "radio", "name": "Is organ donor?"}],
            "permissiongroups": [], "notes": [], "documentsandphotos": [],
        }
        # Drawn after every other field, so the fields above keep their values.
        record["permissiongroups"] = [{"groupid": encode_id("G", g), "groupname": GROUPS[g]}
                                      for g in sorted(rng.sample(range(len(GROUPS)), rng.randrange(3)))]
        created, updated = self.created(self.users, i), self.users.time(i).astimezone(timezone.utc)
        record.update({"createdutc": created.strftime("%Y/%m/%d"), "createddatetimeutc": created.strftime(UTC_DT),
                       "lastupdatedutc": updated.strftime("%Y/%m/%d"),
                       "lastupdateddatetimeutc": updated.strftime(UTC_DT)})
        return record

    def supplier_local_created(self, i: int) -> datetime:
        """datetimeinserted as Melbourne wall-clock time (naive), with the record's centiseconds."""
        created = self.created(self.suppliers, i) + timedelta(milliseconds=10 * (i % 100))
        return created.astimezone(MELBOURNE).replace(tzinfo=None)

    def supplier_local_day(self, i: int) -> datetime:
        """Local midnight of datetimeinserted: the fast scan's block label. Local wall-clock times are not
        monotonic (DST ends by repeating an hour), but Melbourne's local date is, as no transition crosses
        midnight; the centiseconds never carry a whole-minute creation time over midnight either."""
        return self.supplier_local_created(i).replace(hour=0, minute=0, second=0, microsecond=0)

    def supplier_created_utc(self, i: int) -> datetime:
        return self.created(self.suppliers, i) + timedelta(milliseconds=10 * (i % 100))

    def supplier(self, i: int) -> dict[str, Any]:
        rng = self.suppliers.rng(i)
        local = self.supplier_local_created(i)
        stamp = local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 10000:02d}"
        suburb, state, postcode = rng.choice(SUBURBS)
        name = rng.choice(SUPPLIERS)
        record = {
            "supplierid": self.supplier_id(i), "suppliername": f"{name} {i}", "shortname": f"Su_{i}",
            "suppliertype": rng.choice(["wholesaler", "manufacturer"]), "firstname": rng.choice(FIRST),
            "surname": rng.choice(LAST), "email": f"orders{i}@supplier.example.com", "phone": "03 9000 0000",
            "mobile": "", "fax": "", "website": "", "abn": f"{rng.randrange(10**11):011d}", "terms": "30 days",
            "termsnote": rng.choice(["", "EOM", "COD"]), "postable": rng.choice(["TRUE", "FALSE", "true"]),
            "archived": rng.choice(["false", "false", "true"]),
            "datecreated": stamp, "dateinserted": stamp, "datetimeinserted": stamp,
            "address": {"addressline1": f"{rng.randrange(1, 300)} New St", "addressline2": "", "suburb": suburb,
                        "state": state, "postcode": postcode, "country": "Australia"},
            "mailingaddress": {"addressline1": "PO Box 1", "addressline2": "", "suburb": suburb, "state": state,
                               "postcode": postcode, "country": "Australia"},
            "transactionterms": {"transactionterm": "", "transactiontermnote": "", "transactiontermid": ""},
            "link": {"orgid": "", "orgname": "", "externalid": ""},
            "orgs": [{"orgid": self.org_encoded, "orgname": "Bradley Sandbox", "archived": "false"}],
            "locations": [], "contacts": [], "customfields": [], "notes": [], "documentsandphotos": [],
        }
        # Drawn after every other field, so the fields above keep their values.
        record["customfields"] = [
            {"fieldid": encode_id("F", f), "name": name, "type": kind, "value": rng.choice(values), "archived": "false"}
            for f, (name, kind, values) in enumerate(SUPPLIER_FIELDS) if rng.random() < 0.6]
        return record

    def payment_date(self, i: int) -> datetime:
        """datepaid: a business date fixed at creation; edits never move it."""
        created = self.created(self.payments, i).astimezone(MELBOURNE)
        return datetime(created.year, created.month, created.day)

    def payment(self, i: int) -> dict[str, Any]:
        rng = self.payments.rng(i)
        amount = rng.randrange(100, 500_000) / 100
        surcharge = rng.choice([0.0, 0.0, round(amount * 0.015, 2)])
        processed = rng.random() < 0.5
        return {
            "paymentid": self.payment_id(i), "amount": f"{amount:.4f}", "totalamount": f"{amount + surcharge:.4f}",
            "surchargeamount": f"{surcharge:.4f}", "surchargepercentage": "1.5000" if surcharge else "0.0000",
            "datepaid": self.payment_date(i).strftime("%Y/%m/%d"), "paymentmethodname": rng.choice(METHODS),
            "reference": f"INV-{rng.randrange(10**5):05d}", "notes": rng.choice(["", "part payment", "thanks"]),
            "linkedto": {"linkedtoid": encode_id("I", i), "linkedtotype": "invoice"},
            "receivedby": {"userid": self.user_id(i % max(1, self.users.n)), "username": "Commander Shepard"},
            "bankname": "", "bankbranch": "", "bankcode": "", "bankaccountnumber": "", "chequenumber": "",
            "linkprocessed": "true" if processed else "false",
            "datelinkprocessed": self.payment_date(i).strftime("%Y/%m/%d") if processed else "",
        }

    def lastupdate_entries(self) -> list[tuple[datetime, int, dict[str, Any]]]:
        """(time, order, entry) for every record of every zone, in creation order per zone."""
        out = []
        order = 0
        for zone in self.zones.values():
            if not zone.in_feed:
                continue
            for i in zone.data.all():
                if not zone.data.exists(i):
                    if (zone.name, i) in self.deleted_at:
                        out.append((self.deleted_at[(zone.name, i)], order, self.feed_entry(zone, i)))
                        order += 1
                    continue
                when = zone.data.time(i).astimezone(timezone.utc)
                out.append((when, order, self.feed_entry(zone, i, when)))
                order += 1
        return out

    def feed_entry(self, zone: Zone, i: int, when: datetime | None = None) -> dict[str, Any]:
        """The newer entry shape, with ``isdeleted`` (the number 0 or 1)."""
        deleted = not zone.data.exists(i)
        if when is None:
            when = self.deleted_at[(zone.name, i)] if deleted else zone.data.time(i).astimezone(timezone.utc)
        return {"isdeleted": int(deleted), "zoneid": self.zone_id(zone.name, i), "zonename": zone.name,
                "zoneidreference": zone.key, "lastupdateutc": when.strftime("%Y/%m/%d %H:%M:%S")}

    def delete(self, zone: str, i: int) -> str:
        """Delete one record now: it leaves every listing (with its nested custom fields, groups and orgs); in
        a zone the feed covers (suppliers) the lastupdate feed lists it with isdeleted = 1 from now on."""
        z = self.zones[zone]
        ident = self.zone_id(zone, i)
        with z.data.lock:
            if z.decl and z.decl.soft_delete:  # the line stays, marked deleted; its change shows in the feed
                self.soft_deleted[(zone, i)] = self.now_second()
                z.data.edit(i)
                return ident
            if z.feed_deletes:
                self.deleted_at[(zone, i)] = self.now_second()
            z.data.delete(i)
        return ident

    def delete_random(self, rng: Any, n: int) -> list[tuple[str, str]]:
        """Delete ``n`` existing records spread over the zones (every user and supplier has nested rows that
        go with it); returns (zone, id) of each."""
        out: list[tuple[str, str]] = []
        names = list(self.zones)
        for k in range(n):
            for name in names[k % len(names):] + names[:k % len(names)]:  # the next zone that has a record left
                data = self.zones[name].data
                pick = next((i for i in (rng.randrange(data.size) for _ in range(50) if data.size)
                             if self.alive(name, i)), None)
                if pick is None:  # mostly deleted already: look at them all
                    alive = [i for i in data.all() if self.alive(name, i)]
                    pick = rng.choice(alive) if alive else None
                if pick is not None:
                    out.append((name, self.delete(name, pick)))
                    break
        return out

    def truth(self, zone: str) -> dict[str, dict[str, Any]]:
        z = self.zones[zone]
        return {self.zone_id(zone, i): z.record(i) for i in z.data.all() if self.alive(zone, i)}

    # HTTP ----------------------------------------------------------------------------------------
    def envelope(self, request: Request, status: str, message: str, zoneresponse: dict | None = None,
                 http_status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body: dict[str, Any] = {"status": status, "statusmessage": message}
        if zoneresponse is not None:
            body["zoneresponse"] = zoneresponse
        all_headers = {**self.limit_headers(), **(headers or {}), "Date": _http_date(self.now())}
        if request.headers.get("Accept", "").strip().lower() == "text/json":
            return Response(json.dumps(body), status=http_status, headers=all_headers, content_type="text/json")
        return Response(to_xml(body), status=http_status, headers=all_headers, content_type="text/xml")

    def rate_limited(self, request: Request, headers: dict[str, str], wait: float) -> Response:
        return self.envelope(request, "429", MSG_SECOND, http_status=429)

    def error_body(self, status: int) -> Response:
        return Response(f"<html><body>Server Error {status}</body></html>", status=status, content_type="text/html")

    def limit_headers(self) -> dict[str, str]:
        minute_used = self._minute[1] if self._minute[0] == int(time.time() // 60) else 0
        return {
            "X-RateLimit-Limit": str(self.per_minute or 0),
            "X-RateLimit-Remaining": str(max(0, (self.per_minute or 0) - minute_used)),
            "X-RateLimit-Daily-Limit": str(self.daily or 0),
            "X-RateLimit-Daily-Remaining": str(max(0, (self.daily or 0) - self.daily_used)),
            "X-RateLimit-Secondary-Daily-Limit": str(self.secondary_daily),
            "X-RateLimit-Secondary-Daily-Remaining": str(max(0, self.secondary_daily - self.secondary_used)),
        }

    def _count(self, daily_kind: str | None) -> tuple[str, str] | None:
        """Count one request against the limits; return (status, message) if a limit refuses it."""
        with self._limit_lock:
            day = self._melbourne_day()
            if day != self._day:
                self._day, self.daily_used, self.secondary_used = day, 0, 0
            now = time.time()
            sec, minute = int(now), int(now // 60)
            s_count = self._second[1] if self._second[0] == sec else 0
            m_count = self._minute[1] if self._minute[0] == minute else 0
            if self.per_second and s_count >= self.per_second:
                return "429", MSG_SECOND
            if self.per_minute and m_count >= self.per_minute:
                return "6", f"Exceeded the {self.per_minute} requests per minute limit"
            if daily_kind == "daily" and self.daily is not None and self.daily_used >= self.daily:
                self.daily_rejected += 1
                return "7", f"Exceeded the {self.daily} requests per day limit"
            if daily_kind == "secondary" and self.secondary_used >= self.secondary_daily:
                return "7", f"Exceeded the {self.secondary_daily} single-ID requests per day limit"
            self._second, self._minute = (sec, s_count + 1), (minute, m_count + 1)
            if daily_kind == "daily":
                self.daily_used += 1
            elif daily_kind == "secondary":
                self.secondary_used += 1
            return None

    def authenticate(self, request: Request, raw_query: str) -> tuple[str, str] | None:
        headers = request.headers
        auth_sig = headers.get("Authentication", "")
        authorization = headers.get("Authorization")
        stamp = headers.get("afdatetimeutc")
        accept = headers.get("Accept")
        if not raw_query and not auth_sig and not authorization:
            return "1", MSG_REQUEST
        if not auth_sig.startswith("HMAC ") or not authorization or not stamp or not accept:
            return "-99999", MSG_HEADERS
        creds = {k.lower(): v for k, v in parse_qsl(authorization, keep_blank_values=True)}
        if creds.get("uencoded") != self.uencoded or creds.get("orgencoded") != self.org_encoded:
            return "-99999", MSG_SETUP
        expected = signature(self.secret_key, request.method, headers.get("HostIP"), accept, authorization, stamp,
                             raw_query)
        if not hmac.compare_digest(expected, auth_sig[5:].strip().lower()):
            return "-99999", MSG_SIGNATURE
        try:
            sent = datetime.strptime(stamp.strip(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return "-99999", MSG_EXPIRED
        if abs((self.now() - sent).total_seconds()) > self.freshness:
            return "-99999", MSG_EXPIRED
        if creds.get("pencoded") != self.pencoded:
            return "2", MSG_PASSWORD
        return None

    def handle(self, request: Request) -> Response:
        raw_query = request.query_string.decode("latin-1")
        failure = self.authenticate(request, raw_query)
        if failure:
            return self.envelope(request, *failure)
        if request.method != "GET":
            return self.envelope(request, "5", MSG_METHOD)
        params = parse_qsl(raw_query, keep_blank_values=True)
        zone_name = next((v for k, v in params if k == "zone"), None)
        if not zone_name:
            return self.envelope(request, "6", MSG_NO_ZONE)
        wheres = [v for k, v in params if k == "where"]
        orders = [v for k, v in params if k == "order"]
        zone_name = zone_name.lower()
        if zone_name not in self.zones and zone_name != "lastupdate":
            return self.envelope(request, "1", MSG_REQUEST)
        kind = None if zone_name == "lastupdate" else "daily"
        if kind and len(wheres) == 1 and self._is_id_equality(zone_name, wheres[0]):
            kind = "secondary"
        refused = self._count(kind)
        if refused:
            return self.envelope(request, *refused, http_status=429 if refused[0] == "429" else 200)
        if kind and self.forced_status:
            return self.envelope(request, *self.forced_status.pop(0))
        try:
            page = _int_param(params, "page")
            size = _int_param(params, "pageSize")
            effective = MAX_PAGE_SIZE if size is None else max(1, min(MAX_PAGE_SIZE, size))
            if page is not None and page < 1:  # refused whatever the query says, so skip the query
                return self.envelope(request, "1", MSG_REQUEST)
            window = None if page is None else ((page - 1) * effective, effective)
            if zone_name == "lastupdate":
                rows, message = self.query_lastupdate(wheres, orders, window), OK
            else:
                joins = {j.strip().lower() for v in (v for k, v in params if k == "join") for j in v.split(",")}
                rows, message = self.query_zone(self.zones[zone_name], wheres, orders, window, joins)
        except ValueError:
            return self.envelope(request, "1", MSG_REQUEST)
        list_key = "lastupdates" if zone_name == "lastupdate" else self.zones[zone_name].list_key
        numeric = zone_name == "payments" or (zone_name in self.zones and not self.zones[zone_name].in_feed
                                              and self.zones[zone_name].decl is not None)
        response: dict[str, Any] = {
            "maxpageresults": effective if numeric else str(effective),
            "pagenumber": str(page or 1),
            "queryresponsetimes": {list_key: 2},
            list_key: rows,
            "currentpageresults": len(rows),
        }
        if zone_name == "payments":
            response["generatedisplayresponsetime"] = 1
        if len(json.dumps(response)) > self.size_cap:
            return self.envelope(request, "8", MSG_SIZE)
        return self.envelope(request, "0", message, response)

    def _is_id_equality(self, zone: str, where: str) -> bool:
        parts = where.split("|")
        return len(parts) == 4 and parts[1].lower() == self.zones[zone].key and parts[2] == "="

    # Queries -------------------------------------------------------------------------------------
    # ``window`` is (offset, limit) for a paged request, None for "everything". The general path filters and
    # sorts every record (O(n)); the fast paths below answer the connector's own query shapes identically.
    def query_zone(self, zone: Zone, wheres: list[str], orders: list[str],
                   window: tuple[int, int] | None = None, joins: set[str] | frozenset[str] = frozenset()
                   ) -> tuple[list[dict], str]:
        rows, message = self._query_zone(zone, wheres, orders, window)
        for join, area in zone.join_map.items():
            if join not in joins:  # not joined: the empty placeholder AroFlo sends
                for row in rows:
                    row[area] = []
        return rows, message

    def _query_zone(self, zone: Zone, wheres: list[str], orders: list[str],
                    window: tuple[int, int] | None = None) -> tuple[list[dict], str]:
        message = OK
        source: Any = zone.data.all()
        if not wheres and not zone.default_field:
            test = lambda i: True  # noqa: E731 - a lookup zone: no default filter
        elif not wheres:
            kind, get = zone.fields[zone.default_field]
            horizon = self.now() - timedelta(days=30)
            horizon_naive = (horizon.astimezone(MELBOURNE) if not zone.default_field.endswith("utc")
                             else horizon).replace(tzinfo=None)
            if zone.default_field == "datepaid":
                horizon_naive = horizon_naive.replace(hour=0, minute=0, second=0, microsecond=0)
            test = lambda i: get(i) > horizon_naive  # noqa: E731
            message = OK_DEFAULT
        else:
            test = compile_where(wheres, lambda field: zone.fields.get(field.lower()))
            if self.fast:
                picked = self._fast_scan(zone, wheres, orders, test, window)
                if picked is not None:
                    self.fast_answers += 1
                    return [zone.record(i) for i in picked], message
                candidates = self._id_candidates(zone, wheres)
                if candidates is not None:  # only these can match; the rest of the general path is unchanged
                    self.fast_answers += 1
                    source = candidates
        indices = [i for i in source if zone.data.exists(i) and test(i)]
        for clause in reversed(orders):  # stable sorts: the first order clause wins
            field, _, direction = clause.partition("|")
            if field.lower() not in zone.fields:
                raise ValueError(f"cannot order by {field}")
            getter = zone.fields[field.lower()][1]
            indices.sort(key=getter, reverse=direction.lower() == "desc")
        if window is not None:
            indices = indices[window[0]: window[0] + window[1]]
        return [zone.record(i) for i in indices], message

    def query_lastupdate(self, wheres: list[str], orders: list[str],
                         window: tuple[int, int] | None = None) -> list[dict]:
        if self.fast:
            fast = self._fast_lastupdate(wheres, orders, window)
            if fast is not None:
                self.fast_answers += 1
                return fast
        entries = self.lastupdate_entries()
        fields: dict[str, tuple[str, Callable[[int], Any]]] = {
            "zonename": ("str", lambda k: entries[k][2]["zonename"]),
            "lastupdateutc": ("date", lambda k: entries[k][0].replace(tzinfo=None)),
        }
        test = compile_where(wheres, lambda field: fields.get(field.lower())) if wheres else (lambda k: True)
        picked = [k for k in range(len(entries)) if test(k)]
        for clause in reversed(orders):
            field, _, direction = clause.partition("|")
            if field.lower() not in fields:
                raise ValueError(f"cannot order by {field}")
            picked.sort(key=fields[field.lower()][1], reverse=direction.lower() == "desc")
        if window is not None:
            picked = picked[window[0]: window[0] + window[1]]
        return [entries[k][2] for k in picked]

    # Fast paths ----------------------------------------------------------------------------------
    # Base records (index < n) are generated: their creation keys never move and never decrease with the
    # index (``Zone.label``), and their feed times are base_time(i), non-decreasing in i until edited. Only
    # inserts, edits and deletes are stored, so each page costs O(page + blocks it touches + those changes).

    def _fast_scan(self, zone: Zone, wheres: list[str], orders: list[str], test: Callable[[int], bool],
                   window: tuple[int, int] | None) -> list[int] | None:
        """The first-sync scan: one ``<scan field> > value`` where, ordered by (that field, id) or not at all
        (creation order, as the configuration probe asks), one page. Indices of the page, or None."""
        if window is None or zone.label is None or len(wheres) != 1:
            return None
        parts = wheres[0].split("|")
        if len(parts) != 4 or parts[1].lower() not in zone.scan_fields or parts[2].upper() != ">":
            return None
        try:
            bound = _parse_when(parts[3])
        except ValueError:
            return None  # the general path refuses it
        if orders:
            if len(orders) != 2:
                return None
            (first, _, first_dir), (second, _, second_dir) = (o.partition("|") for o in orders)
            if first.lower() not in zone.scan_fields or second.lower() != zone.key or \
                    "desc" in (first_dir.lower(), second_dir.lower()):
                return None
            get, ident = zone.fields[first.lower()][1], zone.fields[zone.key][1]

            def sort_key(i: int) -> tuple[Any, Any]:  # the general path's stable sorts give (key, id)
                return get(i), ident(i)
        data, label = zone.data, zone.label
        _, gone_set, size = data.view()
        n = data.n
        # Base records from s on pass (their keys >= their labels > bound); the block [p, s) ending at s may
        # pass in part; records before p cannot (their keys are below label(s - 1) <= bound).
        s = first_true(0, n, lambda i: label(i) > bound)
        p = s
        if s > 0:
            top = label(s - 1)
            p = first_true(0, s - 1, lambda i: label(i) >= top)
        gone = sorted(d for d in gone_set if s <= d < n)
        full = kept(s, n, gone)
        inserts = [i for i in range(n, size) if i not in gone_set and test(i)]
        offset, limit = window
        if not orders:  # creation (index) order: the partial block, the rest of the base, then inserts
            head = [i for i in range(p, s) if i not in gone_set and test(i)]
            a_len = len(head) + full

            def in_order(r: int) -> Iterator[int]:
                if r < len(head):
                    yield from head[r:]
                    r = len(head)
                i = nth_kept(s, r - len(head), gone)
                while i < n:
                    if i not in gone_set:
                        yield i
                    i += 1

            return _merge_window(a_len, lambda k: a_len, in_order, [((i,), i) for i in inserts], offset, limit)

        head = sorted((i for i in range(p, s) if i not in gone_set and test(i)), key=sort_key)
        head_keys = [sort_key(i) for i in head]

        def block(start: int) -> tuple[list[int], int]:
            """The kept records of the block starting at ``start``, sorted, and where the next block starts."""
            top, end = label(start), start + 1
            while end < n and label(end) == top:
                end += 1
            return sorted((i for i in range(start, end) if i not in gone_set), key=sort_key), end

        def in_order(r: int) -> Iterator[int]:
            if r < len(head):
                yield from head[r:]
                r = 0
            else:
                r -= len(head)
            if r >= full:
                return
            i = nth_kept(s, r, gone)
            top = label(i)
            start = first_true(s, i, lambda j: label(j) >= top)
            skip = r - kept(s, start, gone)
            while start < n:
                members, start = block(start)
                yield from members[skip:]
                skip = 0

        uppers: dict[Any, int] = {}
        blocks: dict[int, tuple[int, list[tuple[Any, Any]]]] = {}

        def rank(k: tuple[Any, Any]) -> int:
            """How many base records of the answer sort before key ``k`` (an insert's)."""
            if k[0] not in uppers:
                uppers[k[0]] = first_true(s, n, lambda j: label(j) > k[0])
            u = uppers[k[0]]
            if u == s:  # every full block is above k: only the partial block can be below
                return bisect_left(head_keys, k)
            if u not in blocks:  # blocks before the one ending at u are all below k; that one in part
                top = label(u - 1)
                start = first_true(s, u - 1, lambda j: label(j) >= top)
                blocks[u] = (start, sorted(sort_key(j) for j in range(start, u) if j not in gone_set))
            start, keys = blocks[u]
            return len(head) + kept(s, start, gone) + bisect_left(keys, k)

        extras = sorted((sort_key(i), i) for i in inserts)
        return _merge_window(len(head) + full, rank, in_order, extras, offset, limit)

    def _fast_lastupdate(self, wheres: list[str], orders: list[str],
                         window: tuple[int, int] | None) -> list[dict] | None:
        """The change feed: ``zonename = X`` and any ``lastupdateutc >``/``<`` bounds, ANDed, ordered by
        lastupdateutc ascending or not at all (creation order), one page. The entries, or None."""
        if window is None:
            return None
        name: str | None = None
        low: datetime | None = None
        high: datetime | None = None
        for n_where, where in enumerate(wheres):
            parts = where.split("|")
            if len(parts) != 4 or parts[0].lower() not in ("and", "or") or (n_where and parts[0].lower() != "and"):
                return None  # parentheses, OR, or malformed: the general path
            field, op, value = parts[1].lower(), parts[2].upper(), parts[3]
            if field == "zonename" and op == "=" and name is None:
                name = value
            elif field == "lastupdateutc" and op in (">", "<"):
                try:
                    when = _parse_when(value)
                except ValueError:
                    return None
                if op == ">":
                    low = when if low is None else max(low, when)
                else:
                    high = when if high is None else min(high, when)
            else:
                return None
        if name is None:
            return None
        if orders:
            field, _, direction = orders[0].partition("|")
            if len(orders) != 1 or field.lower() != "lastupdateutc" or direction.lower() == "desc":
                return None
        zone = self.zones.get(name)
        if zone is None or not zone.in_feed:
            return []  # zonename is compared exactly: no entry is called that
        data = zone.data
        changed, gone_set, size = data.view()
        n = data.n

        def base(i: int) -> datetime:
            return data.base_time(i).astimezone(timezone.utc).replace(tzinfo=None)

        # Untouched base records in the bounds are the index range [a, b), in (time, index) order already;
        # edited and inserted ones (anywhere in time: edits may predate late base times) are merged in.
        a = 0 if low is None else first_true(0, n, lambda i: base(i) > low)
        b = n if high is None else first_true(a, n, lambda i: base(i) >= high)
        gone = sorted(i for i in set(changed) | gone_set if a <= i < b)
        skip = set(gone)
        extras = []
        moments = [(i, t) for i, (_, t) in changed.items() if i not in gone_set]
        if zone.feed_deletes:  # deleted records stay in the feed, at their deletion time, with isdeleted = 1
            moments += [(i, self.deleted_at[(zone.name, i)]) for i in gone_set if (zone.name, i) in self.deleted_at]
        for i, t in moments:
            if not 0 <= i < size:
                continue
            when = t.astimezone(timezone.utc).replace(tzinfo=None)
            if (low is None or when > low) and (high is None or when < high):
                extras.append(((when, i) if orders else (i,), i))
        extras.sort()
        spans: dict[datetime, tuple[int, int]] = {}

        def rank(k: tuple[Any, ...]) -> int:
            """How many base records of the answer sort before key ``k`` (a change's)."""
            if not orders:
                return kept(a, min(max(k[0], a), b), gone)
            when, j = k
            if when not in spans:  # base records at exactly this time: [g, h)
                g = first_true(a, b, lambda i: base(i) >= when)
                spans[when] = (g, first_true(g, b, lambda i: base(i) > when))
            g, h = spans[when]
            return kept(a, min(max(g, j), h), gone)

        def in_order(r: int) -> Iterator[int]:
            i = nth_kept(a, r, gone)
            while i < b:
                if i not in skip:
                    yield i
                i += 1

        picked = _merge_window(kept(a, b, gone), rank, in_order, extras, *window)
        return [self.feed_entry(zone, i) for i in picked]

    def _id_candidates(self, zone: Zone, wheres: list[str]) -> list[int] | None:
        """For ANDed wheres with an ``<id> = x`` or ``<id> IN x*y`` clause: the indices whose id was asked
        (ascending, as the general path walks them), or None. Ids are encode_id(prefix, i), so decoding is
        exact; a value that does not round-trip matches no record."""
        split = [w.split("|") for w in wheres]
        if any(len(parts) != 4 for parts in split) or any(parts[0].lower() != "and" for parts in split[1:]):
            return None
        clause = next((parts for parts in split if parts[1].lower() == zone.key and parts[2].upper() in ("=", "IN")),
                      None)
        if clause is None:
            return None
        values = clause[3].split("*") if clause[2].upper() == "IN" else [clause[3]]
        ident = zone.fields[zone.key][1]
        if zone.decl and zone.decl.hidden_key:
            return None
        found: set[int] = set()
        for value in values:
            i = _decode_index(value)
            if i is not None and i < zone.data.size and ident(i) == value:
                found.add(i)
        return sorted(found)


def _decode_index(value: str) -> int | None:
    """The index inside an id made by ``encode_id`` (None if it is not one)."""
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    digits = text[:-1].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if len(text) < 3 or not text.endswith("~") or not digits.isdigit():
        return None
    return int(digits)


def _merge_window(a_len: int, rank: Callable[[Any], int], a_from: Callable[[int], Iterator[int]],
                  extras: list[tuple[Any, int]], offset: int, limit: int) -> list[int]:
    """Items [offset, offset + limit) of the merge of an implicit sorted sequence A (``a_len`` items,
    ``a_from(r)`` iterates from its r-th, ``rank(key)`` counts its items below a key) with the few
    ``extras`` ((key, index), sorted; no key equals an item of A): O(extras + window), not O(len(A))."""
    positions = [rank(key) + j for j, (key, _) in enumerate(extras)]
    end = min(offset + limit, a_len + len(extras))
    if offset >= end:
        return []
    j = bisect_left(positions, offset)
    from_a = a_from(offset - j)  # the items before offset: j extras and the rest from A
    out = []
    for pos in range(offset, end):
        if j < len(extras) and positions[j] == pos:
            out.append(extras[j][1])
            j += 1
        else:
            out.append(next(from_a))
    return out


def _int_param(params: list[tuple[str, str]], name: str) -> int | None:
    value = next((v for k, v in params if k == name), None)
    return None if value is None or value == "" else int(value)


def compile_where(wheres: list[str], lookup: Callable[[str], tuple[str, Callable[[int], Any]] | None]
                  ) -> Callable[[int], bool]:
    """``and|field|op|value`` clauses (with optional ``(`` / ``)``) -> predicate; AND binds tighter than OR."""
    tokens: list[Any] = []
    for where in wheres:
        parts = where.split("|")
        if len(parts) < 4 or parts[0].lower() not in ("and", "or"):
            raise ValueError(f"bad where {where!r}")
        conj, rest = parts[0].lower(), parts[1:]
        opens = rest[0] == "("
        if opens:
            rest = rest[1:]
        closes = rest[-1] == ")"
        if closes:
            rest = rest[:-1]
        if len(rest) != 3:
            raise ValueError(f"bad where {where!r}")
        field, op, value = rest
        spec = lookup(field)
        if spec is None:
            raise ValueError(f"unknown where field {field!r}")
        if tokens:
            tokens.append(conj)
        if opens:
            tokens.append("(")
        tokens.append(_predicate(spec, op.upper(), value))
        if closes:
            tokens.append(")")
    pos = 0

    def parse_or() -> Callable[[int], bool]:
        nonlocal pos
        terms = [parse_and()]
        while pos < len(tokens) and tokens[pos] == "or":
            pos += 1
            terms.append(parse_and())
        return lambda i: any(t(i) for t in terms)

    def parse_and() -> Callable[[int], bool]:
        nonlocal pos
        terms = [parse_atom()]
        while pos < len(tokens) and tokens[pos] == "and":
            pos += 1
            terms.append(parse_atom())
        return lambda i: all(t(i) for t in terms)

    def parse_atom() -> Callable[[int], bool]:
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == "(":
            inner = parse_or()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ValueError("unbalanced parentheses in where")
            pos += 1
            return inner
        if not callable(token):
            raise ValueError("bad where sequence")
        return token

    predicate = parse_or()
    if pos != len(tokens):
        raise ValueError("unbalanced parentheses in where")
    return predicate


def _predicate(spec: tuple[str, Callable[[int], Any]], op: str, value: str) -> Callable[[int], bool]:
    kind, get = spec

    def norm(v: str) -> Any:
        if kind == "date":
            return _parse_when(v)
        if kind == "bool":
            return v.strip().lower()
        return v

    def val(i: int) -> Any:
        got = get(i)
        return got.lower() if kind == "bool" else got

    if op in ("IN", "NOT IN"):
        values = {norm(v) for v in value.split("*")}
        return (lambda i: val(i) in values) if op == "IN" else (lambda i: val(i) not in values)
    target = norm(value)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    }
    if op not in ops:
        raise ValueError(f"unknown operator {op!r}")
    compare = ops[op]
    return lambda i: compare(val(i), target)


def to_xml(body: dict[str, Any]) -> str:
    root = ET.Element("imsapi")

    def add(parent: ET.Element, key: str, value: Any) -> None:
        if isinstance(value, list):
            holder = ET.SubElement(parent, key)
            for item in value:
                add(holder, key[:-1] if key.endswith("s") else key, item)
        elif isinstance(value, dict):
            node = ET.SubElement(parent, key)
            for k, v in value.items():
                add(node, k, v)
        else:
            ET.SubElement(parent, key).text = str(value)

    for k, v in body.items():
        add(root, k, v)
    return ET.tostring(root, encoding="unicode")


def _http_date(dt: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(dt.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="AroFlo zone API simulator")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--suppliers", type=int, default=200)
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--tasks", type=int, default=0, help="tasks; the other field-service zones scale with it")
    parser.add_argument("--daily", type=int, default=2000, help="daily request budget")
    args = parser.parse_args()
    app = AroFloSim(args.users, args.suppliers, args.payments, tasks=args.tasks, daily=args.daily)
    print(f"demo credentials: secret_key={app.secret_key} uencoded={app.uencoded} pencoded={app.pencoded} "
          f"org_encoded={app.org_encoded}", flush=True)
    serve_forever(app, args.port, f"AroFlo simulator ({args.users} users, {args.suppliers} suppliers, "
                                  f"{args.payments} payments, {args.daily} requests a day)")


if __name__ == "__main__":
    main()
