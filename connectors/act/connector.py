"""Act! CRM Web API -> contacts, companies, opportunities, activities, activity_types, products, histories,
notes, groups, users, teams, opportunity stages and processes, history types, the field dictionary and every
custom table, with their child tables (custom fields, links, line items, group members, team members).

Auth: ``GET {api_path}/authorize`` with Basic credentials and ``Act-Database-Name`` returns a JWT as plain
text; data calls send it as a bearer token with the database header. The token is renewed a few minutes
before the ``exp`` claim says it expires, and once on a 401.

Paging is by keyset on (cursor, id), never by ``$skip``: each request asks for
``cursor gt X or (cursor eq X and id gt Y)`` ordered by both, where (X, Y) is the last record delivered.
Rows edited during a sync move to the end of the order and are read later in the same traversal, any
number of records may share one cursor value, and the resume token saved with each page is that key.
The traversal ends on a page shorter than ``min($top, 200)`` (200 is known to be served whole), else on
an empty page: a server cap on ``$top`` below the batch size cannot end it early.

Deletes: Act! has no deleted-records feed and webhooks never report deletes, so a record shows it was
deleted only by leaving the listings. Every ``deletes_check_hours`` an id-only sweep (``$select=id``,
ordered by id, keyset paging ``id gt <last>``: a delete during the sweep cannot shift an id past a page
boundary) lists every live id, and the keys the warehouse holds but the sweep lacks are deleted, within
``max_delete_percent``. The small lists, re-read in full every sync, are compared snapshot to snapshot.
``customFields`` land as key/value child tables (``contacts_custom_fields``, ...), replaced with the parent; so do
the links unpacked from the embedded arrays and the per-parent listings (line items, group members), which are
read only for the parents a traversal delivers. Groups and notes detect at run time whether the server filters
and orders on ``edited`` and otherwise read the whole collection in id order. Custom tables are found in the
metadata, by ``schema()`` too, so each is declared with its primary key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fivetran_connector_sdk import Connector

from synckit import (
    ApiError,
    AuthError,
    Backoff,
    Child,
    Field,
    Http,
    KeySet,
    Page,
    PagingError,
    RateLimiter,
    Reconcile,
    RefreshingToken,
    ResponseError,
    Snapshot,
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
from synckit.config import is_loopback
from synckit.sink import deliver
from synckit.sync import SyncResult
from synckit.table import snake

HOSTNAME = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A timestamp as the server writes it, which is sent back verbatim as an OData literal.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})$")
DEFAULT_TOKEN_SECONDS = 50 * 60.0  # when the JWT carries no readable exp claim (tokens last 60-65 minutes)


def _hostname(value: str) -> str | None:
    if "://" in value or "/" in value:
        return "must be a host name or IP address only, without http:// and without a path (use api_path)"
    if not HOSTNAME.match(value):
        return "must be a host name or IP address (letters, digits, dots and hyphens; a port goes in 'port')"
    return None


def _api_path(value: str) -> str | None:
    if "://" in value or "?" in value or "#" in value or " " in value or ".." in value.split("/"):
        return "must be a URL path such as /act.web.api (no scheme, host, query, spaces or '..')"
    if not value.strip("/"):
        return "must name the API path, for example /act.web.api"
    return None


DATE = "UTC_DATETIME"
COMMON = {"id": "STRING", "created": DATE, "edited": DATE, "editedBy": "STRING", "recordManager": "STRING",
          "recordManagerID": "STRING", "isPrivate": "BOOLEAN"}


@dataclass(frozen=True)
class Derived:
    """A child table built from fields the record already carries (no request): ``build(record)`` -> rows."""

    child: Child
    build: Callable[[dict], list[dict]]


@dataclass(frozen=True)
class FanOut:
    """A per-record sub-listing (``paths`` tried in order, a 404 moving to the next), attached to the record
    as ``child.field`` and landed as the child table. Only records delivered (their cursor moved) are fanned
    out, and the child rows are replaced with their parent."""

    child: Child
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Endpoint:
    """One table: where it lives, its cursor field (None: a full snapshot), the columns we know, its foreign
    keys, whether its records carry a ``customFields`` object (landed as a key/value child table), its
    derived and fanned-out child tables, and whether the server's ``$filter``/``$orderby`` on the cursor is
    unverified (``lax``: detected at run time, with a full read in id order as the fallback)."""

    name: str
    path: str
    cursor: str | None
    columns: Mapping[str, str]
    id_is_guid: bool | None = True  # None: a GUID id is sent bare, anything else quoted (detected per value)
    refs: Mapping[str, str] = field(default_factory=dict)
    custom_fields: bool = False
    doc: str = ""
    key: tuple[str, ...] = ("id",)
    derived: tuple[Derived, ...] = ()
    fanout: FanOut | None = None
    nested: tuple[Child, ...] = ()  # arrays of the record landed as child tables as they come
    lax: bool = False
    reader: Callable[[Http, Endpoint], Iterator[Page]] | None = None  # a snapshot that is not one GET

    @property
    def dates(self) -> list[str]:
        return [c for c, t in self.columns.items() if t == DATE]


# Links: the embedded arrays of histories, notes, activities, opportunities and custom rows, one row per
# linked record. Custom rows name their opportunities array in the singular.
LINK_KINDS = {"contacts": "contact", "companies": "company", "groups": "group", "opportunities": "opportunity",
              "opportunity": "opportunity"}
LINK_COLUMNS = {"linked_type": "STRING", "linked_id": "STRING", "linked_name": "STRING"}


def link_rows(record: dict) -> list[dict]:
    out, seen = [], set()
    for array, kind in LINK_KINDS.items():
        value = record.get(array)
        if not isinstance(value, list):
            continue  # groups carry "contacts" as a member count, not an array
        for element in value:
            rid = element.get("id") if isinstance(element, dict) else element
            name = (element.get("name") or element.get("displayName")) if isinstance(element, dict) else None
            if (kind, str(rid)) not in seen:
                seen.add((kind, str(rid)))
                out.append({"linked_type": kind, "linked_id": rid, "linked_name": name})
    return out


LINKS = Derived(Child("_links", name="links", key=("linked_type", "linked_id"), columns=LINK_COLUMNS,
                      doc="The records this one is linked to (contact, company, group or opportunity), from "
                          "its embedded arrays."), link_rows)


def company_rows(record: dict) -> list[dict]:
    """The contact's primary company (``companyID``) plus any others its ``companies`` array holds."""
    primary = record.get("companyID") or None
    out = [{"company_id": primary, "is_primary": True}] if primary else []
    for element in record.get("companies") or []:
        rid = element.get("id") if isinstance(element, dict) else element
        if rid and rid != primary:
            out.append({"company_id": rid, "is_primary": False})
    return out


