"""Accelo API v0 -> 38 tables (companies, invoices, payments, prospects, jobs, staff, and the entities of
``ENTITIES``: activities, affiliations, contacts, tasks, issues, milestones, contracts, ...) through the
Fivetran Connector SDK.

Tables with a filterable, sortable date are read as below. Milestones (date filterable, not sortable) and the
tables without a modification date are read by id keyset (``KeysetReader``: a frozen date window for
milestones, everything for the others); contract periods, which have no deployment-wide list, per contract
(``FanoutReader``).

How a table is read (one traversal per sync and table, resumable after a crash):
- The filter is frozen for the traversal: ``<cursor>_after(since - 1)`` (Accelo's ``_after`` is strict, so
  this reads ``>= since``), no upper bound, results in Accelo's default ascending-``id`` order. In that
  order an edit never moves a row (its id stays) and a row edited into the window only pushes later rows
  further back, so offset paging cannot skip a row that sequential reading would see.
- Pages are read in parallel by ``_offset``; each page overlaps the previous one by one row. The overlap
  proves that nothing slipped between two pages read at different moments: when a page's first id is
  above the previous page's last id (rows moved while the pages were in flight, or rows were deleted),
  the gap is re-read before the page is emitted. Rows are emitted on one thread, in page order.
- The first page is read alone: when it is short (the usual incremental sync) it is the whole traversal,
  one request. After a full first page, ``/count`` tells how many pages exist, so workers never request
  pages past the end; if the table grew, reading continues one page at a time until a short page.
- The cursor moves only at the end of a traversal, to the largest value delivered, capped at the sync's
  start (see synckit.sync). Payments have only ``date_created``: edits to a payment do not move it, so
  payments are re-read in full every ``payments_full_refresh_hours``. Staff has no date at all: a full
  snapshot each sync, with ``_fields`` limited to the declared columns.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fivetran_connector_sdk import Connector

from synckit import (
    ApiError,
    Backoff,
    Field,
    Http,
    Page,
    PagingError,
    RateLimiter,
    Reconcile,
    RefreshingToken,
    ResponseError,
    Snapshot,
    Table,
    Window,
    close,
    log,
    parallel_page_numbers,
    parse,
    records,
    schema_of,
    selection,
    setup,
    sync_tables,
    typed,
)
from synckit.errors import ConfigError
from synckit.oauth import client_credentials
from synckit.records import parse_iso, to_utc_iso
from synckit.sink import Sink, deliver


def _deployment_problem(value: str) -> str | None:
    ok = value.replace("-", "").isalnum() and not value.startswith("-") and not value.endswith("-")
    if not ok or len(value) > 63 or "." in value:
        return (f"must be the deployment name only (letters, digits and hyphens), e.g. 'planet-express' for "
                f"planet-express.accelo.com; got {value[:40]!r}")
    return None


def cols(text: str) -> dict[str, str]:
    """``"id:L title:S"`` -> ``{"id": "LONG", "title": "STRING"}``: L long, S string, D double, T time, B bool."""
    kinds = {"L": "LONG", "S": "STRING", "D": "DOUBLE", "T": "UTC_DATETIME", "B": "BOOLEAN"}
    return {name: kinds[kind] for name, _, kind in (word.partition(":") for word in text.split())}


@dataclass(frozen=True)
class Entity:
    """One table beyond the first six: what is specific to it; ``tables()`` builds the rest."""

    columns: dict[str, str]
    doc: str
    read: str = "full"  # cursor (filters and sorts on `cursor`) | window (filters only) | full | fanout
    cursor: str | None = None
    path: str = ""  # under /api/v0, default the table name; "{object}" is read once per object
    objects: tuple[str, ...] = ()  # per-object lists: the key is (object, id)
    refs: dict[str, str] = field(default_factory=dict)
    named: bool = False  # `_ALL` is refused: the declared columns are named in `_fields`
    expand: tuple[str, ...] = ()  # links expanded whole (`name(_ALL)`), landing as name_* columns
    filters: dict[str, str] = field(default_factory=dict)  # fixed filters, per object
    reference: bool = False  # a lookup list or field definitions: re-read every reference_refresh_hours


_STAFF, _CO, _AFF, _JOB = "staff.id", "companies.id", "affiliations.id", "jobs.id"
_LOOKUP = "object:S id:L title:S standing:S ordering:L"
_PROFILE_OBJECTS = ("affiliations", "companies", "contacts", "contracts", "invoices", "issues", "jobs", "milestones",
                    "prospects", "staff", "purchases")
_EXTENSION_OBJECTS = ("assets", "contracts", "issues", "jobs", "prospects")
_POLY = " against_type/against_id name the record it is against (polymorphic: {})."
ENTITIES: dict[str, Entity] = {
    "activities": Entity(cols(
        "id:L subject:S confidential:B medium:S visibility:S against_type:S against_id:L against:S owner_type:S "
        "owner_id:L thread_id:L parent_id:L body:S details:S date_created:T date_started:T date_ended:T "
        "date_logged:T date_modified:T billable:L nonbillable:L staff:L activity_class:L activity_priority:L task:L "
        "rate:L rate_charged:D scheduled:B standing:S invoice_id:L contract_period_id:L is_billable:B "
        "time_allocation_id:L time_allocation_against:S time_allocation_standing:S time_allocation_billable:L "
        "time_allocation_nonbillable:L time_allocation_charged:D time_allocation_comments:S "
        "time_allocation_date_locked:T time_allocation_date_created:T"),
        "Notes, emails, calls and logged time (billable/nonbillable seconds) with the time allocation expanded; "
        "the timesheet fact table." + _POLY.format("company, job, issue, task, ...")
        + " owner_type/owner_id: staff or affiliation",
        read="cursor", cursor="date_modified", expand=("time_allocation",),
        refs={"staff": _STAFF, "task": "tasks.id", "invoice_id": "invoices.id", "rate": "rates.id",
              "contract_period_id": "contract_periods.id", "thread_id": "activities.id"}),
    "affiliations": Entity(cols(
        "id:L contact:L company:L position:S phone:S mobile:S fax:S email:S postal_address:L physical_address:L "
        "affiliation_status:L standing:S date_created:T date_modified:T date_last_interacted:T staff_bookmarked:B "
        "portal_access:B communication:B invoice_method:S"),
        "A contact's role at a company (the link most records point to); deleted with its company",
        read="cursor", cursor="date_modified",
        refs={"contact": "contacts.id", "company": _CO, "postal_address": "addresses.id",
              "physical_address": "addresses.id"}),
    "contacts": Entity(cols(
        "id:L firstname:S surname:S middlename:S title:S username:S timezone:S email:S mobile:S date_created:T "
        "date_modified:T date_last_interacted:T comments:S default_affiliation:L contact_status:L standing:S"),
        "People behind affiliations; deactivating one only changes its standing (an update)",
        read="cursor", cursor="date_modified", refs={"default_affiliation": _AFF}),
    "tasks": Entity(cols(
        "id:L title:S description:S against_type:S against_id:L against:S creator_type:S creator_id:L assignee:L "
        "manager:L task_type:L task_status:L standing:S task_priority:L task_job:L milestone:L issue:L company:L "
        "affiliation:L contact:L billable:L nonbillable:L logged:L budgeted:L remaining:L date_created:T "
        "date_started:T date_commenced:T date_accepted:T date_due:T date_completed:T date_modified:T rate_id:L "
        "rate_charged:D ordering:L task_object_budget:L staff_bookmarked:B"),
        "Work breakdown: budgeted versus logged seconds per task." + _POLY.format("job, milestone, issue, ..."),
        read="cursor", cursor="date_modified",
        refs={"assignee": _STAFF, "manager": _STAFF, "task_job": _JOB, "milestone": "milestones.id",
              "issue": "issues.id", "company": _CO, "affiliation": _AFF, "contact": "contacts.id",
              "rate_id": "rates.id", "task_object_budget": "object_budgets.id"}),
    "issues": Entity(cols(
        "id:L title:S custom_id:S description:S against_type:S against_id:L against:S company:L affiliation:L "
        "issue_type:L class:L issue_priority:L status:L standing:S resolution:L resolution_detail:S assignee:L "
        "submitted_by:L opened_by:L resolved_by:L closed_by:L date_submitted:T date_opened:T date_started:T "
        "date_due:T date_resolved:T date_closed:T date_last_interacted:T date_modified:T billable_seconds:L "
        "contract:L issue_object_budget:L referrer_type:S referrer_id:L staff_bookmarked:B"),
        "Tickets with their SLA dates; old rows may lack date_modified, so the first sync reads every row",
        read="cursor", cursor="date_modified",
        refs={"company": _CO, "affiliation": _AFF, "assignee": _STAFF, "contract": "contracts.id",
              "resolution": "issue_resolutions.id", "issue_object_budget": "object_budgets.id"}),
    "milestones": Entity(cols(
        "id:L title:S description:S job:L parent:L ordering:L manager:L status:L standing:S rate:L rate_charged:D "
        "date_created:T date_modified:T date_started:T date_commenced:T date_due:T date_completed:T date_complete:T "
        "milestone_object_budget:L"),
        "Project phases; date_modified filters but cannot sort, so a frozen date window is paged by id",
        read="window", cursor="date_modified",
        refs={"job": _JOB, "manager": _STAFF, "rate": "rates.id", "milestone_object_budget": "object_budgets.id"}),
    "contracts": Entity(cols(
        "id:L title:S period_template_id:L against_type:S against_id:L against:S company:L owner_affiliation:L "
        "billable_affiliation:L contract_type:L manager:L status:L standing:S value:D auto_renew:B renew_days:L "
        "send_invoice:S notes:S date_created:T date_started:T date_expires:T date_period_expires:T "
        "date_last_interacted:T job:L staff_bookmarked:B"),
        "Retainers; no modification date, so a full re-read each sync",
        refs={"company": _CO, "owner_affiliation": _AFF, "billable_affiliation": _AFF, "manager": _STAFF,
              "job": _JOB}),
    "contract_periods": Entity(cols(
        "id:L contract_id:L contract:S standing:S budget_type:S allowance_type:S rate_type:S rate_id:L "
        "service_item_id:L duration_type:S rollover:B date_created:T date_commenced:T date_expires:T date_closed:T "
        "contract_budget:L"),
        "Periods of each retainer; no deployment-wide list, so one listing per contract every "
        "contract_periods_refresh_hours",
        read="fanout", path="contracts/{id}/periods", refs={"contract_id": "contracts.id", "rate_id": "rates.id"}),
    "invoice_line_items": Entity(cols(
        "id:L invoice_id:L type:S description:S quantity:D rate:D tax:D total:D ordering:L ledger_id:L tax_id:L "
        "line_item_ledger:L line_item_tax:L"),
        "Invoice lines by ledger and tax; no dates, so a full re-read each sync",
        path="invoices/line_items",
        refs={"invoice_id": "invoices.id", "ledger_id": "ledgers.id", "tax_id": "taxes.id"}),
    "progression_history": Entity(cols(
        "id:L to_id:L to_title:S against_type:S against_id:L modified_by:L date_modified:T"),
        "Status changes (the only source of status timing)." + _POLY.format("job, issue, prospect, task, ..."),
        read="cursor", cursor="date_modified", path="progressions/history", refs={"modified_by": _STAFF}),
    "profile_fields": Entity(cols(
        "object:S id:L field_name:S field_type:S link_type:S parent_id:L required:B restrictions:S exported:B "
        "lookup_type:S options:S confidential:B description:S"),
        "Custom profile field definitions, per object (the path segment in object)",
        path="{object}/profiles/fields", objects=_PROFILE_OBJECTS, reference=True),
    "profile_values": Entity(cols(
        "object:S id:L field_id:L field_name:S field_type:S value:S values:S value_type:S value_id:L link_type:S "
        "link_id:L date_modified:T modified_by:L"),
        "Custom profile values (one row per record and field); link_type/link_id name the record",
        path="{object}/profiles/values", objects=_PROFILE_OBJECTS, refs={"modified_by": _STAFF}),
    "extension_fields": Entity(cols(
        "object:S id:L field_name:S field_type:S link_type_id:L link_type:S ordering:L required:B archived:B "
        "exported:B important:B default_value:S lookup_type:S information:S options:S"),
        "Custom (extension) field definitions, per object and type",
        path="{object}/extensions/fields", objects=_EXTENSION_OBJECTS, reference=True),
    "extension_values": Entity(cols(
        "object:S id:L field_id:L field_name:S field_type:S value:S values:S value_id:L value_type:S link_type:S "
        "link_type_id:L link_id:L date_modified:T modified_by:L default_value:S is_sensitive:B is_important:B "
        "is_exported:B field_description:S"),
        "Custom (extension) values; link_type/link_id name the record",
        path="{object}/extensions/values", objects=_EXTENSION_OBJECTS, refs={"modified_by": _STAFF}),
    "quotes": Entity(cols(
        "id:L title:S against_type:S against_id:L against:S affiliation_id:L manager_id:L status_id:L standing:S "
        "created_by_staff_id:L portal_access:B date_created:T date_expiry:T notes:S service_price_total:D "
        "service_time_total:L material_price_total:D total_price:D"),
        "Quotes, usually against a sale; no modification date, so a full re-read each sync",
        refs={"affiliation_id": _AFF, "manager_id": _STAFF, "created_by_staff_id": _STAFF}),
    "expenses": Entity(cols(
        "id:L title:S against_type:S against_id:L type_id:L expense_type:L submitter_id:L approver_id:L standing:S "
        "quantity:D unit_cost:D price:D billable:B reimbursable:B date_incurred:T activity_id:L resource:L"),
        "Expenses against jobs and issues; no modification date, so a full re-read each sync",
        refs={"submitter_id": _STAFF, "approver_id": _STAFF, "activity_id": "activities.id"}),
    "requests": Entity(cols(
        "id:L title:S body:S standing:S source:S type_id:L priority_id:L claimer_id:L affiliation_id:L lead_id:L "
        "thread_id:L date_created:T date_modified:T conversion_type:S conversion_id:L"),
        "Inbound requests and what they became (conversion_type/conversion_id)",
        read="cursor", cursor="date_modified",
        refs={"claimer_id": _STAFF, "affiliation_id": _AFF, "thread_id": "activities.id"}),
    "object_budgets": Entity(cols(
        "id:L against_type:S against_id:L object:S is_billable:B service_time_estimate:L service_time:L "
        "service_price_estimate:D service_price:D expense_price:D material_cost:D material_price:D billable:L "
        "nonbillable:L logged:L charged:D remaining_subtotal:L"),
        "Budget versus actual per job, milestone, task or issue (rolled-up totals, no date: a full re-read)"),
    "purchases": Entity(cols(
        "id:L title:S owner_id:L creator_id:L affiliation_id:L amount:D tax:D total:D date_purchased:T"),
        "Purchases (the cost side of jobs and issues); no modification date, so a full re-read each sync",
        refs={"owner_id": _STAFF, "creator_id": _STAFF, "affiliation_id": _AFF}),
    "statuses": Entity(cols(_LOOKUP + " color:S start:B"), "Statuses of every object that has them",
                       path="{object}/statuses", named=True, reference=True,
                       objects=("companies", "contacts", "affiliations", "jobs", "milestones", "issues", "prospects",
                                "quotes", "contracts", "tasks")),
    "types": Entity(cols(_LOOKUP + " parent:L budget:B"),
                    "Types of jobs, issues, sales, contracts, expenses and requests, inactive ones included",
                    path="{object}/types", named=True, reference=True,
                    objects=("jobs", "issues", "prospects", "contracts", "expenses", "requests"),
                    filters={"issues": "standing(active,inactive)", "prospects": "standing(active,inactive)"}),
    "priorities": Entity(cols(_LOOKUP + " color:S factor:L"), "Issue and task priorities",
                         path="{object}/priorities", named=True, objects=("issues", "tasks"), reference=True),
    "classes": Entity(cols(_LOOKUP + " parent:L"), "Issue and activity classes", path="{object}/classes",
                      named=True, objects=("issues", "activities"), reference=True),
    "issue_resolutions": Entity(cols("id:L title:S standing:S ordering:L report:B"), "Issue resolutions",
                                path="issues/resolutions", reference=True),
    "rates": Entity(cols("id:L title:S charged:D standing:S"), "Billing rates", reference=True),
    "taxes": Entity(cols("id:L title:S rate:D standing:S ordering:L"), "Tax codes", reference=True),
    "ledgers": Entity(cols("id:L title:S code:S type:S standing:S parent_id:L"), "Ledgers (revenue accounts)",
                      reference=True),
    "addresses": Entity(cols(
        "id:L title:S full:S street1:S street2:S city:S zipcode:S state:L country:L postal:B physical:B "
        "against_type:S against_id:L"), "Postal and physical addresses of companies and contacts"),
    "referrals": Entity(cols(
        "id:L referrer_type:S referrer_id:L against_type:S against_id:L created_by:L date_created:T updated_by:L "
        "date_updated:T"), "Lineage: which record (referrer) led to which (against)",
        read="cursor", cursor="date_updated", refs={"created_by": _STAFF, "updated_by": _STAFF}),
    "staff_memberships": Entity(cols("id:L staff_id:L group_id:L"), "Which staff belong to which group",
                                path="staff/memberships", refs={"staff_id": _STAFF, "group_id": "groups.id"}),
    "groups": Entity(cols("id:L title:S parent_id:L standing:S"), "Staff groups (teams)", reference=True),
    "divisions": Entity(cols("id:L title:S standing:S ordering:L"), "Divisions", reference=True),
}


BASE = ("companies", "invoices", "payments", "prospects", "jobs", "staff")  # the first six, declared below
NAMES = BASE + tuple(ENTITIES)  # the catalogue, in sync order
SPEC = {
    "deployment": Field(required=True, max_length=63, check=_deployment_problem,
                        description="the deployment name: 'planet-express' for planet-express.accelo.com"),
    "client_id": Field(required=True, max_length=320, description="OAuth2 client id of a service application"),
    "client_secret": Field(required=True, secret=True, description="OAuth2 client secret"),
    "base_url": Field(kind="url", description="default https://{deployment}.api.accelo.com; /oauth2/v0 and "
                                              "/api/v0 are appended"),
    "token_auth_method": Field(default="basic", choices=("basic", "body"),
                               description="send the client credentials as HTTP Basic or in the form body"),
    "max_workers": Field(kind=int, default=5, minimum=1, maximum=10),
    "page_size": Field(kind=int, default=100, minimum=2, maximum=100),
    "initial_sync_days": Field(kind=int, minimum=1, maximum=36500,
                               description="first sync reads this many days back (default: all history)"),
    "start_date": Field(kind="date", description="first sync reads from this date (default: all history)"),
    "request_timeout_seconds": Field(kind=int, default=30, minimum=1, maximum=600),
    "retry_attempts": Field(kind=int, default=5, minimum=0, maximum=20),
    "requests_per_hour": Field(kind=int, default=5000, minimum=1, maximum=100000),
    "rate_limit_reserve": Field(kind=int, default=100, minimum=0, maximum=100000,
                                description="requests of the hourly budget left for other integrations"),
    "on_budget_exhausted": Field(default="wait", choices=("wait", "stop")),
    "max_budget_wait_seconds": Field(kind=int, default=900, minimum=0, maximum=3600),
    "payments_full_refresh_hours": Field(kind=int, default=24, minimum=0, maximum=8760,
                                         description="re-read payments in full this often; 0: every sync"),
    "contract_periods_refresh_hours": Field(kind=int, default=24, minimum=0, maximum=8760,
                                            description="re-read contract periods (one request per contract) "
                                                        "this often; 0: every sync"),
    "reference_refresh_hours": Field(kind=int, default=24, minimum=0, maximum=8760,
                                     description="re-read the lookup lists and custom-field definitions this "
                                                 "often; 0: every sync"),
    "enable_debug_logging": Field(kind=bool, default=False),
    **selection.spec(NAMES),
}

# Column types; every value arrives as a string. Undeclared fields land too, as the API sends them.
_L, _S, _D, _T, _B = "LONG", "STRING", "DOUBLE", "UTC_DATETIME", "BOOLEAN"
COLUMNS: dict[str, dict[str, str]] = {
    "companies": {"id": _L, "name": _S, "date_created": _T, "date_modified": _T, "date_last_interacted": _T,
                  "phone": _S, "fax": _S, "website": _S, "comments": _S, "standing": _S, "status": _L,
                  "postal_address": _L, "default_affiliation": _L, "staff_bookmarked": _B},
    "invoices": {"id": _L, "subject": _S, "amount": _D, "tax": _D, "outstanding": _D, "date_raised": _T,
                 "date_due": _T, "date_modified": _T, "currency_id": _L, "owner_id": _L, "modified_by": _L,
                 "creator_id": _L, "created_by": _L, "contact": _L, "affiliation_id": _L, "affiliation": _L,
                 "notes": _S, "invoice_number": _S, "against_id": _L, "against_type": _S},
    "payments": {"id": _L, "receipt_id": _L, "amount": _D, "currency_id": _L, "method_id": _L, "against_id": _L,
                 "against_type": _S, "date_created": _T, "created_by_staff_id": _L, "direction": _S,
                 "payment_currency": _L, "payment_method": _L, "payment_receipt": _L},
    "prospects": {"id": _L, "title": _S, "date_created": _T, "date_actioned": _T, "date_due": _T,
                  "date_last_interacted": _T, "date_modified": _T, "value": _D, "success": _B, "progress": _D,
                  "weighting": _L, "value_weighted": _D, "status": _L, "standing": _S, "type": _L, "manager": _L,
                  "contact": _L, "affiliation": _L, "prospect_probability": _L, "comments": _S,
                  "staff_bookmarked": _B},
    "jobs": {"id": _L, "title": _S, "date_created": _T, "date_modified": _T, "date_started": _T, "date_due": _T,
             "date_commenced": _T, "date_completed": _T, "date_last_interacted": _T, "status": _L, "standing": _S,
             "type": _L, "job_type": _L, "against": _S, "against_id": _L, "against_type": _S, "company": _L,
             "manager": _L, "modified_by": _L, "rate": _L, "rate_charged": _D, "paused": _B, "affiliation": _L,
             "custom_id": _S, "staff_bookmarked": _B},
    "staff": {"id": _L, "firstname": _S, "surname": _S, "standing": _S, "financial_level": _S, "title": _S,
              "email": _S, "mobile": _S, "phone": _S, "fax": _S, "position": _S, "username": _S, "timezone": _S,
              "staff_rate": _D, "staff_cost_rate": _D},
}
COLUMNS.update({name: e.columns for name, e in ENTITIES.items()})
assert tuple(COLUMNS) == NAMES
# The incremental field of each table: also the name of its `_after` filter. Staff has none.
CURSORS: dict[str, str | None] = {"companies": "date_modified", "invoices": "date_modified",
                                  "payments": "date_created", "prospects": "date_modified",
                                  "jobs": "date_modified", "staff": None,
                                  **{name: e.cursor for name, e in ENTITIES.items()}}
# `_ALL` returns every optional field except these, which must be named (API notes, entities section 7).
NOT_IN_ALL: dict[str, tuple[str, ...]] = {"staff": ("staff_rate", "staff_cost_rate")}
# Foreign keys for the data-model docs. `against_id` is polymorphic (see `against_type`); the refs name the
# target it has in these tables. Links to entities not synced here (affiliations, contacts) are left out.
REFS: dict[str, dict[str, str]] = {
    "companies": {},
    "invoices": {"against_id": "companies.id", "owner_id": _STAFF, "creator_id": _STAFF, "created_by": _STAFF,
                 "modified_by": _STAFF},
    "payments": {"against_id": "invoices.id", "created_by_staff_id": _STAFF},
    "prospects": {"manager": _STAFF},
    "jobs": {"company": "companies.id", "manager": _STAFF, "modified_by": _STAFF},
    "staff": {},
    **{name: e.refs for name, e in ENTITIES.items()},
}
# A permanent delete also removes what hangs off the record: a company its sales, projects, tickets, retainers,
# invoices, receipts, tasks and activities; a project its milestones, tasks and time; a receipt goes with its
# invoice. The checks of these tables (where they have one: a table re-read in full finds its deletes anyway)
# then run in the same sync.
CASCADE: dict[str, tuple[str, ...]] = {
    "companies": ("invoices", "prospects", "jobs", "payments", "affiliations", "issues", "milestones", "tasks",
                  "activities", "progression_history"),
    "invoices": ("payments",),
    "jobs": ("milestones", "tasks", "activities", "progression_history"),
    "prospects": ("progression_history",),
    "issues": ("tasks", "activities", "progression_history"),
    "milestones": ("tasks", "activities"),
    "tasks": ("activities", "progression_history"),
}
DOCS = {
    "companies": "Client companies; deactivating one changes its standing (an update); deleting one removes its "
                 "invoices, sales, jobs and receipts",
    "invoices": "Invoices raised against a company or job (against_type, against_id)",
    "payments": "Payments (receipts) against invoices; only date_created exists, so edits are caught by a full "
                "re-read every payments_full_refresh_hours",
    "prospects": "Sales (prospects) and their pipeline values",
    "jobs": "Projects (jobs) of a company",
    "staff": "The deployment's staff; no date field, so a full snapshot every sync",
    **{name: e.doc for name, e in ENTITIES.items()},
}
READ = {**{name: "cursor" if CURSORS[name] else "full" for name in BASE},
        **{name: e.read for name, e in ENTITIES.items()}}
PATHS = {**{name: name for name in BASE}, **{name: e.path or name for name, e in ENTITIES.items()}}

def _epoch(value: Any) -> str | None:
    """Unix seconds (a string) -> UTC ISO; '0' and '' are empty. A lean twin of records.epoch: it runs per cell."""
    if value is None or value == "" or value == "0":
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return records.epoch(value)  # fractions and odd forms: the general converter, which names bad values
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return records.integer(value)


def _money(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return records.money(value)


CONVERT = {_L: _integer, _S: records.text, _D: _money, _T: _epoch, _B: records.boolean}
MAX_GAP_PAGES = 200  # a gap larger than this many pages means the data churns faster than we can read it


def catalogue() -> list[Table]:
    """Every table declaration, built by the sync's own code path (no request is sent: nothing is fetched)."""
    return tables(None, {"page_size": 100, "max_workers": 1})


