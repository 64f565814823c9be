"""Xurrent (formerly 4me) organizations, products and projects, through the Fivetran Connector SDK.

Each table is read with ``sort=updated_at&updated_at=>=<cursor>`` (inclusive) and pages follow the
``Link rel="next"`` URL exactly; that URL is the resume token checkpointed after every page. Each table
keeps its own cursor, which moves only after a complete traversal, to the largest ``updated_at``
delivered, capped at the server's clock when the traversal began. Nested arrays land as child tables;
deletes come from the archive and trash listings every sync and from an id reconciliation every
``deletes_check_hours``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from fivetran_connector_sdk import Connector

from synckit import (
    ApiError,
    Backoff,
    BearerToken,
    Child,
    ConfigError,
    DeleteFeed,
    Field,
    Http,
    KeySet,
    LinkHeader,
    Page,
    PagingError,
    RateLimiter,
    Reconcile,
    RefreshingToken,
    ResponseError,
    Table,
    Window,
    log,
    parse,
    prefetch,
    records,
    schema_of,
    selection,
    setup,
    sync_tables,
)
from synckit.config import is_loopback
from synckit.errors import OriginError
from synckit.sink import Sink, deliver
from synckit.sync import server_time
from synckit.table import snake

DEFAULT_BASE_URL = "https://api.xurrent.com/v1"
# Documented limits: 3,600 requests per rolling hour per token, and 20 per 2 seconds. The server counts arrival
# times; the limiter counts each request from its answer (later than its arrival), so no margin is needed.
HOURLY_LIMIT = (3600, 3600.0)
BURST_LIMIT = (20, 2.0)
MAX_BUDGET_WAIT = 300.0  # longer waits for the hourly budget end the sync cleanly at its checkpoint
MIN_SHARE = 10  # requests a table may always spend in one sync, however small the budget left
DELETES_RESERVE = 0.1  # share of the hourly budget kept for the delete feeds and id reconciliations
TOKEN_MARGIN = 60.0  # renew a client-credentials token this long before it expires


# The service-management collections --------------------------------------------------------------
# One declaration each: the documented fields asked for with fields= (it replaces the default fields), typed
# as columns (snake-cased: sourceID -> source_id), the references {id, name|subject|label} with the table each
# points at (their <ref>_id is a declared LONG column and a foreign key when that table is synced here), how the
# collection can be read, and the record type names GET /archive and GET /trash use for it.
S, L, B, T, D, DATE = "STRING", "LONG", "BOOLEAN", "UTC_DATETIME", "DOUBLE", "NAIVE_DATE"


@dataclasses.dataclass(frozen=True)
class Spec:
    path: str  # the collection under /v1
    doc: str
    scalars: dict[str, str]  # field -> column type
    refs: dict[str, str | None]  # reference field -> table of its id (None: a table not synced here)
    extra: tuple[str, ...] = ()  # further documented fields asked for, landed untyped
    read: str = "cursor"  # cursor: filter and sort on updated_at; window: filter only; by_id: append-only
    kinds: tuple[str, ...] = ()  # the record type in archive and trash entries (empty: never listed there)
    implicit: tuple[str, ...] = ()  # references a collection returns but fields= may not name
    custom: bool = False  # has custom_fields (a key/value child table)
    nested: dict[str, str] = dataclasses.field(default_factory=dict)  # child field -> sub-collection ("/cis/{id}/...")
    cascade: tuple[str, ...] = ()  # tables whose records the API archives or trashes with this one's


PEOPLE_REFS = ("member", "manager", "requested_by", "requested_for", "created_by", "person", "coordinator",
               "availability_manager")
SPECS: dict[str, Spec] = {
    "requests": Spec(
        "/requests", "requests (incidents, RFCs, service requests) with their SLA target, status and assignment",
        {"sourceID": S, "subject": S, "category": S, "impact": S, "status": S, "next_target_at": S,
         "completed_at": T, "completion_reason": S, "urgent": B, "reopen_count": L, "source": S,
         "desired_completion_at": T, "resolution_target_at": T, "response_target_at": T, "satisfaction": S,
         "major_incident_status": S, "closure_code": S, "waiting_until": T, "grouping": S},
        {"team": "teams", "member": "people", "grouped_into": "requests", "service_instance": "service_instances",
         "requested_by": "people", "requested_for": "people", "created_by": "people",
         "organization": "organizations", "supplier": "organizations", "workflow": "workflows",
         "problem": "problems", "project": "projects", "knowledge_article": "knowledge_articles",
         "template": None, "ui_extension": "ui_extensions"},
        kinds=("request",), custom=True),
    "affected_slas": Spec(
        "/affected_slas", "per request and SLA: response and resolution targets, actual durations, accountability",
        {"impact": S, "accountability": S, "response_target_at": T, "resolution_target_at": T,
         "actual_response_duration": L, "maximum_response_duration": L, "maximum_resolution_duration": L,
         "actual_resolution_at": T, "downtime_duration": L, "downtime_end_at": T, "time_zone": S},
        {"request": "requests", "sla": "slas", "service_instance": "service_instances", "support_team": "teams",
         "first_line_team": "teams", "standard_service_request": None, "service_hours": None},
        read="window", kinds=("affected_sla",)),
    "notes": Spec(
        "/notes", "notes of requests, problems, tasks and others: the conversation and first-response evidence",
        {"text": S, "medium": S, "internal": B},
        {"person": "people", "request": "requests", "problem": "problems", "task": "tasks", "workflow": "workflows",
         "project_task": "project_tasks"},
        extra=("attachments",), read="by_id"),
    "tasks": Spec(
        "/tasks", "workflow tasks (approvals, implementation); they go with their workflow",
        {"sourceID": S, "subject": S, "category": S, "impact": S, "status": S, "completion_target_at": T,
         "finished_at": T, "assigned_at": T, "planned_duration": L, "planned_effort": L, "required_approvals": L,
         "start_at": T, "waiting_until": T, "supplier_requestID": S, "source": S},
        {"team": "teams", "member": "people", "workflow": "workflows", "template": None, "manager": "people",
         "supplier": "organizations", "request": "requests", "ui_extension": "ui_extensions"},
        kinds=("task",), custom=True),
    "workflows": Spec(
        "/workflows", "workflows (changes): status, impact, service, the parent of tasks",
        {"sourceID": S, "subject": S, "category": S, "impact": S, "status": S, "completion_target_at": T,
         "completed_at": T, "justification": S, "start_at": T, "source": S},
        {"manager": "people", "service": "services", "template": None, "project": "projects", "release": None},
        kinds=("workflow",), custom=True, cascade=("tasks",)),
    "people": Spec(
        "/people", "people: requesters, specialists and managers",
        {"sourceID": S, "name": S, "disabled": B, "primary_email": S, "job_title": S, "location": S, "vip": B,
         "cost_per_hour": D, "time_zone": S, "locale": S, "employeeID": S, "supportID": S},
        {"organization": "organizations", "site": "sites", "manager": "people", "work_hours": None,
         "ui_extension": "ui_extensions"},
        extra=("contacts", "addresses"), kinds=("person",), custom=True),
    "teams": Spec(
        "/teams", "teams (assignment groups); members from GET /teams/:id/members",
        {"sourceID": S, "name": S, "disabled": B, "remarks": S},
        {"coordinator": "people", "manager": "people", "work_hours": None},
        kinds=("team",), nested={"members": "/teams/{id}/members"}),
    "service_instances": Spec(
        "/service_instances", "service instances, the service dimension requests point at",
        {"sourceID": S, "name": S, "status": S},
        {"service": "services", "support_team": "teams", "first_line_team": "teams"},
        kinds=("service_instance",)),
    "services": Spec(
        "/services", "services: provider and support team",
        {"sourceID": S, "name": S, "disabled": B},
        {"provider": "organizations", "support_team": "teams", "availability_manager": "people"},
        kinds=("service",), custom=True),
    "slas": Spec(
        "/slas", "service level agreements",
        {"sourceID": S, "name": S, "status": S},
        {"service_offering": "service_offerings", "service_instance": "service_instances",
         "customer": "organizations"},
        kinds=("sla", "service_level_agreement")),
    "service_offerings": Spec(
        "/service_offerings", "service offerings behind SLAs",
        {"sourceID": S, "name": S, "status": S}, {"service": "services"}, kinds=("service_offering",)),
    "problems": Spec(
        "/problems", "problems and known errors",
        {"sourceID": S, "subject": S, "impact": S, "status": S, "known_error": B, "analysis_target_at": T,
         "solved_at": T},
        {"team": "teams", "member": "people", "service": "services", "manager": "people", "workflow": "workflows"},
        kinds=("problem",), custom=True),
    "configuration_items": Spec(
        "/cis", "configuration items (the CMDB); relations from GET /cis/:id/ci_relations",
        {"sourceID": S, "label": S, "name": S, "software": B, "status": S, "rule_set": S, "serial_nr": S,
         "systemID": S, "assetID": S},
        {"product": "products", "support_team": "teams", "service": "services", "site": "sites",
         "financial_owner": "organizations", "supplier": "organizations"},
        kinds=("ci", "configuration_item"), custom=True, nested={"ci_relations": "/cis/{id}/ci_relations"}),
    "time_entries": Spec(
        "/time_entries", "time spent per person on requests, tasks and problems; deleted entries stay, deleted true",
        {"date": DATE, "time_spent": L, "description": S, "deleted": B, "correction": B, "charge_type": S},
        {"person": "people", "organization": "organizations", "service": "services",
         "service_instance": "service_instances", "customer": "organizations", "time_allocation": None,
         "effort_class": None, "request": "requests", "problem": "problems", "task": "tasks",
         "project_task": "project_tasks"},
        kinds=("time_entry",), implicit=("request", "problem", "task", "project_task")),
    "sites": Spec(
        "/sites", "sites (locations)", {"sourceID": S, "name": S, "disabled": B, "city": S, "country": S}, {},
        kinds=("site",)),
    "knowledge_articles": Spec(
        "/knowledge_articles", "knowledge articles",
        {"sourceID": S, "subject": S, "status": S, "start_at": T},
        {"service": "services", "created_by": "people", "template": None}, kinds=("knowledge_article",),
        custom=True),
    "project_tasks": Spec(
        "/project_tasks", "project tasks; they go with their project",
        {"sourceID": S, "subject": S, "category": S, "status": S, "completion_target_at": T, "finished_at": T,
         "planned_effort": L},
        {"project": "projects", "phase": None, "team": "teams", "member": "people", "template": None},
        kinds=("project_task",)),
    "ui_extensions": Spec(
        "/ui_extensions", "UI extensions: the forms that define custom fields",
        {"sourceID": S, "name": S, "disabled": B, "title": S, "category": S},
        {"active_version": None, "prepared_version": None}, kinds=("ui_extension",)),
}
CORE = ("organizations", "products", "projects")
NAMES = (*CORE, *SPECS)


def _account(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        return "must be an account id such as 'widget' (letters, digits, '.', '_' or '-', at most 64)"
    return None


def _no_spaces(value: str) -> str | None:
    return "must not contain spaces" if any(c.isspace() for c in value) else None


def _api_url(url: str) -> str | None:
    if not urlsplit(url).path.rstrip("/").endswith("/v1"):
        return "must end with /v1, for example https://api.xurrent.com/v1 or https://api.au.xurrent.com/v1"
    return None


SPEC = {
    "oauth_token": Field(secret=True, check=_no_spaces,
                         description="personal access token; leave empty when client_id/client_secret are set"),
    "account_id": Field(required=True, check=_account, description="sent as X-Xurrent-Account"),
    "sync_frequency_hours": Field(kind=int, minimum=1, maximum=24,
                                  description="skip a sync started sooner than this after the last completed one"),
    "initial_sync_days": Field(kind=int, minimum=1, maximum=365,
                               description="first sync reads records updated in the last N days; empty: all"),
    "max_records_per_page": Field(kind=int, default=100, minimum=1, maximum=100),
    "request_timeout_seconds": Field(kind=int, default=30, minimum=10, maximum=300),
    "retry_attempts": Field(kind=int, default=3, minimum=1, maximum=10),
    "enable_incremental_sync": Field(kind=bool, default=True),
    "base_url": Field(kind="url", default=DEFAULT_BASE_URL, check=_api_url),
    "token_url": Field(kind="url", description="OAuth token endpoint; derived from base_url when empty"),
    "client_id": Field(check=_no_spaces, description="OAuth client id for the client-credentials grant"),
    "client_secret": Field(secret=True, check=_no_spaces, description="OAuth client secret"),
    **selection.spec(NAMES),
}


# Tables -------------------------------------------------------------------------------------------
# Every field a collection can return is asked for with fields= (it replaces the default collection
# fields). Declared columns are typed; every other field lands as well (references {id, name, ...}
# flattened to <ref>_id, <ref>_name, ...; arrays as JSON), except the arrays that land as child tables.

REFS = {  # reference fields: {id, name, ...} objects (an API that sends anything else for one is refused)
    "organizations": ["parent", "manager", "business_unit_organization", "substitute", "ui_extension",
                      "order_template"],
    "products": ["service", "support_team", "financial_owner", "supplier", "ui_extension", "workflow_template",
                 "workflow_manager"],
    "projects": ["service", "manager", "customer", "program", "work_hours", "risk_level", "ui_extension"],
}
READABLE = {  # the documented fields of each record (collection defaults plus single-record fields)
    "organizations": ["sourceID", "name", "parent", "manager", "created_at", "updated_at", "addresses",
                      "business_unit", "business_unit_organization", "contacts", "custom_fields", "disabled",
                      "picture_uri", "region", "remarks", "source", "substitute", "ui_extension", "financialID",
                      "end_user_privacy", "order_template"],
    "products": ["sourceID", "name", "category", "support_team", "service", "created_at", "updated_at", "brand",
                 "model", "productID", "rule_set", "financial_owner", "supplier", "rate", "useful_life",
                 "depreciation_method", "salvage_value", "remarks", "picture_uri", "ui_extension", "source",
                 "disabled", "workflow_template", "workflow_manager", "recurrence"],
    "projects": ["sourceID", "subject", "manager", "category", "status", "completion_target_at", "completed_at",
                 "service", "created_at", "updated_at", "customer", "program", "justification", "time_zone",
                 "work_hours", "cost_of_effort", "cost_of_purchases", "total_cost", "value", "effort", "roi",
                 "risk_level", "completion_reason", "custom_fields", "source", "ui_extension"],
}
COLUMNS: dict[str, dict[str, str]] = {
    "organizations": {"source_id": "STRING", "name": "STRING", "disabled": "BOOLEAN", "region": "STRING",
                      "financial_id": "STRING", "remarks": "STRING", "parent_id": "LONG", "parent_name": "STRING",
                      "manager_id": "LONG", "manager_name": "STRING", "business_unit_organization_id": "LONG",
                      "business_unit_organization_name": "STRING"},
    "products": {"source_id": "STRING", "name": "STRING", "category": "STRING", "disabled": "BOOLEAN",
                 "brand": "STRING", "model": "STRING", "product_id": "STRING", "rule_set": "STRING",
                 "useful_life": "LONG", "depreciation_method": "STRING", "service_id": "LONG",
                 "service_name": "STRING", "service_provider_id": "LONG", "service_provider_name": "STRING",
                 "support_team_id": "LONG", "support_team_name": "STRING", "financial_owner_id": "LONG",
                 "financial_owner_name": "STRING", "supplier_id": "LONG", "supplier_name": "STRING"},
    "projects": {"source_id": "STRING", "subject": "STRING", "category": "STRING", "status": "STRING",
                 "completion_target_at": "UTC_DATETIME", "completed_at": "UTC_DATETIME",
                 "justification": "STRING", "time_zone": "STRING", "cost_of_effort": "DOUBLE", "effort": "LONG",
                 "service_id": "LONG", "service_name": "STRING", "service_provider_id": "LONG",
                 "service_provider_name": "STRING", "manager_id": "LONG", "manager_name": "STRING",
                 "customer_id": "LONG", "customer_name": "STRING", "program_id": "LONG", "program_name": "STRING",
                 "work_hours_id": "LONG", "work_hours_name": "STRING"},
}
FOREIGN = {  # foreign keys into tables of this connector
    "organizations": {"parent_id": "organizations.id", "business_unit_organization_id": "organizations.id"},
    "products": {"service_provider_id": "organizations.id", "financial_owner_id": "organizations.id",
                 "supplier_id": "organizations.id"},
    "projects": {"service_provider_id": "organizations.id", "customer_id": "organizations.id"},
}
DOCS = {
    "organizations": "internal and external organizations (customers, suppliers, business units)",
    "products": "the product catalogue behind configuration items",
    "projects": "projects with their cost, effort and status",
}


def columns(name: str) -> dict[str, str]:
    stamps = {"created_at": "UTC_DATETIME", "updated_at": "UTC_DATETIME"}
    if name in SPECS and SPECS[name].read == "by_id":
        stamps.pop("updated_at")  # notes are never updated: they have no updated_at
    return {"id": "LONG", **COLUMNS[name], "account_id": "STRING", "account_name": "STRING", **stamps}


def fields_param(name: str) -> str:
    """The ``fields=`` list: every readable field (``id`` always comes; ``account`` comes when it applies)."""
    return ",".join(dict.fromkeys(READABLE[name]))


def _custom_field(element: dict) -> dict[str, Any]:
    """``{"id": "priority", "value": <any JSON>}`` -> a key/value row; a non-string value as JSON text."""
    value = element.get("value")
    return {"field_id": records.text(element.get("id")) if element.get("id") is not None else None,
            "value": value if value is None or isinstance(value, str) else records.text(value)}


CUSTOM_FIELDS = Child("custom_fields", key=("field_id",), columns={"field_id": "STRING", "value": "STRING"},
                      row=_custom_field, doc="custom field values (the UI extension's fields), one row per field id")
CHILDREN: dict[str, tuple[Child, ...]] = {
    "organizations": (
        Child("contacts", doc="telephone numbers and other contacts, by position (they carry no key)"),
        Child("addresses", doc="postal addresses, by position (they carry no key)"),
        CUSTOM_FIELDS,
    ),
    "products": (),
    "projects": (CUSTOM_FIELDS,),
}


def _declare(name: str, spec: Spec) -> None:
    """The derived declarations of one collection: what fields= asks for, typed columns, foreign keys."""
    REFS[name] = list(spec.refs)
    READABLE[name] = [*spec.scalars, *(r for r in spec.refs if r not in spec.implicit), *spec.extra,
                      *(["custom_fields"] if spec.custom else []), "created_at",
                      *(["updated_at"] if spec.read != "by_id" else [])]
    COLUMNS[name] = {**{snake(f): t for f, t in spec.scalars.items()}, **{f"{snake(r)}_id": L for r in spec.refs}}
    FOREIGN[name] = {f"{snake(r)}_id": f"{t}.id" for r, t in spec.refs.items() if t is not None}
    DOCS[name] = spec.doc
    CHILDREN[name] = (*((CUSTOM_FIELDS,) if spec.custom else ()), *(NESTED[f] for f in spec.nested))


NESTED = {  # sub-collections landed as child tables, keyed by the element's own id
    "members": Child("members", key=("id",), columns={"id": L, "name": S},
                     doc="team members (people), from GET /teams/:id/members"),
    "ci_relations": Child("ci_relations", key=("id",), name="relations",
                          columns={"id": L, "relation_type": S, "ci_id": L}, refs={"ci_id": "configuration_items.id"},
                          doc="relations to other CIs, from GET /cis/:id/ci_relations"),
}
for _name, _spec in SPECS.items():
    _declare(_name, _spec)
CASCADE = {"projects": ("project_tasks",), **{n: s.cascade for n, s in SPECS.items()}}
KINDS = {"organizations": ("organization",), "products": ("product",), "projects": ("project",),
         **{n: s.kinds for n, s in SPECS.items()}}


def path_of(name: str) -> str:
    return SPECS[name].path if name in SPECS else f"/{name}"


def _snake_tree(value: Any) -> Any:
    """Keys in Fivetran's column naming (``sourceID`` -> ``source_id``), nested objects included."""
    if isinstance(value, dict):
        return {snake(str(k)): _snake_tree(v) for k, v in value.items()}
    return value