COMPANY_CONTACTS = Derived(Child("_companies", name="companies", key=("company_id",),
                                 columns={"company_id": "STRING", "is_primary": "BOOLEAN"},
                                 refs={"company_id": "companies.id"},
                                 doc="Company membership of each contact: the primary company and any others."),
                           company_rows)


def line_item_row(record: dict) -> dict:
    return records.convert(records.flatten(record, strict=True), {
        **{c: act_time for c in ("created", "edited", "createDate", "editDate")},
        **{c: records.number for c in ("cost", "price", "discount", "discountPrice", "quantity", "total")}})


LINE_ITEMS = FanOut(Child("_products", name="products", key=("id",), row=line_item_row, columns={
    "id": "STRING", "name": "STRING", "productID": "STRING", "quantity": "DOUBLE", "price": "DOUBLE",
    "discount": "DOUBLE", "total": "DOUBLE", "cost": "DOUBLE", "itemNumber": "STRING", "created": DATE,
    "edited": DATE}, refs={"productID": "products.id"},
    doc="Opportunity line items, read per opportunity whose edited moved (there is no database-wide list)."),
    ("/api/opportunities/{id}/products",))
MEMBERS = FanOut(Child("_members", name="contacts", key=("contact_id",),
                       row=lambda c: {"contact_id": c.get("id")},  # the contact's own fields are in contacts
                       columns={"contact_id": "STRING"}, refs={"contact_id": "contacts.id"},
                       doc="Group membership, read per group whose edited moved."),
                 ("/api/groups/{id}/associated-contacts", "/api/groups/{id}/contacts"))
ROSTER = Child("roster", name="members", key=("id",), columns={"id": "STRING", "username": "STRING"},
               refs={"id": "users.id"}, doc="The users of each team.")
USER = {"recordManagerID": "users.id"}


def field_pages(http: Http, endpoint: Endpoint) -> Iterator[Page]:
    """``/api/metadata/{recordType}/fields?showAll=true`` for each core record type and each custom table
    the metadata lists; a record type the server does not know (404) is passed over."""
    kinds = list(RECORD_TYPES) + [e["name"] for e in custom_entities(http)]
    rows_all: list[Any] = []
    response = None
    for kind in kinds:
        try:
            rows, response = http.fetch("GET", f"/api/metadata/{quote(kind)}/fields", lambda r: (extract(r), r),
                                        params={"showAll": "true"})
        except ApiError as exc:
            if exc.status != 404:
                raise
            log.info(f"[{endpoint.name}] record type {kind!r} has no field metadata (HTTP 404)")
            continue
        rows_all.extend({**r, "recordType": r.get("recordType") or kind} if isinstance(r, dict) else r for r in rows)
    yield Page(rows_all, None, response)  # one page: the sync loop checkpoints once for the whole dictionary


RECORD_TYPES = ("Contact", "Company", "Group", "Opportunity", "Product")
HISTORY = {
    "id": "STRING", "created": DATE, "edited": DATE, "recordManager": "STRING", "recordManagerID": "STRING",
    "isPrivate": "BOOLEAN", "createUserID": "STRING", "editUserID": "STRING", "regarding": "STRING",
    "details": "STRING", "duration": "STRING", "startTime": DATE, "endTime": DATE, "historyTypeID": "LONG",
    "historyType_name": "STRING", "contactEmail": "STRING", "contacts": "STRING", "companies": "STRING",
    "groups": "STRING", "opportunities": "STRING"}