def schema(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    chosen = selection.chosen(configuration or {}, NAMES)
    return schema_of([t for t in catalogue() if t.name in chosen])


def settings(configuration: dict[str, Any]) -> dict[str, Any]:
    cfg = parse(configuration, SPEC)
    if cfg["initial_sync_days"] is not None and cfg["start_date"] is not None:
        raise ConfigError("start_date", "give either start_date or initial_sync_days, not both")
    if cfg["rate_limit_reserve"] >= cfg["requests_per_hour"]:
        raise ConfigError("rate_limit_reserve", f"must be below requests_per_hour ({cfg['requests_per_hour']})")
    if cfg["base_url"] is None:
        cfg["base_url"] = f"https://{cfg['deployment']}.api.accelo.com"
    elif cfg["base_url"].endswith(("/api/v0", "/oauth2/v0", "/api", "/oauth2")):
        raise ConfigError("base_url", "must be the host only (e.g. https://planet-express.api.accelo.com); "
                                      "/oauth2/v0 and /api/v0 are appended")
    log.set_debug(cfg["enable_debug_logging"])
    return cfg


def start_time(cfg: dict[str, Any], now: datetime | None = None) -> datetime | None:
    if cfg["start_date"] is not None:
        return cfg["start_date"]
    if cfg["initial_sync_days"] is not None:
        return (now or datetime.now(timezone.utc)) - timedelta(days=cfg["initial_sync_days"])
    return None


class ServerWindow(RateLimiter):
    """RateLimiter that also counts requests in flight against the server's X-RateLimit window.

    Parallel workers send before earlier answers arrive, so a header's Remaining is lowered by the requests
    still in flight, and when the window resets the new allowance is X-RateLimit-Limit minus those, instead of
    "unknown" until the first answer (which let every worker send blind and overshoot into a 429).
    """

    def __init__(self, limits: list[tuple[int, float]], **kwargs: Any):
        super().__init__(limits, **kwargs)
        self._limit: int | None = None

    def _wait_needed(self) -> float:
        if self._reset_at is not None and self._reset_at <= self._clock() and self._limit is not None:
            self._remaining, self._reset_at = self._limit - self.in_flight, None  # the window rolled over
        return super()._wait_needed()

    def update(self, headers: Any) -> None:
        # Http has called finished() for this answer already, so in_flight counts only the others.
        with self._lock:
            self._limit = _int_or(headers.get("X-RateLimit-Limit"), self._limit)
            remaining = _int_or(headers.get(self.remaining_header), None)
            if remaining is None:
                return
            reset = _int_or(headers.get(self.reset_header), None)
            now = self._clock()
            reset_at = None if reset is None else now + max(0.0, reset - self._wall() if reset > 1e9 else reset)
            fresh = max(0, remaining - self.in_flight)  # others in flight may not be counted yet
            if self._remaining is None or (self._reset_at is not None and reset_at is not None
                                           and reset_at > self._reset_at + 0.5):
                self._remaining = fresh  # a window we had not counted in
            else:
                self._remaining = min(self._remaining, fresh)
            if self._reset_at is None or (reset_at is not None and reset_at > self._reset_at + 0.5):
                self._reset_at = reset_at


def _int_or(value: Any, default: int | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else default
    except ValueError:
        return default


TOKEN_MARGIN = 300.0


def renew_early(fetch: Callable[[], tuple[str, float]]) -> Callable[[], tuple[str, float]]:
    """Renew a token TOKEN_MARGIN seconds before it expires, or at 90% of its life when it is shorter."""

    def wrapped() -> tuple[str, float]:
        token, lifetime = fetch()
        return token, lifetime if lifetime * 0.1 >= TOKEN_MARGIN else 0.9 * lifetime + TOKEN_MARGIN

    return wrapped


class Client:
    def __init__(self, http: Http, auth: RefreshingToken, limiter: ServerWindow):
        self.http, self.auth, self.limiter = http, auth, limiter


def client(cfg: dict[str, Any]) -> Client:
    """One budget for every worker; the token endpoint has its own client (Accelo does not count it)."""
    backoff = Backoff(attempts=cfg["retry_attempts"])
    token_http = Http(cfg["base_url"], None, timeout=cfg["request_timeout_seconds"], backoff=backoff)
    fetch = client_credentials(token_http, "/oauth2/v0/token", cfg["client_id"], cfg["client_secret"],
                               scope="read(all)", send=cfg["token_auth_method"], default_lifetime=2592000)
    # A refused token is renewed once (not once per worker in flight); a request may see up to three renewed
    # tokens refused, and three renewals in a row that no request got through with end the sync.
    auth = RefreshingToken(renew_early(fetch), margin=TOKEN_MARGIN, max_renewals=3, useless_limit=3)
    limiter = ServerWindow(
        [(cfg["requests_per_hour"], 3600.0)],  # our own pace when the headers are missing
        reserve=cfg["rate_limit_reserve"],
        max_wait=cfg["max_budget_wait_seconds"] if cfg["on_budget_exhausted"] == "wait" else 0.0,
    )
    http = Http(cfg["base_url"], auth, timeout=cfg["request_timeout_seconds"], backoff=backoff, limiter=limiter,
                headers={"Accept": "application/json"})
    return Client(http, auth, limiter)


def response_list(response: Any) -> list[dict]:
    """The ``response`` array of a list call; ``meta.status`` is checked, not only the HTTP code."""
    body = response.json()  # ValueError (a truncated body) is retried by Http.fetch
    if not isinstance(body, dict):
        raise ResponseError(f"GET {response.url}: expected a JSON object with meta and response")
    meta = body.get("meta")
    if isinstance(meta, dict) and meta.get("status") not in (None, "ok"):
        raise ResponseError(f"GET {response.url}: meta.status {meta.get('status')!r}: {meta.get('message')}")
    data = body.get("response")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ResponseError(f"GET {response.url}: 'response' is not a list of records")
    return data


def response_count(response: Any) -> int:
    """``{"response": {"count": "42"}}``, or the bare value some endpoints document (``{"response": "42"}``)."""
    body = response.json()
    data = body.get("response") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    if isinstance(meta, dict) and meta.get("status") not in (None, "ok"):
        raise ResponseError(f"GET {response.url}: meta.status {meta.get('status')!r}: {meta.get('message')}")
    value = data.get("count") if isinstance(data, dict) else data
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip().isdigit():
        return int(str(value).strip())
    raise ResponseError(f"GET {response.url}: no numeric count in the response (got {str(value)[:40]!r})")


def row_id(record: dict) -> int:
    try:
        return int(str(record["id"]))
    except (KeyError, ValueError):
        raise ResponseError(f"a record has no numeric id: {str(record.get('id'))[:20]!r}") from None


def check_ascending(rows: list[dict], where: str) -> None:
    ids = [row_id(r) for r in rows]
    if any(b <= a for a, b in zip(ids, ids[1:], strict=False)):
        raise PagingError(f"{where}: records are not in ascending id order, which offset paging relies on")


def last_page(count: int, limit: int) -> int:
    """Index of the last page (the first short one) when page k covers rows [k*(limit-1), k*(limit-1)+limit)."""
    return 0 if count < limit else (count - limit) // (limit - 1) + 1


class Reader:
    """Reads one table's traversal; ``pages(window)`` is the Table's fetch."""

    def __init__(self, http: Http | None, name: str, *, page_size: int, workers: int,
                 floor: datetime | None = None):
        self.http, self.name, self.limit, self.workers = http, name, page_size, workers
        self.step = page_size - 1  # one row of overlap between consecutive pages
        self.path = f"/api/v0/{PATHS[name]}"
        self.cursor = CURSORS[name]
        self.floor = floor  # the earliest `since` this table was ever read from (None: all history)

    def after(self, since: datetime) -> str:
        # `_after` is strict: one second less reads every row at `since` again (harmless upserts).
        return f"{self.cursor}_after({math.floor(since.timestamp()) - 1})"

    def params(self, since: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {"_fields": fields_param(self.name)}
        if self.cursor and since is not None:
            params["_filters"] = self.after(since)
        return params

    # Delete checks: ids never return and new ones are larger, so a count that dropped over an id range means
    # rows of that range were deleted. Rows older than the first sync's start were never read: the same
    # filter keeps them out of the counts, or they would hide deletes.

    def id_filters(self, clauses: str) -> str:
        if self.cursor is None or self.floor is None:
            return clauses
        return f"{clauses},{self.after(self.floor)}"

    def count_ids(self, lo: int, hi: int) -> int:
        """How many records with ``lo <= id < hi``."""
        query = {"_filters": self.id_filters(f"id_greater_than({lo - 1}),id_less_than({hi})")}
        return self.http.fetch("GET", self.path + "/count", response_count, params=query)  # type: ignore[union-attr]

    def ids_between(self, lo: int, hi: int) -> Iterator[int]:
        """The ids with ``lo <= id < hi``, by id keyset (``id_greater_than`` the last one): a row deleted while
        we list cannot shift another out of view, as it could under offsets."""
        last = lo - 1
        while True:
            query = {"_fields": "id", "_limit": self.limit,
                     "_filters": self.id_filters(f"id_greater_than({last}),id_less_than({hi})")}
            rows = self.http.fetch("GET", self.path, response_list, params=query)  # type: ignore[union-attr]
            check_ascending(rows, f"{self.name} ids after {last}")
            ids = [row_id(r) for r in rows]
            if ids and (ids[0] <= last or ids[-1] >= hi):
                raise PagingError(f"{self.name}: ids {ids[0]}..{ids[-1]} outside the range asked for, "
                                  f"({last}, {hi}); nothing is deleted")
            yield from ids
            if len(rows) < self.limit:
                return
            last = ids[-1]

    def fetch_offset(self, params: dict[str, Any], offset: int) -> tuple[list[dict], Any]:
        query = {**params, "_offset": offset, "_limit": self.limit}
        return self.http.fetch("GET", self.path, lambda r: (response_list(r), r), params=query)

    def count(self, params: dict[str, Any]) -> int:
        query = {k: v for k, v in params.items() if k == "_filters"}
        return self.http.fetch("GET", self.path + "/count", response_count, params=query)

    def pages(self, window: Window) -> Iterator[Page]:
        params = self.params(window.since)
        resume = window.resume or {"page": 0, "after": None}
        page_no, after = int(resume["page"]), resume["after"]
        # The first page alone: a short one (the usual incremental sync) is the whole traversal, one request.
        # Only a full one pays for /count, which tells the workers how many pages exist.
        first, response = self.fetch_offset(params, page_no * self.step)

        def fetch(page: int) -> tuple[list[dict], Any]:
            if page > known_last:
                return [], None  # past the counted end: no request; handled below
            return self.fetch_offset(params, page * self.step)

        if len(first) < self.limit:
            known_last = page_no
            rest: Iterator[Page] = iter(())
        else:
            known_last = max(last_page(self.count(params), self.limit), page_no + 1)
            workers = max(1, min(self.workers, known_last - page_no))

            rest = parallel_page_numbers(fetch, size=self.limit, start=page_no + 1, workers=workers)
        source = itertools.chain([Page(first, page_no + 1 if known_last > page_no else None, response)], rest)
        try:
            while True:
                grew = False
                for page in source:
                    if page.response is None and page_no > known_last:
                        grew = True  # the counted pages are done and the last was full: the table grew
                        break
                    rows = page.records
                    check_ascending(rows, f"{self.name} page {page_no}")
                    extra: list[dict] = []
                    if after is not None and (not rows or row_id(rows[0]) > after):
                        # The overlap row is missing: rows moved while pages were in flight. Re-read the gap.
                        extra = self.fill_gap(params, after, row_id(rows[0]) if rows else None, page_no * self.step)
                    fresh = [r for r in rows if after is None or row_id(r) > after]
                    delivered = extra + fresh
                    if delivered:
                        after = max(after or 0, max(row_id(r) for r in delivered))
                    token = {"page": page_no + 1, "after": after} if page.next is not None else None
                    yield Page(delivered, token, page.response)
                    if token is None:
                        return
                    page_no += 1
                if not grew:
                    return
                # Read on past the count one page at a time until a short page.
                close(rest)
                known_last = math.inf  # type: ignore[assignment]
                rest = parallel_page_numbers(fetch, size=self.limit, start=page_no, workers=1)
                source = rest
        finally:
            close(rest)  # stops the worker pool when the sync stops early

    def fill_gap(self, params: dict[str, Any], after: int, before: int | None, offset: int) -> list[dict]:
        """Rows with ``after < id < before`` (no upper bound if None), read sequentially from an offset whose
        first row is at or before ``after``, up to ``before`` or the end of the table."""
        log.info(f"[{self.name}] rows moved while pages were in flight; re-reading ids {after}..{before}")
        for _ in range(MAX_GAP_PAGES):
            rows, _ = self.fetch_offset(params, offset)
            if offset == 0 or (rows and row_id(rows[0]) <= after):
                break
            offset = max(0, offset - self.step)  # rows were deleted: step back
        else:
            raise PagingError(f"{self.name}: could not find id {after} again after {MAX_GAP_PAGES} pages")
        out: list[dict] = []
        previous: int | None = None
        for _ in range(MAX_GAP_PAGES):
            check_ascending(rows, f"{self.name} offset {offset}")
            if previous is not None and rows and row_id(rows[0]) > previous:
                raise PagingError(f"{self.name}: the table changes faster than it can be read; the next sync "
                                  "resumes from the last checkpoint")
            out.extend(r for r in rows if after < row_id(r) and (before is None or row_id(r) < before)
                       and (previous is None or row_id(r) > previous))
            if len(rows) < self.limit or (before is not None and row_id(rows[-1]) >= before):
                return out
            previous = row_id(rows[-1])
            offset += self.step
            rows, _ = self.fetch_offset(params, offset)
        raise PagingError(f"{self.name}: a gap of more than {MAX_GAP_PAGES} pages opened while reading")


class KeysetReader(Reader):
    """Reads by id keyset (``id_greater_than(last)``, default ascending-id order), one page at a time: the
    full re-reads, and the window reads of a table whose date filters but cannot sort (the window
    ``<cursor>_after(since - 1),<cursor>_before(S)`` is frozen with S at the traversal's start, in the resume
    token). An edit or delete never shifts a row past the keyset, as it can shift offsets. A per-object
    table reads each object's list in turn, the path segment landing in ``object``."""

    def pages(self, window: Window) -> Iterator[Page]:
        entity = ENTITIES[self.name]
        objects: tuple[str | None, ...] = entity.objects or (None,)
        token = window.resume or {"object": 0, "last": 0, "before": None}
        o, last, before = int(token["object"]), int(token["last"]), token.get("before")
        if READ[self.name] == "window" and before is None:
            before = math.floor(time.time()) + 1  # `_before` is strict: this second is in; the cursor re-reads it
        while o < len(objects):
            obj = objects[o]
            clauses = [f"id_greater_than({last})"]
            if self.cursor and window.since is not None:
                clauses.append(self.after(window.since))
            if self.cursor and before is not None:
                clauses.append(f"{self.cursor}_before({before})")
            if obj in entity.filters:
                clauses.append(entity.filters[obj])
            path = "/api/v0/" + PATHS[self.name].replace("{object}", obj or "")
            query = {"_fields": fields_param(self.name), "_limit": self.limit, "_filters": ",".join(clauses)}
            rows, response = self.http.fetch("GET", path, lambda r: (response_list(r), r),  # type: ignore[union-attr]
                                             params=query)
            check_ascending(rows, f"{self.name} ids after {last}")
            if rows and row_id(rows[0]) <= last:
                raise PagingError(f"{self.name}: asked for ids after {last}, got {row_id(rows[0])}")
            if obj is not None:
                rows = [{**r, "object": obj} for r in rows]
            if len(rows) == self.limit:
                last = row_id(rows[-1])
            else:
                o, last = o + 1, 0
            more = o < len(objects)
            yield Page(rows, {"object": o, "last": last, "before": before} if more else None, response)


class FanoutReader(Reader):
    """Contract periods: no deployment-wide list exists, so each contract's periods are listed in turn
    (contract ids by keyset). The resume token is the last contract done."""

    parent = "contracts"

    def pages(self, window: Window) -> Iterator[Page]:
        after = int((window.resume or {"after": 0})["after"])
        while True:
            query = {"_fields": "id", "_limit": self.limit, "_filters": f"id_greater_than({after})"}
            parents = self.http.fetch("GET", f"/api/v0/{self.parent}", response_list,  # type: ignore[union-attr]
                                      params=query)
            check_ascending(parents, f"{self.parent} ids after {after}")
            for parent in parents:
                rows = self.children(row_id(parent))
                after = row_id(parent)
                yield Page(rows, {"after": after})
            if len(parents) < self.limit:
                yield Page([], None)  # every contract read: the traversal is complete
                return

    def children(self, parent: int) -> list[dict]:
        path = "/api/v0/" + PATHS[self.name].replace("{id}", str(parent))
        out: list[dict] = []
        for page in itertools.count():
            query = {"_fields": fields_param(self.name), "_limit": self.limit, "_page": page}
            try:
                rows = self.http.fetch("GET", path, response_list, params=query)  # type: ignore[union-attr]
            except ApiError as exc:
                if exc.status == 400 and not out:
                    return out  # the contract was deleted since it was listed: Accelo answers "no data"
                raise
            out.extend(rows)
            if len(rows) < self.limit:
                return out
        return out


def fields_param(name: str) -> str:
    """``_fields``: every field (``_ALL``) plus those ``_ALL`` leaves out and the expanded links; where ``_ALL``
    is refused, the declared columns by name."""
    entity = ENTITIES.get(name)
    if entity is not None and entity.named:
        return ",".join(c for c in entity.columns if c not in ("id", "object"))
    expand = tuple(f"{link}(_ALL)" for link in entity.expand) if entity else ()
    return ",".join(("_ALL", *NOT_IN_ALL.get(name, ()), *expand))


def shaper(name: str) -> Callable[[dict], dict]:
    """Lossless rows: declared columns converted from Accelo's strings, every other field kept (nested
    ones flattened, arrays as JSON). An expanded link that came back as a bare id lands as ``<link>_id``."""
    shape = typed(COLUMNS[name], {column: CONVERT[kind] for column, kind in COLUMNS[name].items()})
    links = ENTITIES[name].expand if name in ENTITIES else ()
    if not links:
        return shape

    def row(record: dict) -> dict:
        for link in links:
            if link in record and not isinstance(record[link], dict):
                record = {**{k: v for k, v in record.items() if k != link}, f"{link}_id": record[link]}
        return shape(record)

    return row


READERS: dict[str, type[Reader]] = {"cursor": Reader, "window": KeysetReader, "full": KeysetReader,
                                    "fanout": FanoutReader}


def tables(http: Http | None, cfg: dict[str, Any], names: tuple[str, ...] | list[str] = NAMES,
           floors: dict[str, Any] | None = None) -> list[Table]:
    """The declarations of the named tables (``http`` None: for the catalogue, never fetched from)."""
    floors = {} if floors is None else floors
    out = []
    for name in names:
        floor = parse_iso(floors[name]) if floors.get(name) else None
        kind = READ[name]
        cls = Reader if name in BASE else READERS[kind]  # the first six keep the parallel offset reader
        reader = cls(http, name, page_size=cfg["page_size"], workers=cfg["max_workers"], floor=floor)
        if CURSORS[name] is None:
            deletes: tuple[Any, ...] = (Snapshot(cascade=CASCADE.get(name, ())),)
        else:
            deletes = (Reconcile(count=reader.count_ids, ids_between=reader.ids_between,
                                 leaf=cfg["page_size"], cascade=CASCADE.get(name, ())),)
        key = ("object", "id") if name in ENTITIES and ENTITIES[name].objects else ("id",)
        out.append(Table(name=name, primary_key=key, columns=COLUMNS[name], cursor=CURSORS[name],
                         fetch=reader.pages, row=shaper(name), read=kind, refs=REFS[name], deletes=deletes,
                         doc=DOCS[name]))
    return out


def plan_floors(state: dict[str, Any], names: list[str], start: datetime | None) -> dict[str, Any]:
    """Record, before a table's traversal from the start begins, the earliest `since` it was read from: the
    delete checks count only rows at or after it. Kept in the state (``floors``); null: all history."""
    floors = state.setdefault("floors", {})
    for name in names:
        entry = state.get("tables", {}).get(name, {})
        if CURSORS[name] is None or entry.get("cursor") or "run" in entry:
            continue  # an incremental read, or a traversal under way: its since was recorded when it began
        if start is None:
            floors[name] = None
        elif name not in floors or (floors[name] is not None and parse_iso(floors[name]) > start):
            floors[name] = to_utc_iso(start)
    return floors


def plan_payments_refresh(state: dict[str, Any], cfg: dict[str, Any], now: float | None = None) -> bool:
    """Edits to a payment keep its date_created, so an incremental read never sees them: every
    ``payments_full_refresh_hours`` drop the payments cursor (between traversals only) to re-read them all."""
    entry = state.setdefault("tables", {}).setdefault("payments", {})
    if "run" in entry:
        return False  # a traversal is in progress; finish it first
    now = time.time() if now is None else now
    last = entry.get("full_refresh_at")
    if entry.get("cursor") is None or last is None or now - float(last) >= cfg["payments_full_refresh_hours"] * 3600:
        entry.pop("cursor", None)
        entry["full_refresh_at"] = now
        return True
    return False


# Tables read on a schedule rather than every sync, and the key of their period: contract periods cost one
# request per contract; lookups and field definitions change only when an administrator edits them.
SCHEDULED = {"contract_periods": "contract_periods_refresh_hours",
             **{name: "reference_refresh_hours" for name, e in ENTITIES.items() if e.reference}}


def due(state: dict[str, Any], cfg: dict[str, Any], name: str, now: float | None = None) -> bool:
    """Whether a scheduled table is read this sync: its period has passed since its last complete read, or a
    read was interrupted (it is finished first)."""
    entry = state.setdefault("tables", {}).setdefault(name, {})
    if "run" in entry:
        return True
    now = time.time() if now is None else now
    last = entry.get("read_at")
    return last is None or now - float(last) >= cfg[SCHEDULED[name]] * 3600


def run(configuration: dict[str, Any], state: dict[str, Any], sink: Sink) -> Any:
    """The whole sync against any sink (the SDK's in production, a memory sink in tests and benchmarks)."""
    cfg = settings(configuration)
    names = selection.chosen(cfg, NAMES)  # a deselected table is never built: it costs no request
    api = client(cfg)
    api.auth.token()  # refused credentials fail the sync here, once, instead of once per table
    if "payments" in names and plan_payments_refresh(state, cfg):
        log.info("[payments] full re-read this sync (edits do not move date_created)")
    scheduled = [n for n in names if n in SCHEDULED and due(state, cfg, n)]
    skipped = [n for n in names if n in SCHEDULED and n not in scheduled]
    if skipped:
        names = [n for n in names if n not in skipped]
        log.info(f"not due this sync (contract_periods_refresh_hours, reference_refresh_hours): {', '.join(skipped)}")
    start = start_time(cfg)
    floors = plan_floors(state, names, start)
    result = sync_tables(tables(api.http, cfg, names, floors), state, sink, start=start, stats=api.http.stats,
                         policy=selection.policy(cfg))
    done = {t.table for t in result.tables if t.status == "ok"}  # not a table paused by the budget
    for name in scheduled:
        entry = state["tables"][name]
        if name in done and "run" not in entry:
            entry["read_at"] = time.time()
    if scheduled:
        sink.checkpoint(state)
    log.info(f"tokens acquired: {api.auth.acquired}; budget remaining per headers: {api.limiter.remaining}")
    return {"result": result, "stats": api.http.stats.as_dict(), "tokens": api.auth.acquired}


def probe(name: str) -> Callable[[dict[str, Any]], None]:
    """A one-record read: proves the token's scope covers the resource."""

    def read(cfg: dict[str, Any]) -> None:
        if name not in selection.chosen(cfg, NAMES):
            return  # deselected: not read, so not probed
        api = client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)})
        entity = ENTITIES.get(name)
        path = "contracts" if READ[name] == "fanout" else PATHS[name].replace("{object}", (
            entity.objects[0] if entity and entity.objects else ""))
        api.http.fetch("GET", f"/api/v0/{path}", response_list, params={"_limit": 1, "_fields": "id"})

    return read


def connect(cfg: dict[str, Any]) -> None:
    client({**cfg, "retry_attempts": min(cfg["retry_attempts"], 2)}).auth.token()


def configuration_form() -> Any:
    return setup.form(SPEC, setup.checks(settings, {name: probe(name) for name in NAMES}, connect=connect))


def update(configuration: dict[str, Any], state: dict[str, Any], sink: Sink | None = None) -> None:
    """The SDK calls this with (configuration, state); tests and benchmarks pass an in-memory sink."""
    deliver(lambda out: run(configuration, state, out), sink)


connector = Connector(update=update, schema=schema, configuration_form=configuration_form)

if __name__ == "__main__":
    connector.debug()
