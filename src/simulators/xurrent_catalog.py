"""The Xurrent collections beyond organizations, products and projects, as declarations the simulator serves.

Each ``Collection`` says what the documentation says of it: the record type named in the Archive and the
Trash, its default collection fields, what it filters and sorts on, its predefined filters, the fields a
collection may not return, and its nested sub-collections; ``fields`` says how each field is generated.
Volumes are relative to one size unit (a mid-size account's proportions: notes outnumber requests, a team
has many people). References are ``{id, name}`` objects (``subject`` for requests, workflows and tasks,
``label`` for CIs) pointing at live-or-not records of the target collection, as the API's do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A field's generator: (kind, *arguments). Kinds: pick (a choice), int (lo, hi), money, bool (share of
# true), ref (target, share of null), at (share of null: a time near the record's own), date, text,
# target (best_effort, no_target or a time), custom (custom fields), list (attachments: always []).
Gen = tuple

IMPACTS = ["low", "medium", "high", "top"]
REQUEST_CATEGORIES = ["incident", "rfc", "rfi", "reservation", "order", "fulfillment", "complaint", "compliment",
                      "other"]
REQUEST_STATUSES = ["declined", "on_backlog", "assigned", "accepted", "in_progress", "waiting_for",
                    "waiting_for_customer", "workflow_pending", "completed"]
TASK_CATEGORIES = ["risk_and_impact", "approval", "implementation", "automation"]
TASK_STATUSES = ["registered", "declined", "assigned", "accepted", "in_progress", "waiting_for", "failed",
                 "rejected", "completed", "approved", "canceled"]
MEDIA = ["default", "email", "outbound_email", "system", "automation"]


def pick(*options: Any) -> Gen:
    return ("pick", list(options))


def ref(target: str, null: float = 0.0) -> Gen:
    return ("ref", target, null)


SOURCE_ID = ("text", "SRC", 0.6)  # (kind, prefix, share of null)
CUSTOM = ("custom",)


@dataclass(frozen=True)
class Collection:
    name: str  # the path under /v1 and the dataset's name
    kind: str  # the record type the Archive and the Trash name ("request", "ci", ...)
    volume: float  # records per size unit
    title: str  # display label of record i: "<title> <id>"
    label: str | None  # the field holding that label: name, subject or label (None: no display field)
    fields: dict[str, Gen]
    collection: tuple[str, ...]  # the default collection fields (fields= replaces them)
    sortable: tuple[str, ...] = ("id", "created_at", "updated_at")
    filterable: tuple[str, ...] = ()  # besides id, sourceID, created_at, updated_at and every pick/ref/bool field
    default_sort: tuple[tuple[str, bool], ...] = (("id", True),)
    predefined: tuple[str, ...] = ()
    barred: tuple[str, ...] = ()  # fields a collection may not return (a 400 when named in fields=)
    parent: str | None = None  # a ref field whose record takes this one along when archived or trashed
    subs: dict[str, Callable[[Any, int], list[dict]]] = field(default_factory=dict)  # nested collections
    stamped: bool = True  # has updated_at (notes do not)
    binnable: bool = True  # can be archived or trashed on its own

    def types(self) -> dict[str, str]:
        out = {"id": "int", "created_at": "datetime"}
        if self.stamped:
            out["updated_at"] = "datetime"
        kinds = {"ref": "ref", "at": "datetime", "bool": "bool", "int": "int", "pick": "enum", "date": "date"}
        for name, gen in self.fields.items():
            out[name] = kinds.get(gen[0], "string")
        return out

    def filters(self) -> list[str]:
        base = ["id", "sourceID", "created_at", "updated_at"] if self.stamped else ["id", "created_at"]
        typed = [n for n, g in self.fields.items() if g[0] in ("pick", "ref", "bool") and self.stamped]
        return list(dict.fromkeys([*base, *typed, *self.filterable]))

    def resource(self) -> dict[str, Any]:
        """The simulator's RESOURCES entry."""
        return {"types": self.types(), "filterable": self.filters(), "sortable": list(self.sortable),
                "default_sort": list(self.default_sort), "collection": list(self.collection),
                "predefined": list(self.predefined)}


def relations(sim: Any, ident: int) -> list[dict]:
    """``/cis/:id/ci_relations``: 0-3 relations to other CIs (no timestamps among the documented fields)."""
    rng = sim.sub_rng("cis", ident)
    n = sim.data["cis"].n
    out = []
    for k in range(rng.randrange(4)):
        other = rng.randrange(n)
        out.append({"id": ident * 10 + k, "ci": {"id": other + 1, "label": sim.label("cis", other)},
                    "relation_type": rng.choice(["parent", "child", "dependent", "depends_on", "sibling"])})
    return out


