"""AroFlo zone API -> tables users, suppliers and payments, through the Fivetran Connector SDK.

AroFlo has one endpoint (``GET /?zone=...``) signed per request with HMAC-SHA512, answers errors as a body
``status`` inside HTTP 200, and allows 3 requests a second, 120 a minute and 2,000 a day (``lastupdate``
requests do not count against the day). Records carry no reliable "updated" field, so:

- The first sync of a table scans the zone with an explicit wide ``where`` (never the silent 30-day default),
  ordered by creation time then id, page by page (page numbers from 1).
- Later syncs read the ``lastupdate`` change feed for the zone from the last committed position (keyset on
  ``lastupdateutc``, re-reading its one-second boundary), and fetch the changed records by id in ``IN``
  batches. This also sees supplier and payment edits, whose own date fields never move.
- The per-table position lives in state (``tables.<name>.feed``); the resume token of an unfinished
  traversal is checkpointed after every page. Before the daily budget runs out (keeping a reserve) the sync
  checkpoints and stops cleanly; the next sync resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fivetran_connector_sdk import Connector

from synckit import (
    ApiError,
    AuthError,
    Backoff,
    BudgetExhausted,
    Child,
    ConfigError,
    DeleteFeed,
    Field,
    FivetranSink,
    Http,
    KeySet,
    Page,
    PagingError,
    RateLimiter,
    Reconcile,
    ResponseError,
    SyncError,
    Table,
    Window,
    log,
    parse,
    prefetch,
    records,
    redact,
    schema_of,
    selection,
    setup,
    sync_tables,
)
from synckit.auth import AuthBase  # requests' AuthBase; importing requests here would send pipreqs to PyPI
from synckit.policy import Action
from synckit.policy import classify as http_classify
from synckit.sync import server_time

DEFAULT_BASE_URL = "https://api.aroflo.com/"
ACCEPT = "text/json"
MELBOURNE = ZoneInfo("Australia/Melbourne")
MAX_PAGE_SIZE = 500
MAX_IDS_PER_REQUEST = 100  # keeps an IN list (about 25 characters an id, encoded) well inside URL limits
FEED_MARGIN = timedelta(minutes=5)  # the change feed starts this long before the first scan page was read
WIDE_START = datetime(1990, 1, 1)  # the first sync's explicit wide filter: everything created since 1990


def _check_timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone name such as Australia/Melbourne or Australia/Perth"
    return None


def _check_ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be an IP address such as 203.0.113.10 (the public address AroFlo sees, if you signed it)"
    return None


NAMES = ("users", "suppliers", "payments")  # the catalogue, in sync order

SPEC = {
    "secret_key": Field(required=True, secret=True, description="AroFlo API secret key (shown once)"),
    "uencoded": Field(required=True, secret=True, description="uEncoded from AroFlo's API settings page"),
    "pencoded": Field(required=True, secret=True, description="pEncoded from AroFlo's API settings page"),
    "org_encoded": Field(required=True, secret=True, description="orgEncoded from AroFlo's API settings page"),
    "base_url": Field(kind="url", default=DEFAULT_BASE_URL.rstrip("/")),
    "host_ip": Field(check=_check_ip, description="optional HostIP header, included in the signature"),
    "initial_sync_days": Field(kind=int, default=0, minimum=0, maximum=36500,
                               description="0: all history on the first sync; N: records created in the last N days"),
    "max_records_per_page": Field(kind=int, default=500, minimum=1, maximum=MAX_PAGE_SIZE),
    "request_timeout_seconds": Field(kind=int, default=65, minimum=5, maximum=600),
    "retry_attempts": Field(kind=int, default=5, minimum=0, maximum=20),
    "enable_users_sync": Field(kind=bool, default=True),
    "enable_suppliers_sync": Field(kind=bool, default=True),
    "enable_payments_sync": Field(kind=bool, default=True),
    "enable_incremental_sync": Field(kind=bool, default=True),
    "enable_debug_logging": Field(kind=bool, default=False),
    "timezone": Field(default="Australia/Melbourne", check=_check_timezone,
                      description="zone of date strings that carry none (supplier dates)"),
    "daily_request_reserve": Field(kind=int, default=100, minimum=0, maximum=100000,
                                   description="stop the sync when this many daily requests are left"),
    "requests_per_second": Field(kind=int, default=3, minimum=1, maximum=1000),
    "requests_per_minute": Field(kind=int, default=120, minimum=1, maximum=60000),
    **selection.spec(NAMES, tables_hint="child tables follow their parent"),
}

# Keys of the published example that do not exist here, with what to do instead.
RETIRED_KEYS = {
    "api_key": "AroFlo's zone API has no API key; give secret_key, uencoded, pencoded and org_encoded from "
               "Site Administration > Settings > General > AroFlo API",
    "sync_frequency_hours": "the sync frequency is set in the Fivetran connection settings, not here",
}


def settings(configuration: dict[str, Any]) -> dict[str, Any]:
    raw = dict(configuration or {})
    for key in ("secret_key", "uencoded", "pencoded", "org_encoded"):
        if isinstance(raw.get(key), str):
            redact.register(raw[key].strip())
    for key, advice in RETIRED_KEYS.items():
        if key in raw:
            raise ConfigError(key, f"is not used: {advice}")
    cfg = parse(raw, SPEC)
    if not any(cfg[f"enable_{t}_sync"] for t in NAMES):
        raise ConfigError("enable_users_sync", "enable_users_sync, enable_suppliers_sync and enable_payments_sync "
                                               "are all false; enable at least one table")
    # ``tables`` chooses; the older enable_<table>_sync switches can still turn a chosen table off.
    cfg["chosen"] = [t for t in selection.chosen(cfg, NAMES) if cfg[f"enable_{t}_sync"]]
    if not cfg["chosen"]:
        raise ConfigError("tables", f"every table in tables={cfg['tables']!r} is turned off by its "
                                    "enable_<table>_sync key; choose an enabled table or enable it")
    log.set_debug(cfg["enable_debug_logging"])
    return cfg


# Request building and signing --------------------------------------------------------------------------------


def enc(value: Any) -> str:
    """JavaScript's encodeURIComponent, which AroFlo's own clients use: '*' and "()!'~" stay as they are."""
    return quote(str(value), safe="-_.!~*'()")


def query_string(zone: str, wheres: list[str] = (), orders: list[str] = (), page: int | None = None,
                 page_size: int | None = None, joins: Iterable[str] = ()) -> str:
    """The exact query string to send and sign: ``zone=users&where=and%7Carchived%7C%3D%7Cfalse&page=1``."""
    parts = [("zone", zone)] + [("where", w) for w in wheres] + [("order", o) for o in orders]
    joins = list(joins)
    if joins:  # joined areas that are not asked for come back as empty placeholders
        parts.append(("join", ",".join(joins)))
    if page is not None:
        parts.append(("page", page))
    if page_size is not None:
        parts.append(("pageSize", page_size))
    return "&".join(f"{k}={enc(v)}" for k, v in parts)


def clause(field: str, op: str, value: str, conj: str = "and") -> str:
    for part in (field, value):
        if "|" in part:
            raise ValueError(f"a where value cannot contain '|': {part!r}")
    return f"{conj}|{field}|{op}|{value}"


def sign(secret_key: str, method: str, host_ip: str | None, accept: str, authorization: str, stamp: str,
         var_string: str) -> str:
    """hex(HMAC-SHA512(secret_key, METHOD+[HostIP+]+Accept+Authorization+afdatetimeutc+VarString))."""
    payload = "+".join([method] + ([host_ip] if host_ip else []) + ["", accept, authorization, stamp, var_string])
    return hmac.new(secret_key.encode(), payload.encode(), hashlib.sha512).hexdigest()


def utc_stamp(now: datetime) -> str:
    now = now.astimezone(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class AroFloAuth(AuthBase):
    """Signs each prepared request (every retry is prepared again, so each gets a fresh timestamp)."""

    def __init__(self, secret_key: str, uencoded: str, pencoded: str, org_encoded: str, host_ip: str | None = None,
                 *, accept: str = ACCEPT, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self._secret = secret_key
        self.authorization = f"uencoded={enc(uencoded)}&pencoded={enc(pencoded)}&orgEncoded={enc(org_encoded)}"
        self.host_ip, self.accept, self.clock = host_ip, accept, clock
        redact.register(secret_key, uencoded, pencoded, org_encoded, enc(uencoded), enc(pencoded), enc(org_encoded),
                        self.authorization)

    def __call__(self, request: Any) -> Any:
        if request.method == "GET":
            var_string = urlsplit(request.url).query
        else:
            body = request.body or ""
            var_string = body.decode() if isinstance(body, bytes) else body
        stamp = utc_stamp(self.clock())
        request.headers["Accept"] = self.accept
        request.headers["Authorization"] = self.authorization
        request.headers["afdatetimeutc"] = stamp
        if self.host_ip:
            request.headers["HostIP"] = self.host_ip
        digest = sign(self._secret, request.method or "GET", self.host_ip, self.accept, self.authorization, stamp,
                      var_string)
        request.headers["Authentication"] = f"HMAC {digest}"
        return request

    def invalidate(self, sent: str | None = None) -> bool:
        return False  # nothing to renew: every request is signed afresh

    def __repr__(self) -> str:
        return "AroFloAuth(***)"


# Errors ------------------------------------------------------------------------------------------------------


class AroFloError(ApiError):
    """A non-zero body status that retrying cannot fix."""

    def __init__(self, status: str, message: str, zone: str, hint: str):
        self.body_status, self.body_message, self.zone = status, message, zone
        SyncError.__init__(self, f"AroFlo answered status {status} ({message}) on zone={zone}. {hint}")
        self.status, self.url = 200, zone


class AroFloAuthError(AroFloError, AuthError):
    """AroFlo refused the credentials or the signature: every zone would be refused, so the sync stops."""


class AroFloPermissionError(AroFloError):
    """The API user may not read one zone; the other zones go on."""


AUTH_HINTS = {
    "signatures do not match": "The HMAC signature was rejected: check secret_key (AroFlo shows it once; "
                               "generating a new one replaces the old).",
    "payload has expired": "The afdatetimeutc timestamp was outside AroFlo's freshness window: this machine's "
                           "clock is wrong; synchronise it (NTP) and retry.",
    "required headers are missing": "The Authentication, Authorization or afdatetimeutc header did not reach "
                                    "AroFlo; a proxy between here and AroFlo may strip them.",
    "api setup is invalid": "Check uencoded and org_encoded (uencoded changes when the AroFlo username "
                            "changes) and that the API is enabled for this user.",
}


def status_error(status: str, message: str, zone: str) -> SyncError:
    text = message.lower()
    if status == "-99999":
        hint = next((h for k, h in AUTH_HINTS.items() if k in text), "Check all four credentials.")
        return AroFloAuthError(status, message, zone, hint)
    if status == "2":
        return AroFloAuthError(status, message, zone, "Check pencoded (and uencoded).")
    if status in ("3", "4", "20", "30"):
        return AroFloPermissionError(status, message, zone, f"The API user may not read the {zone} zone, or API "
                                                            "access is disabled for the organisation.")
    if status == "7":
        return BudgetExhausted(f"AroFlo's daily request limit is spent (status 7: {message}); it resets at 00:00 "
                               "Australia/Melbourne", resume_at=next_melbourne_midnight(time.time()))
    if status == "8":
        return AroFloError(status, message, zone, "A page exceeded AroFlo's 3.5 MB response cap: lower "
                                                  "max_records_per_page.")
    return AroFloError(status, message, zone, "The request was refused; this is not retried.")


def classify(response: Any) -> Action:
    """HTTP first (429, 5xx: retry); then the body: status 6 (per-minute limit), 429 and 888888 (query timeout)
    are retried with backoff; every other body status is judged by ``envelope``."""
    if response.status_code != 200:
        return http_classify(response.status_code)
    try:
        status = str(response.json().get("status"))
    except (ValueError, AttributeError):
        return Action.OK  # an unreadable body is retried by Http.fetch via envelope's ValueError
    return Action.RETRY if status in ("6", "429", "888888") else Action.OK


def envelope(response: Any, zone: str) -> tuple[list[dict], bool]:
    """The records of one page and whether the page was full (``currentpageresults >= maxpageresults``)."""
    body = response.json()  # ValueError (a cut body) -> retried by Http.fetch
    if not isinstance(body, dict) or "status" not in body:
        raise ResponseError(f"zone={zone}: expected a JSON envelope with a status, got {str(body)[:120]!r}")
    status, message = str(body.get("status")).strip(), str(body.get("statusmessage") or "")
    if status != "0":
        raise status_error(status, message, zone)
    if "default filter applied" in message.lower():
        raise ResponseError(f"zone={zone}: AroFlo applied its 30-day default filter; the connector always sends a "
                            "where clause, so this answer cannot be trusted")
    zr = body.get("zoneresponse")
    list_key = "lastupdates" if zone == "lastupdate" else zone
    if not isinstance(zr, dict):
        raise ResponseError(f"zone={zone}: the envelope has no zoneresponse object")
    rows = zr.get(list_key, [])
    if not isinstance(rows, list):
        raise ResponseError(f"zone={zone}: zoneresponse.{list_key} is not a list")
    try:
        current = int(zr.get("currentpageresults", len(rows)))
        maximum = int(zr["maxpageresults"])
    except (KeyError, TypeError, ValueError):
        raise ResponseError(f"zone={zone}: zoneresponse lacks integer currentpageresults/maxpageresults") from None
    if current != len(rows):
        raise ValueError(f"zone={zone}: currentpageresults={current} but {len(rows)} records arrived")
    return rows, current >= maximum > 0


# Budget ------------------------------------------------------------------------------------------------------


def next_melbourne_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, MELBOURNE)
    midnight = datetime(local.year, local.month, local.day, tzinfo=MELBOURNE) + timedelta(days=1)
    return midnight.timestamp()


class DailyBudget:
    """The 2,000-a-day budget as AroFlo reports it in ``X-RateLimit-Daily-Remaining``. ``acquire`` raises
    BudgetExhausted once the remaining count would fall to the reserve; the count resets at 00:00 Melbourne."""

    def __init__(self, reserve: int, clock: Callable[[], float] = time.time):
        self.reserve, self._clock = reserve, clock
        self.remaining: int | None = None
        self.limit: int | None = None
        self.reset_at: float | None = None
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            if self.reset_at is not None and self._clock() >= self.reset_at:
                self.remaining = None  # a new AroFlo day
            if self.remaining is not None and self.remaining <= self.reserve:
                resets = datetime.fromtimestamp(self.reset_at or 0, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                raise BudgetExhausted(
                    f"AroFlo's daily request budget is nearly spent ({self.remaining} of {self.limit} left, keeping "
                    f"a reserve of {self.reserve}); it resets at {resets} (00:00 Australia/Melbourne)",
                    resume_at=self.reset_at)
            if self.remaining is not None:
                self.remaining -= 1

    def update(self, headers: Any) -> None:
        try:
            remaining = int(headers["X-RateLimit-Daily-Remaining"])
        except (KeyError, TypeError, ValueError):
            return
        try:
            self.limit = int(headers.get("X-RateLimit-Daily-Limit"))
        except (TypeError, ValueError):
            pass
        reset = next_melbourne_midnight(self._clock())
        with self._lock:
            if self.remaining is None or self.reset_at is None or reset > self.reset_at + 1:
                self.remaining = remaining
            else:
                self.remaining = min(self.remaining, remaining)
            self.reset_at = reset


class Limits:
    """What ``Http`` waits on: the shared per-second/per-minute pace, plus the daily budget for zone requests.

    ``learn`` is called once, before the first counted request, while the day's remaining budget is still
    unknown (no exempt answer has told it yet): a counted request must not be sent blind into a spent day.
    """

    def __init__(self, pace: RateLimiter, daily: DailyBudget, counts_daily: bool,
                 learn: Callable[[], None] | None = None):
        self.pace, self.daily, self.counts_daily = pace, daily, counts_daily
        self._learn = learn
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if self.counts_daily:
            with self._lock:
                learn, self._learn = self._learn, None
            if learn is not None and self.daily.remaining is None:
                learn()
            self.daily.acquire()
        self.pace.acquire()

    def finished(self) -> None:
        self.pace.finished()

    def update(self, headers: Any) -> None:
        self.pace.update(headers)
        self.daily.update(headers)


class Api:
    """Two Http clients over one session, signer and pace: ``feed`` for the budget-exempt lastupdate zone and
    ``zones`` for everything that counts against the day."""

    def __init__(self, cfg: dict[str, Any], *, clock: Callable[[], datetime] | None = None,
                 sleep: Callable[[float], None] | None = None):
        self.cfg = cfg
        auth = AroFloAuth(cfg["secret_key"], cfg["uencoded"], cfg["pencoded"], cfg["org_encoded"], cfg["host_ip"],
                          **({"clock": clock} if clock else {}))
        pace = RateLimiter([(cfg["requests_per_second"], 1.0), (cfg["requests_per_minute"], 60.0)])
        self.daily = DailyBudget(cfg["daily_request_reserve"])
        common: dict[str, Any] = {
            "timeout": cfg["request_timeout_seconds"], "backoff": Backoff(attempts=cfg["retry_attempts"]),
            "headers": {"Accept": ACCEPT}, "classify": classify,
        }
        if sleep is not None:
            common["sleep"] = sleep
        base = cfg["base_url"] or DEFAULT_BASE_URL
        self.feed = Http(base, auth, limiter=Limits(pace, self.daily, False), **common)
        self.zones = Http(base, auth, limiter=Limits(pace, self.daily, True, learn=self.probe),
                          session=self.feed.session, **common)
        self.zones.stats = self.feed.stats  # one set of counters for the sync summary
        self.stats = self.feed.stats

    def page(self, zone: str, qs: str) -> tuple[list[dict], bool, Any]:
        http = self.feed if zone == "lastupdate" else self.zones
        rows, full, response = http.fetch("GET", "/?" + qs, lambda r: (*envelope(r, zone), r))
        return rows, full, response

    def probe(self) -> None:
        """A budget-exempt lastupdate request: checks the credentials and learns the day's remaining budget."""
        tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
        zone = (self.cfg.get("chosen") or ["users"])[0]  # a chosen zone: a deselected one is never named
        qs = query_string("lastupdate", [clause("zonename", "=", zone), clause("lastupdateutc", ">", tomorrow)],
                          page=1, page_size=1)
        self.page("lastupdate", qs)
        log.info(f"AroFlo credentials accepted; daily budget: {self.daily.remaining} of {self.daily.limit} "
                 f"requests left (reserve {self.cfg['daily_request_reserve']})")


