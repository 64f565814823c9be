"""The reliability matrix: every connector against its simulator, through `fivetran debug`, under each
scenario; each cell compares the warehouse with the simulator's truth.

    make reliability                          # full matrix; rewrites docs/reliability.md
    python -m tools.reliability --only awardco --kills 5 --size 300

Scenarios: first sync; edits and inserts between syncs; edits during a sync then a second sync; more
records sharing one cursor value than fit on a page; 10% transient faults (429 with Retry-After,
5xx, dropped connections, slow and malformed responses); token expiry mid-sync; one table failing
for a whole sync then recovering; rate limits enforced by the simulator; kill -9 at random points
with resume; records deleted at the source (some taking children with them) between syncs, found by the
next sync's delete checks.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.harness import Faults, Server
from tools.e2e import ROOT, ConnectorDir, compare
from tools.vendors import Kit, kits

SCENARIOS = [
    "first sync",
    "edits between syncs",
    "edits during a sync",
    "ties across pages",
    "10% transient faults",
    "token expiry mid-sync",
    "table failing then recovering",
    "rate limits enforced",
    "kill -9 and resume",
    "deletes",
]


@dataclass
class Cell:
    connector: str
    scenario: str
    expected: int = 0
    delivered: int = 0
    missing: int = 0
    stale: int = 0
    duplicates: int = 0
    undeleted: int = 0  # rows the warehouse holds live that the source no longer has
    r429: int = 0
    requests: int = 0
    ok: bool = False
    note: str = ""
    seconds: float = 0.0


def _measure(kit: Kit, sim: Any, conn: ConnectorDir, cell: Cell) -> Cell:
    truth = kit.truth(sim)
    cell.expected = cell.delivered = cell.missing = cell.stale = cell.duplicates = cell.undeleted = 0
    for table, rows in truth.items():
        result = compare(conn.rows(table), rows, kit.keys[table], kit.fields[table])
        cell.expected += result.expected
        cell.delivered += result.delivered
        cell.missing += len(result.missing)
        cell.stale += len(result.stale)
        cell.duplicates += len(result.duplicates)
        cell.undeleted += len(result.unexpected)
    cell.r429 = sim.statuses().get(429, 0)
    if cell.scenario == "rate limits enforced" and kit.extra["budget"].get("headers") and cell.r429:
        cell.ok = False
        cell.note = (cell.note + " 429s received although the API sends rate-limit headers").strip()
    cell.requests = sim.count
    cell.ok = cell.ok and not (cell.missing or cell.stale or cell.duplicates or cell.undeleted)
    return cell


def _run(conn: ConnectorDir, config: dict[str, str], cell: Cell, expect_ok: bool = True, **kw: Any) -> bool:
    run = conn.debug(config, **kw)
    if (run.returncode == 0) != expect_ok and not run.killed:
        tail = [line for line in run.output.splitlines() if "SEVERE" in line or "Error" in line][-2:]
        cell.note = (cell.note + " " if cell.note else "") + f"exit {run.returncode}: {' / '.join(tail)[:300]}"
        return False
    return True


def scenario(kit: Kit, name: str, size: int, kills: int, workdir: Path, seed: int = 1) -> Cell:
    cell = Cell(kit.name, name, ok=True)
    rng = random.Random(seed)
    page = kit.extra.get("page_size", ("page_size", 20))
    page_key, page_size = page
    small_page = {page_key: str(page_size)}
    tie = 1
    faults = None
    if name == "ties across pages":
        tie = page_size * 3
    if name == "10% transient faults":
        faults = Faults(rate=0.10, seed=seed, slow_seconds=0.2, retry_after=1)
    sim = kit.make(size, tie=tie, faults=faults)
    conn = ConnectorDir(kit.name, workdir / name.replace(" ", "_").replace("%", "pct"))
    with Server(sim) as server:
        config = {**kit.config(sim, server.url), **kit.extra.get("reliability_config", {}), **small_page}
        if name == "10% transient faults":
            config.update(kit.extra.get("fault_config", {}))
        if name == "rate limits enforced":
            budget = kit.extra["budget"]
            budget["apply"](sim)
            config.update(budget["overrides"])
            config.update(small_page)
        if name == "token expiry mid-sync":
            expire: Callable | None = kit.extra.get("expire_tokens")
            if expire is None:
                cell.note = "n/a: static API key, no token to expire"
                cell.ok = _run(conn, config, cell)
                return _measure(kit, sim, conn, cell)
            config.update(kit.extra.get("token_config", {}))
            sim.scheduler.after(sim.count + 4, lambda: expire(sim))
        if name == "table failing then recovering":
            fail = kit.extra.get("fail")
            if fail is None:
                table, path = next(iter(kit.extra["paths"].items()))
                fail = {"table": table, "on": lambda s: s.faults.failing_paths.update({path: 500}),
                        "off": lambda s: s.faults.failing_paths.clear()}
            table = fail["table"]
            fail["on"](sim)
            failed = _run(conn, {**config, **kit.extra.get("fail_config", {})}, cell, expect_ok=False)
            fail["off"](sim)
            cell.note = f"{table} failed with HTTP 500 in the first sync" if failed else cell.note
            cell.ok = failed and _run(conn, config, cell)
            return _measure(kit, sim, conn, cell)
        if name == "kill -9 and resume":
            killed = 0
            for round_ in range(kills):
                event = threading.Event()
                sim.scheduler.after(sim.count + rng.randint(1, 6), event.set)
                if round_ % 4 == 3:
                    kit.edit(sim, rng, 5)
                run = conn.debug(config, kill_on=event)
                killed += run.killed
                sim.scheduler.fire(10**12)
            cell.note = f"{killed} of {kills} runs killed mid-sync"
            cell.ok = _run(conn, config, cell) and _run(conn, config, cell)
            return _measure(kit, sim, conn, cell)
        if name == "deletes":
            # Every delete check runs each sync here; a share under max_delete_percent is removed.
            config["deletes_check_hours"] = "0"
            cell.ok = _run(conn, config, cell)
            gone = kit.delete(sim, rng, max(2, size // 10))
            kit.edit(sim, rng, 3)
            cell.ok = cell.ok and _run(conn, config, cell)
            cell.note = f"{len(gone) if gone is not None else '?'} records deleted at the source between syncs"
            return _measure(kit, sim, conn, cell)
        cell.ok = _run(conn, config, cell)
        if name == "edits between syncs":
            kit.edit(sim, rng, max(3, size // 20))
            kit.insert(sim, rng, 5)
            cell.ok = cell.ok and _run(conn, config, cell)
        if name == "edits during a sync":
            # Enough changes that the next sync reads several pages, then more edits and inserts while that
            # sync runs (only while it runs: one more sync must then be enough to catch up).
            kit.edit(sim, rng, max(5, size // 2))
            during = {"open": True, "applied": 0}

            def change(action: Callable[[], None]) -> None:
                if during["open"]:
                    action()
                    during["applied"] += 1

            at = sim.count
            sim.scheduler.after(at + 1, lambda: change(lambda: kit.edit(sim, rng, 10)))
            sim.scheduler.after(at + 2, lambda: change(lambda: kit.insert(sim, rng, 4)))
            sim.scheduler.after(at + 3, lambda: change(lambda: kit.edit(sim, rng, 6)))
            first = _run(conn, config, cell)
            during["open"] = False
            cell.note = f"{during['applied']} change batches landed during the sync"
            cell.ok = cell.ok and first and _run(conn, config, cell)
        return _measure(kit, sim, conn, cell)


def matrix(names: list[str] | None, size: int, kills: int, scenarios: list[str] | None = None,
           progress: Callable[[Cell], None] | None = None) -> list[Cell]:
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for kit in kits(names).values():
            for name in scenarios or SCENARIOS:
                started = time.monotonic()
                try:
                    cell = scenario(kit, name, size, kills, Path(tmp) / kit.name)
                except Exception as exc:  # a broken cell is reported, never hidden
                    cell = Cell(kit.name, name, ok=False, note=f"{type(exc).__name__}: {exc}"[:300])
                # Wall time goes to the console only: figures of `fivetran debug` runs are never published.
                cell.seconds = time.monotonic() - started
                cells.append(cell)
                if progress:
                    progress(cell)
    return cells


def report(cells: list[Cell], size: int, kills: int) -> str:
    lines = [
        "# Reliability matrix",
        "",
        "Generated by `make reliability` (`python -m tools.reliability`). Each cell runs the connector with",
        "`fivetran debug` against its simulator and compares `files/warehouse.db` with the simulator's truth,",
        f"summed over the connector's tables. Records per table: {size}; kill -9 rounds: {kills}.",
        "",
        "| connector | scenario | result | expected | delivered | missing | stale | duplicate keys | not deleted"
        " | 429s received | requests sent | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lines.append(f"| {c.connector} | {c.scenario} | {'pass' if c.ok else '**FAIL**'} | {c.expected} | "
                     f"{c.delivered} | {c.missing} | {c.stale} | {c.duplicates} | {c.undeleted} | {c.r429} | "
                     f"{c.requests} | "
                     f"{c.note.replace('|', '/')} |")
    passed = sum(c.ok for c in cells)
    lines += ["", f"{passed} of {len(cells)} cells pass.", "", "## Tables compared in every cell", ""]
    for name in dict.fromkeys(c.connector for c in cells):
        compared = sorted(kits([name])[name].keys)
        lines.append(f"- {name} ({len(compared)}): {', '.join(compared)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the reliability matrix.")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--size", type=int, default=200, help="records per table")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--scenarios", nargs="*", choices=SCENARIOS)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    def show(c: Cell) -> None:
        print(f"{'pass' if c.ok else 'FAIL'}  {c.connector:<8} {c.scenario:<30} expected={c.expected} "
              f"delivered={c.delivered} missing={c.missing} stale={c.stale} dup={c.duplicates} "
              f"undeleted={c.undeleted} 429s={c.r429} "
              f"requests={c.requests} {c.note} [{c.seconds:.0f}s]", flush=True)

    cells = matrix(args.only, args.size, args.kills, args.scenarios, show)
    if not args.no_report:
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "reliability.md").write_text(report(cells, args.size, args.kills))
    passed = sum(c.ok for c in cells)
    print(f"{passed} passed, {len(cells) - passed} failed")
    return 0 if passed == len(cells) else 1


if __name__ == "__main__":
    sys.exit(main())
