"""End-to-end helpers: run `fivetran debug` on a connector against a simulator, read the
warehouse it wrote, and compare it with the simulator's truth."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONNECTORS = ROOT / "connectors"
BIN = Path(sys.executable).parent


def fivetran_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DO_NOT_TRACK"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # fivetran debug calls pipreqs from the venv
    return env


def snake(name: str) -> str:
    """Fivetran's column naming: ``employeeId`` -> ``employee_id``, ``address.street`` -> ``address_street``."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.lower().strip("_")


@dataclass
class DebugRun:
    returncode: int
    output: str
    killed: bool = False


class ConnectorDir:
    """A working copy of ``connectors/<name>`` (the same files) so runs keep their own ``files/``."""

    def __init__(self, name: str, workdir: Path):
        self.name = name
        self.path = workdir / name
        if not self.path.exists():
            shutil.copytree(CONNECTORS / name, self.path,
                            ignore=shutil.ignore_patterns("files", "configuration.json", "__pycache__",
                                                          "crash-reports"))

    @property
    def warehouse(self) -> Path:
        return self.path / "files" / "warehouse.db"

    def state(self) -> dict[str, Any]:
        path = self.path / "files" / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def debug(self, configuration: Mapping[str, str], *, timeout: float = 300, kill_on: threading.Event | None = None,
              ) -> DebugRun:
        """Run ``fivetran debug`` here; if ``kill_on`` is set while it runs, kill -9 its whole process group."""
        (self.path / "configuration.json").write_text(json.dumps(dict(configuration)))
        proc = subprocess.Popen(
            ["fivetran", "debug", "--configuration", "configuration.json"],
            cwd=self.path, env=fivetran_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, text=True,
        )
        killed = False
        if kill_on is not None:
            def watch() -> None:
                nonlocal killed
                while proc.poll() is None:
                    if kill_on.wait(0.05):
                        try:
                            os.killpg(proc.pid, signal.SIGKILL)
                            killed = True
                        except ProcessLookupError:  # it finished first
                            pass
                        return
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            raise AssertionError(f"fivetran debug did not finish in {timeout}s:\n{output[-4000:]}") from None
        return DebugRun(proc.returncode, output, killed and proc.returncode == -signal.SIGKILL)

    def flags(self, table: str, key: Iterable[str]) -> dict[tuple, bool]:
        """Every row of ``tester.<table>``, deleted ones included: its key values -> ``_fivetran_deleted``."""
        import duckdb

        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            rows = con.sql(f'select {", ".join(key)}, _fivetran_deleted from tester."{table}"').fetchall()
        finally:
            con.close()
        return {tuple(r[:-1]): bool(r[-1]) for r in rows}

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Live rows of ``tester.<table>`` (``_fivetran_deleted`` false), Fivetran columns dropped."""
        import duckdb

        if not self.warehouse.exists():
            return []
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            names = {r[0] for r in con.sql("select table_name from information_schema.tables "
                                           "where table_schema = 'tester'").fetchall()}
            if snake(table) not in names and table not in names:
                return []
            rel = con.sql(f'select * from tester."{snake(table) if snake(table) in names else table}"')
            cols = rel.columns
            out = []
            for values in rel.fetchall():
                row = dict(zip(cols, values, strict=True))
                if row.get("_fivetran_deleted"):
                    continue
                out.append({k: v for k, v in row.items() if not k.startswith("_fivetran")})
            return out
        finally:
            con.close()


@dataclass
class Comparison:
    expected: int
    delivered: int
    missing: list[Any] = field(default_factory=list)
    stale: list[Any] = field(default_factory=list)
    duplicates: list[Any] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.duplicates or self.unexpected)

    def __str__(self) -> str:
        return (f"expected={self.expected} delivered={self.delivered} missing={len(self.missing)} "
                f"stale={len(self.stale)} duplicates={len(self.duplicates)} unexpected={len(self.unexpected)} "
                f"(first missing {self.missing[:3]}, stale {self.stale[:3]}, dup {self.duplicates[:3]})")


def normalise(value: Any) -> Any:
    """Compare warehouse values with truth: datetimes as UTC ISO, decimals as floats rounded."""
    from datetime import datetime, timezone
    from decimal import Decimal

    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (float, Decimal)):
        return round(float(value), 4)
    return value


def compare(rows: Iterable[Mapping[str, Any]], truth: Mapping[Any, Mapping[str, Any]], key: str | tuple[str, ...],
            fields: Iterable[str]) -> Comparison:
    """``truth`` maps primary key -> expected row (warehouse column names); ``fields`` are compared. A composite
    key (a child table's ``parent_id`` and its own key) is a tuple of columns, and ``truth`` is keyed by tuples."""
    rows = list(rows)
    seen: dict[Any, Mapping[str, Any]] = {}
    result = Comparison(expected=len(truth), delivered=len(rows))
    fields = list(fields)
    for row in rows:
        pk = tuple(row[k] for k in key) if isinstance(key, tuple) else row[key]
        if pk in seen:
            result.duplicates.append(pk)
        seen[pk] = row
    for pk, expected in truth.items():
        got = seen.get(pk)
        if got is None:
            result.missing.append(pk)
            continue
        for f in fields:
            if normalise(got.get(f)) != normalise(expected.get(f)):
                result.stale.append((pk, f, got.get(f), expected.get(f)))
                break
    result.unexpected = [pk for pk in seen if pk not in truth]
    return result
