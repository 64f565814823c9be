"""One adapter per vendor (a module each, beside this one) so the demo, the reliability matrix
and the benchmarks drive every connector and simulator the same way: build a simulator, configure
the connector for it, change data, and read the truth in the warehouse's terms (Fivetran snake-cases
column names)."""

from __future__ import annotations

import importlib
import importlib.util
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "src", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

@dataclass
class Kit:
    name: str
    keys: dict[str, str | tuple[str, ...]]  # warehouse table -> primary key column (a tuple: composite)
    fields: dict[str, list[str]]  # warehouse table -> columns compared with the truth
    make: Callable[..., Any]  # make(size, tie=1, faults=None, limits=False, latency=0.0) -> SimApp
    config: Callable[[Any, str], dict[str, str]]  # (sim, base URL) -> configuration
    truth: Callable[[Any], dict[str, dict[Any, dict[str, Any]]]]  # table -> key -> row
    edit: Callable[[Any, random.Random, int], None]  # edit n records spread over the tables
    insert: Callable[[Any, random.Random, int], None]
    # delete n records spread over the tables (with cascading children where the API cascades): the simulator's
    # delete_random(rng, n), which removes them from every listing and from the truth
    delete: Callable[[Any, random.Random, int], Any] = lambda sim, rng, n: sim.delete_random(rng, n)
    largest: str = ""  # the table the memory benchmark grows
    extra: dict[str, Any] = field(default_factory=dict)


_loaded: dict[str, ModuleType] = {}


def connector(name: str) -> ModuleType:
    """Import connectors/<name>/connector.py as a module (the folder is not a package)."""
    if name not in _loaded and f"{name}_connector" in sys.modules:
        _loaded[name] = sys.modules[f"{name}_connector"]
    if name not in _loaded:
        path = ROOT / "connectors" / name / "connector.py"
        spec = importlib.util.spec_from_file_location(f"{name}_connector", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
        sys.path.insert(0, str(path.parent))  # helper modules beside connector.py
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
        _loaded[name] = module
    return _loaded[name]


NAMES = ("accelo", "act", "aroflo", "awardco", "xurrent")


def _factory(name: str) -> Callable[[], Kit]:
    def make() -> Kit:
        return importlib.import_module(f"tools.vendors.{name}").kit()
    return make


FACTORIES: dict[str, Callable[[], Kit]] = {name: _factory(name) for name in NAMES}


def kits(names: list[str] | None = None) -> dict[str, Kit]:
    """The adapters for the named connectors (all that exist when None)."""
    return {name: factory() for name, factory in FACTORIES.items() if not names or name in names}