def row_function(name: str) -> Callable[[dict], dict[str, Any]]:
    """Lossless: declared columns typed, every other field flattened; a declared column the API left out
    is null (never an empty string)."""
    typed_row = records.typed(columns(name))
    refs = [*REFS[name], "account"]
    declared = columns(name)

    def shape(record: dict) -> dict[str, Any]:
        for ref in refs:
            value = record.get(ref)
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"field '{ref}' should be an {{id, name}} reference, got {type(value).__name__}")
        # A null reference lands as its declared <ref>_id/<ref>_name nulls, not as a column of its own.
        row = typed_row(_snake_tree({k: v for k, v in record.items() if not (k in refs and v is None)}))
        for column in declared:
            row.setdefault(column, None)
        return row

    return shape


def shape(name: str, record: dict) -> dict[str, Any]:
    """One API record -> one row (tests and tools call this; the sync uses the same row function)."""
    return row_function(name)(record)


# Configuration, authentication, client ------------------------------------------------------------

def settings(configuration: dict[str, Any]) -> dict[str, Any]:
    cfg = parse(configuration, SPEC)
    has_client = bool(cfg["client_id"]) or bool(cfg["client_secret"])
    if cfg["oauth_token"] and has_client:
        raise ConfigError("oauth_token", "set either oauth_token or client_id/client_secret, not both")
    if not cfg["oauth_token"] and not has_client:
        raise ConfigError("oauth_token", "is required (or set client_id and client_secret instead)")
    if has_client and not cfg["client_id"]:
        raise ConfigError("client_id", "is required when client_secret is set")
    if has_client and not cfg["client_secret"]:
        raise ConfigError("client_secret", "is required when client_id is set")
    if has_client and not cfg["token_url"]:
        derived = derive_token_url(cfg["base_url"])
        if derived is None:
            raise ConfigError("token_url", "is required for this base_url (it cannot be derived); for example "
                                           "https://oauth.xurrent.com/token")
        cfg["token_url"] = derived
    return cfg


