"""Simulator of the Act! Web API (see the Act! API notes, section 9 "Simulator decisions").

Implemented: the API mounted at ``/act.web.api`` with case-insensitive routes; ``GET /api/system``
without auth; ``GET /authorize`` with Basic credentials plus ``Act-Database-Name`` returning a signed
JWT as ``text/plain`` (renewal with ``Authorization: Bearer <jwt>``; a bare 401 for a wrong user,
password, database, a missing database header or an expired, revoked or unknown token; 403
``4032`` for a user without Web API access); tokens expire after ``token_lifetime`` seconds
(default 60 minutes). Collections ``/api/contacts``, ``/api/companies``, ``/api/opportunities``,
``/api/activities`` (also ``/api/tasks``), ``/api/task-types`` (``/api/activity-types`` is 404) and
``/api/products`` with OData ``$top`` (clamped to 5,000; missing means 5,000), ``$skip``, ``$filter``,
``$orderby`` on several keys (ties always broken by ``id``), ``$select``; bare JSON arrays, or the
``{"value": [...], "Count": n}`` envelope for the entities named in ``envelope``; ASP.NET error bodies;
cloud mode (``per_minute``) with ``X-RateLimit-*`` headers and 429 without ``Retry-After``,
self-hosted mode with neither. ``shuffle_ties`` reshuffles records with equal sort keys on every
request, reproducing the duplicates and losses of ``$skip`` paging.

List requests of the connector's shapes (``$orderby=<cursor>[,id]`` with ``cursor ge|gt T`` and keyset
bounds, id order without a filter, as the ``$top=1`` probe, or the delete sweep ``$orderby=id`` with
``id gt X``) take an indexed path that costs the page, not the table, and returns exactly what the
general path (generate, filter and sort every record) does.

Deletes (``delete_random``) behave as the real API shows them: the record leaves every listing, its
id-only listing, lookups by id (404) and the truth; there is no tombstone or deleted-records feed. Its
``customFields`` (contacts, companies, opportunities) go with it: the connector's child rows of it must
be deleted too. Cascades between entities are undocumented for Act!, so none is simulated.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import functools
import hashlib
import heapq
import hmac
import json
import math
import random
import re
import secrets
import threading
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from . import act_entities as more
from .harness import BASE_TIME, Dataset, Faults, SimApp, json_response, serve_forever, stable_random

MOUNT = "/act.web.api"
TOP_CAP = 5000
RECORD_CACHE = 200_000  # generated records kept; a million-record sync would otherwise hold them all (~2 GB)
GROUP_CACHE = 4096  # tie groups kept sorted by id for the indexed path
ID_PREFIX = 1024  # smallest base ids kept for id-ordered requests ($top=1 probes)

# OData $filter: tokenizer, recursive-descent parser and evaluator ------------------------------------
#   expr    := and ('or' and)*
#   and     := unary ('and' unary)*
#   unary   := 'not' unary | primary
#   primary := '(' expr ')' | func '(' operand ',' operand ')' | operand op operand
#   operand := property ('/' property)* | literal     op := eq | ne | gt | ge | lt | le
# Literals: 'strings' ('' escapes a quote), datetimes with Z or an offset, bare GUIDs, numbers,
# true, false, null. Property names are case-sensitive; every error is an ODataError (HTTP 400).

COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
FUNCTIONS = ("contains", "startswith", "endswith")
_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})"
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z_])"
_TOKEN = re.compile(
    rf"(?P<ws>\s+)|(?P<string>'(?:[^']|'')*')|(?P<datetime>{_DATETIME})|(?P<guid>{_GUID})"
    r"|(?P<number>-?\d+(?:\.\d+)?(?![0-9A-Za-z_]))|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<punct>[(),])"
)


class ODataError(ValueError):
    """A query the simulator refuses with 400."""


@dataclass(frozen=True)
class Token:
    kind: str  # string, datetime, guid, number, name, punct, end
    text: str
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string, datetime, guid, number, bool, null
    value: Any


@dataclass(frozen=True)
class Prop:
    path: tuple[str, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Literal | Prop
    right: Literal | Prop


@dataclass(frozen=True)
class Func:
    name: str
    left: Literal | Prop
    right: Literal | Prop


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    expr: Any


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ODataError(f"syntax error at position {pos}: unexpected {text[pos:pos + 10]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(Token(kind, match.group(), pos))
        pos = match.end()
    out.append(Token("end", "", len(text)))
    return out


def parse_datetime(text: str) -> datetime:
    """An OData datetime literal or a record's timestamp; it must carry ``Z`` or an offset."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    match = re.fullmatch(r"(.*T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?([+-]\d{2}:\d{2})", value)
    if not match:
        raise ODataError(f"'{text}' is not a datetime with a time zone")
    head, fraction, zone = match.groups()
    fraction = (fraction or "")[:6].ljust(6, "0")  # .NET keeps 7 digits; Python keeps 6
    try:
        dt = datetime.fromisoformat(f"{head}.{fraction}{zone}")
    except ValueError:
        raise ODataError(f"'{text}' is not a valid datetime") from None
    return dt.astimezone(timezone.utc)


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "name" and token.text in words:
            self.i += 1
            return token.text
        return None

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ODataError(f"syntax error at position {token.pos}: expected '{text}', found "
                             f"{token.text or 'the end'!r}")

    def parse(self) -> Any:
        expr = self.or_expr()
        token = self.peek()
        if token.kind != "end":
            raise ODataError(f"syntax error at position {token.pos}: unexpected {token.text!r}")
        return expr

    def or_expr(self) -> Any:
        left = self.and_expr()
        while self.keyword("or"):
            left = BoolOp("or", left, self.and_expr())
        return left

    def and_expr(self) -> Any:
        left = self.unary()
        while self.keyword("and"):
            left = BoolOp("and", left, self.unary())
        return left

    def unary(self) -> Any:
        if self.keyword("not"):
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Any:
        token = self.peek()
        if token.text == "(":
            self.take()
            expr = self.or_expr()
            self.expect(")")
            return expr
        if token.kind == "name" and token.text in FUNCTIONS and self.tokens[self.i + 1].text == "(":
            self.i += 2
            left = self.operand()
            self.expect(",")
            right = self.operand()
            self.expect(")")
            return Func(token.text, left, right)
        left = self.operand()
        op = self.take()
        if op.kind != "name" or op.text not in COMPARISONS:
            raise ODataError(f"syntax error at position {op.pos}: expected one of {', '.join(COMPARISONS)}, "
                             f"found {op.text or 'the end'!r}")
        return Compare(op.text, left, self.operand())

    def operand(self) -> Literal | Prop:
        token = self.take()
        if token.kind == "string":
            return Literal("string", token.text[1:-1].replace("''", "'"))
        if token.kind == "datetime":
            return Literal("datetime", parse_datetime(token.text))
        if token.kind == "guid":
            return Literal("guid", token.text.lower())
        if token.kind == "number":
            return Literal("number", float(token.text) if "." in token.text else int(token.text))
        if token.kind == "name":
            if token.text in ("true", "false"):
                return Literal("bool", token.text == "true")
            if token.text == "null":
                return Literal("null", None)
            if token.text in COMPARISONS + ("and", "or", "not"):
                raise ODataError(f"syntax error at position {token.pos}: '{token.text}' where a value belongs")
            return Prop(tuple(token.text.split("/")))
        raise ODataError(f"syntax error at position {token.pos}: expected a property or a literal, found "
                         f"{token.text or 'the end'!r}")