MORE = (
    Endpoint("histories", "/api/history", "edited", HISTORY, derived=(LINKS,), lax=True,
             refs={"historyTypeID": "history_types.id", **USER, "createUserID": "users.id", "editUserID": "users.id"},
             doc="Completed calls, meetings, e-mails and field changes (the Act! history)."),
    Endpoint("users", "/api/users", None, {
        "id": "STRING", "username": "STRING", "role": "STRING", "displayName": "STRING", "email": "STRING",
        "firstName": "STRING", "lastName": "STRING", "lastLogOnDate": DATE, "status": "STRING"},
        doc="Act! users; recordManagerID on every table points here."),
    Endpoint("opportunity_stages", "/api/opportunities/stages", None, {
        "id": "STRING", "name": "STRING", "description": "STRING", "probability": "INT", "number": "INT",
        "process_id": "STRING", "process_name": "STRING"}, refs={"process_id": "opportunity_processes.id"},
        doc="Pipeline stages, each in one sales process."),
    Endpoint("opportunity_processes", "/api/opportunities/processes", None, {
        "id": "STRING", "name": "STRING", "description": "STRING", "status": "STRING", "stagesCount": "INT",
        "stages": "STRING"}, doc="Sales processes; their stages are listed in opportunity_stages."),
    Endpoint("groups", "/api/groups", "edited", {
        **COMMON, "name": "STRING", "description": "STRING", "contacts": "LONG", "parentID": "STRING",
        "hasSubgroups": "BOOLEAN", "hierarchyLevel": "INT", "importDate": DATE, "address_city": "STRING",
        "address_state": "STRING", "address_country": "STRING"},
        refs={"parentID": "groups.id", **USER}, custom_fields=True, fanout=MEMBERS, lax=True,
        doc="Groups (a tree through parentID); contacts is the member count. Filtering on edited is unverified."),
    Endpoint("notes", "/api/notes", "edited", {
        "id": "STRING", "created": DATE, "edited": DATE, "displayDate": DATE, "recordManager": "STRING",
        "recordManagerID": "STRING", "createUserID": "STRING", "isPrivate": "BOOLEAN", "noteText": "STRING",
        "noteTypeID": "INT", "contacts": "STRING", "companies": "STRING", "groups": "STRING",
        "opportunities": "STRING"}, refs=USER, derived=(LINKS,), lax=True,
        doc="Notes; when the server refuses $filter on edited they are re-read in full, in id order."),
    Endpoint("history_types", "/api/history-types", None, {
        "id": "LONG", "name": "STRING", "activityTypeId": "LONG", "activityTypeName": "STRING",
        "description": "STRING"}, refs={"activityTypeId": "activity_types.id"},
        doc="History types: the lookup for histories.historyTypeID."),
    Endpoint("field_metadata", "/api/metadata/{recordType}/fields", None, {
        "recordType": "STRING", "name": "STRING", "id": "STRING", "columnName": "STRING", "displayName": "STRING",
        "tableName": "STRING", "type": "STRING", "dataType": "STRING", "length": "LONG", "isCustom": "BOOLEAN",
        "isReadOnly": "BOOLEAN", "createDate": DATE, "editDate": DATE}, key=("recordType", "name"),
        reader=field_pages,
        doc="The field dictionary per record type and custom table: labels the customFields keys."),
    Endpoint("teams", "/api/teams", None, {"id": "STRING", "name": "STRING", "description": "STRING"},
             nested=(ROSTER,), doc="Teams of users."),
)
ENDPOINTS = (
    Endpoint("contacts", "/api/contacts", "edited", {
        **COMMON, "firstName": "STRING", "lastName": "STRING", "fullName": "STRING", "company": "STRING",
        "companyID": "STRING", "emailAddress": "STRING", "jobTitle": "STRING", "importDate": DATE,
        "birthday": DATE, "isFavorite": "BOOLEAN", "isImported": "BOOLEAN", "isUser": "BOOLEAN",
        "businessAddress_line1": "STRING", "businessAddress_city": "STRING", "businessAddress_state": "STRING",
        "businessAddress_postalCode": "STRING", "businessAddress_country": "STRING",
        "businessAddress_latitude": "DOUBLE", "businessAddress_longitude": "DOUBLE",
        "lastResults": "STRING", "lastEmail": DATE, "lastAttempt": DATE, "lastReach": DATE,
        "lastMeeting": DATE, "lastLetterSent": DATE},
        refs={"companyID": "companies.id"}, custom_fields=True,
        derived=(COMPANY_CONTACTS,),
        doc="People in the Act! database; companyID is the primary company (empty when none)."),
    Endpoint("companies", "/api/companies", "edited", {
        **COMMON, "name": "STRING", "industry": "STRING", "numberOfEmployees": "LONG", "revenue": "DOUBLE",
        "phone": "STRING", "website": "STRING", "region": "STRING", "territory": "STRING", "importDate": DATE,
        "hasDivisions": "BOOLEAN", "hierarchyLevel": "INT", "parentID": "STRING", "rootParentID": "STRING",
        "address_line1": "STRING", "address_city": "STRING", "address_state": "STRING",
        "address_postalCode": "STRING", "address_country": "STRING"},
        refs={"parentID": "companies.id", "rootParentID": "companies.id"}, custom_fields=True,
        doc="Companies and their divisions (a tree through parentID and rootParentID)."),
    Endpoint("opportunities", "/api/opportunities", "edited", {
        **COMMON, "name": "STRING", "productTotal": "DOUBLE", "weightedTotal": "DOUBLE", "probability": "INT",
        "status": "INT", "contactNames": "STRING", "openDate": DATE, "estimatedCloseDate": DATE,
        "actualCloseDate": DATE, "stage_id": "STRING", "stage_name": "STRING", "stage_number": "INT",
        "contacts": "STRING", "companies": "STRING"}, custom_fields=True, derived=(LINKS,), fanout=LINE_ITEMS,
        refs={"stage_id": "opportunity_stages.id"},
        doc="Sales opportunities; status 0 open, 1 won, 2 lost; the linked contacts and companies are JSON arrays."),
    # Activity ids are a GUID plus an occurrence date, so they are compared as strings.
    Endpoint("activities", "/api/activities", "edited", {
        **COMMON, "seriesID": "STRING", "subject": "STRING", "activityTypeId": "INT",
        "activityTypeName": "STRING", "activityPriorityId": "INT", "activityPriorityName": "STRING",
        "details": "STRING", "isCleared": "BOOLEAN", "isAlarmed": "BOOLEAN", "isTimeless": "BOOLEAN",
        "isAllDay": "BOOLEAN", "startTime": DATE, "endTime": DATE, "location": "STRING",
        "scheduledById": "STRING", "scheduledBy": "STRING", "scheduledForId": "STRING", "scheduledFor": "STRING",
        "contacts": "STRING", "companies": "STRING", "groups": "STRING", "opportunities": "STRING"},
        id_is_guid=False, refs={"activityTypeId": "activity_types.id"}, derived=(LINKS,),
        doc="Scheduled activities (tasks); the id is a GUID followed by the occurrence date (MMDDYYYY)."),
    Endpoint("activity_types", "/api/task-types", None, {
        "id": "LONG", "name": "STRING", "description": "STRING", "isActive": "BOOLEAN", "isCustom": "BOOLEAN",
        "isDeletable": "BOOLEAN", "taskTypeGuid": "STRING", "historyTypes": "STRING"},
        doc="Activity (task) types, read from /api/task-types; ids of 1000 and above are custom types."),
    Endpoint("products", "/api/products", "editDate", {
        "id": "STRING", "name": "STRING", "cost": "DOUBLE", "price": "DOUBLE", "itemNumber": "STRING",
        "createDate": DATE, "editDate": DATE},
        doc="The product catalogue; its dates are createDate and editDate (no edited)."),
    *MORE,
)
CUSTOM = "custom_tables"  # in 'tables': every custom table the metadata lists, one table each
NAMES = (*(e.name for e in ENDPOINTS), CUSTOM)
BY_NAME = {e.name: e for e in ENDPOINTS}

