"""AroFlo zone API -> 32 field-service tables (tasks, clients, invoices and quotes with lines, labour, materials,
timesheets, ... and the lookups), through the Fivetran Connector SDK.

AroFlo has one endpoint (``GET /?zone=...``) signed per request with HMAC-SHA512, answers errors as a body
``status`` inside HTTP 200, and allows 3 requests a second, 120 a minute and 2,000 a day (``lastupdate``
requests do not count against the day). Each zone is declared (``ZoneSpec``) with the cheapest correct read:

- ``feed``: the first sync scans the zone with an explicit wide ``where`` (never the silent 30-day default),
  ordered by its scan date then id, page by page; later syncs read the ``lastupdate`` change feed for the
  zone (keyset on ``lastupdateutc``, re-reading its one-second boundary) and fetch the changed records by id
  in ``IN`` batches. Deletes: the feed's ``isdeleted``, and the ``deleted`` flag of soft-deleted lines.
- ``updated``: later syncs filter on the last-updated field from just before the previous sync began.
- ``window``: later syncs re-read a rolling window of the business date; the whole zone when the id
  reconciliation is due (the only way edits to older records show).
- ``snapshot``: re-read whole every sync; keys missing from a complete read are deleted.

The per-table position lives in state (``tables.<name>.feed`` or ``.since``); the resume token of an
unfinished traversal is checkpointed after every page. Before the daily budget runs out (keeping a reserve of
at most 5% of the reported limit) the sync checkpoints and stops cleanly; the next sync resumes mid-zone.
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
    Snapshot,
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
from synckit.sink import SpacedCheckpoints
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


# The catalogue, in sync order: the entity reference's priority order (section 5.1), lookups last.
NAMES = ("tasks", "clients", "invoices", "quotes", "tasklabours", "taskmaterials", "timesheets", "payments", "users",
         "purchaseorders", "locations", "contacts", "projects", "stages", "schedules", "suppliers", "assets", "bills",
         "taskexpenses", "inventory", "inventorystocklevels", "businessunits", "tasktypes", "substatus",
         "trackingcentres", "userposition", "priorities", "transactionterms", "permissiongroups", "assetcategories",
         "inventorycategories", "customholders")
SWITCHED = ("users", "suppliers", "payments")  # the tables with an older enable_<table>_sync switch

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
                                   description="stop the sync when this many daily requests are left (at most "
                                               "5% of the daily limit AroFlo reports)"),
    "window_lookback_days": Field(kind=int, default=35, minimum=1, maximum=3650,
                                  description="timesheets, schedules and payments: how many days back each sync "
                                              "re-reads (they can be filtered only by a business date)"),
    "requests_per_second": Field(kind=int, default=3, minimum=1, maximum=1000),
    "requests_per_minute": Field(kind=int, default=120, minimum=1, maximum=60000),
    **selection.checkpoints(),
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
    if not any(cfg[f"enable_{t}_sync"] for t in SWITCHED) and not cfg["tables"]:
        raise ConfigError("enable_users_sync", "enable_users_sync, enable_suppliers_sync and enable_payments_sync "
                                               "are all false; enable at least one table")
    # ``tables`` chooses; the older enable_<table>_sync switches can still turn a chosen table off.
    cfg["chosen"] = [t for t in selection.chosen(cfg, NAMES) if cfg.get(f"enable_{t}_sync", True)]
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


def envelope(response: Any, zone: str, list_key: str | None = None) -> tuple[list[dict], bool]:
    """The records of one page and whether the page was full (``currentpageresults >= maxpageresults``).
    The records are under ``list_key`` (the zone name unless declared otherwise); when that key is absent,
    the one list the zoneresponse carries is read (list keys differ from zone names and are partly GUESSES)."""
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
    list_key = list_key or ("lastupdates" if zone == "lastupdate" else zone)
    if not isinstance(zr, dict):
        raise ResponseError(f"zone={zone}: expected a zoneresponse object in the envelope; keys present: "
                            f"{', '.join(sorted(map(str, body))) or 'none'}")
    rows = records_of(zr, zone, list_key)
    try:
        current = int(zr.get("currentpageresults", len(rows)))
        maximum = int(zr["maxpageresults"])
    except (KeyError, TypeError, ValueError):
        raise ResponseError(f"zone={zone}: zoneresponse lacks integer currentpageresults/maxpageresults") from None
    if current != len(rows):
        raise ValueError(f"zone={zone}: currentpageresults={current} but {len(rows)} records arrived")
    return rows, current >= maximum > 0


def records_of(zr: dict[str, Any], zone: str, list_key: str) -> list:
    if list_key in zr:
        rows = zr[list_key]
        if isinstance(rows, dict) and not rows:
            return []  # an empty list that an XML-born API sends as an empty object
        if not isinstance(rows, list):
            raise ResponseError(f"zone={zone}: expected zoneresponse.{list_key} to be a list, got "
                                f"{type(rows).__name__}")
        return rows
    lists = [k for k, v in zr.items() if isinstance(v, list)]
    if len(lists) == 1:
        return zr[lists[0]]
    if not lists and str(zr.get("currentpageresults", "")).strip() in ("0", ""):
        return []  # an empty page may omit the list
    raise ResponseError(f"zone={zone}: expected the records under zoneresponse.{list_key} (or the one list the "
                        f"zoneresponse carries); keys present: {', '.join(sorted(map(str, zr))) or 'none'}")


# Budget ------------------------------------------------------------------------------------------------------


def next_melbourne_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, MELBOURNE)
    midnight = datetime(local.year, local.month, local.day, tzinfo=MELBOURNE) + timedelta(days=1)
    return midnight.timestamp()


class DailyBudget:
    """The 2,000-a-day budget as AroFlo reports it in ``X-RateLimit-Daily-Remaining``. ``acquire`` raises
    BudgetExhausted once the remaining count would fall to the reserve; the count resets at 00:00 Melbourne."""

    def __init__(self, reserve: int, clock: Callable[[], float] = time.time):
        self.configured, self._clock = reserve, clock
        self.spent = 0  # counted requests sent by this sync
        self.remaining: int | None = None
        self.limit: int | None = None
        self.reset_at: float | None = None
        self._lock = threading.Lock()

    @property
    def reserve(self) -> int:
        """The configured reserve, but never more than 5% of the daily limit the headers report: a tenant (or a
        test) whose limit is below the default reserve still makes progress every day."""
        if self.limit is None:
            return self.configured
        return min(self.configured, self.limit // 20)

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
            self.spent += 1

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

    def page(self, zone: str, qs: str, list_key: str | None = None) -> tuple[list[dict], bool, Any]:
        http = self.feed if zone == "lastupdate" else self.zones
        rows, full, response = http.fetch("GET", "/?" + qs, lambda r: (*envelope(r, zone, list_key), r))
        return rows, full, response

    def probe(self) -> None:
        """A budget-exempt lastupdate request: checks the credentials and learns the day's remaining budget."""
        tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
        zone = next((z.table for z in ZONES if z.table in (self.cfg.get("chosen") or ["users"])), "users")
        qs = query_string("lastupdate", [clause("zonename", "=", zone), clause("lastupdateutc", ">", tomorrow)],
                          page=1, page_size=1)
        self.page("lastupdate", qs)
        log.info(f"AroFlo credentials accepted; daily budget: {self.daily.remaining} of {self.daily.limit} "
                 f"requests left (reserve {self.daily.reserve})")