def parse_filter(text: str) -> Any:
    if not text.strip():
        raise ODataError("$filter is empty")
    return _Parser(text).parse()


# Evaluation ------------------------------------------------------------------------------------------

def lookup(record: dict[str, Any], path: tuple[str, ...], types: dict[str, str]) -> tuple[str, Any]:
    """(type, value) of a property path; unknown properties raise ODataError."""
    name = "/".join(path)
    value: Any = record
    for part in path:
        if not isinstance(value, dict) or part not in value:
            raise ODataError(f"Could not find a property named '{name}'")
        value = value[part]
    kind = types.get(name)
    if kind is None:
        kind = ("bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float))
                else "string" if isinstance(value, str) else "null" if value is None else "object")
    if kind == "datetime" and value is not None:
        value = parse_datetime(value)
    elif kind == "guid" and value is not None:
        value = str(value).lower()
    return kind, value


def _operand(node: Literal | Prop, record: dict[str, Any], types: dict[str, str]) -> tuple[str, Any]:
    if isinstance(node, Literal):
        return node.kind, node.value
    return lookup(record, node.path, types)


_COMPATIBLE = {("string", "string"), ("datetime", "datetime"), ("guid", "guid"), ("number", "number"),
               ("bool", "bool")}


def _compare(op: str, left: tuple[str, Any], right: tuple[str, Any]) -> bool:
    (lk, lv), (rk, rv) = left, right
    if "null" not in (lk, rk) and lv is not None and rv is not None and (lk, rk) not in _COMPATIBLE:
        raise ODataError(f"A binary operator with incompatible types was detected. Found operand types "
                         f"'{lk}' and '{rk}' for operator kind '{op}'")
    if lv is None or rv is None:
        if op == "eq":
            return lv is None and rv is None
        if op == "ne":
            return not (lv is None and rv is None)
        return False  # ordering against null is never true, as in SQL
    if op in ("gt", "ge", "lt", "le") and lk == "bool":
        raise ODataError(f"operator '{op}' is not defined for booleans")
    return {"eq": lv == rv, "ne": lv != rv, "gt": lv > rv, "ge": lv >= rv, "lt": lv < rv, "le": lv <= rv}[op]


def evaluate(node: Any, record: dict[str, Any], types: dict[str, str]) -> bool:
    if isinstance(node, BoolOp):
        # Both sides are evaluated so that an unknown property fails whatever the data.
        left, right = evaluate(node.left, record, types), evaluate(node.right, record, types)
        return (left and right) if node.op == "and" else (left or right)
    if isinstance(node, Not):
        return not evaluate(node.expr, record, types)
    if isinstance(node, Func):
        (lk, lv), (rk, rv) = _operand(node.left, record, types), _operand(node.right, record, types)
        if lv is None or rv is None:
            return False
        if lk != "string" or rk != "string":
            raise ODataError(f"{node.name}() takes two strings")
        return {"contains": rv in lv, "startswith": lv.startswith(rv), "endswith": lv.endswith(rv)}[node.name]
    if isinstance(node, Compare):
        return _compare(node.op, _operand(node.left, record, types), _operand(node.right, record, types))
    raise ODataError("the filter is not a boolean expression")  # e.g. a bare property


def parse_orderby(text: str) -> list[tuple[tuple[str, ...], bool]]:
    """``edited desc, id`` -> [(('edited',), True), (('id',), False)]."""
    out = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(f"$orderby clause {part.strip()!r} is not 'property [asc|desc]'")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*", words[0]):
            raise ODataError(f"$orderby names an invalid property {words[0]!r}")
        out.append((tuple(words[0].split("/")), len(words) == 2 and words[1] == "desc"))
    return out


def sort_key(value: Any) -> tuple:
    # Nulls sort first ascending, as SQL Server does.
    return (0, "") if value is None else (1, value)


def parse_select(text: str, known: set[str]) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in known:
            raise ODataError(f"Could not find a property named '{name}'")
    return names


@dataclass(frozen=True)
class Options:
    """The validated OData options of a list request (``rows``: the filtered rows on the general path)."""

    top: int
    skip: int
    tree: Any | None
    order: list[tuple[tuple[str, ...], bool]]
    select: list[str] | None
    rows: list[dict[str, Any]] | None


# The indexed path answers the connector's queries without a scan. Its filters are conjunctions of lower
# bounds on (cursor, id): ``cursor ge|gt T`` and ``(cursor gt X or (cursor eq X and id gt Y))``.
Bounds = tuple[datetime | None, tuple[datetime, str] | None]  # (earliest cursor value, key to start after)


def _conjuncts(tree: Any) -> list[Any]:
    if isinstance(tree, BoolOp) and tree.op == "and":
        return _conjuncts(tree.left) + _conjuncts(tree.right)
    return [tree]


def keyset_bounds(tree: Any | None, cursor: str, id_kind: str) -> Bounds | None:
    """Where the (cursor, id) order starts for a filter of lower bounds, or None for any other filter.

    Every record before the start fails the filter and every record after the boundary's ties passes it,
    so a page costs its own size; the filter is still evaluated on each record read (exact semantics)."""
    start: datetime | None = None
    after: tuple[datetime, str] | None = None
    for clause in _conjuncts(tree) if tree is not None else []:
        match clause:
            case Compare(op="ge" | "gt", left=Prop(path=(name,)), right=Literal(kind="datetime", value=at)) \
                    if name == cursor:
                start = at if start is None else max(start, at)
            case BoolOp(op="or",
                        left=Compare(op="gt", left=Prop(path=(name1,)), right=Literal(kind="datetime", value=at)),
                        right=BoolOp(op="and",
                                     left=Compare(op="eq", left=Prop(path=(name2,)),
                                                  right=Literal(kind="datetime", value=at2)),
                                     right=Compare(op="gt", left=Prop(path=("id",)), right=Literal() as rid))) \
                    if name1 == name2 == cursor and at == at2:
                start = at if start is None else max(start, at)
                if rid.kind == id_kind:  # otherwise the comparison fails on the template, or never matches
                    key = (at, rid.value)
                    after = key if after is None else max(after, key)
            case _:
                return None
    return start, after


def sweep_bound(tree: Any, id_kind: str) -> str | None:
    """The X of the delete sweep's filter ``id gt X`` (a literal of the id's own kind), else None."""
    match tree:
        case Compare(op="gt", left=Prop(path=("id",)), right=Literal() as rid) if rid.kind == id_kind:
            return rid.value
    return None