SPEC = {
    "protocol": Field(required=True, choices=("http", "https"), description="http or https"),
    "hostname": Field(required=True, check=_hostname, max_length=253, description="Act! Web API host"),
    "port": Field(kind=int, check=lambda p: None if 1 <= p <= 65535 else f"must be between 1 and 65535, got {p}",
                  description="optional; 80 for http and 443 for https when empty"),
    "api_path": Field(required=True, check=_api_path, description="e.g. /act.web.api"),
    "username": Field(required=True, ascii_only=False, max_length=256,
                      description="the Act! user's display name as shown in Manage Users"),
    "password": Field(required=True, secret=True, ascii_only=False, max_length=1024),
    "database_name": Field(required=True, max_length=256, description="sent in the Act-Database-Name header"),
    "batch_size": Field(kind=int, default=200, minimum=1, maximum=5000, description="$top per request"),
    "rate_limit_pause": Field(kind=float, default=0.25, minimum=0, maximum=60,
                              description="minimum seconds between two requests"),
    "default_start_date": Field(kind="date", description="first sync reads records edited on or after this"),
    "enable_debug_logging": Field(kind=bool, default=False, description="log every request (never secrets)"),
    **selection.spec(NAMES, tables_hint="child tables (custom fields, links, line items, members) follow their "
                                        "parent; custom_tables syncs every custom table of the database"),
}


# Configuration -----------------------------------------------------------------------------------------

def settings(configuration: Mapping[str, Any]) -> dict[str, Any]:
    cfg = parse(configuration, SPEC)
    cfg["api_path"] = "/" + cfg["api_path"].strip("/")
    cfg["base_url"] = base_url(cfg)
    log.set_debug(cfg["enable_debug_logging"])
    return cfg


def base_url(cfg: Mapping[str, Any]) -> str:
    """``http://192.168.7.27:8080/act.web.api``; the default port of the protocol is left out."""
    protocol, port = cfg["protocol"], cfg["port"]
    default = {"http": 80, "https": 443}[protocol]
    netloc = cfg["hostname"] if port in (None, default) else f"{cfg['hostname']}:{port}"
    return f"{protocol}://{netloc}/{cfg['api_path'].strip('/')}"


# Authentication ----------------------------------------------------------------------------------------

def jwt_lifetime(token: str, now: float | None = None) -> float | None:
    """Seconds the token is valid for, from its ``exp`` claim (``exp - iat`` when ``iat`` is present, so
    the client's clock does not matter); None when the payload cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return None
    iat = claims.get("iat")
    start = iat if isinstance(iat, (int, float)) and not isinstance(iat, bool) else (now or time.time())
    return float(exp - start)


class ActToken(RefreshingToken):
    """The Act! JWT: Basic credentials for the first token, ``Bearer <old jwt>`` to renew a token that is
    still valid, Basic again after a 401 or when renewal is refused."""

    def __init__(self, http: Http, username: str, password: str, database: str,
                 clock: Callable[[], float] = time.monotonic):
        self._http = http
        self._basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        redact.register(password, self._basic, self._basic.split(" ", 1)[1])
        self._database = database
        self._last: str | None = None  # the token a renewal may present
        self.renewals = 0
        super().__init__(self._authorize, margin=300.0, extra={"Act-Database-Name": database}, clock=clock)

    def _get(self, authorization: str) -> Any:
        return self._http.request("GET", "/authorize", auth=False,
                                  headers={"Authorization": authorization, "Act-Database-Name": self._database,
                                           "Accept": "text/plain, application/json"})

    def _authorize(self) -> tuple[str, float]:
        response = None
        if self._last is not None:
            try:
                response = self._get(f"Bearer {self._last}")
                self.renewals += 1
            except ApiError as exc:  # a refused renewal is not fatal while the credentials still work
                log.info(f"Act! refused to renew the token (HTTP {exc.status}); authorizing with the username "
                         "and password")
        if response is None:
            try:
                response = self._get(self._basic)
            except AuthError as exc:
                raise AuthError(401, exc.url, "Act! refused the credentials. Check 'username' (the user's "
                                "display name as shown in Manage Users, not a login id), 'password' and "
                                "'database_name': a wrong user and a wrong database give the same bare 401"
                                ) from None
            except ApiError as exc:
                raise ApiError(exc.status, exc.url, f"{explain(exc)}") from None
        token = response.text.strip().strip('"').strip()
        if not token or any(c.isspace() for c in token) or token.startswith(("{", "[", "<")):
            raise ResponseError(f"GET {redact.mask(response.url)} returned no token (HTTP {response.status_code}, "
                                f"{len(response.text)} characters); check 'api_path'")
        redact.register(token)
        self._last = token
        lifetime = jwt_lifetime(token)
        if lifetime is None or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_SECONDS
            log.debug("the token carries no readable exp claim; renewing it after 50 minutes")
        # A few minutes early for an hour-long token; proportionally less for short ones.
        self.margin = min(300.0, lifetime / 10)
        log.debug(f"obtained an Act! token valid for {lifetime:.0f}s; renewing {self.margin:.0f}s early")
        return token, lifetime

    def invalidate(self, sent: str | None = None) -> bool:
        self._last = None  # the server rejected it: renewal must start from the credentials
        return super().invalidate(sent)


def explain(exc: ApiError) -> str:
    """The server's message plus what to check, for the statuses /authorize is known to return."""
    text = str(exc).removeprefix(f"HTTP {exc.status} from {exc.url}: ")
    if exc.status == 403:
        return (f"{text}. Act! forbids this user or address: the user needs the 'Web API Access' permission "
                "(4032), the subscription must include the API (4031), and on-premises servers may allow-list "
                "IP addresses")
    if exc.status == 404:
        return f"{text}. Nothing answers at this address: check 'hostname', 'port' and 'api_path'"
    return text