# Tables ------------------------------------------------------------------------------------------------------


def blank(value: Any) -> bool:
    """AroFlo writes an unset value as "" or a single space."""
    return value is None or (isinstance(value, str) and value.strip() == "")


def local_datetime(tz: str) -> Callable[[Any], str | None]:
    """AroFlo's zone-local date strings ("2018-10-16 13:30:19.58", "2023/12/18") -> UTC ISO."""
    formats = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d", "%Y/%m/%d")

    def convert(value: Any) -> str | None:
        if blank(value):
            return None
        for fmt in formats:
            try:
                return records.local(value, fmt, tz)
            except ValueError:
                continue
        raise ValueError(f"not an AroFlo date/time: {value!r}")

    return convert


def utc_datetime(value: Any) -> str | None:
    """A ``...utc`` field ("2024/03/05 01:40:02", UTC) -> UTC ISO."""
    if blank(value):
        return None
    text = str(value).strip()
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%Y-%m-%d"):
        try:
            return iso(datetime.strptime(text, fmt).replace(tzinfo=timezone.utc))
        except ValueError:
            continue
    raise ValueError(f"not an AroFlo UTC date/time: {value!r}")


def naive_date(value: Any) -> str | None:
    """A business date "2023/12/18" (or "2023-12-18") -> "2023-12-18"."""
    if blank(value):
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
    if blank(value):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a decimal amount: {value!r}")
    return str(number)


def flag(value: Any) -> bool | None:
    """"true"/"false", "TRUE"/"FALSE", "0"/"1" or the number 0; blank -> None."""
    if blank(value):
        return None
    return records.boolean(value if isinstance(value, bool) else str(value).strip())


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


@dataclass(frozen=True)
class Types:
    """Typed columns by kind: ``utc`` (``...utc`` date-times), ``local`` (site-local date-times, converted with
    the timezone setting), ``dates`` (business dates), ``money`` and ``bools``; ``text`` are plain strings."""

    text: tuple[str, ...] = ()
    utc: tuple[str, ...] = ()
    local: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    money: tuple[str, ...] = ()
    bools: tuple[str, ...] = ()
    json: tuple[str, ...] = ()

    def columns(self) -> dict[str, Any]:
        kinds = (("STRING", self.text), ("UTC_DATETIME", self.utc + self.local), ("NAIVE_DATE", self.dates),
                 (MONEY, self.money), ("BOOLEAN", self.bools), ("JSON", self.json))
        return {c: kind for kind, names in kinds for c in names}

    def converters(self, tz: str) -> dict[str, Callable[[Any], Any]]:
        out: dict[str, Callable[[Any], Any]] = {c: utc_datetime for c in self.utc}
        out.update({c: local_datetime(tz) for c in self.local})
        out.update({c: naive_date for c in self.dates})
        out.update({c: decimal for c in self.money})
        out.update({c: flag for c in self.bools})
        out.update({c: json_value for c in self.json})
        return out