# Tables ------------------------------------------------------------------------------------------------------


def local_datetime(tz: str) -> Callable[[Any], str | None]:
    """AroFlo's zone-local date strings ("2018-10-16 13:30:19.58", "2023/12/18") -> UTC ISO."""
    formats = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d", "%Y/%m/%d")

    def convert(value: Any) -> str | None:
        if value is None or value == "":
            return None
        for fmt in formats:
            try:
                return records.local(value, fmt, tz)
            except ValueError:
                continue
        raise ValueError(f"not an AroFlo date/time: {value!r}")

    return convert


def naive_date(value: Any) -> str | None:
    """A business date "2023/12/18" -> "2023-12-18"."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    for fmt in ("%Y/%m/%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r}")


def decimal(value: Any) -> str | None:
    """A 4-decimal money string, validated and passed on exactly (DECIMAL columns take strings)."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a decimal amount: {value!r}")
    return str(number)


MONEY = {"type": "DECIMAL", "precision": 18, "scale": 4}


def json_value(value: Any) -> Any:
    """A JSON column's value as a list or object. records.typed has already written arrays as JSON text, and
    the SDK encodes a string in a JSON column once more (it would land as the string "[]"): decode it."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def custom_fields(doc: str) -> Child:
    """``customfields`` (``join=customfields``): one row per field, keyed by the parent and ``fieldid``."""
    columns = {"fieldid": "STRING", "name": "STRING", "type": "STRING", "value": "STRING", "archived": "BOOLEAN"}
    return Child("customfields", key=("fieldid",), name="custom_fields", columns=columns,
                 row=records.typed(columns), doc=doc)


@dataclass(frozen=True)
class ZoneSpec:
    """One table: its zone, key, the wide first-sync filter and scan order, columns and converters, the joins
    it asks for, its child tables and foreign keys, and how deletes show (``feed``: ``isdeleted`` entries in
    the lastupdate feed; ``reconcile``: ids missing from a complete listing)."""

    table: str
    key: str
    scan_field: str  # the created/paid date the first sync's explicit where filters on
    scan_format: str
    scan_local: bool  # the field is local time (else UTC)
    order: tuple[str, ...]
    columns: dict[str, Any]
    converters: Callable[[str], dict[str, Callable[[Any], Any]]]
    joins: tuple[str, ...] = ()
    children: tuple[Child, ...] = ()
    refs: dict[str, str] = field(default_factory=dict)
    deletes: str = "reconcile"
    doc: str = ""

    def scan_where(self, cfg: dict[str, Any], now: datetime, *, wide: bool = False) -> str:
        start = WIDE_START
        if cfg["initial_sync_days"] and not wide:
            moment = now - timedelta(days=cfg["initial_sync_days"])
            start = (moment.astimezone(ZoneInfo(cfg["timezone"])) if self.scan_local else moment).replace(tzinfo=None)
        return clause(self.scan_field, ">", start.strftime(self.scan_format))

    def row(self, tz: str) -> Callable[[dict], dict]:
        """Lossless: the declared columns typed, every other field kept (objects flattened, arrays as JSON)."""
        json_columns = {c: json_value for c, kind in self.columns.items() if kind == "JSON"}
        return records.typed(self.columns, {**json_columns, **self.converters(tz)})


USERS = ZoneSpec(
    "users", "userid", "createdutc", "%Y-%m-%d", False, ("createddatetimeutc|asc", "userid|asc"),
    {"userid": "STRING", "givennames": "STRING", "surname": "STRING", "username": "STRING", "email": "STRING",
     "email2": "STRING", "phone": "STRING", "mobile": "STRING", "fax": "STRING", "position": "STRING",
     "accesstype": "STRING", "archived": "BOOLEAN", "org_orgid": "STRING", "org_orgname": "STRING",
     "notes": "JSON", "documentsandphotos": "JSON"},
    lambda tz: {"archived": records.boolean},
    joins=("customfields", "permissiongroups"),
    children=(custom_fields("user custom field values"),
              Child("permissiongroups", key=("groupid",), name="permission_groups",
                    columns={"groupid": "STRING", "groupname": "STRING"}, doc="the user's permission groups")),
    deletes="reconcile",
    doc="AroFlo users (staff and technicians); archived users stay, with archived = true",
)
SUPPLIERS = ZoneSpec(
    "suppliers", "supplierid", "datetimeinserted", "%Y-%m-%d %H:%M:%S", True,
    ("datetimeinserted|asc", "supplierid|asc"),
    {"supplierid": "STRING", "suppliername": "STRING", "shortname": "STRING", "suppliertype": "STRING",
     "firstname": "STRING", "surname": "STRING", "email": "STRING", "phone": "STRING", "mobile": "STRING",
     "fax": "STRING", "website": "STRING", "abn": "STRING", "terms": "STRING", "termsnote": "STRING",
     "postable": "BOOLEAN", "archived": "BOOLEAN", "datecreated": "UTC_DATETIME", "dateinserted": "UTC_DATETIME",
     "datetimeinserted": "UTC_DATETIME", "address_addressline1": "STRING", "address_suburb": "STRING",
     "address_state": "STRING", "address_postcode": "STRING", "address_country": "STRING",
     "locations": "JSON", "contacts": "JSON", "notes": "JSON", "documentsandphotos": "JSON"},
    lambda tz: {"postable": records.boolean, "archived": records.boolean, "datecreated": local_datetime(tz),
                "dateinserted": local_datetime(tz), "datetimeinserted": local_datetime(tz)},
    joins=("customfields",),
    children=(custom_fields("supplier custom field values"),
              Child("orgs", key=("orgid",), columns={"orgid": "STRING", "orgname": "STRING", "archived": "BOOLEAN"},
                    row=records.typed({"orgid": "STRING", "orgname": "STRING", "archived": "BOOLEAN"}),
                    doc="the business units the supplier belongs to, with its archived flag in each")),
    deletes="feed",
    doc="suppliers (vendors); supplier dates are site-local times, converted with the timezone setting",
)
PAYMENTS = ZoneSpec(
    "payments", "paymentid", "datepaid", "%Y/%m/%d", True, ("datepaid|asc", "paymentid|asc"),
    {"paymentid": "STRING", "amount": MONEY, "totalamount": MONEY, "surchargeamount": MONEY,
     "surchargepercentage": MONEY, "datepaid": "NAIVE_DATE", "paymentmethodname": "STRING", "reference": "STRING",
     "notes": "STRING", "linkedto_linkedtoid": "STRING", "linkedto_linkedtotype": "STRING",
     "receivedby_userid": "STRING", "receivedby_username": "STRING", "linkprocessed": "BOOLEAN",
     "datelinkprocessed": "NAIVE_DATE"},
    lambda tz: {"amount": decimal, "totalamount": decimal, "surchargeamount": decimal, "surchargepercentage": decimal,
                "datepaid": naive_date, "linkprocessed": records.boolean, "datelinkprocessed": naive_date},
    refs={"receivedby_userid": "users.userid"},
    deletes="reconcile",
    doc="payments received against invoices (read only); datepaid is a business date that edits never move",
)
ZONES = (USERS, SUPPLIERS, PAYMENTS)
assert NAMES == tuple(z.table for z in ZONES)
DEFAULTS = {key: spec.default for key, spec in SPEC.items()}


def feed_time(value: str) -> datetime:
    """lastupdateutc "2020/11/02 13:16:16" (UTC) -> aware datetime."""
    text = str(value).strip().replace("-", "/")
    try:
        return datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ResponseError(f"lastupdate entry has an unreadable lastupdateutc {value!r}") from None


def is_deleted(entry: dict[str, Any]) -> bool:
    """A feed entry's ``isdeleted``: absent, ``""``/``" "``, ``0``/``"0"``/``"false"`` -> False; ``1``/``"1"``/
    ``"true"`` (any case) -> True; anything else is refused rather than guessed."""
    value = entry.get("isdeleted")
    if value is None or str(value).strip() == "":
        return False
    try:
        return bool(records.boolean(value if isinstance(value, bool) else str(value).strip()))
    except ValueError:
        raise ResponseError(f"lastupdate entry has an unreadable isdeleted {value!r}") from None


def where_time(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return records.parse_iso(text)


SECOND = timedelta(seconds=1)
Change = tuple[datetime, str, bool]  # (lastupdateutc, zoneid, isdeleted)


def position(feed: dict[str, Any]) -> dict[str, Any]:
    return {"t": feed["t"], "done": sorted(feed.get("done", []))}


def capped(latest: datetime, done: set[str], signpost: datetime) -> dict[str, Any]:
    """The feed position at the end of a traversal, capped at its signpost so late-visible changes are re-read."""
    return {"t": iso(latest), "done": sorted(done)} if latest <= signpost else {"t": iso(signpost), "done": []}


def latest_state(changes: list[Change]) -> dict[str, bool]:
    """zoneid -> deleted, by each id's last entry (a feed that lists every change may show a delete, then a
    restore)."""
    out: dict[str, bool] = {}
    for _, zid, deleted in changes:
        out.pop(zid, None)
        out[zid] = deleted
    return out


class ZoneSync:
    """The traversals of one table: the first-sync scan, the change-feed catch-up (see the module docstring),
    and the two delete readers (the feed's ``isdeleted`` entries; the id reconciliation).

    Resume tokens (checkpointed after every page):
      scan: {"mode": "scan", "where": <frozen wide where>, "page": N, "feed_from": ISO}
      feed: {"mode": "feed", "t": ISO, "done": [ids seen at second t], "group": None|{...}, "signpost": ISO}
    ``t``/``done`` is a keyset position: every change before second ``t``, and those ``done`` at ``t``, were
    delivered. A full feed page whose entries all share second ``t`` (more changes in one second than a page
    holds) is read by page number within that second: forward to its end, then backward to page 1, which no
    record leaving the second mid-read can defeat (departures only shift the unread pages towards page 1).
    """

    def __init__(self, spec: ZoneSpec, api: Api | None, cfg: dict[str, Any], state: dict[str, Any]):
        self.spec, self.api, self.cfg, self.state = spec, api, cfg, state
        self.size = cfg["max_records_per_page"]
        self.batch = min(self.size, MAX_IDS_PER_REQUEST)
        self.delivered = 0
        self.position: dict[str, Any] = {}

    @property
    def entry(self) -> dict[str, Any]:
        return self.state.setdefault("tables", {}).setdefault(self.spec.table, {})

    def feed_token(self, position: dict[str, Any]) -> dict[str, Any]:
        if position.get("mode") == "feed":
            return dict(position)  # a traversal that stopped part-way
        return {"mode": "feed", "t": position["t"], "done": list(position.get("done", [])), "group": None,
                "signpost": None, "size": self.batch}

    def pages(self, window: Window) -> Iterator[Page]:
        token = window.resume
        if token is None:
            feed = self.entry.get("feed") if self.cfg["enable_incremental_sync"] else None
            if feed:
                token = self.feed_token(feed)
                if self.spec.deletes == "feed":  # this traversal collects the feed's deletes for deleted_pages
                    self.entry["deletes_pending"] = {"from": position(feed), "ids": []}
            else:
                token = {"mode": "scan", "where": self.spec.scan_where(self.cfg, datetime.now(timezone.utc)),
                         "page": 1, "feed_from": None, "size": self.size}
        self.position = token
        try:
            # The next page is fetched while this one is written. Safe although scan() and feed() record the
            # feed position in state just before their last page: a checkpoint taken earlier also holds this
            # traversal's resume token, which takes precedence on the next sync, and the position recorded
            # is the one the traversal ends with anyway.
            if token["mode"] == "scan":
                yield from prefetch(self.scan(token))
            else:
                yield from prefetch(self.feed(token))
        except BudgetExhausted as exc:
            raise BudgetExhausted(f"{exc}. {self.spec.table}: {self.describe(self.position)}; {self.delivered} rows "
                                  "delivered by this sync", exc.resume_at) from None

    def describe(self, token: dict[str, Any]) -> str:
        if token["mode"] == "scan":
            return f"the first full load stopped before page {token['page']}"
        return f"the change feed stopped at lastupdateutc {token['t']}"

    def zone_query(self, wheres: list[str], orders: list[str], page: int, size: int, *, joins: bool = True) -> str:
        return query_string(self.spec.table, wheres, orders, page, size, self.spec.joins if joins else ())

    # First sync: scan the zone with an explicit wide where, in a stable order --------------------------------
    def scan(self, token: dict[str, Any]) -> Iterator[Page]:
        previous: list[str] | None = None
        size = token.get("size") or self.size  # frozen: a new page size would shift the page boundaries
        while True:
            qs = self.zone_query([token["where"]], list(self.spec.order), token["page"], size)
            rows, full, response = self.api.page(self.spec.table, qs)
            if token["feed_from"] is None:
                started = server_time(response) or datetime.now(timezone.utc)
                token["feed_from"] = iso(started - FEED_MARGIN)
            ids = [str(r.get(self.spec.key)) for r in rows]
            if rows and ids == previous:
                raise PagingError(f"{self.spec.table}: page {token['page']} repeats the previous page")
            previous = ids
            self.delivered += len(rows)
            if full:
                token = self.position = {**token, "page": token["page"] + 1}
                yield Page(rows, token, response)
                continue
            # The load is complete: the change feed takes over from just before it began, and so does the
            # reader of deletes in it (kept if an earlier load set it: re-reading deletes is harmless).
            self.entry["feed"] = {"t": token["feed_from"], "done": []}
            if self.spec.deletes == "feed":
                self.entry.setdefault("deletes", {}).setdefault("feed", {"t": token["feed_from"], "done": []})
            log.info(f"[{self.spec.table}] first full load complete; the change feed starts at {token['feed_from']}")
            yield Page(rows, None, response)
            return

    # Later syncs: the lastupdate change feed, then the changed records by id -------------------------------
    def walk(self, token: dict[str, Any]) -> Iterator[tuple[list[Change], dict | None, Any, dict | None]]:
        """The feed from ``token``: (new changes, next token, response, None) per page, and for the last page
        (new changes, None, response, the end position)."""
        zone = self.spec.table
        token = dict(token)
        size = token.get("size") or self.batch  # frozen while a second is read by page number
        while True:
            t = parse_iso(token["t"])
            done = set(token["done"])
            group = token["group"]
            wheres = [clause("zonename", "=", zone), clause("lastupdateutc", ">", where_time(t - SECOND))]
            if group is not None:
                wheres.append(clause("lastupdateutc", "<", where_time(t + SECOND)))
            page = 1 if group is None else group["page"]
            qs = query_string("lastupdate", wheres, ["lastupdateutc|asc"], page, size)
            entries, full, response = self.api.page("lastupdate", qs)
            if token["signpost"] is None:
                now = server_time(response) or datetime.now(timezone.utc)
                token["signpost"] = iso(now - SECOND)
            changes = [(feed_time(e.get("lastupdateutc")), str(e.get("zoneid") or ""), is_deleted(e)) for e in entries]
            if any(not zid for _, zid, _ in changes):
                raise ResponseError(f"lastupdate entry for {zone} without a zoneid")
            new = [c for c in changes if not (c[0] == t and c[1] in done)]
            new_ids = {zid for _, zid, _ in new}
            if group is None:
                if full and not new_ids and all(when == t for when, _, _ in changes):
                    # More changes in second t than one page holds: read that second by page number.
                    token = self.position = {**token, "group": {"dir": "forward", "page": 2}}
                    continue
                latest = max((when for when, _, _ in changes), default=t)
                at_latest = {zid for when, zid, _ in changes if when == latest}
                token = {**token, "t": iso(latest), "done": sorted(at_latest | (done if latest == t else set()))}
                if not full:
                    yield new, None, response, capped(latest, set(token["done"]), parse_iso(token["signpost"]))
                    return
            else:
                done |= new_ids
                if group["dir"] == "forward" and full:
                    group = {"dir": "forward", "page": page + 1}
                elif group["dir"] == "forward" or page > 1:
                    group = {"dir": "backward", "page": page - 1} if page > 1 else None
                else:
                    group = None
                if group is None:  # second t is complete
                    token = {**token, "t": iso(t + SECOND), "done": [], "group": None}
                else:
                    token = {**token, "done": sorted(done), "group": group}
            self.position = token
            yield new, token, response, None

    def feed(self, token: dict[str, Any]) -> Iterator[Page]:
        pending = self.entry.get("deletes_pending") if self.spec.deletes == "feed" else None
        for new, next_token, response, end in self.walk(token):
            states = latest_state(new)
            # Deleted records cannot be fetched: they are kept (checkpointed with this page) for deleted_pages,
            # and a later entry restoring one takes it out again.
            if pending is not None:
                ids = [zid for zid in pending["ids"] if zid not in states]
                pending["ids"] = ids + [zid for zid, deleted in states.items() if deleted]
                if end is not None:
                    pending["to"] = end
            rows = self.fetch_ids([zid for zid, deleted in states.items() if not deleted])
            if end is not None:
                self.commit(end)
            yield Page(rows, next_token, response)

    def commit(self, position: dict[str, Any]) -> None:
        """Keep the feed position; it never moves backwards."""
        old = self.entry.get("feed")
        if old is None or parse_iso(position["t"]) >= parse_iso(old["t"]):
            self.entry["feed"] = position

    def by_ids(self, ids: list[str]) -> list[dict]:
        """The current records for ``ids`` (at most one page of them), with an IN filter."""
        if not ids:
            return []
        for zid in ids:
            if "*" in zid or "|" in zid:
                raise ResponseError(f"{self.spec.table}: id {zid!r} cannot be put in an IN list")
        wanted = set(ids)
        got: list[dict] = []
        page = 1
        while True:
            qs = self.zone_query([clause(self.spec.key, "IN", "*".join(ids))], [f"{self.spec.key}|asc"], page,
                                 self.batch)
            rows, full, _ = self.api.page(self.spec.table, qs)
            stray = [r.get(self.spec.key) for r in rows if str(r.get(self.spec.key)) not in wanted]
            if stray:
                raise ResponseError(f"{self.spec.table}: the IN filter returned records that were not asked for "
                                    f"({len(stray)}); refusing to trust the answer")
            got.extend(rows)
            if not full or len(got) >= len(wanted):
                break
            page += 1
        return got

    def fetch_ids(self, ids: list[str]) -> list[dict]:
        got = self.by_ids(ids)
        self.delivered += len(got)
        return got

    # Deletes ------------------------------------------------------------------------------------------------
    def deleted_pages(self, position: dict[str, Any] | None) -> Iterator[Page]:
        """DeleteFeed: the zone's lastupdate entries from the delete position on; ``isdeleted`` ones (by each
        id's last entry) are deletes. Exempt from the daily budget like every feed request."""
        if position is None:
            feed = self.entry.get("feed")
            if not feed:
                return  # no load has completed: nothing was delivered that could be deleted
            position = feed  # state from before deletes were read: from the change feed's position on
        pending = self.entry.get("deletes_pending")
        if pending and "to" in pending and pending["from"] == position:
            # This sync's change-feed traversal read exactly this stretch of the feed: no request needed.
            yield Page([("delete", {self.spec.key: zid}) for zid in pending["ids"]], pending["to"])
            self.entry.pop("deletes_pending", None)
            return
        for new, next_token, response, end in self.walk(self.feed_token(position)):
            gone = [zid for zid, deleted in latest_state(new).items() if deleted]
            yield Page([("delete", {self.spec.key: zid}) for zid in gone], next_token or end, response)

    def live_ids(self) -> Iterator[list[str]]:
        """Reconcile: every id of the zone, from a scan with the wide filter (no join), pages of ids. Page
        numbers can skip a record when an earlier one is deleted mid-scan, so the known ids the scan did not
        list are asked for again by id (IN) and those that come back count as live: a skipped id is never
        taken for a deleted one. Costs ceil(records / page size) + ceil(missing / 100) counted requests."""
        zone, key = self.spec.table, self.spec.key
        where = self.spec.scan_where(self.cfg, datetime.now(timezone.utc), wide=True)
        before = self.api.stats.as_dict()["requests"]
        listed: set[str] = set()
        previous: list[str] | None = None
        page = 1
        while True:
            rows, full, _ = self.api.page(zone, self.zone_query([where], list(self.spec.order), page, self.size,
                                                                joins=False))
            ids = [str(r.get(key) or "") for r in rows]
            if any(not i for i in ids):
                raise ResponseError(f"{zone}: a record without {key} in the id listing")
            if rows and ids == previous:
                raise PagingError(f"{zone}: page {page} of the id listing repeats the previous page")
            previous = ids
            listed.update(ids)
            yield ids
            if not full:
                break
            page += 1
        known = KeySet.load(self.entry.get("keys"))
        missing = [str(k) for k in known if str(k) not in listed]
        confirmed = 0
        for i in range(0, len(missing), self.batch):
            back = [str(r.get(key)) for r in self.by_ids(missing[i:i + self.batch])]
            confirmed += len(back)
            yield back
        spent = self.api.stats.as_dict()["requests"] - before
        log.info(f"[{zone}] id reconciliation: {len(listed)} ids listed, {len(missing)} known ids not listed "
                 f"({confirmed} of them still there when asked by id); {spent} requests counted against the daily "
                 f"budget, {self.api.daily.remaining} of {self.api.daily.limit} left today")

    def table(self) -> Table:
        spec = self.spec
        if spec.deletes == "feed":
            deletes: tuple[Any, ...] = (DeleteFeed(fetch=self.deleted_pages, doc=(
                "delete feed: lastupdate entries with isdeleted set, read every sync (exempt from the daily "
                "budget)")),)
        else:
            deletes = (Reconcile(ids=self.live_ids, doc=(
                "id reconciliation every deletes_check_hours: a scan of the zone's ids, known ids it did not "
                "list re-checked by id (the zone is not in the lastupdate feed's documented zones)")),)
        return Table(name=spec.table, primary_key=(spec.key,), columns=spec.columns, cursor=None, fetch=self.pages,
                     row=spec.row(self.cfg["timezone"]), read="feed", refs=spec.refs, children=spec.children,
                     deletes=deletes, doc=spec.doc)


def tables(api: Api | None, cfg: dict[str, Any], state: dict[str, Any], names: Iterable[str]) -> list[Table]:
    """The declarations of the named tables (``api`` None: for the catalogue; nothing is fetched)."""
    wanted = set(names)
    return [ZoneSync(spec, api, cfg, state).table() for spec in ZONES if spec.table in wanted]


def catalogue() -> list[Table]:
    """Every table declaration, built as the sync builds them (for the data-model docs)."""
    return tables(None, DEFAULTS, {}, NAMES)


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    cfg = settings(configuration)
    return schema_of(tables(None, cfg, {}, cfg["chosen"]))


def run(cfg: dict[str, Any], state: dict[str, Any], sink: Any, api: Api | None = None) -> Any:
    api = api or Api(cfg)  # the day's budget is learnt before the first counted request (Limits)
    # Only the chosen tables are built: a deselected table sends no request at all.
    return sync_tables(tables(api, cfg, state, cfg["chosen"]), state, sink, stats=api.stats,
                       policy=selection.policy(cfg))


def probe(spec: ZoneSpec) -> Callable[[dict[str, Any]], None]:
    """A one-record read of a zone: proves the signature, the credentials and the read permission."""
    def read(cfg: dict[str, Any]) -> None:
        Api(cfg).page(spec.table, query_string(spec.table, [spec.scan_where(cfg, datetime.now(timezone.utc))],
                                               page=1, page_size=1))
    return read


def connect(cfg: dict[str, Any]) -> None:
    Api(cfg).probe()


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {z.table: probe(z) for z in ZONES}, connect=connect))


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Any = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    try:
        run(cfg, state, sink or FivetranSink())
    except SyncError as exc:
        log.severe(str(exc))
        raise


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