# Paging ------------------------------------------------------------------------------------------------

def extract(response: Any) -> list[dict]:
    """A bare JSON array, or ``{"value": [...], "Count": n}``; anything else is an error, not an empty page."""
    body = response.json()  # ValueError (a truncated body) is retried by Http.fetch
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return body["value"]
    shape = type(body).__name__ + (f" with keys {sorted(body)[:5]}" if isinstance(body, dict) else "")
    raise ResponseError(f"GET {redact.mask(response.url)}: expected a JSON array or an object with a 'value' "
                        f"array, got {shape}")


def id_literal(value: Any, guid: bool | None) -> str:
    if guid is None:  # unknown id kind (custom tables): a GUID goes bare, anything else as a literal
        guid = isinstance(value, str) and bool(GUID.match(value))
    if guid:
        text = str(value)
        if not GUID.match(text):
            raise ResponseError(f"record id {text[:60]!r} is not a GUID")
        return text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def key_of(record: Any, field: str, where: str) -> dict[str, Any]:
    """The (cursor, id) key of a raw record, cursor kept exactly as the server wrote it."""
    if not isinstance(record, dict):
        raise ResponseError(f"{where}: expected an object, got {type(record).__name__}")
    value, rid = record.get(field), record.get("id")
    if rid in (None, ""):
        raise ResponseError(f"{where}: a record has no 'id'")
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        raise ResponseError(f"{where}: record {rid} has {field}={str(value)[:40]!r}, not a timestamp with a "
                            "time zone")
    return {"at": value, "id": rid}


def keyset_filter(field: str, since: datetime | None, key: Mapping[str, Any] | None, guid: bool | None
                  ) -> str | None:
    """``field ge since and (field gt X or (field eq X and id gt Y))``; either part may be absent."""
    clauses = []
    if since is not None:
        clauses.append(f"{field} ge {records.to_utc_iso(since)}")
    if key is not None:
        at, rid = key["at"], id_literal(key["id"], guid)
        if not TIMESTAMP.match(str(at)):
            raise PagingError(f"the saved resume key {field}={str(at)[:40]!r} is not a timestamp")
        clauses.append(f"({field} gt {at} or ({field} eq {at} and id gt {rid}))")
    return " and ".join(clauses) or None


SERVED_WHOLE = 200  # a $top the live API is documented to serve in full; its cap, if any, is above it


def keyset_pages(http: Http, endpoint: Endpoint, window: Window, size: int) -> Iterator[Page]:
    """Pages of ``endpoint`` with cursor >= window.since, after the key window.resume, in (cursor, id) order.

    Each page must move the key forward: a page that starts at or before the previous key, goes backwards
    in time or repeats an id means the server ignored the filter or the order, and raises PagingError."""
    field = endpoint.cursor
    if field is None:
        raise ValueError(f"{endpoint.name} has no cursor field; it is read as a snapshot")
    key = window.resume
    while True:
        params: dict[str, Any] = {"$top": size, "$orderby": f"{field},id"}
        where = keyset_filter(field, window.since, key, endpoint.id_is_guid)
        if where:
            params["$filter"] = where
        rows, response = http.fetch("GET", endpoint.path, lambda r: (extract(r), r), params=params)
        if not rows:
            yield Page([], None, response)
            return
        label = f"{endpoint.name} page after {key['at']}/{key['id']}" if key else f"{endpoint.name} first page"
        keys = [key_of(r, field, label) for r in rows]
        check_forward(keys, key, window.since, label)
        key = keys[-1]
        if len(rows) < min(size, SERVED_WHOLE):
            yield Page(rows, None, response)  # short under any cap the server may have: the end
            return
        yield Page(rows, dict(key), response)


def check_forward(keys: list[dict[str, Any]], previous: Mapping[str, Any] | None, since: datetime | None,
                  label: str) -> None:
    times = [records.parse_iso(k["at"]) for k in keys]
    if since is not None and times[0] < since:
        raise PagingError(f"{label}: the server returned {keys[0]['at']}, before the requested start; "
                          "it does not honour $filter")
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise PagingError(f"{label}: records are not in cursor order; the server does not honour $orderby")
    ids = [k["id"] for k in keys]
    if len(set(map(str, ids))) != len(ids):
        raise PagingError(f"{label}: the page repeats an id")
    if previous is not None:
        before = records.parse_iso(previous["at"])
        if times[0] < before or any(t == before and str(i) == str(previous["id"]) for t, i in zip(times, ids,
                                                                                                  strict=True)):
            raise PagingError(f"{label}: the page does not move past the previous key; stopping instead of "
                              "looping")