def custom_fields(doc: str) -> Child:
    """``customfields`` (``join=customfields``): one row per field, keyed by the parent and ``fieldid``."""
    columns = {"fieldid": "STRING", "name": "STRING", "type": "STRING", "value": "STRING", "archived": "BOOLEAN"}
    return Child("customfields", key=("fieldid",), name="custom_fields", columns=columns,
                 row=records.typed(columns, {"archived": flag}), doc=doc)


def lines(doc: str, money: tuple[str, ...], refs: dict[str, str] | None = None) -> Child:
    """``lines`` (``join=lineitems``): the parent's line items, keyed by the parent and ``lineid``. Read through
    the parent, never the line zones, whose 30-day default filter hides history."""
    types = Types(text=("lineid",), money=money)
    return Child("lines", key=("lineid",), columns=types.columns(),
                 row=records.typed(types.columns(), types.converters("UTC")), refs=refs or {}, doc=doc)


@dataclass(frozen=True)
class Scan:
    """A date field a ``where`` can filter on: its name, the filter's format, and whether it is local time."""

    field: str
    fmt: str = "%Y-%m-%d %H:%M:%S"
    local: bool = False

    def where(self, start: datetime, tz: str) -> str:
        moment = (start.astimezone(ZoneInfo(tz)) if self.local else start.astimezone(timezone.utc))
        return clause(self.field, ">", moment.replace(tzinfo=None).strftime(self.fmt))


READ_KINDS = {
    "feed": "the lastupdate change feed (budget-exempt), then the changed records by id",
    "updated": "a last-updated where filter from the last sync's start",
    "window": "a rolling window on a business date; a full re-read every deletes_check_hours",
    "snapshot": "a full re-read every sync",
}


@dataclass(frozen=True)
class ZoneSpec:
    """One table (named as its zone): key, how it is read (``READ_KINDS``), the list key of its records, the
    first sync's wide filter and scan order, typed columns, joins, child tables, foreign keys. Deletes follow
    from the read: ``feed`` zones by ``isdeleted`` entries (and soft-delete fields of line zones), ``updated``
    and ``window`` zones by id reconciliation, ``snapshot`` zones by snapshot comparison."""

    table: str
    key: str
    read: str
    types: Types
    scan: Scan | None = None  # the created (or paid, worked, updated) date the first sync filters on
    order: tuple[str, ...] = ()
    list_key: str = ""
    updated: tuple[str, ...] = ()  # "updated" zones: the fields an incremental filters on (ORed)
    updated_order: tuple[str, ...] = ()  # its order: descending, so records edited meanwhile only repeat
    lookback_days: int = 0  # "window" zones: how far back each sync re-reads
    joins: tuple[str, ...] = ()
    children: tuple[Child, ...] = ()
    refs: dict[str, str] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()  # default (key,)
    id_filter: str = ""  # the where field for ids (default the key; labour lines filter on labourlineid)
    soft_delete: str = ""  # a column that marks a record deleted while the zone still lists it
    snapshot_where: str = ""  # a where that lifts the zone's 30-day default (GUESS where none is documented)
    doc: str = ""

    @property
    def scan_field(self) -> str:
        return self.scan.field if self.scan else ""

    @property
    def scan_format(self) -> str:
        return self.scan.fmt if self.scan else ""

    @property
    def scan_local(self) -> bool:
        return bool(self.scan and self.scan.local)

    @property
    def deletes(self) -> str:
        return {"feed": "feed", "snapshot": "snapshot"}.get(self.read, "reconcile")

    @property
    def pk(self) -> tuple[str, ...]:
        return self.primary_key or (self.key,)

    @property
    def columns(self) -> dict[str, Any]:
        return self.types.columns()

    def scan_where(self, cfg: dict[str, Any], now: datetime, *, wide: bool = False) -> str | None:
        if self.scan is None:
            return self.snapshot_where or None
        start = WIDE_START.replace(tzinfo=timezone.utc)
        if cfg["initial_sync_days"] and not wide and self.read != "snapshot":
            start = now - timedelta(days=cfg["initial_sync_days"])
        if start == WIDE_START.replace(tzinfo=timezone.utc):  # the literal wide bound, in no particular zone
            return clause(self.scan.field, ">", WIDE_START.strftime(self.scan.fmt))
        return self.scan.where(start, cfg["timezone"])

    def row(self, tz: str) -> Callable[[dict], dict]:
        """Lossless: the declared columns typed, every other field kept (objects flattened, arrays as JSON)."""
        return records.typed(self.columns, self.types.converters(tz))