def members(sim: Any, ident: int) -> list[dict]:
    """``/teams/:id/members``: 0-4 distinct people."""
    rng = sim.sub_rng("teams", ident)
    n = sim.data["people"].n
    picks = sorted(rng.sample(range(n), min(n, rng.randrange(5))))
    return [{"id": p + 1, "name": sim.label("people", p)} for p in picks]


COLLECTIONS: list[Collection] = [
    Collection(
        "requests", "request", 1.0, "Request", "subject",
        {"sourceID": SOURCE_ID, "category": pick(*REQUEST_CATEGORIES), "impact": pick(*IMPACTS, None),
         "status": pick(*REQUEST_STATUSES), "next_target_at": ("target",), "completed_at": ("at", 0.5),
         "team": ref("teams", 0.1), "member": ref("people", 0.3), "grouped_into": ref("requests", 0.9),
         "service_instance": ref("service_instances", 0.1), "requested_by": ref("people"),
         "requested_for": ref("people"), "created_by": ref("people"), "organization": ref("organizations"),
         "workflow": ref("workflows", 0.7), "problem": ref("problems", 0.8),
         "knowledge_article": ref("knowledge_articles", 0.8), "supplier": ref("organizations", 0.9),
         "completion_reason": pick("solved", "workaround", "gone", "duplicate", "withdrawn", None),
         "urgent": ("bool", 0.1), "reopen_count": ("int", 0, 3), "source": pick("4me Self Service", "email", "api"),
         "custom_fields": CUSTOM},
        ("id", "sourceID", "subject", "category", "impact", "status", "next_target_at", "completed_at", "team",
         "member", "grouped_into", "service_instance", "created_at", "updated_at"),
        sortable=("id", "sourceID", "subject", "category", "impact", "status", "created_at", "updated_at"),
        predefined=("completed", "open", "requested_by_or_for_me", "assigned_to_my_team", "assigned_to_me",
                    "waiting_for_me", "problem_management_review", "sla_accountability"),
        barred=("note", "internal_note", "time_spent", "time_spent_effort_class")),
    Collection(
        "affected_slas", "affected_sla", 1.0, "Affected SLA", None,
        {"request": ref("requests"), "sla": ref("slas"), "service_instance": ref("service_instances"),
         "impact": pick(*IMPACTS), "accountability": pick("provider", "supplier", "customer"),
         "support_team": ref("teams"), "first_line_team": ref("teams", 0.6),
         "response_target_at": ("at", 0.2), "resolution_target_at": ("at", 0.2),
         "actual_response_duration": ("int", 0, 600), "maximum_response_duration": ("int", 30, 240),
         "maximum_resolution_duration": ("int", 240, 2400), "actual_resolution_at": ("at", 0.4),
         "downtime_duration": ("int", 0, 90), "time_zone": pick("Central Time (US & Canada)", "UTC")},
        ("id", "request", "sla", "service_instance", "impact", "accountability", "support_team", "first_line_team",
         "response_target_at", "resolution_target_at", "actual_response_duration", "maximum_response_duration",
         "maximum_resolution_duration", "actual_resolution_at", "downtime_duration", "time_zone", "created_at",
         "updated_at"),
        sortable=("id", "request", "sla", "service_instance"), binnable=False),
    Collection(
        "notes", "note", 2.0, "Note", None,
        {"person": ref("people"), "text": ("text", "Note text", 0.0), "medium": pick(*MEDIA),
         "internal": ("bool", 0.3), "request": ref("requests"), "attachments": ("list",)},
        ("id", "person", "text", "medium", "internal", "request", "attachments", "created_at"),
        sortable=("id", "person_id", "created_at"), filterable=("person", "medium"), predefined=("public", "internal"),
        barred=("internal_account",), stamped=False, binnable=False),
    Collection(
        "tasks", "task", 1.0, "Task", "subject",
        {"sourceID": SOURCE_ID, "category": pick(*TASK_CATEGORIES), "impact": pick("none", *IMPACTS),
         "status": pick(*TASK_STATUSES), "team": ref("teams", 0.1), "member": ref("people", 0.3),
         "completion_target_at": ("at", 0.3), "finished_at": ("at", 0.5), "workflow": ref("workflows"),
         "manager": ref("people", 0.2), "planned_duration": ("int", 30, 960), "required_approvals": ("int", 0, 3),
         "custom_fields": CUSTOM},
        ("id", "sourceID", "subject", "impact", "category", "status", "team", "member", "completion_target_at",
         "finished_at", "created_at", "updated_at"),
        predefined=("finished", "open", "managed_by_me", "assigned_to_my_team", "assigned_to_me", "approval_by_me"),
        barred=("note",), parent="workflow", binnable=False),
    Collection(
        "workflows", "workflow", 0.25, "Workflow", "subject",
        {"sourceID": SOURCE_ID, "manager": ref("people"), "category": pick("standard", "non_standard", "emergency"),
         "impact": pick(*IMPACTS), "status": pick("being_created", "registered", "risk_and_impact", "approval",
                                                  "implementation", "progress_halted", "completed"),
         "completion_target_at": ("at", 0.2), "completed_at": ("at", 0.5), "service": ref("services"),
         "project": ref("projects", 0.8), "justification": pick("compliance", "correction", "new_application"),
         "custom_fields": CUSTOM},
        ("id", "sourceID", "subject", "manager", "category", "impact", "status", "completion_target_at",
         "completed_at", "service", "created_at", "updated_at"),
        predefined=("completed", "open", "managed_by_me")),
    Collection(
        "people", "person", 0.5, "Person", "name",
        {"sourceID": SOURCE_ID, "organization": ref("organizations"), "site": ref("sites", 0.2),
         "manager": ref("people", 0.3), "disabled": ("bool", 0.1), "primary_email": ("text", "user", 0.0),
         "job_title": pick("Analyst", "Engineer", "Manager", None), "vip": ("bool", 0.05),
         "cost_per_hour": ("money",), "time_zone": pick("Central Time (US & Canada)", "Amsterdam"),
         "employeeID": ("text", "E", 0.3), "custom_fields": CUSTOM},
        ("id", "sourceID", "name", "organization", "site", "manager", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),),
        predefined=("disabled", "enabled", "internal", "directory", "support_domain")),
    Collection(
        "teams", "team", 0.1, "Team", "name",
        {"sourceID": SOURCE_ID, "disabled": ("bool", 0.1), "coordinator": ref("people", 0.3),
         "manager": ref("people", 0.2), "remarks": pick("", "Second line", None)},
        ("id", "sourceID", "name", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),),
        predefined=("disabled", "enabled"), subs={"members": members}),
    Collection(
        "service_instances", "service_instance", 0.2, "Service instance", "name",
        {"sourceID": SOURCE_ID, "status": pick("being_prepared", "in_production", "discontinued"),
         "service": ref("services"), "support_team": ref("teams"), "first_line_team": ref("teams", 0.5)},
        ("id", "sourceID", "name", "status", "service", "support_team", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),),
        predefined=("active", "inactive")),
    Collection(
        "services", "service", 0.1, "Service", "name",
        {"sourceID": SOURCE_ID, "provider": ref("organizations"), "support_team": ref("teams"),
         "disabled": ("bool", 0.1), "availability_manager": ref("people", 0.4), "custom_fields": CUSTOM},
        ("id", "sourceID", "name", "provider", "support_team", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),),
        predefined=("disabled", "enabled")),
    Collection(
        "slas", "sla", 0.2, "SLA", "name",
        {"sourceID": SOURCE_ID, "status": pick("active", "inactive"), "service_offering": ref("service_offerings"),
         "service_instance": ref("service_instances"), "customer": ref("organizations")},
        ("id", "sourceID", "name", "status", "service_offering", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),),
        predefined=("active", "inactive")),
    Collection(
        "service_offerings", "service_offering", 0.1, "Service offering", "name",
        {"sourceID": SOURCE_ID, "status": pick("available", "in_production", "discontinued"),
         "service": ref("services")},
        ("id", "sourceID", "name", "status", "service", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),),
        predefined=("catalog", "portfolio")),
    Collection(
        "problems", "problem", 0.1, "Problem", "subject",
        {"sourceID": SOURCE_ID, "impact": pick(*IMPACTS), "status": pick("registered", "in_progress", "solved"),
         "known_error": ("bool", 0.3), "analysis_target_at": ("at", 0.3), "solved_at": ("at", 0.6),
         "team": ref("teams"), "member": ref("people", 0.4), "service": ref("services"),
         "manager": ref("people", 0.2), "workflow": ref("workflows", 0.8), "custom_fields": CUSTOM},
        ("id", "sourceID", "subject", "impact", "status", "known_error", "analysis_target_at", "solved_at", "team",
         "member", "service", "created_at", "updated_at"),
        predefined=("active", "known_errors", "progress_halted", "solved", "managed_by_me")),
    Collection(
        "cis", "ci", 0.5, "CI", "label",
        {"sourceID": SOURCE_ID, "software": ("bool", 0.4), "name": pick("Adobe Reader", "Dell Latitude", "Switch"),
         "status": pick("being_built", "in_production", "in_stock", "archived", "removed"),
         "product": ref("products"), "rule_set": pick("software", "hardware", "other"),
         "support_team": ref("teams"), "service": ref("services", 0.2), "site": ref("sites", 0.3),
         "financial_owner": ref("organizations", 0.5), "serial_nr": ("text", "SN", 0.3), "custom_fields": CUSTOM},
        ("id", "sourceID", "software", "label", "name", "status", "product", "rule_set", "support_team", "service",
         "created_at", "updated_at"),
        sortable=("id", "sourceID", "label", "name", "created_at", "updated_at"), default_sort=(("label", False),),
        predefined=("active", "inactive", "supported_by_my_teams"), subs={"ci_relations": relations}),
    Collection(
        "time_entries", "time_entry", 1.0, "Time entry", None,
        {"date": ("date",), "time_spent": ("int", 5, 240), "person": ref("people"),
         "organization": ref("organizations"),
         "service": ref("services", 0.3), "customer": ref("organizations", 0.5),
         "description": ("text", "Worked on", 0.3), "deleted": ("bool", 0.0), "correction": ("bool", 0.05),
         "time_allocation": ref("time_allocations", 0.5), "request": ref("requests", 0.3), "task": ref("tasks", 0.8)},
        ("id", "date", "time_spent", "person", "service", "customer", "organization", "description", "deleted",
         "created_at", "updated_at"),
        sortable=("id", "date", "created_at", "updated_at"), default_sort=(("id", False),),
        filterable=("deleted", "person", "date"), barred=("request", "problem", "task", "project_task", "note_nodeID"),
        binnable=False),
    Collection(
        "sites", "site", 0.05, "Site", "name",
        {"sourceID": SOURCE_ID, "disabled": ("bool", 0.1), "city": pick("Houston", "Chicago", "Zürich"),
         "country": pick("US", "CH", "NL")},
        ("id", "sourceID", "name", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),),
        predefined=("disabled", "enabled", "directory", "support_domain")),
    Collection(
        "knowledge_articles", "knowledge_article", 0.1, "Knowledge article", "subject",
        {"sourceID": SOURCE_ID, "status": pick("work_in_progress", "validation", "active", "archived"),
         "service": ref("services"), "created_by": ref("people"), "start_at": ("at", 0.3), "custom_fields": CUSTOM},
        ("id", "sourceID", "subject", "status", "service", "created_at", "updated_at"),
        sortable=("id", "sourceID", "subject", "start_at", "created_at", "updated_at"),
        default_sort=(("start_at", True),), predefined=("active", "archived", "managed_by_me")),
    Collection(
        "project_tasks", "project_task", 1.0, "Project task", "subject",
        {"sourceID": SOURCE_ID, "category": pick("activity", "approval", "milestone"),
         "status": pick("registered", "assigned", "in_progress", "completed", "canceled"),
         "completion_target_at": ("at", 0.3), "finished_at": ("at", 0.5), "project": ref("projects"),
         "team": ref("teams", 0.2), "member": ref("people", 0.4), "planned_effort": ("int", 60, 2400)},
        ("id", "sourceID", "subject", "category", "status", "completion_target_at", "finished_at", "created_at",
         "updated_at"),
        predefined=("finished", "open", "managed_by_me", "assigned_to_me", "open_to_me"),
        parent="project", binnable=False),
    Collection(
        "ui_extensions", "ui_extension", 0.05, "UI extension", "name",
        {"sourceID": SOURCE_ID, "disabled": ("bool", 0.1), "active_version": ref("ui_extension_versions"),
         "prepared_version": ref("ui_extension_versions", 0.7), "title": ("text", "Form", 0.0),
         "category": pick("request", "person", "task", "ci")},
        ("id", "sourceID", "name", "disabled", "active_version", "prepared_version", "created_at", "updated_at"),
        sortable=("id", "sourceID", "name", "created_at", "updated_at"), default_sort=(("name", False),)),
]
CATALOG: dict[str, Collection] = {c.name: c for c in COLLECTIONS}


def volumes(size: int) -> dict[str, int]:
    """Records per collection for ``size`` units: at least one of each when size > 0."""
    return {c.name: (max(1, round(size * c.volume)) if size > 0 else 0) for c in COLLECTIONS}