def snapshot_pages(http: Http, endpoint: Endpoint) -> Iterator[Page]:
    """The whole list in one response (task types are few); the sync loop's Snapshot() compares its keys."""
    rows, response = http.fetch("GET", endpoint.path, lambda r: (extract(r), r))
    yield Page(rows, None, response)


SWEEP_TOP = 5000  # ids per request of the delete sweep: ids are small, and 5000 is the probable server cap


def id_pages(http: Http, endpoint: Endpoint, size: int | None = None) -> Iterator[list[Any]]:
    """Every live id of ``endpoint``, in pages: ``$select=id&$orderby=id`` with ``id gt <last id>``.

    Keyset paging on the unique id: a record deleted while the sweep runs cannot shift another id into a
    page already read (``$skip`` would), so the listing is complete. A server that refuses ``$select`` on
    this collection (documented only for contacts, companies and activities) gets the same sweep reading
    whole records. Any failure raises, and the toolkit then deletes nothing."""
    started = False
    try:
        for rows, _, _ in by_id(http, endpoint, size or SWEEP_TOP, select=True):
            started = True
            if rows:
                yield [r["id"] for r in rows]
        return
    except ApiError as exc:
        if started or exc.status != 400:  # a refusal after the first page is no missing $select
            raise
    log.info(f"[{endpoint.name}] the server refused $select=id (HTTP 400); the delete sweep reads whole records "
             "instead")
    for rows, _, _ in by_id(http, endpoint, size or SWEEP_TOP, select=False):
        if rows:
            yield [r["id"] for r in rows]


def by_id(http: Http, endpoint: Endpoint, size: int, *, select: bool, after: Any = None
          ) -> Iterator[tuple[list[dict], Any, Any]]:
    """The collection in id order, ``id gt <last>`` per page: (rows, response, last id, or None on the last
    page). It ends on a page shorter than ``min(size, 200)`` or an empty one, as the cursor traversal does;
    a page that repeats an id means the server ignores the filter or the order on id, and raises."""
    last = after
    while True:
        params: dict[str, Any] = {"$top": size, "$orderby": "id"}
        if select:
            params["$select"] = "id"
        if last is not None:
            params["$filter"] = f"id gt {id_literal(last, endpoint.id_is_guid)}"
        rows, response = http.fetch("GET", endpoint.path, lambda r: (extract(r), r), params=params)
        label = f"{endpoint.name} in id order " + (f"after {last}" if last is not None else "first page")
        ids = []
        for position, row in enumerate(rows):
            if not isinstance(row, dict) or row.get("id") in (None, ""):
                raise ResponseError(f"{label}: record {position + 1} has no 'id'")
            ids.append(row["id"])
        if len(set(map(str, ids))) != len(ids) or (last is not None and str(last) in map(str, ids)):
            raise PagingError(f"{label}: the page repeats an id; the server does not honour $filter or $orderby "
                              "on id, so the collection cannot be listed safely")
        final = len(rows) < min(size, SERVED_WHOLE)
        last = ids[-1] if ids else last
        yield rows, response, None if final else last
        if final:
            return


def lax_pages(http: Http, endpoint: Endpoint, window: Window, size: int) -> Iterator[Page]:
    """The cursor traversal where the server's ``$filter``/``$orderby`` on the cursor is unverified: keyset
    pages while the server honours them (the forward-progress checks prove it page by page); on a 400 or a
    page that fails those checks, the whole collection in id order, keeping the records whose cursor is at
    or after ``since``. The resume token says which of the two a crash interrupted."""
    resume = window.resume
    after = None
    if not (isinstance(resume, dict) and resume.get("full")):
        try:
            yield from keyset_pages(http, endpoint, window, size)
            return
        except PagingError as exc:
            reason = str(exc)
        except ApiError as exc:
            if exc.status != 400:
                raise
            reason = f"HTTP 400: {exc}"
        log.info(f"[{endpoint.name}] the server does not filter and order on {endpoint.cursor} ({reason[:200]}); "
                 f"reading the whole collection in id order and keeping records with {endpoint.cursor} at or after "
                 f"{records.to_utc_iso(window.since) if window.since else 'the start'}")
    else:
        after = resume.get("id")
    field_ = endpoint.cursor or ""
    for rows, response, last in by_id(http, endpoint, size, select=False, after=after):
        kept = [r for r in rows if window.since is None
                or records.parse_iso(key_of(r, field_, endpoint.name)["at"]) >= window.since]
        yield Page(kept, {"full": True, "id": last} if last is not None else None, response)


def fanout_rows(http: Http, endpoint: Endpoint, rid: Any, size: int, paths: list[str]) -> list[dict]:
    """One record's sub-listing, paged with ``$top``/``$skip``. ``paths`` (shared by the traversal) are the
    routes still worth trying: one answering 404 where a later one answers is dropped for the rest of the
    sync, which the log says once. A record gone meanwhile (404 everywhere) has no children."""
    for k, path in enumerate(list(paths)):
        out: list[dict] = []
        try:
            while True:
                rows = http.fetch("GET", path.format(id=rid), extract, params={"$top": size, "$skip": len(out)})
                out.extend(rows)
                if len(rows) < min(size, SERVED_WHOLE):
                    break
        except ApiError as exc:
            if exc.status != 404:
                raise
            continue
        if k:
            log.info(f"[{endpoint.name}] {', '.join(paths[:k])} answered 404; reading {path} instead")
            del paths[:k]
        return out
    return []