def zone(table: str, key: str, read: str, doc: str, *, types: Types, scan: Scan | None = None,
         **kwargs: Any) -> ZoneSpec:
    """A declaration; the scan order defaults to (scan field, key), the key column is typed as a string."""
    if scan is not None and "order" not in kwargs:
        kwargs["order"] = (f"{scan.field}|asc", f"{key}|asc")
    if key not in types.columns() and "primary_key" not in kwargs:
        types = Types(**{**types.__dict__, "text": (key, *types.text)})
    return ZoneSpec(table, key, read, types, scan, doc=doc, **kwargs)


UTC_SCAN = Scan("createddatetimeutc")
LOCAL_DAY = "%Y-%m-%d"
CREATED = ("createdutc", "createddatetimeutc")
UPDATED = ("lastupdatedutc", "lastupdateddatetimeutc")
ORG = {"org_orgid": "businessunits.orgid"}


def updated_zone(table: str, key: str, doc: str, *, scan: Scan, updated: tuple[str, ...], order_field: str,
                 **kwargs: Any) -> ZoneSpec:
    return zone(table, key, "updated", doc, scan=scan, updated=updated,
                updated_order=(f"{order_field}|desc", f"{key}|asc"), **kwargs)


def lookup(table: str, key: str, doc: str, *, list_key: str = "", text: tuple[str, ...] = (),
           bools: tuple[str, ...] = ("archived",), refs: dict[str, str] | None = None) -> ZoneSpec:
    return zone(table, key, "snapshot", doc, types=Types(text=(key, *text), bools=bools), list_key=list_key,
                refs=refs or {})


USERS = updated_zone(
    "users", "userid", "AroFlo users (staff and technicians); archived users stay, with archived = true",
    scan=Scan("createdutc", LOCAL_DAY), order=("createddatetimeutc|asc", "userid|asc"),
    updated=("lastupdateddatetimeutc",), order_field="createddatetimeutc",
    types=Types(text=("userid", "givennames", "surname", "username", "email", "email2", "phone", "mobile", "fax",
                      "position", "accesstype", "org_orgid", "org_orgname"), utc=CREATED[1:] + UPDATED[1:],
                dates=CREATED[:1] + UPDATED[:1], bools=("archived",), json=("notes", "documentsandphotos")),
    joins=("customfields", "permissiongroups"),
    children=(custom_fields("user custom field values"),
              Child("permissiongroups", key=("groupid",), name="permission_groups",
                    columns={"groupid": "STRING", "groupname": "STRING"}, refs={"groupid": "permissiongroups.groupid"},
                    doc="the user's permission groups")),
    refs=ORG)
SUPPLIERS = zone(
    "suppliers", "supplierid", "feed",
    "suppliers (vendors); supplier dates are site-local times, converted with the timezone setting",
    scan=Scan("datetimeinserted", local=True),
    types=Types(text=("supplierid", "suppliername", "shortname", "suppliertype", "firstname", "surname", "email",
                      "phone", "mobile", "fax", "website", "abn", "terms", "termsnote", "address_addressline1",
                      "address_suburb", "address_state", "address_postcode", "address_country"),
                local=("datecreated", "dateinserted", "datetimeinserted"), bools=("postable", "archived"),
                json=("locations", "contacts", "notes", "documentsandphotos")),
    joins=("customfields",),
    children=(custom_fields("supplier custom field values"),
              Child("orgs", key=("orgid",), columns={"orgid": "STRING", "orgname": "STRING", "archived": "BOOLEAN"},
                    row=records.typed({"orgid": "STRING", "orgname": "STRING", "archived": "BOOLEAN"}),
                    refs={"orgid": "businessunits.orgid"},
                    doc="the business units the supplier belongs to, with its archived flag in each")))
PAYMENTS = zone(
    "payments", "paymentid", "window",
    "payments received against invoices (read only); datepaid is a business date that edits never move",
    scan=Scan("datepaid", "%Y/%m/%d", local=True), lookback_days=35,
    types=Types(text=("paymentid", "paymentmethodname", "reference", "notes", "linkedto_linkedtoid",
                      "linkedto_linkedtotype", "receivedby_userid", "receivedby_username"),
                money=("amount", "totalamount", "surchargeamount", "surchargepercentage"),
                dates=("datepaid", "datelinkprocessed"), bools=("linkprocessed",)),
    refs={"receivedby_userid": "users.userid", "linkedto_linkedtoid": "invoices.invoiceid"})

