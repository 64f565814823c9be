"""Requests per table against the ideal: a first full load, an incremental sync after 1% edits, and the cost of
one round of delete detection, for every connector in-process with a per-table counting sink (never through
`fivetran debug`).

    python -m bench.tables                  # every connector; rewrites bench/TABLES.md
    python -m bench.tables --only accelo --size 2000 --print

The ideal of a table read from its own endpoint is one request per 100 rows it delivers plus one (the last,
short page); a child table arrives inside its parent's records, so its ideal is no request of its own. Delete
detection is measured as the requests a sync with `deletes_check_hours=0` sends beyond an identical sync
without the check, and its daily cost is that times the checks a day at the default 24 hours, as a share of
the API's daily request budget.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.harness import LoggedRequest, Server
from synckit.sink import MemorySink
from tools.vendors import Kit, connector, kits

HERE = Path(__file__).resolve().parent
PAGE = 100
# Requests a day each API allows one connection (from the API references): Accelo 5,000 an hour, Xurrent
# 3,600 an hour per user, AroFlo 2,000 a day. Act! Premium Cloud and Awardco publish no numbers: the
# simulators' 100 and 60 a minute stand in for them.
DAILY_BUDGET = {"accelo": 5000 * 24, "xurrent": 3600 * 24, "aroflo": 2000, "act": 100 * 60 * 24,
                "awardco": 60 * 60 * 24}


class TableCountingSink(MemorySink):
    """Counts upserts and deletes per table and keeps no rows."""

    def __init__(self) -> None:
        super().__init__(keep_ops=False)
        self.rows: Counter[str] = Counter()

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        self.upserts += 1
        self.rows[table] += 1

    def checkpoint(self, state: dict[str, Any]) -> None:
        self.checkpoints += 1
        self.state = state


@dataclass
class Pass:
    rows: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)  # table (or "other") -> requests sent


def path_table(tables: Iterable[str]) -> Callable[[LoggedRequest], str | None]:
    """The default attribution: the last path segment that names a table (``/api/v0/companies/12`` ->
    companies). Connectors whose table is not in the path (a zone parameter, a report id) give their own."""
    names = set(tables)

    def table_of(request: LoggedRequest) -> str | None:
        for segment in reversed(request.path.strip("/").split("/")):
            if segment in names:
                return segment
        return None

    return table_of


def parents_and_children(name: str) -> tuple[list[str], dict[str, str]]:
    """The connector's tables read from an endpoint, and each child table's parent."""
    parents, children = [], {}
    for table in connector(name).catalogue():
        parents.append(table.name)
        for child in table.children:
            children[child.table(table.name)] = table.name
    return parents, children


def run_sync(kit: Kit, sim: Any, url: str, state: dict, table_of: Callable, **overrides: str) -> Pass:
    sink = TableCountingSink()
    start = len(sim.log)
    connector(kit.name).update({**kit.config(sim, url), **overrides}, state, sink)
    result = Pass(rows=sink.rows)
    for request in sim.log[start:]:
        if not request.exempt:
            result.requests[table_of(request) or "other"] += 1
    return result


def changed(before: dict[str, dict], after: dict[str, dict]) -> Counter[str]:
    """Rows per table that an edit touched: new, changed or gone keys of the simulator's truth."""
    out: Counter[str] = Counter()
    for table in set(before) | set(after):
        old, new = before.get(table, {}), after.get(table, {})
        out[table] = sum(1 for k in set(old) | set(new) if old.get(k) != new.get(k))
    return out


def ideal(rows: int) -> int:
    return math.ceil(rows / PAGE) + 1