def derive_token_url(base_url: str) -> str | None:
    """``https://api.au.xurrent.com/v1`` -> ``https://oauth.au.xurrent.com/token``; a local simulator
    serves ``/token`` on its own origin."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if is_loopback(host):
        return f"{parts.scheme}://{parts.netloc}/token"
    if host.startswith("api."):
        netloc = "oauth." + parts.netloc[len("api."):]
        return f"{parts.scheme}://{netloc}/token"
    return None


def client_credentials(cfg: dict[str, Any]) -> Callable[[], tuple[str, float]]:
    """A fetch for RefreshingToken: POST the client-credentials grant, return (token, lifetime)."""
    token_http = Http(cfg["token_url"], timeout=cfg["request_timeout_seconds"],
                      backoff=Backoff(attempts=cfg["retry_attempts"]), headers={"Accept": "application/json"})
    form = {"grant_type": "client_credentials", "client_id": cfg["client_id"], "client_secret": cfg["client_secret"]}

    def fetch() -> tuple[str, float]:
        body = token_http.json("POST", cfg["token_url"], data=form, auth=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ResponseError("the token endpoint answered without an access_token")
        token_type = str(body.get("token_type") or "Bearer")
        if token_type.lower() != "bearer":
            raise ResponseError(f"the token endpoint returned token_type {token_type!r}, expected Bearer")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            raise ResponseError("the token endpoint returned a non-numeric expires_in") from None
        log.info(f"obtained a client-credentials token valid for {lifetime:.0f}s")
        return token, lifetime

    return fetch


def authenticator(cfg: dict[str, Any]) -> BearerToken | RefreshingToken:
    account = {"X-Xurrent-Account": cfg["account_id"]}
    if cfg["oauth_token"]:
        return BearerToken(cfg["oauth_token"], extra=account)
    fetch = client_credentials(cfg)
    auth = RefreshingToken(lambda: _with_margin(auth, fetch), margin=TOKEN_MARGIN, extra=account)
    return auth


def _with_margin(auth: RefreshingToken, fetch: Callable[[], tuple[str, float]]) -> tuple[str, float]:
    """Renew TOKEN_MARGIN before expiry, or a quarter of the lifetime for very short-lived tokens."""
    token, lifetime = fetch()
    auth.margin = min(TOKEN_MARGIN, lifetime / 4)
    return token, lifetime


def client(cfg: dict[str, Any]) -> Http:
    return Http(
        cfg["base_url"],
        authenticator(cfg),
        timeout=cfg["request_timeout_seconds"],
        backoff=Backoff(attempts=cfg["retry_attempts"]),
        limiter=RateLimiter([BURST_LIMIT, HOURLY_LIMIT], max_wait=MAX_BUDGET_WAIT, count_from_response=True),
        headers={"Accept": "application/json"},
    )


# Paging -------------------------------------------------------------------------------------------

def z(dt: datetime) -> str:
    """A filter value in Z form at second resolution, floored so the filter stays inclusive."""
    return dt.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection(response: Any) -> list[dict]:
    body = response.json()  # a ValueError (truncated body) is retried by Http.fetch
    if not isinstance(body, list):
        raise ResponseError(f"GET {response.url}: expected a JSON array, got {type(body).__name__}")
    return body


class Shares:
    """The hourly request budget split between the selected tables, so that one large table (a first load of
    requests or notes) cannot spend what the others need. The budget is the API user's, shared by all of
    that user's tokens and scripts: its remaining figure comes from ``GET /rate_limit`` at the start of the
    sync (which costs no quota) and from every response's ``X-RateLimit-Remaining``. Each table, when it
    starts, may spend the remaining budget (less a reserve for delete detection) divided by the tables still
    to come, and at least MIN_SHARE; a table that reaches its share ends its traversal at a page boundary,
    and the next sync continues it from there (tables read in updated_at or id order only)."""

    def __init__(self, http: Http | None, names: list[str]):
        self.http, self.names = http, names
        self.limits: dict[str, int] = {}

    def probe(self) -> None:
        """Learn the user's remaining budget before the first table (a 404 or 403: from the first response)."""
        assert self.http is not None
        rate_limit(self.http)

    def start(self, name: str) -> None:
        assert self.http is not None
        remaining = self.http.limiter.remaining
        if remaining is None:
            remaining = HOURLY_LIMIT[0]
        left = max(1, len(self.names) - self.names.index(name))
        share = max(MIN_SHARE, int(remaining * (1 - DELETES_RESERVE)) // left)
        self.limits[name] = int(self.http.stats.as_dict()["requests"]) + share

    def spent(self, name: str) -> bool:
        """Whether the table has used its share (always False before it started)."""
        limit = self.limits.get(name)
        return limit is not None and self.http is not None and self.http.stats.as_dict()["requests"] >= limit


def pages(http: Http, name: str, page_size: int, window: Window, shares: Shares | None = None) -> Iterator[Page]:
    """Pages of ``name`` with updated_at >= window.since, sorted by updated_at, following Link rel=next.

    The resume token is the next URL, or ``{"from": iso}`` after the API's 100,000-record cap ended a
    traversal early: the traversal then restarts at the last updated_at it delivered. When the table has
    spent its share of the budget the traversal ends after a page that moved past ``since``: the cursor
    then commits the last updated_at delivered, and the inclusive filter re-reads its ties next sync."""
    resume = window.resume
    since = window.since
    if isinstance(resume, dict):
        since, resume = records.parse_iso(resume["from"]), None
    while True:
        params: dict[str, Any] = {"sort": "updated_at", "per_page": page_size, "fields": fields_param(name)}
        if since is not None:
            params["updated_at"] = f">={z(since)}"
        last: str | None = None
        try:
            for number, page in enumerate(LinkHeader().pages(http, path_of(name), params, collection, resume)):
                for position, record in enumerate(page.records):
                    if isinstance(record, dict) and record.get("id") is not None and not record.get("updated_at"):
                        raise ResponseError(f"table '{name}', page {number + 1}, record {position + 1}: field "
                                            "'updated_at' is missing; the cursor cannot move past this record")
                if page.records:
                    last = page.records[-1].get("updated_at") or last
                if page.next is None and throttled(page):
                    restart = records.parse_iso(str(last)) if last else None
                    if restart is None or (since is not None and restart <= since):
                        raise ResponseError(f"[{name}] more than the API's collection cap share one updated_at "
                                            f"({last}); cannot narrow the window further")
                    log.info(f"[{name}] the API capped the collection (X-Pagination-Throttled); "
                             f"continuing from updated_at >= {z(restart)}")
                    yield Page(page.records, {"from": z(restart)}, page.response)
                    since, resume = restart, None
                    break
                yield page
                if page.next is not None and shares is not None and shares.spent(name) and last and \
                        (window.since is None or records.parse_iso(str(last)) > window.since):
                    log.info(f"[{name}] used its share of the hourly request budget; the next sync continues "
                             f"from updated_at >= {z(records.parse_iso(str(last)))}")
                    return
            else:
                return
        except OriginError as exc:
            raise _origin(http, name, exc) from None


RATE_LIMIT_EVERY = 1.0  # GET /rate_limit may be called at most once per second


def rate_limit(http: Http) -> Any:
    """``GET /rate_limit`` (it reports the user's budget without using it), or None where it is refused or
    missing. An answer younger than a second is reused: the API allows one call per second."""
    memo = getattr(http, "_xurrent_rate_limit", None)
    if memo is not None and time.monotonic() - memo[0] < RATE_LIMIT_EVERY:
        return memo[1]
    try:
        response = http.get("/rate_limit")
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
        response = None
    http._xurrent_rate_limit = (time.monotonic(), response)  # type: ignore[attr-defined]
    return response


def frozen_end(http: Http, name: str) -> str:
    """The upper bound of a window read: the server's clock now (from ``GET /rate_limit``, which costs no
    quota, or else a one-record read), minus a second, so every edit after it carries a later updated_at.
    A reused answer is at most a second old: an earlier end, which is safe."""
    response = rate_limit(http)
    if server_time(response) is None:
        response = http.get(path_of(name), params={"per_page": 1, "fields": "id"})
    server = server_time(response)
    now = datetime.now(timezone.utc)
    return z(min(now, server) - timedelta(seconds=1) if server else now - timedelta(seconds=60))


def window_pages(http: Http, name: str, page_size: int, window: Window) -> Iterator[Page]:
    """A collection that filters on updated_at but cannot sort on it (affected SLAs): the window
    ``since <= updated_at <= end`` is frozen when the traversal starts and read in id order to its end;
    every page's token carries the frozen end, so a resumed traversal reads the same window. The cursor
    moves only after the whole window (the sync loop commits at the end of a traversal)."""
    token = window.resume if isinstance(window.resume, dict) else {}
    end = token.get("end") or frozen_end(http, name)
    url, after = token.get("next"), token.get("after")
    while True:
        bound = f">={z(window.since)}<={end}" if window.since else f"<={end}"
        params: dict[str, Any] = {"sort": "id", "per_page": page_size, "fields": fields_param(name),
                                  "updated_at": bound}
        if after is not None:
            params["id"] = f">{after}"
        try:
            for page in LinkHeader().pages(http, path_of(name), params, collection, url):
                ids = [_id(path_of(name), r) for r in page.records]
                if page.next is None and throttled(page) and ids:
                    after, url = max(ids), None  # past the collection cap: continue after the last id
                    yield Page(page.records, {"end": end, "after": after}, page.response)
                    break
                yield Page(page.records, {"end": end, "next": page.next, "after": after} if page.next else None,
                           page.response)
            else:
                return
        except OriginError as exc:
            raise _origin(http, name, exc) from None


def id_pages(http: Http, name: str, page_size: int, state: dict[str, Any], shares: Shares | None = None
             ) -> Iterator[Page]:
    """An append-only collection (notes) by id: ``id=>last&sort=id``. The last id delivered is kept in the
    table's state entry and checkpointed with each page's rows, so a resumed or later sync goes on from it."""
    entry = state.setdefault("tables", {}).setdefault(name, {})
    after = entry.get("after_id")
    params: dict[str, Any] = {"fields": fields_param(name)}
    if after is not None:
        params["id"] = f">{after}"

    def read() -> Iterator[Page]:  # no side effect here: it runs a page ahead (prefetch)
        last = after
        for rows in by_id(http, path_of(name), params, page_size):
            last = max([*(_id(path_of(name), r) for r in rows), last or 0])
            yield Page(rows, last)

    for page in prefetch(read()):
        if page.next:
            entry["after_id"] = page.next  # checkpointed by the sync loop together with this page's rows
        yield Page(page.records, None)
        if shares is not None and shares.spent(name) and page.records:
            log.info(f"[{name}] used its share of the hourly request budget; the next sync continues after id "
                     f"{entry.get('after_id')}")
            return


def with_nested(http: Http, name: str, pages_: Iterator[Page]) -> Iterator[Page]:
    """Sub-collections (``/cis/:id/ci_relations``, ``/teams/:id/members``) read for every record delivered, so
    they land as child tables replaced with their parent. A parent gone meanwhile (404) has none."""
    nested = SPECS[name].nested if name in SPECS else {}
    for page in pages_:
        for record in page.records if nested else ():
            if not isinstance(record, dict) or record.get("id") is None:
                continue  # the sync loop names the bad record
            for child, template in nested.items():
                try:
                    sub = template.format(id=_id(path_of(name), record))
                    record[child] = [r for p in LinkHeader().pages(http, sub, {"per_page": 100}, collection)
                                     for r in p.records]
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    record[child] = []
        yield page


def throttled(page: Page) -> bool:
    return page.response is not None and page.response.headers.get("X-Pagination-Throttled", "").lower() == "true"


def _origin(http: Http, name: str, exc: Exception) -> PagingError:
    return PagingError(f"[{name}] the API's Link header points outside base_url {http.base_url} ({exc}); "
                       "set base_url to the host the API answers on, for example "
                       "https://api.4me.com/v1 for a legacy account")


def by_id(http: Http, path: str, params: dict[str, Any], page_size: int) -> Iterator[list[dict]]:
    """Every record of ``path`` in ascending id order, in pages. Cursor links carry the last id, so a record
    removed while we read cannot shift another past us; when the 100,000-record cap ends a listing early,
    it continues with ``id=>last``. Raises on any failure: a partial listing never looks complete."""
    after: int | None = None
    while True:
        query = {**params, "sort": "id", "per_page": page_size}
        if after is not None:
            query["id"] = f">{after}"
        try:
            for page in LinkHeader().pages(http, path, query, collection):
                ids = [_id(path, r) for r in page.records]
                yield page.records
                if page.next is None and throttled(page) and ids:
                    after = max(ids)
                    break
            else:
                return
        except OriginError as exc:
            raise _origin(http, path.strip("/"), exc) from None


def _id(path: str, record: Any) -> int:
    if not isinstance(record, dict):
        raise ResponseError(f"GET {path}: expected objects, got {type(record).__name__}")
    value = record.get("id")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ResponseError(f"GET {path}: a record has no integer id ({value!r}); nothing is deleted")
    return int(value)


# Deletes ------------------------------------------------------------------------------------------
# Archived and trashed records leave the collections and appear in GET /archive and GET /trash (one entry
# per record: "archived": "organization", "organization": {"id": ...}). Each table's delete feed reads
# the archive from the last entry id it saw (entries only come) and the whole trash (records stay there
# 28 days, so it stays small), remembering the trash entries of its type: one that vanished was restored
# or erased, and the next traversal of the table re-reads those records by id (a restored record comes
# back with its child rows; an erased one is simply not found). The three tables share one read of each
# listing per sync. Both listings need an administrator role: without it the feed logs a warning once and
# the id reconciliation finds the deletes instead.

class Bins:
    """GET /archive and GET /trash, read at most once per sync for every table (per starting id)."""

    def __init__(self, http: Http | None, page_size: int):
        self.http = http
        self.page_size = page_size
        self.memo: dict[tuple[str, int | None], list[list[dict]]] = {}
        self.denied: set[str] = set()

    def listing(self, kind: str, after: int | None = None) -> list[list[dict]] | None:
        """Pages of entries with id > after (all: None); None when the token may not read them."""
        if kind in self.denied:
            return None
        key = (kind, after)
        if key not in self.memo:
            assert self.http is not None, "the catalogue's tables are never synced"
            params: dict[str, Any] = {} if after is None else {"id": f">{after}"}
            try:
                if after is None and kind == "archive":  # the first sync starts at the newest entry
                    newest = self.http.get_json(f"/{kind}", params={"sort": "-id", "per_page": 1, "fields": "id"})
                    if not isinstance(newest, list):
                        raise ResponseError(f"GET /{kind}: expected a JSON array, got {type(newest).__name__}")
                    self.memo[key] = [newest]
                else:
                    self.memo[key] = [list(p) for p in by_id(self.http, f"/{kind}", params, self.page_size)]
            except ApiError as exc:
                if exc.status != 403:
                    raise
                self.denied.add(kind)
                log.warning(f"GET /{kind} was refused ({exc}): deletes are found by the id reconciliation "
                            "alone (every deletes_check_hours). Reading the Archive and the Trash needs the "
                            "Account Administrator role.")
                return None
        return self.memo[key]


def entries_of(entries: list[dict], kind: str, name: str) -> list[tuple[int, int]]:
    """(entry id, record id) of the entries that archive or trash a record of table ``name``."""
    verb = {"archive": "archived", "trash": "trashed"}[kind]
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get(verb) not in KINDS[name]:
            continue
        target = entry.get(entry[verb])
        if not isinstance(target, dict):
            raise ResponseError(f"GET /{kind}: entry {entry.get('id')!r} names a {entry[verb]} without a "
                                "reference to it")
        out.append((_id(f"/{kind}", entry), _id(f"/{kind}", target)))
    return out


def feed_position(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    return state.get("tables", {}).get(name, {}).get("deletes", {}).get("feed")


def delete_feed(bins: Bins, name: str, state: dict[str, Any]) -> Callable[[Any], Iterator[Page]]:
    """The DeleteFeed fetch of one table. Position: ``{"archive": last entry id, "trash": [[entry id,
    record id], ...]}`` (the trash entries of this table seen last time)."""

    def fetch(position: Any) -> Iterator[Page]:
        first = position is None
        position = dict(position or {})
        archive_after = position.get("archive")
        seen = {int(e): int(r) for e, r in position.get("trash", [])}
        known = KeySet.load(state.get("tables", {}).get(name, {}).get("keys"))
        archive = bins.listing("archive", archive_after)
        if archive is not None:
            for entries in archive:
                ids = [_id("/archive", e) for e in entries]
                gone = [] if first else [r for _, r in entries_of(entries, "archive", name) if r in known]
                archive_after = max([*ids, archive_after or 0])
                yield Page([("delete", {"id": r}) for r in gone], {**position, "archive": archive_after})
            if archive_after is None:
                archive_after = 0  # an empty archive: every entry from now on is new
        trash = bins.listing("trash")
        if trash is not None:
            current = [pair for entries in trash for pair in entries_of(entries, "trash", name)]
            gone = [] if first else [r for e, r in current if e not in seen and r in known]
            seen = dict(current)
            yield Page([("delete", {"id": r}) for r in gone],
                       {"archive": archive_after, "trash": sorted([e, r] for e, r in seen.items())})

    return fetch


def restored(http: Http, bins: Bins, name: str, state: dict[str, Any], resume: Any) -> Iterator[Page]:
    """Records to read again by id before the traversal, upserted like any page (so their child rows come
    back too): those whose trash entry vanished since the last delete feed (restored, or erased and then
    not found), and those the last id listing showed live that the warehouse lacked (restored from the
    archive, which is read incrementally). Each page's token is the traversal's own, so a crash resumes it."""
    entry = state.get("tables", {}).get(name, {})
    seen = {int(e): int(r) for e, r in (feed_position(state, name) or {}).get("trash", [])}
    left: set[int] = set()
    trash = bins.listing("trash") if seen else None
    if trash is not None:
        current = {e for entries in trash for e, _ in entries_of(entries, "trash", name)}
        still = {r for entries in trash for _, r in entries_of(entries, "trash", name)}
        left = {r for e, r in seen.items() if e not in current and r not in still}
    wanted = sorted(left | {int(i) for i in entry.get("reread", [])})
    for start in range(0, len(wanted), 100):
        chunk = wanted[start:start + 100]
        params = {"id": ",".join(map(str, chunk)), "fields": fields_param(name), "per_page": 100}
        found = [r for rows in by_id(http, path_of(name), params, 100) for r in rows]
        log.info(f"[{name}] read again by id: {len(chunk)} record(s) restored or newly listed, "
                 f"{len(found)} found")
        # Checkpointed with this page's rows: a crash before then reads them again.
        rest = sorted(set(entry.get("reread", [])) - set(chunk))
        if rest:
            entry["reread"] = rest
        else:
            entry.pop("reread", None)
        if found:
            # A workflow (or project) restored brings its tasks back unchanged: their id listing, due now,
            # notes them for the next traversal to read.
            for target in CASCADE.get(name, ()):
                marks = state.setdefault("tables", {}).setdefault(target, {}).setdefault("deletes", {})
                if "checked_at" in marks:
                    marks["checked_at"] = 0.0
        yield Page(found, resume)


def id_listing(http: Http | None, name: str, page_size: int, state: dict[str, Any]
               ) -> Callable[[], Iterator[list[int]]]:
    """The reconciliation's id-only listing: ``fields=id``, ascending id, every page. Ids it shows that the
    warehouse lacks (a record restored from the archive, one created during the sync) are noted, once
    the listing is complete, for the next traversal to read by id."""
    def ids() -> Iterator[list[int]]:
        assert http is not None, "the catalogue's tables are never synced"
        entry = state.setdefault("tables", {}).setdefault(name, {})
        known = KeySet.load(entry.get("keys"))
        unknown: set[int] = set()
        for rows in by_id(http, path_of(name), {"fields": "id"}, page_size):
            page = [_id(path_of(name), r) for r in rows]
            unknown.update(i for i in page if i not in known)
            yield page
        if unknown:
            entry["reread"] = sorted(unknown | {int(i) for i in entry.get("reread", [])})
    return ids


def tables(http: Http | None, cfg: dict[str, Any], state: dict[str, Any] | None = None) -> list[Table]:
    """The selected tables (all for the catalogue). Nothing here sends a request: fetch closures do."""
    state = state if state is not None else {}
    page_size = cfg.get("max_records_per_page") or 100
    bins = Bins(http, page_size)
    names = selection.chosen(cfg, NAMES)
    shares = Shares(http, names)

    def make(name: str) -> Table:
        read = SPECS[name].read if name in SPECS else "cursor"

        def fetch(window: Window) -> Iterator[Page]:
            assert http is not None, "the catalogue's tables are never synced"
            if name == names[0]:
                shares.probe()
            shares.start(name)
            if read == "by_id":
                yield from id_pages(http, name, page_size, state, shares)
                return
            yield from with_nested(http, name, restored(http, bins, name, state, window.resume))
            reader = pages(http, name, page_size, window, shares) if read == "cursor" else \
                window_pages(http, name, page_size, window)  # a frozen window is always read to its end
            yield from with_nested(http, name, prefetch(reader))

        deletes = () if read == "by_id" else (
            DeleteFeed(delete_feed(bins, name, state), cascade=CASCADE.get(name, ()),
                       doc="delete feed: GET /archive from the last entry id and GET /trash (28 days) every "
                           "sync; a record that left the trash is read again (restored) or stays deleted"
                           + (f"; archiving one takes its {', '.join(CASCADE[name])} along, checked the same sync"
                              if CASCADE.get(name) else "")),
            Reconcile(ids=id_listing(http, name, page_size, state),
                      doc=f"id reconciliation: GET {path_of(name)}?fields=id&sort=id every deletes_check_hours; "
                          "listed ids the warehouse lacks (restored from the archive) are read again next sync"),
        )
        return Table(
            name=name, primary_key=("id",), columns=columns(name), cursor=None if read == "by_id" else "updated_at",
            read={"by_id": "feed"}.get(read, read), fetch=fetch, row=row_function(name), refs=FOREIGN[name],
            children=CHILDREN[name], doc=DOCS[name], deletes=deletes,
        )

    return [make(name) for name in names]


def catalogue() -> list[Table]:
    """Every table's declaration, from the code path the sync uses (no request is sent)."""
    return tables(None, {"tables": "", "max_records_per_page": 100})


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    picked = set(selection.chosen(configuration or {}, NAMES))
    return schema_of([t for t in catalogue() if t.name in picked])


def plan(cfg: dict[str, Any], state: dict[str, Any], now: datetime) -> tuple[bool, datetime | None]:
    """Decide before a sync: (run it?, the first sync's start date). Drops committed cursors when
    incremental sync is off, so every traversal re-reads from the start date."""
    entries = state.setdefault("tables", {})
    in_progress = any("run" in e for e in entries.values())
    last = state.get("last_completed_start")
    if cfg["sync_frequency_hours"] and last and not in_progress:
        elapsed = now - records.parse_iso(last)
        # 10% tolerance so a schedule equal to sync_frequency_hours never skips every other sync.
        if elapsed < timedelta(hours=cfg["sync_frequency_hours"] * 0.9):
            log.info(f"skipping this sync: the last one started {elapsed} ago and sync_frequency_hours is "
                     f"{cfg['sync_frequency_hours']}")
            return False, None
    if not cfg["enable_incremental_sync"]:
        for entry in entries.values():
            if "run" not in entry:  # a full re-read, but an unfinished traversal still resumes
                entry.pop("cursor", None)
    start = now - timedelta(days=cfg["initial_sync_days"]) if cfg["initial_sync_days"] else None
    return True, start


def probe(name: str) -> Callable[[dict[str, Any]], None]:
    """A one-record read of a collection: proves the token, the account and the read permission. A table
    that is not selected is not probed (it costs no request)."""
    def read(cfg: dict[str, Any]) -> None:
        if name not in selection.chosen(cfg, NAMES):
            return
        client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)}).get_json(path_of(name), params={"per_page": 1})
    return read


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {name: probe(name) for name in NAMES}))


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Sink | None = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    cfg = settings(configuration)
    deliver(lambda out: sync(cfg, state, out), sink)


def sync(cfg: dict[str, Any], state: dict[str, Any], sink: Sink) -> None:
    now = datetime.now(timezone.utc)
    go, start = plan(cfg, state, now)
    if not go:
        return
    http = client(cfg)
    sync_tables(tables(http, cfg, state), state, sink, start=start, stats=http.stats, policy=selection.policy(cfg))
    if not any("run" in e for e in state.get("tables", {}).values()):
        state["last_completed_start"] = records.to_utc_iso(now)
        sink.checkpoint(state)


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