# The simulator ---------------------------------------------------------------------------------------

DATETIME_FIELDS = {"created", "edited", "importDate", "birthday", "openDate", "estimatedCloseDate",
                   "actualCloseDate", "startTime", "endTime", "createDate", "editDate", "displayDate",
                   "lastLogOnDate"}


@dataclass(frozen=True)
class Entity:
    name: str
    routes: tuple[str, ...]  # lower-case paths under /api
    cursor: str | None  # edited, editDate, or None for the task-type list
    guid_fields: tuple[str, ...] = ("id",)

    def types(self) -> dict[str, str]:
        out = {f: "datetime" for f in DATETIME_FIELDS}
        out.update({f: "guid" for f in self.guid_fields})
        return out


ENTITIES = {
    "contacts": Entity("contacts", ("contacts",), "edited", ("id", "recordManagerID")),
    "companies": Entity("companies", ("companies",), "edited", ("id", "recordManagerID")),
    "opportunities": Entity("opportunities", ("opportunities",), "edited"),
    "activities": Entity("activities", ("activities", "tasks"), "edited", ("seriesID",)),  # id: GUID + date
    "products": Entity("products", ("products",), "editDate"),
    "histories": Entity("histories", ("history",), "edited", ("id", "recordManagerID")),
    "notes": Entity("notes", ("notes",), "edited", ("id", "recordManagerID")),
    "groups": Entity("groups", ("groups",), "edited", ("id", "recordManagerID")),
    "custom_contracts": Entity("custom_contracts", (), "edited"),  # /api/custom/entities/Contracts
}
ROUTES = {route: entity for entity in ENTITIES.values() for route in entity.routes}
DELETABLE = ("contacts", "companies", "opportunities", "activities", "products", "histories", "notes", "groups",
             "custom_contracts")  # in delete_random's rotation
BUILDERS = {"histories": more.history, "notes": more.note, "groups": more.group, "custom_contracts": more.contract}

FIRST = ["Bruce", "Ada", "Grace", "Alan", "Chris", "Dana", "Émile", "Farah", "Gus", "Hana", "Ivo", "June"]
LAST = ["Vanderpelt", "Lovelace", "Hopper", "Turing", "O'Neil", "Nakamura", "Müller", "Okafor", "Silva"]
CITIES = [("Phoenix", "AZ"), ("Austin", "TX"), ("Denver", "CO"), ("Boston", "MA"), ("Tampa", "FL")]
MANAGERS = [("d90f208e-6468-4251-89d8-4937b0c70182", "Marketing"), ("5b1c0f3e-2d4a-4b6c-8e9f-0a1b2c3d4e5f", "Sales")]
STAGES = ["Initial Communication", "Needs Assessment", "Proposal", "Negotiation", "Closed"]
TASK_TYPES = [
    {"id": 1, "name": "Meeting", "description": "", "isActive": True, "isCustom": False, "isDeletable": False},
    {"id": 2, "name": "Call", "description": "", "isActive": True, "isCustom": False, "isDeletable": False},
    {"id": 3, "name": "To-do", "description": "", "isActive": True, "isCustom": False, "isDeletable": False},
    {"id": 4, "name": "Appointment", "description": "", "isActive": True, "isCustom": False, "isDeletable": False},
    {"id": 1000, "name": "Site visit", "description": "On-site review", "isActive": True, "isCustom": True,
     "isDeletable": True},
]


