"""The Accelo entities beyond the first six, as declarations the simulator serves generically.

Each ``Res`` names its route, its fields (a small generator language, below), its documented date filters,
the field its Dataset time stands for (``date_modified`` where Accelo has one), and its owners: a record
belongs for life to one record of one of ``parents`` (polymorphic when there are several: ``against_type``/
``against_id``), and a permanent delete of the owner takes it along, as in Accelo. A resource listed per
object (``/{object}/statuses``, ``/{object}/profiles/values``) has ``objects``.

Field generators (``kind[:args]``):
    mod, created            the record's modification / creation time (unix seconds)
    later:H, maybe:H        a time up to H hours after creation (maybe: null three times in ten)
    title:Word              "<word> Word <id>"
    pick:a|b|c              one of the values
    int:lo:hi, money:lo:hi, qty, secs, flag, yesno, text, email, phone, first, last
    ref:resource            an id of that resource (a plain foreign key)
    owner_type, owner_id, owner_uri, owner_of:resource   the owner (see above)
    object                  the object (path segment) of a per-object list, singular
    time_allocation         the nested time allocation object of an activity
    null, const:value
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SINGULAR = {"companies": "company", "contacts": "contact", "affiliations": "affiliation", "jobs": "job",
            "milestones": "milestone", "tasks": "task", "issues": "issue", "prospects": "prospect",
            "contracts": "contract", "invoices": "invoice", "staff": "staff", "requests": "request",
            "purchases": "purchase", "quotes": "quote", "expenses": "expense", "activities": "activity"}
WORDS = ["Planet", "Express", "Momcorp", "Slurm", "Nibbler", "Zapp", "Kif", "Leela", "Bender", "Hermes", "Amy",
         "Zoidberg", "Ørsted", "Café"]
TEXTS = ["", "Call back Monday", "Prefers email, not \"phone\"", "Ünïcode ✓", "Line one\nline two"]
FIRST = ["Dana", "Sam", "Ngozi", "Ana", "Kenji", "Priya", "Ólafur"]
LAST = ["Lee", "Okafor", "Silva", "Tanaka", "Iyer", "O'Neil"]
PROFILE_OBJECTS = ("affiliations", "companies", "contacts", "contracts", "invoices", "issues", "jobs",
                   "milestones", "prospects", "staff", "purchases")
EXTENSION_OBJECTS = ("assets", "contracts", "issues", "jobs", "prospects")  # assets: not simulated, none owned
STATUS_OBJECTS = ("companies", "contacts", "affiliations", "jobs", "milestones", "issues", "prospects", "quotes",
                  "contracts", "tasks")
TYPE_OBJECTS = ("jobs", "issues", "prospects", "contracts", "expenses", "requests")


@dataclass(frozen=True)
class Res:
    name: str
    path: str  # under /api/v0; "{object}" stands for each of ``objects``
    fields: dict[str, str]
    size: int = 20  # default records
    ratio: float = 1.0  # records per company in a realistic deployment
    dates: tuple[str, ...] = ()  # documented date filters (the field of the same name)
    time: str | None = None  # the field the Dataset time stands for; edits move it
    parents: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ("id", "title")
    sortable: tuple[str, ...] | None = None  # fields order_by accepts (None: any)
    no_all: bool = False  # `_ALL` is refused: fields must be named
    bare_count: bool = False  # /count answers the bare value
    hide_inactive: tuple[str, ...] = ()  # objects whose list hides standing=inactive unless filtered
    reference: bool = False  # a lookup list or field definitions: changed by administrators, rarely
    extra: dict[str, Any] = field(default_factory=dict)


_STATUS = {"id": "id", "title": "pick:Open|Active|Closed|On hold", "standing": "pick:active|inactive|closed",
           "color": "pick:grey|green|red", "start": "yesno", "ordering": "int:0:9"}
_LOOKUP = {"id": "id", "title": "title:Kind", "standing": "pick:active|inactive", "ordering": "int:0:9"}
_PROFILE_FIELD = {"id": "id", "field_name": "title:Field", "field_type": "pick:text|select|date|currency",
                  "link_type": "object", "parent_id": "const:0", "required": "yesno",
                  "restrictions": "pick:all|edit|admin", "exported": "yesno", "lookup_type": "null",
                  "confidential": "yesno", "description": "text"}
_VALUE = {"id": "id", "field_id": "int:1:30", "field_name": "title:Field", "field_type": "pick:text|select|date",
          "value": "text", "value_type": "null", "link_type": "owner_type", "link_id": "owner_id",
          "date_modified": "mod", "modified_by": "ref:staff"}

NEW: tuple[Res, ...] = (
    Res("activities", "activities", {
        "id": "id", "subject": "title:Note", "confidential": "flag", "medium": "pick:note|email|call|meeting|event_log",
        "visibility": "pick:all|private|confidential", "against_type": "owner_type", "against_id": "owner_id",
        "against": "owner_uri", "owner_type": "const:staff", "owner_id": "ref:staff", "thread_id": "id",
        "parent_id": "const:0", "body": "text", "details": "null", "date_created": "created",
        "date_started": "later:2", "date_ended": "maybe:4", "date_logged": "later:2", "date_modified": "mod",
        "billable": "secs", "nonbillable": "secs", "staff": "ref:staff", "activity_class": "int:1:4",
        "activity_priority": "int:1:5", "task": "owner_of:tasks", "rate": "ref:rates", "rate_charged": "money:50:250",
        "scheduled": "yesno", "standing": "pick:unapproved|approved|invoiced|locked", "invoice_id": "const:0",
        "contract_period_id": "null", "is_billable": "flag", "time_allocation": "time_allocation"},
        size=120, ratio=4.0, dates=("date_created", "date_started", "date_ended", "date_logged", "date_modified"),
        time="date_modified", parents=("companies", "jobs", "issues", "tasks"),
        defaults=("id", "subject", "confidential")),
    Res("affiliations", "affiliations", {
        "id": "id", "contact": "ref:contacts", "company": "owner_id", "position": "pick:Finance Manager|CEO|Buyer",
        "phone": "phone", "mobile": "phone", "fax": "null", "email": "email", "postal_address": "ref:addresses",
        "physical_address": "ref:addresses", "affiliation_status": "int:1:3", "standing": "pick:active|inactive",
        "date_created": "created", "date_modified": "mod", "date_last_interacted": "maybe:48",
        "staff_bookmarked": "flag", "portal_access": "flag", "communication": "flag",
        "invoice_method": "pick:email|post"},
        size=60, ratio=1.2, dates=("date_created", "date_modified", "date_last_interacted"), time="date_modified",
        parents=("companies",), defaults=("id", "mobile", "email")),
    Res("contacts", "contacts", {
        "id": "id", "firstname": "first", "surname": "last", "middlename": "null", "title": "pick:Ms|Mr|Dr|",
        "username": "null", "timezone": "const:Australia/Sydney", "email": "email", "mobile": "phone",
        "date_created": "created", "date_modified": "mod", "date_last_interacted": "maybe:48", "comments": "text",
        "default_affiliation": "ref:affiliations", "contact_status": "int:1:3",
        "standing": "pick:active|potential|inactive"},
        size=50, ratio=1.0, dates=("date_created", "date_modified", "date_last_interacted"), time="date_modified",
        defaults=("id", "firstname", "surname", "mobile", "email")),
    Res("tasks", "tasks", {
        "id": "id", "title": "title:Task", "description": "text", "against_type": "owner_type",
        "against_id": "owner_id", "against": "owner_uri", "creator_type": "const:staff", "creator_id": "ref:staff",
        "assignee": "ref:staff", "manager": "ref:staff", "task_type": "int:1:4", "task_status": "int:1:5",
        "standing": "pick:pending|started|complete", "task_priority": "int:1:5", "task_job": "owner_of:jobs",
        "milestone": "owner_of:milestones", "issue": "owner_of:issues", "company": "ref:companies",
        "affiliation": "ref:affiliations", "contact": "ref:contacts", "billable": "secs", "nonbillable": "secs",
        "logged": "secs", "budgeted": "secs", "remaining": "secs", "date_created": "created",
        "date_started": "later:24", "date_commenced": "later:30", "date_accepted": "later:30", "date_due": "later:400",
        "date_completed": "maybe:600", "date_modified": "mod", "rate_id": "ref:rates", "rate_charged": "money:50:250",
        "ordering": "int:0:9", "task_object_budget": "ref:object_budgets", "staff_bookmarked": "flag"},
        size=60, ratio=2.0, dates=("date_created", "date_started", "date_due", "date_completed", "date_modified"),
        time="date_modified", parents=("jobs", "milestones", "issues")),
    Res("issues", "issues", {
        "id": "id", "title": "title:Ticket", "custom_id": "const:", "description": "text", "against_type": "owner_type",
        "against_id": "owner_id", "against": "owner_uri", "company": "owner_id", "affiliation": "ref:affiliations",
        "issue_type": "int:1:4", "class": "int:1:3", "issue_priority": "int:1:4", "status": "int:1:5",
        "standing": "pick:submitted|open|resolved|closed", "resolution": "int:1:4", "resolution_detail": "text",
        "assignee": "ref:staff", "submitted_by": "ref:staff", "opened_by": "ref:staff", "resolved_by": "ref:staff",
        "closed_by": "ref:staff", "date_submitted": "created", "date_opened": "later:2", "date_started": "later:3",
        "date_due": "later:200", "date_resolved": "maybe:300", "date_closed": "maybe:300",
        "date_last_interacted": "later:300", "date_modified": "mod", "billable_seconds": "secs",
        "contract": "ref:contracts", "issue_object_budget": "ref:object_budgets", "referrer_type": "null",
        "referrer_id": "null", "staff_bookmarked": "flag"},
        size=40, ratio=1.0, dates=("date_opened", "date_submitted", "date_started", "date_due", "date_closed",
                                   "date_modified"), time="date_modified", parents=("companies",)),
    Res("milestones", "milestones", {
        "id": "id", "title": "title:Phase", "description": "text", "job": "owner_id", "parent": "const:0",
        "ordering": "int:0:9", "manager": "ref:staff", "status": "int:1:4", "standing": "pick:pending|active|complete",
        "rate": "ref:rates", "rate_charged": "money:50:250", "date_created": "created", "date_modified": "mod",
        "date_started": "later:24", "date_commenced": "later:30", "date_due": "later:500",
        "date_completed": "maybe:600", "milestone_object_budget": "ref:object_budgets"},
        size=40, ratio=1.0, dates=("date_created", "date_modified", "date_started", "date_due", "date_completed"),
        time="date_modified", parents=("jobs",), sortable=("id", "title"), bare_count=True),
    Res("contracts", "contracts", {
        "id": "id", "title": "title:Retainer", "period_template_id": "int:1:3", "against_type": "owner_type",
        "against_id": "owner_id", "against": "owner_uri", "company": "owner_id",
        "owner_affiliation": "ref:affiliations", "billable_affiliation": "ref:affiliations", "contract_type": "int:1:3",
        "manager": "ref:staff", "status": "int:1:3", "standing": "pick:active|inactive", "value": "money:1000:50000",
        "auto_renew": "yesno", "renew_days": "int:0:30", "send_invoice": "pick:email|none", "notes": "text",
        "date_created": "created", "date_started": "later:24", "date_expires": "later:9000",
        "date_period_expires": "later:800", "job": "null", "staff_bookmarked": "flag"},
        size=10, ratio=0.2, dates=("date_created", "date_started", "date_expired", "date_period_expires"),
        parents=("companies",), defaults=("id", "title", "period_template_id"), bare_count=True),
    Res("contract_periods", "contracts/{id}/periods", {
        "id": "id", "contract_id": "owner_id", "contract": "owner_uri", "standing": "pick:opened|closed",
        "budget_type": "pick:pre-paid|post-paid", "allowance_type": "pick:fixed_hours|fixed_value|unlimited",
        "rate_type": "pick:contract|staff", "rate_id": "ref:rates", "service_item_id": "int:1:5",
        "duration_type": "pick:fixed|monthly", "rollover": "yesno", "date_created": "created",
        "date_commenced": "later:24", "date_expires": "later:800", "date_closed": "maybe:900",
        "contract_budget": "id"},
        size=30, ratio=0.6, parents=("contracts",), defaults=("id", "contract_id")),
    Res("invoice_line_items", "invoices/line_items", {
        "id": "id", "invoice_id": "owner_id", "type": "pick:service|material|expense", "description": "text",
        "quantity": "qty", "rate": "money:10:2000", "tax": "money:0:200", "total": "money:10:2200",
        "ordering": "int:0:9", "ledger_id": "ref:ledgers", "tax_id": "ref:taxes", "line_item_ledger": "ref:ledgers",
        "line_item_tax": "ref:taxes"},
        size=90, ratio=3.0, parents=("invoices",), defaults=("id", "type", "quantity", "rate", "total")),
    Res("progression_history", "progressions/history", {
        "id": "id", "to_id": "int:1:5", "to_title": "pick:Open|Active|Closed", "against_type": "owner_type",
        "against_id": "owner_id", "modified_by": "ref:staff", "date_modified": "mod"},
        size=80, ratio=3.0, dates=("date_modified",), time="date_modified",
        parents=("jobs", "issues", "prospects", "tasks"), defaults=("id", "to_id", "to_title")),
    Res("profile_fields", "{object}/profiles/fields", _PROFILE_FIELD, size=33, ratio=0.0, reference=True,
        objects=PROFILE_OBJECTS, defaults=("id", "field_name", "field_type")),
    Res("profile_values", "{object}/profiles/values", _VALUE, size=60, ratio=2.0,
        parents=("companies", "contacts", "affiliations", "jobs", "issues", "prospects", "milestones", "contracts"),
        objects=PROFILE_OBJECTS, defaults=("id", "field_type", "field_name", "value_type", "value")),
    Res("extension_fields", "{object}/extensions/fields", {
        "id": "id", "field_name": "title:Custom", "field_type": "pick:text|int|date|multi_select",
        "link_type_id": "int:1:4", "link_type": "object", "ordering": "int:0:9", "required": "yesno",
        "archived": "yesno", "exported": "yesno", "important": "yesno", "default_value": "const:",
        "lookup_type": "null", "information": "text"},
        size=12, ratio=0.0, objects=EXTENSION_OBJECTS, defaults=("id", "field_name", "field_type", "link_type_id"),
        reference=True),
    Res("extension_values", "{object}/extensions/values", {
        **_VALUE, "link_type_id": "int:1:4", "default_value": "const:", "is_sensitive": "flag",
        "is_important": "flag", "is_exported": "flag", "value_id": "null", "field_description": "null"},
        size=40, ratio=1.0, parents=EXTENSION_OBJECTS[1:], objects=EXTENSION_OBJECTS,
        defaults=("id", "field_type", "field_name", "value")),
    Res("quotes", "quotes", {
        "id": "id", "title": "title:Quote", "against_type": "owner_type", "against_id": "owner_id",
        "against": "owner_uri", "affiliation_id": "ref:affiliations", "manager_id": "ref:staff", "status_id": "int:1:4",
        "standing": "pick:draft|sent|accepted|declined", "created_by_staff_id": "ref:staff", "portal_access": "flag",
        "date_created": "created", "date_expiry": "later:700", "notes": "text", "service_price_total": "money:0:20000",
        "service_time_total": "secs", "material_price_total": "money:0:2000", "total_price": "money:0:22000"},
        size=30, ratio=0.5, dates=("date_created", "date_expiry"), parents=("prospects",)),
    Res("expenses", "expenses", {
        "id": "id", "title": "title:Expense", "against_type": "owner_type", "against_id": "owner_id",
        "type_id": "int:1:4", "expense_type": "int:1:4", "submitter_id": "ref:staff", "approver_id": "ref:staff",
        "standing": "pick:submitted|approved|invoiced", "quantity": "qty", "unit_cost": "money:5:500",
        "price": "money:5:500", "billable": "yesno", "reimbursable": "yesno", "date_incurred": "created",
        "activity_id": "ref:activities", "resource": "const:0"},
        size=30, ratio=0.6, dates=("date_incurred",), parents=("jobs", "issues"),
        defaults=("id", "title", "unit_cost", "quantity", "standing")),
    Res("requests", "requests", {
        "id": "id", "title": "title:Request", "body": "text", "standing": "pick:pending|open|converted|closed",
        "source": "pick:email|portal", "type_id": "int:1:3", "priority_id": "int:1:3", "claimer_id": "ref:staff",
        "affiliation_id": "ref:affiliations", "lead_id": "const:0", "thread_id": "ref:activities",
        "date_created": "created", "date_modified": "mod", "conversion_type": "pick:issue|job|prospect|",
        "conversion_id": "int:0:40"},
        size=30, ratio=0.5, dates=("date_created", "date_modified"), time="date_modified"),
    Res("object_budgets", "object_budgets", {
        "id": "id", "against_type": "owner_type", "against_id": "owner_id", "object": "owner_uri",
        "is_billable": "yesno", "service_time_estimate": "secs", "service_time": "secs",
        "service_price_estimate": "money:0:9000", "service_price": "money:0:9000", "expense_price": "money:0:500",
        "material_cost": "money:0:500", "material_price": "money:0:700", "billable": "secs", "nonbillable": "secs",
        "logged": "secs", "charged": "money:0:9000", "remaining_subtotal": "secs"},
        size=40, ratio=1.0, parents=("jobs", "milestones", "tasks", "issues"), defaults=("id",)),
    Res("purchases", "purchases", {
        "id": "id", "title": "title:Purchase", "owner_id": "ref:staff", "creator_id": "ref:staff",
        "affiliation_id": "ref:affiliations", "amount": "money:10:900", "tax": "money:0:90", "total": "money:10:990",
        "date_purchased": "created"},
        size=20, ratio=0.3, dates=("date_purchased",)),
    Res("statuses", "{object}/statuses", _STATUS, size=40, ratio=0.0, objects=STATUS_OBJECTS, no_all=True,
        reference=True),
    Res("types", "{object}/types", {**_LOOKUP, "parent": "const:0", "budget": "yesno"}, size=24, ratio=0.0,
        objects=TYPE_OBJECTS, no_all=True, hide_inactive=("issues", "prospects"), reference=True),
    Res("priorities", "{object}/priorities", {**_LOOKUP, "color": "pick:red|amber|green", "factor": "int:1:5"},
        size=8, ratio=0.0, objects=("issues", "tasks"), no_all=True, reference=True),
    Res("classes", "{object}/classes", {**_LOOKUP, "parent": "const:0"}, size=8, ratio=0.0,
        objects=("issues", "activities"), no_all=True, reference=True),
    Res("issue_resolutions", "issues/resolutions", {**_LOOKUP, "report": "yesno"}, size=6, ratio=0.0, reference=True),
    Res("rates", "rates", {"id": "id", "title": "title:Rate", "charged": "money:50:300",
                           "standing": "pick:active|inactive"}, size=8, ratio=0.0, reference=True),
    Res("taxes", "taxes", {"id": "id", "title": "title:Tax", "rate": "money:0:20", "standing": "pick:active|inactive",
                           "ordering": "int:0:9"}, size=4, ratio=0.0, reference=True),
    Res("ledgers", "ledgers", {"id": "id", "title": "title:Ledger", "code": "int:100:999",
                               "type": "pick:income|expense", "standing": "pick:active|inactive",
                               "parent_id": "const:0"}, size=6, ratio=0.0, reference=True),
    Res("addresses", "addresses", {
        "id": "id", "title": "pick:Head office|Postal|Site", "full": "title:Street", "street1": "title:St",
        "street2": "const:", "city": "pick:Sydney|Melbourne|Perth", "zipcode": "int:2000:7000", "state": "int:1:8",
        "country": "const:1", "postal": "yesno", "physical": "yesno", "against_type": "owner_type",
        "against_id": "owner_id"},
        size=60, ratio=1.5, parents=("companies", "contacts"), defaults=("id", "full")),
    Res("referrals", "referrals", {
        "id": "id", "referrer_type": "const:prospect", "referrer_id": "ref:prospects", "against_type": "owner_type",
        "against_id": "owner_id", "created_by": "ref:staff", "date_created": "created", "updated_by": "ref:staff",
        "date_updated": "mod"},
        size=20, ratio=0.3, dates=("date_created", "date_updated"), time="date_updated", parents=("jobs",),
        defaults=("id", "referrer_type", "referrer_id")),
    Res("staff_memberships", "staff/memberships", {"id": "id", "staff_id": "ref:staff", "group_id": "ref:groups"},
        size=20, ratio=0.0, defaults=("id", "staff_id", "group_id")),
    Res("groups", "groups", {"id": "id", "title": "title:Team", "parent_id": "const:0",
                             "standing": "pick:active|inactive"}, size=6, ratio=0.0, reference=True),
    Res("divisions", "divisions", {"id": "id", "title": "title:Division", "standing": "pick:active|inactive",
                                   "ordering": "int:0:9"}, size=3, ratio=0.0, reference=True),
)
BY_NAME = {r.name: r for r in NEW}


def routes() -> dict[str, tuple[str, str | None]]:
    """Path under /api/v0 -> (resource, object) for every list route but the per-contract periods."""
    out: dict[str, tuple[str, str | None]] = {}
    for res in NEW:
        if "{id}" in res.path:
            continue
        for obj in res.objects or (None,):
            out[res.path.replace("{object}", obj) if obj else res.path] = (res.name, obj)
    return out


def generate(res: Res, i: int, rng: Any, *, created: datetime, modified: datetime,
             owner: tuple[str, int] | None, object_: str | None, sizes: dict[str, int]) -> dict[str, Any]:
    """Record ``i`` of ``res`` with every field (strings, null, or the nested time allocation)."""
    rid = str(i + 1)
    owner_kind, owner_id = (owner[0], str(owner[1] + 1)) if owner else (None, None)

    def epoch(dt: datetime) -> str:
        return str(int(dt.timestamp()))

    def value(spec: str) -> Any:
        kind, _, arg = spec.partition(":")
        if kind == "id":
            return rid
        if kind == "mod":
            return epoch(modified)
        if kind == "created":
            return epoch(created)
        if kind in ("later", "maybe"):
            if kind == "maybe" and rng.random() < 0.3:
                return None
            return epoch(created + timedelta(seconds=rng.randrange(0, int(arg) * 3600 + 1)))
        if kind == "title":
            return f"{rng.choice(WORDS)} {arg} {rid}"
        if kind == "pick":
            return rng.choice(arg.split("|"))
        if kind == "int":
            lo, hi = map(int, arg.split(":"))
            return str(rng.randint(lo, hi))
        if kind == "money":
            lo, hi = map(float, arg.split(":"))
            return f"{rng.uniform(lo, hi):.2f}"
        if kind == "qty":
            return f"{rng.randint(1, 8):.6f}"
        if kind == "secs":
            return str(rng.randrange(0, 36000, 60))
        if kind == "flag":
            return rng.choice(["0", "1"])
        if kind == "yesno":
            return rng.choice(["yes", "no"])
        if kind == "text":
            return rng.choice(TEXTS)
        if kind == "email":
            return f"{rng.choice(FIRST).lower()}.{rid}@client.example"
        if kind == "phone":
            return f"04{rng.randrange(10**8):08d}"
        if kind == "first":
            return rng.choice(FIRST)
        if kind == "last":
            return rng.choice(LAST)
        if kind == "ref":
            return str(rng.randint(1, sizes[arg])) if sizes.get(arg) else None
        if kind == "owner_type":
            return SINGULAR.get(owner_kind, owner_kind) if owner_kind else None
        if kind == "owner_id":
            return owner_id
        if kind == "owner_uri":
            return f"{owner_kind}/{owner_id}" if owner_kind else None
        if kind == "owner_of":
            return owner_id if owner_kind == arg else None
        if kind == "object":
            return SINGULAR.get(object_ or "", object_)
        if kind == "time_allocation":
            return {"id": rid, "against": f"{owner_kind}/{owner_id}" if owner_kind else None,
                    "standing": rng.choice(["unapproved", "approved", "invoiced"]),
                    "billable": str(rng.randrange(0, 36000, 60)), "nonbillable": str(rng.randrange(0, 3600, 60)),
                    "charged": f"{rng.uniform(0, 900):.2f}", "comments": rng.choice(TEXTS),
                    "date_locked": None, "date_created": epoch(created)}
        if kind == "null":
            return None
        if kind == "const":
            return arg
        raise ValueError(f"{res.name}: unknown field generator {spec!r}")

    return {name: value(spec) for name, spec in res.fields.items()}