def decorated(http: Http, endpoint: Endpoint, pages: Iterator[Page], size: int) -> Iterator[Page]:
    """Pages whose records carry their derived and fanned-out child arrays (fetched per record here, in the
    prefetching thread, so the parent's page and its children land together)."""
    paths = list(endpoint.fanout.paths) if endpoint.fanout else []
    for page in pages:
        for record in page.records:
            if not isinstance(record, dict):
                continue  # the sync loop names the wrong shape
            for d in endpoint.derived:
                record[d.child.field] = d.build(record)
            if endpoint.fanout is not None and record.get("id") not in (None, ""):
                record[endpoint.fanout.child.field] = fanout_rows(http, endpoint, record["id"], size, paths)
        yield page


def custom_entities(http: Http) -> list[dict]:
    """The custom tables ``/api/metadata/entities`` lists (``isCustom``)."""
    rows = http.fetch("GET", "/api/metadata/entities", extract)
    out = []
    for row in rows:
        if not isinstance(row, dict) or not row.get("name"):
            raise ResponseError(f"GET /api/metadata/entities: expected entities with a 'name', got "
                                f"{str(row)[:80]}")
        if row.get("isCustom") is True:
            out.append(row)
    return out


CUSTOM_COLUMNS = {"id": "STRING", "created": DATE, "edited": DATE, "editedBy": "STRING", "recordOwner": "STRING"}


# Act! field types (the create-field model) that land typed; the others (text, dates whose format the metadata
# does not give, pictures) land as strings.
FIELD_TYPES = {"number": "DOUBLE", "currency": "DOUBLE", "decimal": "DOUBLE", "yesno": "BOOLEAN"}


def custom_columns(http: Http | None, name: str) -> dict[str, str]:
    """The custom table's tenant columns typed from ``/api/metadata/{name}/fields`` (none without http)."""
    if http is None:
        return {}
    try:
        fields = http.fetch("GET", f"/api/metadata/{quote(name)}/fields", extract, params={"showAll": "true"})
    except ApiError as exc:
        if exc.status != 404:
            raise
        return {}
    out = {}
    for f in fields:
        if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"] not in CUSTOM_COLUMNS:
            out[f["name"]] = FIELD_TYPES.get(str(f.get("type") or "").lower(), "STRING")
    return out


def custom_endpoint(entity: Mapping[str, Any], http: Http | None = None) -> Endpoint:
    name = str(entity["name"])
    return Endpoint(f"custom_{snake(name)}", f"/api/custom/entities/{quote(name)}", "edited",
                    {**CUSTOM_COLUMNS, **custom_columns(http, name)}, id_is_guid=None, derived=(LINKS,), lax=True,
                    doc=f"Custom table {entity.get('displayName') or name}, typed from its field metadata.")


# Rows --------------------------------------------------------------------------------------------------

def act_time(value: Any) -> str | None:
    """Act! timestamps carry an offset; one without is refused rather than guessed to be UTC."""
    if value is None or value == "":
        return None
    return records.to_utc_iso(records.parse_iso(str(value), default_tz=None))


def shaper(endpoint: Endpoint) -> Callable[[dict], dict]:
    """A lossless row: every field lands (nested objects flattened with ``_``, arrays as JSON text), declared
    columns converted by their type (``records.typed``'s converters), timestamps refused without an offset.
    The flatten is strict: two fields landing on one column name fail instead of one overwriting the other,
    which ``records.typed`` (not strict) would do silently."""
    converters: dict[str, Callable[[Any], Any]] = {}
    for column, kind in endpoint.columns.items():
        converters[column] = act_time if kind == DATE else records.BY_TYPE[kind]

    def shape(record: dict) -> dict:
        return records.convert(records.flatten(record, strict=True), converters)

    return shape


# The connector -----------------------------------------------------------------------------------------

def client(cfg: Mapping[str, Any], attempts: int = 6, clock: Callable[[], float] = time.monotonic
           ) -> tuple[Http, ActToken]:
    pause = cfg["rate_limit_pause"]
    http = Http(
        cfg["base_url"],
        timeout=60.0,
        backoff=Backoff(attempts=attempts),
        # rate_limit_pause spaces requests; X-RateLimit-* headers (Act! cloud) are followed on top of it.
        limiter=RateLimiter([(1, pause)] if pause > 0 else [], max_wait=900.0),
        headers={"Accept": "application/json"},
    )
    auth = ActToken(http, cfg["username"], cfg["password"], cfg["database_name"], clock)
    http.auth = auth
    return http, auth


SWEEP_DOC = ("id reconciliation: an id-only sweep every deletes_check_hours; $select=id ordered by id, paged by "
             "keyset (id gt the last id, so a delete during the sweep cannot skip an id); ids the warehouse holds "
             "but the sweep lacks are deleted, with their custom-field rows")


def children_of(endpoint: Endpoint) -> tuple[Child, ...]:
    custom = (Child("customFields", mapping=True, doc="Custom field values, one row per field name."),) \
        if endpoint.custom_fields else ()
    fanned = (endpoint.fanout.child,) if endpoint.fanout else ()
    return (*custom, *(d.child for d in endpoint.derived), *fanned, *endpoint.nested)