TASKS = zone(
    "tasks", "taskid", "feed", "jobs: the central record every report joins to; requestdatetime is site-local",
    scan=UTC_SCAN, joins=("customfields",),
    types=Types(text=("jobnumber", "refcode", "taskname", "status", "client_clientid", "org_orgid",
                      "tasktasktype_tasktypeid", "tasklocation_locationid", "substatus_substatusid"),
                utc=CREATED[1:] + UPDATED[1:], dates=CREATED[:1] + UPDATED[:1], local=("requestdatetime",),
                money=("tasktotals_totalmat", "tasktotals_totallab", "tasktotals_totalexp"),
                bools=("linkprocessed",)),
    children=(custom_fields("task custom field values"),),
    refs={"client_clientid": "clients.clientid", **ORG, "tasktasktype_tasktypeid": "tasktypes.tasktypeid",
          "tasklocation_locationid": "locations.locationid", "substatus_substatusid": "substatus.substatusid"})
CLIENTS = zone(
    "clients", "clientid", "feed", "customers; datetimeinserted is a site-local time",
    scan=Scan("datetimeinserted", local=True), joins=("customfields",),
    types=Types(text=("clientname", "shortname", "email", "phone", "transactionterms_transactiontermid"),
                local=("datetimeinserted", "dateinserted"), bools=("postable",)),
    children=(custom_fields("client custom field values"),
              Child("orgs", key=("orgid",), columns={"orgid": "STRING", "orgname": "STRING", "archived": "BOOLEAN"},
                    row=records.typed({"orgid": "STRING", "orgname": "STRING", "archived": "BOOLEAN"},
                                      {"archived": flag}),
                    refs={"orgid": "businessunits.orgid"}, doc="the client's business units, archived in each")),
    refs={"transactionterms_transactiontermid": "transactionterms.transactiontermid"})
INVOICES = zone(
    "invoices", "invoiceid", "feed", "invoices (revenue), with their lines",
    scan=UTC_SCAN, joins=("lineitems",),
    types=Types(text=("invoicenumber", "status", "client_orgid", "task_taskid"), utc=CREATED[1:] + UPDATED[1:],
                dates=CREATED[:1] + UPDATED[:1], money=("totalex", "totalinc"), bools=("isTaxInclusive",)),
    children=(lines("invoice lines", ("qtyused", "qtybilled", "price", "total")),),
    refs={"client_orgid": "clients.clientid", "task_taskid": "tasks.taskid"})
QUOTES = zone(
    "quotes", "quoteid", "feed", "quotes (pipeline), with their lines; no last-updated field exists",
    scan=Scan("createddatetime", local=True), joins=("lineitems",),
    types=Types(text=("quotename", "status", "client_orgid", "task_taskid"), local=("createddatetime",),
                dates=("createddate",), money=("totalex", "totalinc")),
    children=(lines("quote lines", ("qty", "cost", "sell")),),
    refs={"client_orgid": "clients.clientid", "task_taskid": "tasks.taskid"})
TASKLABOURS = zone(
    "tasklabours", "lineid", "feed", "labour lines per job; soft-deleted lines leave the table",
    scan=Scan("workdate", LOCAL_DAY, local=True), list_key="labours", id_filter="labourlineid",
    soft_delete="deleted",
    types=Types(text=("task_taskid", "user_userid", "worktype", "note"), dates=("workdate",),
                local=("workdatetimestart", "deleteddatetime"), money=("hours", "cost", "sell"),
                bools=("lablocked", "deleted")),
    refs={"task_taskid": "tasks.taskid", "user_userid": "users.userid"})
TASKMATERIALS = zone(
    "taskmaterials", "lineid", "feed", "material lines per job; soft-deleted lines leave the table",
    scan=Scan("dateused", LOCAL_DAY, local=True), list_key="materials", id_filter="materiallineid",
    soft_delete="deleted",
    types=Types(text=("task_taskid", "itemid", "item"), dates=("dateused",), local=("deleteddatetime",),
                money=("quantity", "cost", "sell"), bools=("isinventory", "deleted")),
    refs={"task_taskid": "tasks.taskid", "itemid": "inventory.itemid"})
TIMESHEETS = zone(
    "timesheets", "timesheetid", "window", "timesheet entries, productive and not; workdate is the only filter",
    scan=Scan("workdate", LOCAL_DAY, local=True), lookback_days=35,
    types=Types(text=("type", "user_userid", "task_taskid", "worktype_worktypeid"), dates=("workdate",),
                local=("startdatetime",), money=("hours", "charge")),
    refs={"user_userid": "users.userid", "task_taskid": "tasks.taskid"})
PURCHASEORDERS = zone(
    "purchaseorders", "purchaseorderid", "feed", "purchase orders (committed cost), with their lines",
    scan=Scan("purchasedate", LOCAL_DAY, local=True), joins=("lineitems",),
    types=Types(text=("ordernumber", "status", "supplier_orgid"), dates=("purchasedate",), money=("totalex",)),
    children=(lines("purchase order lines", ("qtyordered", "cost", "total")),),
    refs={"supplier_orgid": "suppliers.supplierid"})
