"""The demo: every connector against its local simulator through `fivetran debug`, offline.

    make demo            # or: python -m tools.demo [awardco accelo ...]

For each connector it starts the simulator on 127.0.0.1 (fixed ports 8101-8105), writes a
configuration.json with the simulator's credentials into the connector folder (ignored by git),
runs `fivetran debug` there, shows per-table progress as the connector logs it, and ends with a
summary: rows per table, time, requests, retries and rate-limit waits, and each DuckDB file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from simulators.harness import Server  # noqa: E402
from tools.vendors import Kit  # noqa: E402


@dataclass
class Demo:
    port: int
    make: Callable[[], Any]  # -> simulator app
    config: Callable[[Any, str], dict[str, str]]  # (simulator, base URL) -> configuration
    tables: list[str]


def _discover() -> dict[str, Callable[[], Demo]]:
    from tools.vendors import kits

    def demo(kit: Kit) -> Demo:
        size = kit.extra.get("demo_size", 1000)
        return Demo(kit.extra["port"], lambda: kit.make(size),
                    lambda sim, url: {**kit.config(sim, url), **kit.extra.get("demo_config", {})}, list(kit.keys))

    return {name: (lambda k=kit: demo(k)) for name, kit in kits().items()}


def env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "DO_NOT_TRACK": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_one(name: str, demo: Demo) -> dict[str, Any]:
    folder = ROOT / "connectors" / name
    shutil.rmtree(folder / "files", ignore_errors=True)  # a fresh warehouse and state each demo
    app = demo.make()
    with Server(app, demo.port) as server:
        (folder / "configuration.json").write_text(json.dumps(demo.config(app, server.url), indent=2))
        print(f"\n=== {name}: simulator on {server.url}, running fivetran debug connectors/{name}", flush=True)
        started = time.monotonic()
        proc = subprocess.Popen(["fivetran", "debug", "--configuration", "configuration.json"], cwd=folder,
                                env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL)
        summary = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            text = line.rstrip()
            if re.search(r"connector\s+\[", text) or "SYNC " in text or "SEVERE" in text:
                print("   " + text.split("connector", 1)[-1].strip() if "connector" in text else "   " + text,
                      flush=True)
            if "requests=" in text and "retries=" in text:
                summary = text
        code = proc.wait()
        seconds = time.monotonic() - started
    stats = dict(re.findall(r"(requests|retries|429s|waited)=([\d.]+s?)", summary))
    rows = table_rows(folder / "files" / "warehouse.db", demo.tables)
    return {"name": name, "ok": code == 0, "seconds": seconds, "rows": rows, "stats": stats,
            "served": app.count, "db": folder / "files" / "warehouse.db", "tables": demo.tables}


def table_rows(db: Path, tables: list[str]) -> dict[str, int]:
    import duckdb

    if not db.exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        present = {r[0] for r in con.sql("select table_name from information_schema.tables "
                                         "where table_schema='tester'").fetchall()}
        return {t: con.sql(f'select count(*) from tester."{t}"').fetchone()[0] for t in tables if t in present}
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    demos = _discover()
    parser = argparse.ArgumentParser(description="Run every connector against its simulator.")
    parser.add_argument("connectors", nargs="*", help=f"any of: {', '.join(sorted(demos))}")
    args = parser.parse_args(argv)
    names = args.connectors or sorted(demos)
    unknown = [n for n in names if n not in demos]
    if unknown:
        print(f"unknown connector(s): {', '.join(unknown)}; available: {', '.join(sorted(demos))}")
        return 2
    results = [run_one(name, demos[name]()) for name in names]
    print("\n=== summary")
    print(f"{'connector':<10} {'table':<16} {'rows':>8} {'time':>7} {'requests':>9} {'retries':>8} {'429s':>5} "
          f"{'waited':>7}  status")
    for r in results:
        s = r["stats"]
        for i, table in enumerate(r["tables"]):
            head = (f"{r['name']:<10}" if i == 0 else " " * 10)
            tail = (f"{r['seconds']:>6.1f}s {s.get('requests', '?'):>9} {s.get('retries', '?'):>8} "
                    f"{s.get('429s', '?'):>5} {s.get('waited', '?'):>7}  {'ok' if r['ok'] else 'FAILED'}"
                    if i == 0 else "")
            print(f"{head} {table:<16} {r['rows'].get(table, 0):>8} {tail}")
    print("\nWarehouses (DuckDB, schema 'tester'):")
    for r in results:
        rel = r["db"].relative_to(ROOT)
        print(f"  {rel}")
    first = results[0]
    print(f"\nTry: .venv/bin/python -c \"import duckdb; print(duckdb.connect('{first['db'].relative_to(ROOT)}', "
          f"read_only=True).sql('select * from tester.{first['tables'][0]} limit 5'))\"")
    print("or, with the DuckDB CLI: duckdb -ui <file>")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
