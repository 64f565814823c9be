"""The Act! entities beyond the first six, for the simulator in ``act.py``: histories, notes, groups and
their members, users, teams, opportunity stages, processes and line items, history types, field metadata
and one custom table ("Contracts") declared in the metadata.

Record shapes follow the Swagger models named in the Act! entity notes (section 6). Decisions where the
real API is unknown (GUESS there):
- ``/api/notes`` lists every note but refuses ``$filter`` and ``$orderby`` on ``edited`` with the 400 an
  ASP.NET OData controller gives for a property outside its allowed list (``unfiltered`` mode "refuse");
  mode "ignore" answers such a request as if it had neither option (id order), as a lax server would.
- Adding or removing a group member, or changing an opportunity's line items, bumps the parent's
  ``edited`` (members follow the group's version; a deleted contact leaves its groups, which are edited).
- Deleting a user with ``reassign_to`` edits every record it managed (the new manager is stamped); without
  it, every record it managed is deleted, as ``DELETE /api/users/{id}`` documents.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from .harness import stable_random

USERS = [
    {"id": "d90f208e-6468-4251-89d8-4937b0c70182", "username": "Marketing", "role": "Administrator",
     "displayName": "Marketing", "email": "marketing@example.com", "firstName": "", "lastName": "Marketing",
     "lastLogOnDate": "2025-07-25T14:02:11+00:00", "status": "Active"},
    {"id": "5b1c0f3e-2d4a-4b6c-8e9f-0a1b2c3d4e5f", "username": "Sales", "role": "Manager", "displayName": "Sales",
     "email": "sales@example.com", "firstName": "", "lastName": "Sales", "lastLogOnDate": None,
     "status": "Active"},
    {"id": "0c2d4e6f-8a9b-4c1d-9e2f-3a4b5c6d7e8f", "username": "John Hollo", "role": "Administrator",
     "displayName": "John Hollo", "email": "john@example.com", "firstName": "John", "lastName": "Hollo",
     "lastLogOnDate": "2025-07-26T09:00:00+00:00", "status": "Active"},
]
HISTORY_TYPES = [
    {"id": 10, "name": "Call Completed", "activityTypeId": 2, "activityTypeName": "Call", "description": ""},
    {"id": 11, "name": "Meeting Held", "activityTypeId": 1, "activityTypeName": "Meeting", "description": ""},
    {"id": 12, "name": "E-mail Sent", "activityTypeId": None, "activityTypeName": None, "description": ""},
    {"id": 13, "name": "Field Changed", "activityTypeId": None, "activityTypeName": None,
     "description": "Tracked field change"},
]
CUSTOM_TABLE = "Contracts"
# Field metadata per record type: (name, displayName, dataType); the names are the customFields keys.
FIELDS = {
    "Contact": [("user6", "Industry", "Character"), ("user7", "Score", "Number")],
    "Company": [("user1", "Tier", "Character")],
    "Group": [("user1", "Segment", "Character")],
    "Opportunity": [("opportunity_field_1", "Referral", "Character")],
    "Product": [],
    CUSTOM_TABLE: [("contract_no", "Contract number", "Character"), ("amount", "Amount", "Currency")],
}


def stages(guid: Any, names: list[str]) -> list[dict[str, Any]]:
    process = guid("process")
    return [{"id": guid("stage", k), "name": name, "description": "", "probability": min(100, 20 * (k + 1)),
             "number": k + 1, "process": {"id": process, "name": "Standard", "description": "", "status": "Active",
                                          "stagesCount": len(names), "stages": []}} for k, name in enumerate(names)]


def processes(stage_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not stage_list:
        return []
    head = stage_list[0]["process"]
    return [{**head, "stages": [{**s, "process": None} for s in stage_list]}]


def teams(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": "7f1e2d3c-4b5a-4968-8776-655443322110", "name": "West sales", "description": "",
             "roster": [dict(u) for u in users[:2]]},
            {"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "name": "Support", "description": "Help desk",
             "roster": [dict(u) for u in users[-1:]]}]


def field_columns(guid: Any, record_type: str) -> list[dict[str, Any]]:
    return [{"id": guid("field", record_type, name), "name": name, "columnName": name.upper(),
             "recordType": record_type, "displayName": label, "tableName": f"TBL_{record_type.upper()}",
             "type": kind, "dataType": "String" if kind == "Character" else "Decimal", "length": 64,
             "isCustom": True, "isReadOnly": False, "isTracked": False, "picklist": None,
             "createDate": "2024-01-01T00:00:00+00:00", "editDate": "2024-06-01T00:00:00+00:00"}
            for name, label, kind in FIELDS.get(record_type, [])]


def entities(guid: Any) -> list[dict[str, Any]]:
    core = [{"id": guid("entity", n), "name": n, "displayName": n, "isCustom": False, "recordType": n,
             "parents": [], "createUserID": None, "createDate": None}
            for n in ("Contact", "Company", "Group", "Opportunity")]
    custom = {"id": guid("entity", CUSTOM_TABLE), "name": CUSTOM_TABLE, "displayName": "Contracts",
              "isCustom": True, "recordType": CUSTOM_TABLE, "parents": ["Contact", "Company"],
              "createUserID": USERS[0]["id"], "createDate": "2024-01-01T00:00:00+00:00"}
    return [*core, custom]


def links(sim: Any, rng: random.Random, opportunity_key: str = "opportunities") -> dict[str, list[dict[str, Any]]]:
    """The embedded arrays of a history, note, activity or custom row: 0-2 of each kind."""
    def pick(entity: str) -> list[str]:
        n = sim.data[entity].n
        return [sim.record_id(entity, j) for j in sorted({rng.randrange(n) for _ in range(rng.randrange(3))})] \
            if n else []

    return {
        "contacts": [{"id": c, "displayName": "demo", "company": "", "isInvited": False} for c in pick("contacts")],
        "companies": [{"id": c, "name": "demo"} for c in pick("companies")],
        "groups": [{"id": g, "name": "demo"} for g in pick("groups")],
        opportunity_key: [{"id": o, "name": "demo"} for o in pick("opportunities")],
    }


def history(sim: Any, rng: random.Random, i: int, common: dict[str, Any]) -> dict[str, Any]:
    kind = rng.choice(sim.history_types) if sim.history_types else HISTORY_TYPES[0]
    start = sim.data["histories"].base_time(min(i, sim.data["histories"].n)) - timedelta(hours=1)
    return {
        "id": common["id"], "recordManagerID": common["recordManagerID"], "recordManager": common["recordManager"],
        "createUserID": common["recordManagerID"], "createUserName": common["recordManager"],
        "editUserID": common["recordManagerID"], "editUserName": common["recordManager"],
        "contactEmail": f"h{i}@example.com", "contactPhone": "6025550100", "contactPhoneExt": "",
        "contactCompany": "", "isPrivate": False, "regarding": rng.choice(["Renewal call", "Demo", "Follow-up"]),
        "details": f"History {i}", "duration": "00:30:00", "startTime": common["stamp"](start),
        "endTime": common["stamp"](start + timedelta(minutes=30)), "outlookID": "",
        "historyTypeID": kind["id"], "historyType": dict(kind), "attachment": None,
        "created": common["created"], "edited": common["edited"], **links(sim, rng),
    }


def note(sim: Any, rng: random.Random, i: int, common: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": common["id"], "recordManager": common["recordManager"], "recordManagerID": common["recordManagerID"],
        "createUserID": common["recordManagerID"], "isPrivate": False, "noteText": f"Note {i}: prefers e-mail",
        "noteTypeID": 100, "displayDate": common["created"], "created": common["created"],
        "edited": common["edited"], "attachment": None, **links(sim, rng),
    }


def group(sim: Any, rng: random.Random, i: int, common: dict[str, Any]) -> dict[str, Any]:
    parent = sim.record_id("groups", rng.randrange(i)) if i and rng.random() < 0.3 else ""
    return {
        "id": common["id"], "name": f"Group {i}", "description": rng.choice(["Q3 campaign list", ""]),
        "contacts": len(members(sim, i)), "parentID": parent, "hasSubgroups": False,
        "hierarchyLevel": 2 if parent else 1, "isPrivate": False, "acl": "", "importDate": None,
        "address": {"line1": "", "city": rng.choice(["Phoenix", "Austin"]), "state": "", "postalCode": "",
                    "country": "United States", "latitude": None, "longitude": None},
        "recordManagerID": common["recordManagerID"], "recordManager": common["recordManager"],
        "customFields": {"user1": rng.choice(["Gold", "Silver", None])},
        "created": common["created"], "edited": common["edited"], "editedBy": common["recordManager"],
    }


def contract(sim: Any, rng: random.Random, i: int, common: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": common["id"], "created": common["created"], "edited": common["edited"],
        "editedBy": common["recordManager"], "recordOwner": common["recordManager"],
        "contract_no": f"C-{1000 + i}", "amount": round(rng.uniform(100, 9000), 2),
        **links(sim, stable_random("l", sim.seed, i, rng.random()), opportunity_key="opportunity"),
    }


def members(sim: Any, g: int) -> list[int]:
    """Indexes of the live contacts in group ``g`` (they follow the group's version)."""
    data, contacts = sim.data["groups"], sim.data["contacts"]
    if not contacts.size:
        return []
    rng = stable_random("members", sim.seed, g, data.version(g))
    picks = sorted({rng.randrange(contacts.size) for _ in range(rng.randrange(5))})
    return [c for c in picks if contacts.exists(c)]


def line_items(sim: Any, i: int) -> list[dict[str, Any]]:
    """The line items of opportunity ``i`` (they follow the opportunity's version)."""
    data, products = sim.data["opportunities"], sim.data["products"]
    rng = stable_random("lines", sim.seed, i, data.version(i))
    created = data.created(i)
    out = []
    for k in range(rng.randrange(4)):
        price = round(rng.uniform(50, 5000), 2)
        quantity = float(rng.randrange(1, 5))
        product = sim.record_id("products", rng.randrange(products.n)) if products.n else ""
        out.append({"id": sim.guid("line", sim.seed, i, k), "name": f"Line {k}", "cost": round(price / 2, 2),
                    "price": price, "discount": 0.0, "discountPrice": price, "quantity": quantity,
                    "total": round(price * quantity, 2), "itemNumber": f"SKU-{k:05d}", "type": "",
                    "opportunityID": sim.record_id("opportunities", i), "productID": product,
                    "isQuickbooksProduct": False, "customFields": {},
                    "createDate": sim.stamp(created), "editDate": sim.stamp(data.time(i)),
                    "created": sim.stamp(created), "edited": sim.stamp(data.time(i)), "editedBy": "Marketing"})
    return out