LOCATIONS = zone(
    "locations", "locationid", "feed", "sites of jobs and assets",
    scan=UTC_SCAN, joins=("customfields",),
    types=Types(text=("locationname", "suburb", "state", "postcode", "linkedto_linkedtoid", "linkedto_linkedtotype"),
                utc=CREATED[1:] + UPDATED[1:], dates=CREATED[:1] + UPDATED[:1], bools=("archived",)),
    children=(custom_fields("location custom field values"),),
    refs={"linkedto_linkedtoid": "clients.clientid"})
CONTACTS = zone(
    "contacts", "userid", "snapshot", "client and contractor people (only a created date to filter on)",
    scan=UTC_SCAN, types=Types(text=("givennames", "surname", "contacttype", "org_orgid", "email"),
                               utc=CREATED[1:], dates=CREATED[:1], bools=("archived",)),
    refs={"org_orgid": "clients.clientid"})
PROJECTS = zone(
    "projects", "projectid", "snapshot", "projects (only a created date to filter on)",
    scan=UTC_SCAN, types=Types(text=("projectnumber", "projectname", "status", "client_orgid"),
                               utc=CREATED[1:], dates=CREATED[:1] + ("startdate", "enddate")),
    refs={"client_orgid": "clients.clientid"})
STAGES = zone(
    "stages", "stageid", "snapshot", "project stages (no date filter: read whole with a where that lifts the "
    "30-day default)", snapshot_where=clause("projectid", "!=", ""),
    types=Types(text=("stagename", "status", "project_projectid")), refs={"project_projectid": "projects.projectid"})
SCHEDULES = zone(
    "schedules", "scheduleid", "window", "calendar entries; startdatetime is site-local",
    scan=Scan("startdatetime", local=True), lookback_days=35,
    types=Types(text=("scheduletype_typeid", "scheduledto_scheduledtoid"), dates=("startdate",),
                local=("startdatetime",), bools=("ishidden", "islocked")),
    refs={"scheduledto_scheduledtoid": "users.userid"})
ASSETS = updated_zone(
    "assets", "assetid", "maintained equipment; the filter names drop a 'd' of the output field names",
    scan=Scan("lastupdatedatetimeutc"), updated=("lastupdatedatetimeutc",), order_field="lastupdatedatetimeutc",
    joins=("customfields",),
    types=Types(text=("assetname", "category_categoryid", "client_clientid", "serialnumber"), dates=("datecreated",)
                + UPDATED[:1], utc=UPDATED[1:], bools=("archived",)),
    children=(custom_fields("asset custom field values"),),
    refs={"category_categoryid": "assetcategories.categoryid", "client_clientid": "clients.clientid"})
BILLS = updated_zone(
    "bills", "billid", "supplier invoices, with their lines",
    scan=Scan("lastupdateddatetimeutc"), updated=("lastupdateddatetimeutc",), order_field="lastupdateddatetimeutc",
    joins=("lineitems",),
    types=Types(text=("billnumber", "status", "supplier_orgid"), dates=("dateinvoiced",) + UPDATED[:1],
                utc=UPDATED[1:], money=("totalex", "totalinc")),
    children=(lines("bill lines", ("qty", "price", "total")),),
    refs={"supplier_orgid": "suppliers.supplierid"})
TASKEXPENSES = zone(
    "taskexpenses", "lineid", "feed", "expense lines per job",
    scan=Scan("dateused", LOCAL_DAY, local=True), list_key="expenses", id_filter="expenselineid",
    types=Types(text=("task_taskid", "description", "user_userid"), dates=("dateused",),
                money=("quantity", "cost", "sell")),
    refs={"task_taskid": "tasks.taskid", "user_userid": "users.userid"})
INVENTORY = updated_zone(
    "inventory", "itemid", "the parts catalogue; never-edited items have a blank last-updated time",
    scan=UTC_SCAN, updated=("lastupdateddatetimeutc", "createddatetimeutc"), order_field="createddatetimeutc",
    list_key="items",
    types=Types(text=("partnumber", "description", "category_categoryid"), utc=CREATED[1:] + UPDATED[1:],
                dates=CREATED[:1] + UPDATED[:1], money=("costex", "sell_task")),
    refs={"category_categoryid": "inventorycategories.categoryid"})
STOCKLEVELS = zone(
    "inventorystocklevels", "itemid", "snapshot", "stock on hand per item and holder (no id of its own)",
    scan=Scan("lastupdateddatetimeutc"), primary_key=("itemid", "assignedtotype", "assignedtoid"),
    order=("lastupdateddatetimeutc|asc", "itemid|asc", "assignedtoid|asc"),
    types=Types(text=("itemid", "assignedtotype", "assignedtoid"), utc=UPDATED[1:], dates=UPDATED[:1],
                money=("quantity",)),
    refs={"itemid": "inventory.itemid"})