def table(http: Http | None, cfg: Mapping[str, Any], endpoint: Endpoint) -> Table:
    """One table's declaration; ``http`` is only used when a fetch runs (None for the catalogue)."""
    size = cfg["batch_size"]
    if endpoint.cursor is None:
        def fetch(window: Window, e: Endpoint = endpoint) -> Iterator[Page]:
            pages = e.reader(http, e) if e.reader else snapshot_pages(http, e)  # type: ignore[arg-type]
            return decorated(http, e, pages, size)  # type: ignore[arg-type]
        deletes: tuple[Any, ...] = (Snapshot(),)
    else:
        def fetch(window: Window, e: Endpoint = endpoint) -> Iterator[Page]:
            pages = (lax_pages if e.lax else keyset_pages)(http, e, window, size)  # type: ignore[arg-type]
            # The next page (and its fan-out) is requested while this one is written: its key is in Page.next.
            return prefetch(decorated(http, e, pages, size))  # type: ignore[arg-type]
        deletes = (Reconcile(ids=lambda e=endpoint: id_pages(http, e), doc=SWEEP_DOC),)  # type: ignore[misc]
    return Table(name=endpoint.name, primary_key=endpoint.key, columns=dict(endpoint.columns),
                 cursor=endpoint.cursor, fetch=fetch, row=shaper(endpoint),
                 read="cursor" if endpoint.cursor else "full", refs=dict(endpoint.refs),
                 children=children_of(endpoint), deletes=deletes, doc=endpoint.doc)


def tables(http: Http | None, cfg: Mapping[str, Any], names: Iterable[str] = NAMES,
           custom: Iterable[Endpoint] = ()) -> list[Table]:
    """The declarations of the tables named (catalogue order), then the custom tables given; nothing is
    requested until a fetch runs."""
    wanted = set(names)
    return [table(http, cfg, e) for e in ENDPOINTS if e.name in wanted] + [table(http, cfg, e) for e in custom]


def catalogue() -> list[Table]:
    """Every static table the connector can sync, built as the sync builds them (the fetches are never
    called). Custom tables depend on the database and are found at run time."""
    return tables(None, {"batch_size": SPEC["batch_size"].default})


def discover(cfg: Mapping[str, Any], http: Http | None = None) -> list[Endpoint]:
    """The custom tables of this database, when ``custom_tables`` is chosen (one metadata request)."""
    if CUSTOM not in selection.chosen(cfg, NAMES):
        return []
    if http is None:  # schema(): a few retries, so an unreachable server fails in seconds
        http, auth = client(cfg, attempts=2)
        auth.token()
    found = [custom_endpoint(e, http) for e in custom_entities(http)]
    clash = [e.name for e in found if e.name in NAMES]
    if clash:
        raise ResponseError(f"custom table(s) {', '.join(clash)} would land on a table the connector already "
                            "syncs")
    return found


def schema(configuration: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chosen tables; with ``custom_tables`` chosen, the database's custom tables too (read from its
    metadata: the SDK hands ``schema()`` the configuration, and a declared primary key is what keeps an
    edited custom row from landing twice)."""
    cfg = settings(configuration)  # a bad configuration fails here, before any sync
    return schema_of(tables(None, cfg, selection.chosen(cfg, NAMES), discover(cfg)))


def probe(name: str, path: str) -> Callable[[Mapping[str, Any]], None]:
    """A one-record read of an endpoint: proves the credentials, the database and the read permission. A
    table left out of ``tables`` is not probed: it costs no request."""
    def read(cfg: Mapping[str, Any]) -> None:
        if name not in selection.chosen(cfg, NAMES):
            return
        http, _ = client(cfg)
        http.get(path, params={"$top": 1})
    return read


PROBES = {**{e.name: (e.path if not e.reader else "/api/metadata/Contact/fields") for e in ENDPOINTS},
          CUSTOM: "/api/metadata/entities"}


def connect(cfg: Mapping[str, Any]) -> None:
    client(cfg)[1].token()


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {n: probe(n, p) for n, p in PROBES.items()}, connect=connect))


def update(configuration: Mapping[str, Any], state: dict[str, Any], sink: Any = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    host = cfg["hostname"]
    if cfg["protocol"] == "http" and not is_loopback(host):
        log.warning(f"protocol is http: the password and tokens travel unencrypted to {host}; use https where "
                    "the server offers it")
    log.info(f"Act! Web API at {cfg['base_url']}, database {cfg['database_name']!r}")
    deliver(lambda out: run(cfg, state, out), sink)


def run(cfg: Mapping[str, Any], state: dict[str, Any], sink: Any) -> SyncResult:
    """One sync of the chosen tables into ``sink`` (the SDK's operations, or a MemorySink in tests)."""
    chosen = selection.chosen(cfg, NAMES)
    upgrade_state(state, chosen)
    http, auth = client(cfg)
    auth.token()  # the credential check: fails once, clearly, instead of once per table
    try:
        found = discover(cfg, http)
        if found:
            log.info(f"custom tables: {', '.join(e.name for e in found)}")
        return sync_tables(tables(http, cfg, chosen, found), state, sink, start=cfg["default_start_date"],
                           stats=http.stats, policy=selection.policy(cfg))
    finally:
        log.debug(f"token acquisitions: {auth.acquired}, renewals with the old token: {auth.renewals}")


def upgrade_state(state: dict[str, Any], chosen: Iterable[str]) -> None:
    """State written before deletes were tracked: the task-type ids of the last snapshot become the keys the
    Snapshot() comparison starts from; a table synced before holds rows whose ids the state never recorded,
    so deletes among those are found only after a re-sync of that table, which the log says once."""
    entries = state.get("tables", {})
    types = entries.get("activity_types")
    if types is not None and "ids" in types and "keys" not in types:
        keys = KeySet()
        keys.update(int(i) if isinstance(i, int) or str(i).isdigit() else i for i in types.pop("ids"))
        types["keys"] = keys.dump()
    for name in chosen:
        entry = entries.get(name, {})
        if name in BY_NAME and BY_NAME[name].cursor is not None and entry.get("cursor") and "keys" not in entry:
            log.warning(f"[{name}] was synced before deletes were tracked: records deleted in Act! are found only "
                        "among those delivered from now on; re-sync the table to find deletes among all of them")


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()