def stamp(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(timezone.utc).isoformat()


_generators = threading.local()


def guid_value(*parts: Any) -> int:
    """The 128 bits of ``guid(*parts)``: ``stable_random("act-guid", *parts).getrandbits(128)`` with the
    version-4 bits set. Their numeric order is the GUID strings' order. One generator per thread is
    re-seeded in C instead of building a ``Random`` each time (a pass over a million ids takes seconds less)."""
    rng = getattr(_generators, "rng", None)
    if rng is None:
        rng = _generators.rng = random.Random()
    digest = hashlib.sha256("|".join(map(str, ("act-guid", *parts))).encode()).digest()
    super(random.Random, rng).seed(int.from_bytes(digest[:8], "big"))  # what Random(int) does
    value = rng.getrandbits(128)
    return (value & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)  # variant, version 4


@functools.lru_cache(maxsize=1 << 16)  # ids are derived again for links, sorting and rebuilt records
def guid(*parts: Any) -> str:
    """``str(uuid.UUID(int=stable_random("act-guid", *parts).getrandbits(128), version=4))``, formatted
    directly."""
    h = f"{guid_value(*parts):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def asp_error(status: int, message: str, exception: str | None = None) -> Response:
    body: dict[str, Any] = {"message": message}
    if exception:
        body.update({"exceptionMessage": exception, "exceptionType": "System.InvalidOperationException",
                     "stackTrace": "   at Act.Web.Api.Controllers (simulated)"})
    return json_response(body, status)


def bare_401() -> Response:
    return Response(b"", status=401)


class ActSim(SimApp):
    def __init__(self, contacts: int = 120, companies: int = 60, opportunities: int = 80, activities: int = 100,
                 products: int = 30, *, tie: int = 1, users: dict[str, tuple[str, bool]] | None = None,
                 databases: Iterable[str] = ("ACT2018Demo",), token_lifetime: float = 3600.0,
                 envelope: Iterable[str] = (), per_minute: int | None = None, faults: Faults | None = None,
                 seed: int = 11, latency: float = 0.0, top_cap: int = TOP_CAP, shuffle_ties: bool = False,
                 indexed: bool = True, histories: int | None = None, notes: int | None = None,
                 groups: int | None = None, contracts: int | None = None,
                 unfiltered: dict[str, str] | None = None):
        super().__init__(faults=faults, limits=[(per_minute, 60.0)] if per_minute else None, latency=latency)
        sizes = {"contacts": contacts, "companies": companies, "opportunities": opportunities,
                 "activities": activities, "products": products,
                 "histories": activities if histories is None else histories,
                 "notes": max(1, contacts // 2) if notes is None else notes,
                 "groups": max(1, contacts // 10) if groups is None else groups,
                 "custom_contracts": max(1, opportunities // 4) if contracts is None else contracts}
        self.data = {name: Dataset(n, tie=tie, seed=seed + k) for k, (name, n) in enumerate(sizes.items())}
        self.seed = seed
        self.task_types = [dict(t, taskTypeGuid=guid("task-type", t["id"]), historyTypes=[]) for t in TASK_TYPES]
        # The snapshot lists (tests change them in place) and the custom table's metadata.
        self.user_list = [dict(u) for u in more.USERS]
        self.history_types = [dict(t) for t in more.HISTORY_TYPES]
        self.stages = more.stages(guid, STAGES)
        self.processes = more.processes(self.stages)
        self.teams = more.teams(self.user_list)
        self.entities = more.entities(guid)
        self.fields = {rt: more.field_columns(guid, rt) for rt in more.FIELDS}
        # Filters and orders on ``edited`` per collection: "refuse" (400, as OData does for a property outside
        # its allowed list) or "ignore" (answered as if absent); others honour them.
        self.unfiltered = {"notes": "refuse"} if unfiltered is None else dict(unfiltered)
        self.reassigned: dict[str, tuple[str, str] | None] = {}  # deleted user id -> new manager (None: deleted)
        self._ids: dict[str, tuple[int, dict[str, int]]] = {}
        self.guid, self.stamp = guid, stamp
        self.users = users if users is not None else {"John Hollo": ("act-pass-123", True)}
        self.databases = set(databases)
        self.token_lifetime = token_lifetime
        self.envelope = set(envelope)
        self.top_cap = top_cap
        self.shuffle_ties = shuffle_ties
        self._secret = secrets.token_bytes(32)
        self._jti = 0
        self._min_jti = 1  # tokens with a smaller jti were revoked
        self._auth_lock = threading.Lock()
        self.authorize_calls = {"basic": 0, "bearer": 0, "refused": 0}
        self.issued: list[str] = []  # every token handed out, for leak checks in tests
        self._cache: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
        self._shuffle_rng = stable_random("shuffle", seed)
        # The indexed path (False: every list request takes the general path, as tests compare both).
        self.indexed = indexed
        self.indexed_hits = 0
        self._groups: dict[tuple[str, int, int, int], list[tuple[str, int]]] = {}
        self._changed_ids: dict[str, dict[int, str]] = {}
        self._id_prefixes: dict[str, tuple[int, list[tuple[str, int]]]] = {}
        self._id_orders: dict[str, tuple[int, array]] = {}

    # Records --------------------------------------------------------------------------------------
    def record_id(self, entity: str, i: int) -> str:
        if entity == "activities":
            start = self.data[entity].base_time(min(i, self.data[entity].n)) + timedelta(days=3)
            return guid(entity, self.seed, i) + start.strftime("%m%d%Y")
        return guid(entity, self.seed, i)

    def record(self, entity: str, i: int) -> dict[str, Any]:
        dataset = self.data[entity]
        version = dataset.version(i)
        cached = self._cache.get((entity, i))
        if cached and cached[0] == version:
            return cached[1]
        rng = dataset.rng(i)
        manager_id, manager = self.manager(rng.choice(MANAGERS))
        edited, created = dataset.time(i), dataset.created(i)
        rid = self.record_id(entity, i)
        if entity in BUILDERS:
            common = {"id": rid, "recordManagerID": manager_id, "recordManager": manager, "created": stamp(created),
                      "edited": stamp(edited), "stamp": stamp}
            rec = BUILDERS[entity](self, rng, i, common)
        elif entity == "contacts":
            first, last = rng.choice(FIRST), rng.choice(LAST)
            city, state = rng.choice(CITIES)
            company = self.record_id("companies", rng.randrange(max(1, self.data["companies"].n)))
            rec: dict[str, Any] = {
                "id": rid, "idStatus": rng.choice(["Customer", "Prospect", "Vendor"]), "isUser": False,
                "company": f"{last} Fitness", "companyID": rng.choice([company, ""]), "contactType": "Contact",
                "namePrefix": "", "firstName": first, "middleName": "", "lastName": last, "nameSuffix": "",
                "fullName": f"{first} {last}", "isFavorite": rng.random() < 0.1, "isImported": False,
                "importDate": None, "isPrivate": False, "acl": [], "jobTitle": rng.choice(["Owner", "CFO", "Buyer"]),
                "emailAddress": f"{first.lower()}.{i}@example.com", "website": "",
                "birthday": stamp(datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(days=rng.randrange(12000))),
                "businessAddress": {"line1": f"{rng.randrange(1, 999)} Main St", "line2": "", "line3": "",
                                    "city": city, "state": state, "postalCode": f"{rng.randrange(10000, 99999)}",
                                    "country": "United States", "latitude": None, "longitude": None},
                "businessPhone": f"602555{rng.randrange(1000, 9999)}", "businessExtension": "",
                "mobilePhone": "", "recordManagerID": manager_id, "recordManager": manager,
                "customFields": {"user6": rng.choice(["Fitness", "Retail", None]), "user7": rng.randrange(100)},
                "created": stamp(created), "edited": stamp(edited), "editedBy": manager,
            }
        elif entity == "companies":
            city, state = rng.choice(CITIES)
            address = {"line1": f"{rng.randrange(1, 999)} Market St", "line2": "", "line3": "", "city": city,
                       "state": state, "postalCode": f"{rng.randrange(10000, 99999)}", "country": "United States"}
            rec = {
                "id": rid, "name": f"{rng.choice(LAST)} {rng.choice(['Fitness', 'Foods', 'Labs'])} #{i}",
                "address": address, "billingAddress": dict(address), "shippingAddress": dict(address),
                "description": "", "division": "", "hasDivisions": False, "hierarchyLevel": 0,
                "idStatus": "Customer", "industry": rng.choice(["Health", "Retail"]), "isPrivate": False, "acl": [],
                "numberOfEmployees": rng.randrange(1, 500), "phone": f"480555{rng.randrange(1000, 9999)}",
                "region": rng.choice(["West", "East"]), "revenue": round(rng.uniform(1e4, 1e7), 2),
                "territory": "", "website": f"https://c{i}.example.com", "recordManagerID": manager_id,
                "recordManager": manager, "customFields": {"user1": rng.choice(["A", "B"])},
                "created": stamp(created), "edited": stamp(edited), "editedBy": manager,
            }
        elif entity == "opportunities":
            status = rng.choice([0, 0, 1, 2])
            probability = rng.randrange(0, 101, 5)
            total = round(rng.uniform(100, 20000), 2)
            opened = created + timedelta(days=1)
            stage_no = rng.randrange(len(STAGES))
            rec = {
                "id": rid, "name": f"Opportunity {i}", "productTotal": total,
                "weightedTotal": round(total * probability / 100, 2), "probability": probability, "status": status,
                "contactNames": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "openDate": stamp(opened),
                "estimatedCloseDate": stamp(opened + timedelta(days=30)),
                "actualCloseDate": stamp(opened + timedelta(days=40)) if status else None,
                "stage": {"id": guid("stage", stage_no), "name": STAGES[stage_no], "number": stage_no + 1,
                          "process": {"id": guid("process"), "name": "Standard", "stages": [], "status": "Active",
                                      "description": "", "stagesCount": len(STAGES)}},
                "contacts": [{"id": self.record_id("contacts", rng.randrange(max(1, self.data["contacts"].n))),
                              "displayName": "demo", "company": "", "isInvited": True}],
                "companies": [], "customFields": {"opportunity_field_1": None},
                "created": stamp(created), "edited": stamp(edited), "recordManager": manager,
            }
        elif entity == "activities":
            start = dataset.base_time(min(i, dataset.n)) + timedelta(days=3)
            kind = rng.choice(self.task_types) if self.task_types else {"id": 2, "name": "Call"}
            rec = {
                "id": rid, "seriesID": guid("series", self.seed, i), "subject": f"Follow-up {i}",
                "activityTypeId": kind["id"], "activityTypeName": kind["name"], "activityPriorityId": 1,
                "activityPriorityName": "Low", "details": "<p>Discuss renewal</p>", "isCleared": rng.random() < 0.3,
                "isAlarmed": False, "startTime": stamp(start), "endTime": stamp(start + timedelta(minutes=30)),
                "isTimeless": False, "isAllDay": False, "isPrivate": False, "location": "",
                "scheduledById": manager_id, "scheduledBy": manager, "scheduledForId": manager_id,
                "scheduledFor": manager, "contacts": [], "companies": [], "groups": [], "opportunities": [],
                "recurSpec": None, "attachment": None, "created": stamp(created), "edited": stamp(edited),
            }
            rec.update(more.links(self, rng))
        else:  # products: the catalogue names its dates createDate/editDate
            cost = round(rng.uniform(10, 2000), 2)
            rec = {"id": rid, "name": f"Product {i}", "cost": cost, "price": round(cost * 1.6, 2),
                   "itemNumber": f"SKU-{i:05d}", "createDate": stamp(created), "editDate": stamp(edited)}
        if len(self._cache) >= RECORD_CACHE:
            self._cache.clear()  # regenerating is exact; holding a million records is not affordable
        self._cache[(entity, i)] = (version, rec)
        return rec

    def delete_random(self, rng: random.Random, n: int) -> list[tuple[str, str]]:
        """Delete ``n`` live records, spread over the entities in turn (contacts, companies and opportunities
        take their custom-field values with them); returns (entity, id) of each. An entity with no live
        record left is passed over."""
        out: list[tuple[str, str]] = []
        names = list(DELETABLE)
        turn = 0
        while len(out) < n and names:
            name = names[turn % len(names)]
            dataset = self.data[name]
            pick = None
            for _ in range(32):  # random probes first: a scan of a million records costs seconds
                i = rng.randrange(dataset.size) if dataset.size else 0
                if dataset.exists(i):
                    pick = i
                    break
            if pick is None:
                live = [i for i in dataset.all() if dataset.exists(i)]
                if not live:
                    names.remove(name)
                    continue
                pick = rng.choice(live)
            if name == "contacts":
                self.leave_groups(pick)
            dataset.delete(pick)
            out.append((name, self.record_id(name, pick)))
            turn += 1
        return out

    def manager(self, user: tuple[str, str]) -> tuple[str, str]:
        """The record manager after user deletions: the reassigned one, else the first live user."""
        while user[0] in self.reassigned:
            target = self.reassigned[user[0]]
            user = target if target is not None else next(
                ((u["id"], u["displayName"]) for u in self.user_list), ("", ""))
            if target is None:
                break
        return user

    def leave_groups(self, contact: int) -> None:
        """A contact about to be deleted leaves its groups, which are edited (members follow the version)."""
        groups = self.data["groups"]
        for g in groups.all():
            if groups.exists(g) and contact in more.members(self, g):
                groups.edit(g)

    def delete_user(self, user_id: str, reassign_to: str | None = None) -> list[tuple[str, str]]:
        """``DELETE /api/users/{id}``: the user leaves the user list and the team rosters; every record it
        manages is edited to the new manager, or deleted when ``reassign_to`` is None. Returns what was
        deleted as (entity, id)."""
        target = next(((u["id"], u["displayName"]) for u in self.user_list if u["id"] == reassign_to), None)
        managed = [(name, i) for name in ENTITIES for i in self.data[name].all()
                   if self.data[name].exists(i) and self.record(name, i).get("recordManagerID") == user_id]
        self.user_list[:] = [u for u in self.user_list if u["id"] != user_id]
        for team in self.teams:
            team["roster"] = [u for u in team["roster"] if u["id"] != user_id]
        self.reassigned[user_id] = target
        gone = []
        for name, i in managed:
            if target is None:
                if name == "contacts":
                    self.leave_groups(i)
                gone.append((name, self.record_id(name, i)))
                self.data[name].delete(i)
            else:
                self.data[name].edit(i)
        return gone

    def line_items(self, i: int) -> list[dict[str, Any]]:
        return more.line_items(self, i)

    def members(self, g: int) -> list[dict[str, Any]]:
        return [self.record("contacts", c) for c in more.members(self, g)]

    def field_metadata(self) -> list[dict[str, Any]]:
        return [c for columns in self.fields.values() for c in columns]

    SNAPSHOTS = ("activity_types", "users", "opportunity_stages", "opportunity_processes", "history_types", "teams")

    def snapshot(self, name: str) -> list[dict[str, Any]]:
        return {"activity_types": self.task_types, "users": self.user_list, "opportunity_stages": self.stages,
                "opportunity_processes": self.processes, "history_types": self.history_types,
                "teams": self.teams}[name]

    def index_of(self, entity: str, rid: str) -> int | None:
        """The index of a live record by id (ids never change; inserts extend the map)."""
        dataset = self.data[entity]
        size, ids = self._ids.get(entity, (0, {}))
        if size != dataset.size:
            for i in range(size, dataset.size):
                ids[self.record_id(entity, i).lower()] = i
            self._ids[entity] = (dataset.size, ids)
        i = ids.get(rid.lower())
        return i if i is not None and dataset.exists(i) else None

    def truth(self, entity: str) -> dict[str, dict[str, Any]]:
        """Every visible record by id (``activity_types``: the task types; the other snapshot lists by name)."""
        if entity in self.SNAPSHOTS:
            return {t["id"]: t for t in self.snapshot(entity)}
        dataset = self.data[entity]
        return {r["id"]: r for r in (self.record(entity, i) for i in dataset.all() if dataset.exists(i))}

    # Tokens ---------------------------------------------------------------------------------------
    def issue_token(self, user: str, db: str) -> str:
        with self._auth_lock:
            self._jti += 1
            jti = self._jti
        now = time.time()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps({"sub": user, "db": db, "jti": jti, "iat": round(now, 3),
                                   "exp": round(now + self.token_lifetime, 3)}).encode())
        signature = _b64(hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        self.issued.append(token)
        return token

    def check_token(self, token: str, db: str | None) -> dict[str, Any] | None:
        """The token's claims if it is ours, unexpired, unrevoked and for this database; else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = _b64(hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        claims = json.loads(_unb64(parts[1]))
        if claims["exp"] <= time.time() or claims["jti"] < self._min_jti or claims["db"] != db:
            return None
        return claims

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far (as if they had all expired)."""
        with self._auth_lock:
            self._min_jti = self._jti + 1

    def authorize(self, request: Request) -> Response:
        db = request.headers.get("Act-Database-Name")
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if db is None or db not in self.databases:
            self.authorize_calls["refused"] += 1
            return bare_401()
        if scheme.lower() == "bearer":
            claims = self.check_token(value.strip(), db)
            if claims is None:
                self.authorize_calls["refused"] += 1
                return bare_401()
            self.authorize_calls["bearer"] += 1
            return Response(self.issue_token(claims["sub"], db), status=200, content_type="text/plain")
        if scheme.lower() != "basic":
            self.authorize_calls["refused"] += 1
            return bare_401()
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            self.authorize_calls["refused"] += 1
            return bare_401()
        known = self.users.get(user)
        if known is None or not hmac.compare_digest(known[0].encode(), password.encode()):
            self.authorize_calls["refused"] += 1
            return bare_401()
        if not known[1]:
            return asp_error(403, "4032: Web API Access permission required")
        self.authorize_calls["basic"] += 1
        return Response(self.issue_token(user, db), status=200, content_type="text/plain")

    # HTTP -----------------------------------------------------------------------------------------
    def exempt(self, request: Request) -> bool:
        path = request.path.lower().rstrip("/")
        return path in (f"{MOUNT}/authorize", f"{MOUNT}/api/system")

    def rate_limited(self, request: Request, headers: dict[str, str], wait: float) -> Response:
        # Act! documents the X-RateLimit-* headers only; no Retry-After.
        return json_response({"message": "API calls quota exceeded! maximum admitted 100 per 1m."}, 429, headers)

    def error_body(self, status: int) -> Response:
        return asp_error(status, "An error has occurred.", f"simulated server error {status}")

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        low = path.lower()
        if not low.startswith(MOUNT + "/"):
            return asp_error(404, f"No HTTP resource was found that matches the request URI '{request.url}'.")
        route = low[len(MOUNT):]
        if request.method != "GET":
            return asp_error(405, "The requested resource does not support this HTTP method.")
        if route == "/api/system":
            return json_response({"apiVersion": "1.1.1324.1", "sdkVersion": "25.101.0.0"})
        if route == "/authorize":
            return self.authorize(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self.check_token(token.strip(), request.headers.get("Act-Database-Name")) \
                is None:
            return bare_401()
        parts = route.split("/")[2:]  # after "", "api"
        if not route.startswith("/api/") or not parts:
            return asp_error(404, f"No HTTP resource was found that matches the request URI '{request.url}'.")
        special = self.route_more(request, parts)
        if special is not None:
            return special
        entity = ROUTES.get(parts[0])
        if entity is None or len(parts) > 2:
            return asp_error(404, f"No HTTP resource was found that matches the request URI '{request.url}'.")
        dataset = self.data[entity.name]
        if len(parts) == 2:
            wanted = path.split("/")[-1].lower()
            for i in dataset.all():
                if dataset.exists(i) and self.record(entity.name, i)["id"].lower() == wanted:
                    return json_response(self.record(entity.name, i))
            return asp_error(404, f"The {entity.name[:-1]} with id '{wanted}' was not found.",
                             "Sequence contains no elements")
        # Generated only if the general path needs them (list_records may answer from the index).
        rows = (self.record(entity.name, i) for i in dataset.all() if dataset.exists(i))
        return self.list_records(request, entity.name, rows, entity)

    def route_more(self, request: Request, parts: list[str]) -> Response | None:
        """The snapshot lists, the per-parent listings, the metadata and the custom table; None otherwise."""
        lists = {("task-types",): "activity_types", ("users",): "users", ("history-types",): "history_types",
                 ("opportunities", "stages"): "opportunity_stages", ("teams",): "teams",
                 ("opportunities", "processes"): "opportunity_processes"}
        if tuple(parts) in lists:
            name = lists[tuple(parts)]
            return self.list_records(request, name, [dict(t) for t in self.snapshot(name)])
        if parts == ["metadata", "entities"]:
            return self.list_records(request, "entities", [dict(e) for e in self.entities])
        if len(parts) == 3 and parts[0] == "metadata" and parts[2] == "fields":
            kind = next((k for k in self.fields if k.lower() == parts[1]), None)
            if kind is None:
                return asp_error(404, f"Record type '{parts[1]}' was not found.")
            return self.list_records(request, "fields", [dict(c) for c in self.fields[kind]])
        if len(parts) == 3 and parts[:2] == ["custom", "entities"]:
            if parts[2] != more.CUSTOM_TABLE.lower():
                return asp_error(404, f"Custom entity '{parts[2]}' was not found.")
            dataset = self.data["custom_contracts"]
            entity = ENTITIES["custom_contracts"]
            rows = (self.record(entity.name, i) for i in dataset.all() if dataset.exists(i))
            return self.list_records(request, entity.name, rows, entity)
        if len(parts) == 3 and parts[0] == "opportunities" and parts[2] == "products":
            i = self.index_of("opportunities", parts[1])
            if i is None:
                return asp_error(404, f"The opportunity with id '{parts[1]}' was not found.")
            return self.list_records(request, "line_items", self.line_items(i))
        if len(parts) == 3 and parts[0] == "groups" and parts[2] == "associated-contacts":
            g = self.index_of("groups", parts[1])
            if g is None:
                return asp_error(404, f"The group with id '{parts[1]}' was not found.")
            return self.list_records(request, "members", self.members(g))
        if len(parts) == 1 and self.unfiltered.get(parts[0] if parts[0] != "history" else "histories"):
            return self.unfiltered_list(request, parts[0])
        return None

    def unfiltered_list(self, request: Request, route: str) -> Response | None:
        """A collection whose ``edited`` is outside the allowed filter and order properties."""
        entity = ROUTES[route]
        mode = self.unfiltered[entity.name]
        mentions = [k for k in ("$filter", "$orderby") if re.search(r"\bedited\b", request.args.get(k, ""))]
        if not mentions:
            return None
        if mode == "refuse":
            if "$filter" in mentions:
                return self.bad_query("The property 'edited' cannot be used in the $filter query option.")
            return self.bad_query("Order by 'edited' is not allowed. To allow it, set the 'AllowedOrderByProperties' "
                                  "property on EnableQueryAttribute or QueryValidationSettings.")
        kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("$filter", "$orderby")]
        environ = dict(request.environ, QUERY_STRING=urlencode(kept))
        dataset = self.data[entity.name]
        rows = (self.record(entity.name, i) for i in dataset.all() if dataset.exists(i))
        return self.list_records(Request(environ), entity.name, rows, entity)

    def list_records(self, request: Request, name: str, rows: Iterable[dict[str, Any]],
                     entity: Entity | None = None) -> Response:
        """The indexed path when it covers the query, else the general path: filter and sort every row,
        then slice the page. ``rows`` (every visible record) is only consumed by the general path."""
        if entity is not None:
            indexed = self.indexed_list(request, entity)
            if indexed is not None:
                return indexed
        visible = list(rows)
        types = entity.types() if entity else {}
        template = visible[0] if visible else (self.record(entity.name, 0) if entity and self.data[entity.name].n
                                               else None)
        # The snapshot lists and per-parent listings are small and returned whole; collections default to the cap.
        default = len(visible) if entity is None else self.top_cap
        options = self.options(request, default, template, types, visible)
        if isinstance(options, Response):
            return options
        ordered = self.ordered(options.rows or [], options.order, types)
        return self.page_response(name, ordered[options.skip: options.skip + options.top], options.select)

    def options(self, request: Request, default: int, template: dict[str, Any] | None, types: dict[str, str],
                rows: list[dict[str, Any]] | None = None) -> Options | Response:
        """Validate the OData options (a 400 response on error); ``rows``, when given, are filtered."""
        args = request.args
        for key in args:
            if key.startswith("$") and key not in ("$top", "$skip", "$filter", "$orderby", "$select", "$expand"):
                return self.bad_query(f"The query parameter '{key}' is not supported.")
        try:
            top = default if "$top" not in args else int(args["$top"])
            skip = int(args.get("$skip", "0"))
        except ValueError:
            return self.bad_query("$top and $skip must be non-negative integers.")
        if top < 0 or skip < 0:
            return self.bad_query("$top and $skip must be non-negative integers.")
        top = min(top, max(self.top_cap, default))
        tree = None
        try:
            if "$filter" in args:
                tree = parse_filter(args["$filter"])
                if template is not None:
                    evaluate(tree, template, types)  # unknown properties fail even when nothing matches
                if rows is not None:
                    rows = [r for r in rows if evaluate(tree, r, types)]
            order = parse_orderby(args["$orderby"]) if "$orderby" in args else []
            if template is not None:
                for prop, _ in order:
                    lookup(template, prop, types)
            select = parse_select(args["$select"], set(template or {})) if "$select" in args else None
        except ODataError as exc:
            return self.bad_query(str(exc))
        return Options(top, skip, tree, order, select, rows)

    def page_response(self, name: str, page: list[dict[str, Any]], select: list[str] | None) -> Response:
        if select is not None:
            page = [{k: r[k] for k in select} for r in page]
        if name in self.envelope:
            return json_response({"value": page, "Count": len(page)})
        return json_response(page)

    def ordered(self, rows: list[dict[str, Any]], order: list[tuple[tuple[str, ...], bool]],
                types: dict[str, str]) -> list[dict[str, Any]]:
        """Sort by the $orderby keys; ties are broken by id (or, with shuffle_ties, shuffled)."""
        if self.shuffle_ties:
            rows = list(rows)
            self._shuffle_rng.shuffle(rows)
        else:
            rows = sorted(rows, key=lambda r: sort_key(lookup(r, ("id",), types)[1]))
        for prop, desc in reversed(order):
            rows.sort(key=lambda r, p=prop: sort_key(lookup(r, p, types)[1]), reverse=desc)
        return rows

    @staticmethod
    def bad_query(detail: str) -> Response:
        return asp_error(400, f"The query specified in the URI is not valid. {detail}")

    # The indexed path ----------------------------------------------------------------------------------
    # The connector's queries, answered in O(page + changed records) from the dataset's structure instead
    # of generating, filtering and sorting every record. The general path's order is (sort keys, id, index):
    # base records form groups of ``tie`` sharing one time (sorted by id within the group), and changed or
    # inserted records are kept sorted by (time, id); the two streams are merged.

    def indexed_list(self, request: Request, entity: Entity) -> Response | None:
        """The response for ``$orderby=<cursor>[,id]`` with lower bounds on (cursor, id), or for id order
        without a filter; None for every other request, which the general path answers."""
        if not self.indexed or self.shuffle_ties:
            return None  # shuffled ties draw from a shared generator on every general-path request
        args = request.args
        try:
            tree = parse_filter(args["$filter"]) if "$filter" in args else None
            order = parse_orderby(args["$orderby"]) if "$orderby" in args else []
        except ODataError:
            return None  # the general path words the error
        bounds: Bounds | None = None
        after: str | None = None  # the delete sweep's ``id gt after``
        cursor = entity.cursor
        if cursor and order in ([((cursor,), False)], [((cursor,), False), (("id",), False)]):
            bounds = keyset_bounds(tree, cursor, "guid" if "id" in entity.guid_fields else "string")
            if bounds is None:
                return None
        elif order == [(("id",), False)] and tree is not None:
            after = sweep_bound(tree, "guid" if "id" in entity.guid_fields else "string")
            if after is None:
                return None
        elif tree is not None or order not in ([], [(("id",), False)]):
            return None
        dataset = self.data[entity.name]
        types = entity.types()
        with dataset.lock:  # one consistent view of edits, inserts and deletes
            options = self.options(request, self.top_cap, self._template(entity), types)
            if isinstance(options, Response):
                return options  # the same template as the general path, so the same 400
            if bounds is not None:
                page = self._cursor_page(entity, tree, bounds, options.skip, options.top, types)
            elif tree is not None:
                page = self._sweep_page(entity, after, options.skip, options.top)
            else:
                found = self._id_page(entity, options.skip, options.top)
                # Past the kept prefix (a sweep's first page of 5000): the full id order, built once.
                page = found if found is not None else self._sweep_page(entity, None, options.skip, options.top)
        self.indexed_hits += 1
        return self.page_response(entity.name, page, options.select)

    def _template(self, entity: Entity) -> dict[str, Any] | None:
        """The general path's template: the first existing record by index, else record 0, else None."""
        dataset = self.data[entity.name]
        i = 0
        while i < dataset.size and i in dataset.deleted:
            i += 1
        if i < dataset.size:
            return self.record(entity.name, i)
        return self.record(entity.name, 0) if dataset.n else None

    def _id_key(self, entity: Entity, i: int) -> str:
        """The id as the general path sorts it (``lookup`` lower-cases GUID-typed fields)."""
        rid = self.record_id(entity.name, i)
        return rid.lower() if "id" in entity.guid_fields else rid

    def _cursor_page(self, entity: Entity, tree: Any | None, bounds: Bounds, skip: int, top: int,
                     types: dict[str, str]) -> list[dict[str, Any]]:
        dataset = self.data[entity.name]
        out: list[dict[str, Any]] = []
        if top == 0:
            return out
        start, after = bounds
        for at, _, i in heapq.merge(self._base_keys(entity, start, after), self._changed_from(entity, start, after)):
            if i in dataset.deleted:
                continue
            record = self.record(entity.name, i)
            # Every bound is at or before ``start``, so only records at ``start`` can fail the filter.
            if tree is not None and at == start and not evaluate(tree, record, types):
                continue
            if skip:
                skip -= 1
                continue
            out.append(record)
            if len(out) == top:
                break
        return out

    def _base_keys(self, entity: Entity, start: datetime | None,
                   after: tuple[datetime, str] | None) -> Iterator[tuple[datetime, str, int]]:
        """Never-changed base records with time >= start (and key > after), in (time, id, index) order."""
        dataset = self.data[entity.name]
        groups = -(-dataset.n // dataset.tie)
        g = 0
        if start is not None and start > BASE_TIME:
            g = -(-(start - BASE_TIME) // dataset.step)  # the first group whose time is >= start
        while g < groups:
            at = BASE_TIME + g * dataset.step  # Dataset.base_time of every member
            members = self._group(entity, g)
            first = 0
            if after is not None and at == after[0]:
                first = bisect.bisect_right(members, after[1], key=lambda m: m[0])
            for k in range(first, len(members)):
                rid, i = members[k]
                if i not in dataset.changed:  # changed records come from the other stream
                    yield at, rid, i
            g += 1

    def _group(self, entity: Entity, g: int) -> list[tuple[str, int]]:
        """Base records ``g*tie .. g*tie+tie-1`` (one base time) as (id, index), sorted."""
        dataset = self.data[entity.name]
        key = (entity.name, dataset.n, dataset.tie, g)
        members = self._groups.get(key)
        if members is None:
            lo = g * dataset.tie
            members = sorted((self._id_key(entity, i), i) for i in range(lo, min(dataset.n, lo + dataset.tie)))
            if len(self._groups) >= GROUP_CACHE:
                self._groups.clear()
            self._groups[key] = members
        return members

    def _changed_index(self, entity: Entity) -> list[tuple[datetime, str, int]]:
        """Changed and inserted records as (time, id, index), sorted; rebuilt only after the dataset changed."""
        ids = self._changed_ids.setdefault(entity.name, {})  # an index's id never changes

        def build(dataset: Dataset) -> list[tuple[datetime, str, int]]:
            keys = []
            for at, i in dataset.changes:
                rid = ids.get(i)
                if rid is None:
                    rid = ids[i] = self._id_key(entity, i)
                # The general path compares parsed stamps: equal to ``at`` unless ``at`` has no zone.
                keys.append((at if at.tzinfo is not None else parse_datetime(stamp(at)), rid, i))
            keys.sort()
            return keys

        return self.data[entity.name].derive("act.changed_keys", build)

    def _changed_from(self, entity: Entity, start: datetime | None,
                      after: tuple[datetime, str] | None) -> Iterator[tuple[datetime, str, int]]:
        keys = self._changed_index(entity)
        lo = 0 if start is None else bisect.bisect_left(keys, (start,))
        if after is not None:
            lo = max(lo, bisect.bisect_right(keys, (after[0], after[1], math.inf)))
        for k in range(lo, len(keys)):
            yield keys[k]

    def _id_page(self, entity: Entity, skip: int, top: int) -> list[dict[str, Any]] | None:
        """The page in id order (no $orderby, or ``$orderby=id``: e.g. the connector's ``$top=1`` probe), or
        None when it reaches past the ids kept. Ids do not depend on edits, so the smallest base ids are
        computed once (one pass over the records, the first time) and merged with the inserted records."""
        dataset = self.data[entity.name]
        if top == 0:
            return []
        if dataset.n > ID_PREFIX and skip + top > ID_PREFIX:
            return None
        prefix = self._id_prefix(entity)
        complete = len(prefix) == dataset.n
        # Past the kept prefix, base records beyond it may come first: only a page within it is an answer.
        page = self._take(entity, heapq.merge(prefix, self._inserted_ids(entity, None)), skip, top,
                          None if complete else prefix[-1])
        return page if page is not None and (complete or len(page) == top) else None

    def _sweep_page(self, entity: Entity, after: str | None, skip: int, top: int) -> list[dict[str, Any]]:
        """Id order, after ``after`` (``id gt after``) or from the start: base records from the full id order
        (bisected), merged with the inserted records; deleted ones are skipped."""
        if top == 0:
            return []
        order = self._id_order(entity)
        first = 0 if after is None else bisect.bisect_right(order, after, key=lambda i: self._id_key(entity, i))
        base = ((self._id_key(entity, order[k]), order[k]) for k in range(first, len(order)))
        return self._take(entity, heapq.merge(base, self._inserted_ids(entity, after)), skip, top) or []

    def _inserted_ids(self, entity: Entity, after: str | None) -> list[tuple[str, int]]:
        n = self.data[entity.name].n
        keys = self._changed_index(entity)
        return sorted((rid, i) for _, rid, i in keys if i >= n and (after is None or rid > after))

    def _take(self, entity: Entity, keys: Iterable[tuple[str, int]], skip: int, top: int,
              limit: tuple[str, int] | None = None) -> list[dict[str, Any]] | None:
        """The live records of ``keys`` (id, index) in order, after ``skip``, at most ``top``; None when a key
        passes ``limit`` before the page is full."""
        dataset = self.data[entity.name]
        out: list[dict[str, Any]] = []
        for key in keys:
            if limit is not None and key > limit:
                return None
            if not dataset.exists(key[1]):
                continue
            if skip:
                skip -= 1
                continue
            out.append(self.record(entity.name, key[1]))
            if len(out) == top:
                break
        return out

    def _id_order(self, entity: Entity) -> array:
        """Every base record's index in id order, computed once per entity (ids do not change with edits);
        4 bytes a record, so a million contacts cost 4 MB."""
        dataset = self.data[entity.name]
        cached = self._id_orders.get(entity.name)
        if cached is None or cached[0] != dataset.n:
            ordered = sorted(range(dataset.n), key=lambda i: guid_value(entity.name, self.seed, i))
            cached = self._id_orders[entity.name] = (dataset.n, array("L", ordered))
        return cached[1]

    def _id_prefix(self, entity: Entity) -> list[tuple[str, int]]:
        dataset = self.data[entity.name]
        cached = self._id_prefixes.get(entity.name)
        if cached is None or cached[0] != dataset.n:
            # Ids (activities: GUID + date) order as their GUIDs' values; GUIDs (122 random bits) do not repeat.
            smallest = heapq.nsmallest(ID_PREFIX, ((guid_value(entity.name, self.seed, i), i)
                                                   for i in range(dataset.n)))
            prefix = sorted((self._id_key(entity, i), i) for _, i in smallest)
            cached = self._id_prefixes[entity.name] = (dataset.n, prefix)
        return cached[1]


def main() -> None:
    parser = argparse.ArgumentParser(description="Act! Web API simulator")
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--records", type=int, default=500, help="records per entity")
    parser.add_argument("--user", default="John Hollo")
    parser.add_argument("--password", default="act-pass-123")
    parser.add_argument("--database", default="ACT2018Demo")
    parser.add_argument("--envelope", action="store_true", help="wrap contacts and companies in {value, Count}")
    parser.add_argument("--per-minute", type=int, default=None, help="cloud mode: requests per minute")
    args = parser.parse_args()
    n = args.records
    app = ActSim(n, n // 2, n, n, max(1, n // 10), tie=3, users={args.user: (args.password, True)},
                 databases=(args.database,), envelope=("contacts", "companies") if args.envelope else (),
                 per_minute=args.per_minute)
    serve_forever(app, args.port, f"Act! Web API simulator ({n} contacts; user {args.user!r}, database "
                                  f"{args.database!r}; API path {MOUNT})")


if __name__ == "__main__":
    main()