LOOKUPS = (
    lookup("businessunits", "orgid", "business units", text=("businessunitname",)),
    lookup("tasktypes", "tasktypeid", "task types", text=("tasktype",)),
    lookup("substatus", "substatusid", "sub-statuses of tasks and quotes", list_key="substatuses",
           text=("substatus", "substatustype")),
    lookup("trackingcentres", "trackingcentreid", "tracking centres", text=("name",)),
    lookup("userposition", "positionid", "user positions", list_key="userpositions", text=("Position",)),
    lookup("priorities", "priorityid", "task priorities", text=("shortdescription",)),
    lookup("transactionterms", "transactiontermid", "payment terms", text=("transactionterm",)),
    lookup("permissiongroups", "groupid", "permission groups", text=("groupname",)),
    lookup("assetcategories", "categoryid", "asset categories", text=("categoryname",)),
    lookup("inventorycategories", "categoryid", "inventory categories", text=("categoryname",)),
    lookup("customholders", "customholderid", "custom stock holders (vans)", text=("customholdername",)),
)
# In the entity reference's priority order (section 5.1); lookups last.
ZONES = (TASKS, CLIENTS, INVOICES, QUOTES, TASKLABOURS, TASKMATERIALS, TIMESHEETS, PAYMENTS, USERS, PURCHASEORDERS,
         LOCATIONS, CONTACTS, PROJECTS, STAGES, SCHEDULES, SUPPLIERS, ASSETS, BILLS, TASKEXPENSES, INVENTORY,
         STOCKLEVELS, *LOOKUPS)
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

    def start(self) -> dict[str, Any]:
        """The token of a new traversal, by the zone's read kind and what earlier syncs completed."""
        spec, incremental = self.spec, self.cfg["enable_incremental_sync"]
        now = datetime.now(timezone.utc)
        feed = self.entry.get("feed") if incremental and spec.read == "feed" else None
        if feed:
            if spec.deletes == "feed":  # this traversal collects the feed's deletes for deleted_pages
                self.entry["deletes_pending"] = {"from": position(feed), "ids": []}
            return self.feed_token(feed)
        scan = {"mode": "scan", "where": spec.scan_where(self.cfg, now), "page": 1, "feed_from": None,
                "size": self.size}
        since = self.entry.get("since") if incremental else None
        if since and spec.read == "updated":
            bound = parse_iso(since) - SECOND
            wheres = [clause(f, ">", where_time(bound), "and" if n == 0 else "or") for n, f in enumerate(spec.updated)]
            return {**scan, "where": wheres, "order": list(spec.updated_order), "kind": "incremental"}
        if since and spec.read == "window" and not deletes_due(self.entry, self.cfg):
            # A rolling window on the business date; when the delete check is due, the whole zone is re-read
            # instead (edits to older records show no other way).
            start = now - timedelta(days=self.cfg["window_lookback_days"])
            return {**scan, "where": spec.scan.where(start, self.cfg["timezone"]), "kind": "window"}
        return scan

    def pages(self, window: Window) -> Iterator[Page]:
        token = window.resume or self.start()
        self.position = token
        spent = self.api.daily.spent if self.api else 0
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
                                  f"delivered by this sync, {self.api.daily.spent - spent} requests counted against "
                                  "the day", exc.resume_at) from None
        self.report(spent)

    def report(self, spent_before: int) -> None:
        daily = self.api.daily
        log.info(f"[{self.spec.table}] {daily.spent - spent_before} requests counted against the daily budget; "
                 f"{daily.remaining if daily.remaining is not None else '?'} of {daily.limit or '?'} left today")

    def describe(self, token: dict[str, Any]) -> str:
        if token["mode"] == "scan":
            what = {"incremental": "the last-updated read", "window": "the window re-read"}.get(
                token.get("kind", ""), "the full load")
            return (f"{what} stopped before page {token['page']} ({(token['page'] - 1) * token['size']} records "
                    "read so far; the rest loads on the next syncs)")
        return f"the change feed stopped at lastupdateutc {token['t']}"

    def zone_query(self, wheres: list[str], orders: list[str], page: int, size: int, *, joins: bool = True) -> str:
        return query_string(self.spec.table, wheres, orders, page, size, self.spec.joins if joins else ())

    def read(self, qs: str) -> tuple[list[dict], bool, Any]:
        return self.api.page(self.spec.table, qs, self.spec.list_key or None)

    def soft_deleted(self, row: dict[str, Any]) -> bool:
        if not self.spec.soft_delete:
            return False
        try:
            return bool(flag(row.get(self.spec.soft_delete)))
        except ValueError:
            raise ResponseError(f"{self.spec.table}: unreadable {self.spec.soft_delete} "
                                f"{row.get(self.spec.soft_delete)!r}") from None

    def ident(self, row: dict[str, Any]) -> str:
        """The record's key value, as the state and the delete feed keep it."""
        if len(self.spec.pk) == 1:
            return str(row.get(self.spec.key) or "")
        return json.dumps([row.get(k) for k in self.spec.pk], default=str)

    # First sync: scan the zone with an explicit wide where, in a stable order --------------------------------
    def scan(self, token: dict[str, Any]) -> Iterator[Page]:
        previous: list[str] | None = None
        size = token.get("size") or self.size  # frozen: a new page size would shift the page boundaries
        where = token["where"]
        wheres = where if isinstance(where, list) else [where] if where else []
        while True:
            qs = self.zone_query(wheres, list(token.get("order") or self.spec.order), token["page"], size)
            rows, full, response = self.read(qs)
            if token["feed_from"] is None:
                started = server_time(response) or datetime.now(timezone.utc)
                token["feed_from"] = iso(started - FEED_MARGIN)
            ids = [self.ident(r) for r in rows]
            if rows and ids == previous:
                raise PagingError(f"{self.spec.table}: page {token['page']} repeats the previous page")
            previous = ids
            if self.spec.soft_delete:  # a soft-deleted line that was never delivered needs no row
                rows = [r for r in rows if not self.soft_deleted(r)]
            self.delivered += len(rows)
            if full:
                token = self.position = {**token, "page": token["page"] + 1}
                yield Page(rows, token, response)
                continue
            self.complete(token)
            yield Page(rows, None, response)
            return

    def complete(self, token: dict[str, Any]) -> None:
        """A traversal ended: the next one starts from just before this one began."""
        if self.spec.read == "feed":
            # The change feed takes over, and so does the reader of deletes in it (kept if an earlier load set
            # it: re-reading deletes is harmless).
            self.entry["feed"] = {"t": token["feed_from"], "done": []}
            self.entry.setdefault("deletes", {}).setdefault("feed", {"t": token["feed_from"], "done": []})
            log.info(f"[{self.spec.table}] first full load complete; the change feed starts at {token['feed_from']}")
        elif self.spec.read in ("updated", "window"):
            self.entry["since"] = token["feed_from"]
            if self.spec.read == "window" and token.get("kind") != "window":
                self.entry["full_at"] = time.time()  # a whole re-read: the next is due deletes_check_hours later

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
            if self.spec.soft_delete:  # soft-deleted lines: deletes too, however the feed flagged them
                gone = [str(r.get(self.spec.key)) for r in rows if self.soft_deleted(r)]
                if gone and pending is not None:
                    pending["ids"] = [*pending["ids"], *gone]
                rows = [r for r in rows if not self.soft_deleted(r)]
                self.delivered -= len(gone)
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
            qs = self.zone_query([clause(self.spec.id_filter or self.spec.key, "IN", "*".join(ids))],
                                 [f"{self.spec.key}|asc"], page, self.batch)
            rows, full, _ = self.read(qs)
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
            rows, full, _ = self.read(self.zone_query([where], list(self.spec.order), page, self.size, joins=False))
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
                "delete feed: lastupdate entries with isdeleted set" + (
                    f", and records whose {spec.soft_delete} flag is set" if spec.soft_delete else "")
                + ", read every sync (exempt from the daily budget)")),)
        elif spec.deletes == "snapshot":
            deletes = (Snapshot(doc="snapshot comparison: keys missing from a complete re-read"),)
        else:
            deletes = (Reconcile(ids=self.live_ids, doc=(
                "id reconciliation every deletes_check_hours: a scan of the zone's ids, known ids it did not "
                "list re-checked by id (the zone is not in the lastupdate feed's documented zones)")),)
        read = {"feed": "feed", "updated": "cursor", "window": "window", "snapshot": "full"}[spec.read]
        doc = f"{spec.doc}. Read: {READ_KINDS[spec.read]}"
        return Table(name=spec.table, primary_key=spec.pk, columns=spec.columns, cursor=None, fetch=self.pages,
                     row=spec.row(self.cfg["timezone"]), read=read, refs=spec.refs, children=spec.children,
                     deletes=deletes, doc=doc)


def deletes_due(entry: dict[str, Any], cfg: dict[str, Any]) -> bool:
    """Whether the table's id reconciliation is due (the window zones re-read all with it). A whole re-read
    counts as a check: a first load spread over several days (whose syncs pause before any delete check) reads
    the zone once, not once a day."""
    marks = [entry.get("deletes", {}).get("checked_at"), entry.get("full_at")]
    last = max((float(m) for m in marks if m is not None), default=None)
    return last is None or time.time() - last >= float(cfg["deletes_check_hours"]) * 3600


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
        where = spec.scan_where(cfg, datetime.now(timezone.utc))
        Api(cfg).page(spec.table, query_string(spec.table, [where] if where else [], page=1, page_size=1),
                      spec.list_key or None)
    return read


def connect(cfg: dict[str, Any]) -> None:
    Api(cfg).probe()


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {z.table: probe(z) for z in ZONES}, connect=connect))


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Any = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    spaced = SpacedCheckpoints(sink or FivetranSink(), cfg["checkpoint_seconds"])
    try:
        run(cfg, state, spaced)
    except SyncError as exc:
        log.severe(str(exc))
        raise
    finally:
        spaced.force()  # the last deferred checkpoint, also when the sync fails


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