def measure(kit: Kit, size: int) -> dict[str, Any]:
    parents, children = parents_and_children(kit.name)
    table_of = kit.extra.get("table_of") or path_table(parents)
    sim = kit.make(size)
    if "unpaced" in kit.extra:  # pacing changes how long a sync takes, not how many requests it sends
        kit.extra["unpaced"](connector(kit.name))
    with Server(sim) as server:
        state: dict = {}
        # The default schedule (a kit may check on every sync for its tests): no check is due until the last sync.
        daily = {"deletes_check_hours": "24"}
        first = run_sync(kit, sim, server.url, state, table_of, **daily)
        before = kit.truth(sim)
        kit.edit(sim, random.Random(1), max(1, size // 100))
        edits = changed(before, kit.truth(sim))
        second = run_sync(kit, sim, server.url, state, table_of, **daily)
        quiet = run_sync(kit, sim, server.url, state, table_of, **daily)
        checked = run_sync(kit, sim, server.url, state, table_of, deletes_check_hours="0")
    rows = []
    for table in parents + sorted(children):
        own = table in parents
        rows.append({"table": table, "parent": children.get(table, ""),
                     "first_rows": first.rows[table], "first_requests": first.requests[table],
                     "first_ideal": ideal(first.rows[table]) if own else 0,
                     "edited": edits[table], "second_requests": second.requests[table],
                     "second_ideal": ideal(edits[table]) if own else 0,
                     "delete_requests": max(0, checked.requests[table] - quiet.requests[table])})
    delete_total = max(0, sum(checked.requests.values()) - sum(quiet.requests.values()))
    return {"size": size, "tables": rows, "other": {"first": first.requests["other"],
                                                     "second": second.requests["other"]},
            "delete_total": delete_total, "daily_budget": DAILY_BUDGET.get(kit.name, 0),
            "delete_daily_share": delete_total / DAILY_BUDGET[kit.name] if DAILY_BUDGET.get(kit.name) else 0.0}


def _ratio(sent: int, best: int) -> str:
    return f"{sent / best:.2f}" if best else ("—" if not sent else "∞")


def section(name: str, result: dict[str, Any]) -> list[str]:
    rows = result["tables"]
    total = {key: sum(r[key] for r in rows) for key in ("first_rows", "first_requests", "first_ideal",
                                                        "second_requests", "second_ideal", "delete_requests")}
    lines = [f"## {name}", "",
             f"{result['size']:,} records in the main table, the others in proportion; 1% edited before the second "
             "sync. Requests the table's reading sent (a delete check's requests are in the last column).", "",
             "| table | rows | first load requests | ideal | ratio | incremental requests | ideal | "
             "delete check requests |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        label = r["table"] + (f" (in {r['parent']})" if r["parent"] else "")
        lines.append(f"| {label} | {r['first_rows']:,} | {r['first_requests']:,} | {r['first_ideal']:,} | "
                     f"{_ratio(r['first_requests'], r['first_ideal'])} | {r['second_requests']:,} | "
                     f"{r['second_ideal']:,} | {r['delete_requests']:,} |")
    lines.append(f"| **total** | {total['first_rows']:,} | {total['first_requests']:,} | {total['first_ideal']:,} | "
                 f"{_ratio(total['first_requests'], total['first_ideal'])} | {total['second_requests']:,} | "
                 f"{total['second_ideal']:,} | {total['delete_requests']:,} |")
    other = result["other"]
    share = result["delete_daily_share"]
    lines += ["", f"Requests not attributed to a table (tokens, metadata, report status): {other['first']:,} in the "
                  f"first load, {other['second']:,} in the incremental sync.",
              f"Delete detection: {result['delete_total']:,} requests per check; one check a day is "
              f"{share:.3%} of the daily budget of {result['daily_budget']:,} requests.", ""]
    return lines


def write(results: dict[str, dict[str, Any]], out: Path) -> Path:
    lines = ["# Requests per table", "", "Generated by `python -m bench.tables`. " + __doc__.split("\n\n")[2]
             .replace("\n", " "), ""]
    for name, result in results.items():
        lines += section(name, result)
    target = out / "TABLES.md"
    target.write_text("\n".join(lines).rstrip() + "\n")
    return target


SIZES = {"accelo": 2000, "act": 1000, "aroflo": 1000, "awardco": 1000, "xurrent": 500}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--size", type=int, help="records in the main table (default: per connector)")
    parser.add_argument("--print", action="store_true", help="print the tables instead of writing TABLES.md")
    args = parser.parse_args(argv)
    results = {}
    for name, kit in kits(args.only).items():
        results[name] = measure(kit, args.size or SIZES[name])
        print("\n".join(section(name, results[name])), flush=True)
    if not args.print:
        print(f"wrote {write(results, HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
