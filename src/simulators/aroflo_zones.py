"""The AroFlo simulator's field-service zones, as declarations (see the AroFlo entity reference, section 2).

Each ``ZoneDecl`` says what the simulator serves for one zone: its list key (not always the zone name:
``inventory`` answers ``items``, ``tasklabours`` ``labours``), its key and id prefix, its volume relative to
the number of tasks (the mid-size tenant's ratios), the date fields (creation, last update or a business
date, each in its documented format and zone, each filterable), the joins that fill an area only when asked
for (``join=lineitems`` fills ``lines``), whether the ``lastupdate`` feed lists it, and whether its deletes
are soft (the line stays, with ``deleted`` and ``deleteddatetime`` set). ``build`` makes the rest of the
record from a seeded random generator, so edits change it and nothing is stored.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from .aroflo import AroFloSim

MELBOURNE = ZoneInfo("Australia/Melbourne")

# How a date field is computed and written: (source, format, local). Source: "created" (never moves),
# "updated" (moves with every edit) or "business" (the created day, a business date edits never move).
UTC_DT = "%Y/%m/%d %H:%M:%S"
DATE = "%Y/%m/%d"
SQL_LOCAL = "sql"  # clients' "2021-02-11 14:03:22.5" style, local time


@dataclass(frozen=True)
class DateField:
    source: str
    fmt: str
    local: bool = False


@dataclass(frozen=True)
class ZoneDecl:
    name: str
    list_key: str
    key: str
    prefix: str
    ratio: float  # records per task (lookups: a fixed count, see ``fixed``)
    build: Callable[[AroFloSim, random.Random, int], dict[str, Any]]
    dates: dict[str, DateField] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # extra filter name -> date field (assets drop a "d")
    default_field: str = ""  # the 30-day default filter's field (none: lookups have no default filter)
    joins: dict[str, str] = field(default_factory=dict)  # join name -> the output key it fills
    feed: bool = False
    soft_delete: tuple[str, str] | None = None  # the ``deleted`` values (live, deleted), e.g. ("0", "1")
    fixed: int = 0  # a lookup's size, whatever the tenant's size
    hidden_key: bool = False  # the key is the simulator's own (stock levels have none; the connector keys them
    # by item and holder)
    unset_until_edited: tuple[str, ...] = ()  # date fields that read " " until the first edit (inventory)
    extra_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)  # filterable string fields: path


def money(rng: random.Random, low: float = 10, high: float = 5000) -> str:
    return f"{rng.uniform(low, high):.4f}"


def ref(sim: AroFloSim, zone: str, i: int) -> str:
    """The id of a record of ``zone`` chosen by ``i`` (a reference; the record may since have been deleted)."""
    # Over the generated records only: an insert elsewhere must not change what this record points at.
    data = sim.zones[zone].data if zone in sim.zones else None
    n = (data.n or data.size) if data is not None else 0
    return sim.zone_id(zone, i % n) if n else ""


def flag(rng: random.Random) -> str:
    return rng.choice(["false", "false", "FALSE", "true", "0"])


def custom_fields(rng: random.Random, names: tuple[tuple[str, str, list[str]], ...]) -> list[dict[str, Any]]:
    from .aroflo import encode_id

    return [{"fieldid": encode_id("C", n), "name": name, "type": kind, "value": rng.choice(values),
             "archived": "false"} for n, (name, kind, values) in enumerate(names) if rng.random() < 0.7]


TASK_FIELDS = (("Failure Reason", "Select", ["Corrosion", "Wear", ""]), ("Warranty", "checkbox", ["TRUE", "FALSE"]),
               ("Due Date", "Datefield", ["2024-03-06", "2024/03/07", ""]))
CLIENT_FIELDS = (("Ad Source", "text", ["Referral", "Web", ""]), ("VIP", "checkbox", ["TRUE", "FALSE"]))
SITE_FIELDS = (("Access Code", "text", ["1234", ""]),)
ASSET_FIELDS = (("Warranty Date", "Datefield", ["2025-01-01", ""]), ("Rating kW", "numeric", ["2.5", "7.1"]))


def lines(sim: AroFloSim, rng: random.Random, i: int, prefix: str, build: Callable[[random.Random], dict]
          ) -> list[dict[str, Any]]:
    """1 to 4 line items; line ids are unique per parent (position-based), so an edit can add or drop lines."""
    from .aroflo import encode_id

    return [{"lineid": encode_id(prefix, i * 10 + p), **build(rng)} for p in range(rng.randint(1, 4))]


def task(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    status = rng.choice(["Not Started", "In Progress", "Pending", "Completed", "Archived"])
    return {"jobnumber": str(2000 + i), "refcode": f"REF{i}",
            "taskname": rng.choice(["Replace HWS", "Leak", "Service"]),
            "description": "<p>Unit leaking</p>", "status": status,
            "client": {"clientid": ref(sim, "clients", i), "clientname": f"Client {i % 97}"},
            "org": {"orgid": ref(sim, "businessunits", i), "orgname": "Main BU"},
            "tasktasktype": {"tasktypeid": ref(sim, "tasktypes", i), "tasktype": "Service"},
            "tasklocation": {"locationid": ref(sim, "locations", i), "locationname": "12 High St"},
            "substatus": {"substatusid": ref(sim, "substatus", i), "substatus": "Waiting"},
            "priority": rng.choice([0, "0", "1"]), "custon": f"PO-{rng.randrange(10000)}",
            "tasktotals": {"totalmat": money(rng), "totallab": money(rng), "totalexp": "0.0000", "totalhrs": "3"},
            "linkprocessed": flag(rng), "customfields": custom_fields(rng, TASK_FIELDS),
            "labours": [], "materials": [], "expenses": [], "assigneds": [], "documentsandphotos": []}


def client(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"clientname": f"Client {i}", "shortname": f"C{i}", "firstname": "Jo", "surname": "Smith",
            "email": f"accounts{i}@client.example", "phone": "03 9000 0000", "abn": "",
            "address": {"addressline1": f"{rng.randrange(1, 300)} Main Rd", "suburb": "Ringwood", "state": "VIC",
                        "postcode": "3134", "country": "AUSTRALIA"},
            "orgs": [{"orgid": ref(sim, "businessunits", i), "orgname": "Main BU", "archived": flag(rng)}],
            "transactionterms": {"transactiontermid": ref(sim, "transactionterms", i), "transactionterm": "30 Days"},
            "postable": rng.choice(["TRUE", "FALSE"]), "customfields": custom_fields(rng, CLIENT_FIELDS),
            "contacts": [], "locations": [], "priorities": []}


def invoice_line(rng: random.Random) -> dict[str, Any]:
    return {"itemtype": rng.choice(["Labour", "Material"]), "description": "Labour", "qtyused": "2.0000",
            "qtybilled": "2.0000", "price": money(rng), "total": money(rng), "taxcode": "GST", "taxrate": "10.00"}


def invoice(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"invoicenumber": str(3000 + i), "status": rng.choice(["approved", "processed", "pending approval"]),
            "client": {"orgid": ref(sim, "clients", i), "orgname": "Client"},
            "task": {"taskid": ref(sim, "tasks", i)}, "totalex": money(rng), "totalinc": money(rng),
            "isTaxInclusive": flag(rng), "lines": lines(sim, rng, i, "IL", invoice_line)}


def quote_line(rng: random.Random) -> dict[str, Any]:
    return {"parentlineid": "", "itemtype": "Material", "item": "250L heat pump", "qty": "1.0000",
            "cost": money(rng), "sell": money(rng), "isapproved": flag(rng), "isoptional": "false"}


def quote(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"quotename": f"Quote {i}", "status": rng.choice(["Approved", "Rejected", "In Progress"]),
            "client": {"orgid": ref(sim, "clients", i), "orgname": "Client"},
            "task": {"taskid": ref(sim, "tasks", i)}, "totalex": money(rng), "totalinc": money(rng),
            "lines": lines(sim, rng, i, "QL", quote_line)}


def labour(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"task": {"taskid": ref(sim, "tasks", i // 3), "jobnumber": str(2000 + i // 3)},
            "user": {"userid": ref(sim, "users", i), "username": "T Tech"}, "worktype": "NT",
            "hours": f"{rng.randint(1, 8)}.00", "cost": money(rng), "sell": money(rng), "note": "",
            "lablocked": flag(rng)}


def material(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"task": {"taskid": ref(sim, "tasks", i // 4)}, "itemid": ref(sim, "inventory", i),
            "item": "Fitting kit", "quantity": str(rng.randint(1, 9)), "cost": money(rng), "sell": money(rng),
            "isinventory": flag(rng)}


def expense(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"task": {"taskid": ref(sim, "tasks", i)}, "description": rng.choice(["Parking", "Tolls"]),
            "quantity": "1", "cost": money(rng, 5, 50), "sell": money(rng, 5, 60),
            "user": {"userid": ref(sim, "users", i), "username": ""}}


def timesheet(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"type": rng.choice(["Productive", "Non-Productive"]), "hours": f"{rng.randint(1, 8)}.00",
            "user": {"userid": ref(sim, "users", i), "givennames": "Tess", "surname": "Tech"},
            "task": {"taskid": ref(sim, "tasks", i)},
            "worktype": {"worktypeid": "IycqQyUK", "worktype": "NT"}, "charge": money(rng), "note": ""}


def po_line(rng: random.Random) -> dict[str, Any]:
    return {"item": "Fitting kit", "qtyordered": "1.0000", "cost": money(rng), "total": money(rng)}


def purchaseorder(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"ordernumber": f"{1000 + i:06d}", "status": rng.choice(["approved", "processed"]),
            "supplier": {"orgid": ref(sim, "suppliers", i), "orgname": "Cables4U"}, "totalex": money(rng),
            "lines": lines(sim, rng, i, "PL", po_line)}


def location(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"locationname": f"Unit {i}, 14 Grove Rd", "suburb": "Melbourne", "state": "VIC", "postcode": "3000",
            "gpslat": "-37.81", "archived": rng.choice(["FALSE", "TRUE", "false"]),
            "linkedto": {"linkedtoid": ref(sim, "clients", i), "linkedtotype": "client"},
            "customfields": custom_fields(rng, SITE_FIELDS)}


def contact(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"givennames": "Accounts", "surname": f"Team {i}", "contacttype": "client",
            "org": {"orgid": ref(sim, "clients", i), "orgname": "Client"}, "email": f"c{i}@example.com",
            "archived": flag(rng)}


def project(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"projectnumber": str(i + 1), "projectname": f"Project {i}", "status": rng.choice(["open", "closed"]),
            "client": {"orgid": ref(sim, "clients", i), "orgname": "Client"}, "startdate": "2024/02/01",
            "enddate": rng.choice(["2024/06/30", ""])}


def stage(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"stagename": f"Stage {i % 3 + 1}", "status": rng.choice(["open", "closed"]),
            "project": {"projectid": ref(sim, "projects", i // 3), "projectname": "Project"}}


def schedule(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"hours": str(rng.randint(1, 8)), "ishidden": flag(rng), "islocked": flag(rng),
            "scheduletype": {"typeid": ref(sim, "tasks", i), "type": "task"},
            "scheduledto": {"scheduledtoid": ref(sim, "users", i), "scheduledtotype": "user"}}


def asset(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"assetname": f"Split system {i}", "category": {"categoryid": ref(sim, "assetcategories", i)},
            "client": {"clientid": ref(sim, "clients", i)}, "serialnumber": f"SN{rng.randrange(10**6)}",
            "archived": flag(rng), "customfields": custom_fields(rng, ASSET_FIELDS)}


def bill_line(rng: random.Random) -> dict[str, Any]:
    return {"itemtype": "Material", "description": "Sub-contract works", "qty": "1.0000", "price": money(rng),
            "total": money(rng)}


def bill(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"billnumber": f"INV-{5000 + i}", "status": rng.choice(["approved", "processed"]),
            "supplier": {"orgid": ref(sim, "suppliers", i)}, "totalex": money(rng), "totalinc": money(rng),
            "dateinvoiced": "2024/03/09", "lines": lines(sim, rng, i, "BL", bill_line)}


def item(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"partnumber": f"P-{i}", "description": "Fitting kit", "manufacturer": "Smithers Inc",
            "category": {"categoryid": ref(sim, "inventorycategories", i)}, "costex": money(rng, 1, 100),
            "sell_task": money(rng, 1, 200)}


def stocklevel(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
    return {"itemid": ref(sim, "inventory", i), "assignedtotype": "org", "assignedtoid": ref(sim, "businessunits", i),
            "assignedto": "Main BU",
            "quantity": f"{rng.randint(0, 90)}.0000"}


def lookup(label: str, **extra: Any) -> Callable[[AroFloSim, random.Random, int], dict[str, Any]]:
    def build(sim: AroFloSim, rng: random.Random, i: int) -> dict[str, Any]:
        return {label: f"{label.title()} {i}", "archived": flag(rng), **extra}
    return build


CREATED_UTC = {"createdutc": DateField("created", DATE), "createddatetimeutc": DateField("created", UTC_DT)}
UPDATED_UTC = {"lastupdatedutc": DateField("updated", DATE), "lastupdateddatetimeutc": DateField("updated", UTC_DT)}
LINES = {"lineitems": "lines"}
CUSTOM = {"customfields": "customfields"}

DECLS: tuple[ZoneDecl, ...] = (
    ZoneDecl("tasks", "tasks", "taskid", "T", 1.0, task, {**CREATED_UTC, **UPDATED_UTC,
             "requestdatetime": DateField("created", UTC_DT, local=True)}, default_field="createddatetimeutc",
             joins=CUSTOM, feed=True),
    ZoneDecl("clients", "clients", "clientid", "K", 0.3, client,
             {"datetimeinserted": DateField("created", SQL_LOCAL, local=True),
              "dateinserted": DateField("created", SQL_LOCAL, local=True)}, default_field="datetimeinserted",
             joins=CUSTOM, feed=True),
    ZoneDecl("invoices", "invoices", "invoiceid", "I", 0.8, invoice, {**CREATED_UTC, **UPDATED_UTC},
             default_field="createddatetimeutc", joins=LINES, feed=True),
    ZoneDecl("quotes", "quotes", "quoteid", "Q", 0.25, quote,
             {"createddate": DateField("created", DATE, local=True),
              "createddatetime": DateField("created", UTC_DT, local=True)}, default_field="createddatetime",
             joins=LINES, feed=True),
    ZoneDecl("tasklabours", "labours", "lineid", "L", 3.0, labour,
             {"workdate": DateField("business", DATE, local=True),
              "workdatetimestart": DateField("created", UTC_DT, local=True)}, aliases={"labourlineid": "lineid"},
             default_field="workdate", feed=True, soft_delete=("0", "1")),
    ZoneDecl("taskmaterials", "materials", "lineid", "M", 4.0, material,
             {"dateused": DateField("business", DATE, local=True)}, aliases={"materiallineid": "lineid"},
             default_field="dateused", feed=True, soft_delete=("false", "true")),
    ZoneDecl("timesheets", "timesheets", "timesheetid", "W", 1.25, timesheet,
             {"workdate": DateField("business", DATE, local=True),
              "startdatetime": DateField("created", UTC_DT, local=True)}, default_field="workdate"),
    ZoneDecl("purchaseorders", "purchaseorders", "purchaseorderid", "O", 0.4, purchaseorder,
             {"purchasedate": DateField("business", DATE, local=True)}, default_field="purchasedate",
             joins=LINES, feed=True),
    ZoneDecl("locations", "locations", "locationid", "N", 0.3, location, {**CREATED_UTC, **UPDATED_UTC},
             default_field="createddatetimeutc", joins=CUSTOM, feed=True),
    ZoneDecl("contacts", "contacts", "userid", "V", 0.35, contact, CREATED_UTC, default_field="createddatetimeutc"),
    ZoneDecl("projects", "projects", "projectid", "J", 0.025, project, CREATED_UTC,
             default_field="createddatetimeutc"),
    ZoneDecl("stages", "stages", "stageid", "H", 0.075, stage,
             extra_fields={"projectid": ("project", "projectid"), "stagename": ("stagename",)}),
    ZoneDecl("schedules", "schedules", "scheduleid", "D", 1.1, schedule,
             {"startdate": DateField("business", DATE, local=True),
              "startdatetime": DateField("created", UTC_DT, local=True)}, default_field="startdatetime"),
    ZoneDecl("assets", "assets", "assetid", "A", 0.15, asset,
             {"datecreated": DateField("business", DATE), **UPDATED_UTC},
             aliases={"lastupdateutc": "lastupdatedutc", "lastupdatedatetimeutc": "lastupdateddatetimeutc"},
             default_field="datecreated", joins=CUSTOM),
    ZoneDecl("bills", "bills", "billid", "B", 0.15, bill, UPDATED_UTC, default_field="lastupdateddatetimeutc",
             joins=LINES),
    ZoneDecl("taskexpenses", "expenses", "lineid", "E", 0.3, expense,
             {"dateused": DateField("business", DATE, local=True)}, aliases={"expenselineid": "lineid"},
             default_field="dateused", feed=True),
    ZoneDecl("inventory", "items", "itemid", "Y", 0.5, item, {**CREATED_UTC, **UPDATED_UTC},
             default_field="createddatetimeutc", unset_until_edited=tuple(UPDATED_UTC)),
    ZoneDecl("inventorystocklevels", "inventorystocklevels", "stocklevelid", "Z", 0.1, stocklevel, UPDATED_UTC,
             default_field="lastupdateddatetimeutc", hidden_key=True,
             extra_fields={"itemid": ("itemid",), "assignedtoid": ("assignedtoid",)}),
    ZoneDecl("businessunits", "businessunits", "orgid", "BU", 0, lookup("businessunitname"), fixed=3),
    ZoneDecl("tasktypes", "tasktypes", "tasktypeid", "TT", 0, lookup("tasktype"), fixed=6),
    ZoneDecl("substatus", "substatuses", "substatusid", "SS", 0, lookup("substatus", substatustype="task"), fixed=5),
    ZoneDecl("trackingcentres", "trackingcentres", "trackingcentreid", "TC", 0, lookup("name"), fixed=4),
    ZoneDecl("userposition", "userpositions", "positionid", "UP", 0, lookup("Position"), fixed=4),
    ZoneDecl("priorities", "priorities", "priorityid", "PR", 0, lookup("shortdescription"), fixed=4),
    ZoneDecl("transactionterms", "transactionterms", "transactiontermid", "TR", 0, lookup("transactionterm"),
             fixed=3),
    ZoneDecl("permissiongroups", "permissiongroups", "groupid", "PG", 0, lookup("groupname"), fixed=4),
    ZoneDecl("assetcategories", "assetcategories", "categoryid", "AC", 0, lookup("categoryname"), fixed=5),
    ZoneDecl("inventorycategories", "inventorycategories", "categoryid", "IC", 0, lookup("categoryname"), fixed=5),
    ZoneDecl("customholders", "customholders", "customholderid", "CH", 0, lookup("customholdername"), fixed=3),
)


def volume(decl: ZoneDecl, tasks: int) -> int:
    if tasks <= 0:
        return 0
    return decl.fixed if decl.fixed else max(2, round(decl.ratio * tasks))


def write(dt: datetime, spec: DateField) -> str:
    """A UTC moment in the field's documented text form."""
    local = dt.astimezone(MELBOURNE) if spec.local else dt.astimezone(timezone.utc)
    if spec.fmt == SQL_LOCAL:
        return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 100000}"
    return local.strftime(spec.fmt)


def naive(dt: datetime, spec: DateField) -> datetime:
    """The value a ``where`` on this field compares with: the field's own wall clock, naive; a date alone is
    midnight."""
    local = (dt.astimezone(MELBOURNE) if spec.local else dt.astimezone(timezone.utc)).replace(tzinfo=None)
    if spec.fmt == DATE:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    if spec.fmt == SQL_LOCAL:
        return local.replace(microsecond=local.microsecond // 100000 * 100000)
    return local.replace(microsecond=0)


def moment(sim: AroFloSim, decl: ZoneDecl, spec: DateField, i: int) -> datetime:
    data = sim.zones[decl.name].data
    if spec.source == "updated":
        return data.time(i).astimezone(timezone.utc)
    created = sim.created(data, i)
    if spec.source == "business":
        return created.astimezone(MELBOURNE).replace(hour=9, minute=0, second=0, microsecond=0)
    return created + timedelta(milliseconds=100 * (i % 10)) if spec.fmt == SQL_LOCAL else created
