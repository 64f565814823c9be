"""Build a deployable folder and zip for one connector: its own files plus the shared toolkit.

    python -m tools.package awardco            # -> dist/awardco/ and dist/awardco.zip

The folder is what `fivetran deploy` (run inside it) uploads: connector.py, its helper modules,
requirements.txt (never naming fivetran_connector_sdk or requests, which Fivetran provides) and a
copy of `synckit`, so nothing outside the folder is imported.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROVIDED = {"fivetran_connector_sdk", "fivetran-connector-sdk", "requests"}
SKIP = shutil.ignore_patterns("files", "configuration.json", "__pycache__", "*.pyc", "crash-reports", ".pytest_cache")


def check_requirements(path: Path) -> None:
    for line in path.read_text().splitlines():
        name = re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        if name and not name.startswith("#") and name in {p.replace("_", "-") for p in PROVIDED}:
            raise SystemExit(f"{path}: '{name}' is provided by Fivetran and must not be listed")


def build(name: str, out: Path) -> Path:
    source = ROOT / "connectors" / name
    if not (source / "connector.py").exists():
        raise SystemExit(f"no connector named {name!r} (expected connectors/{name}/connector.py)")
    target = out / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=SKIP)
    shutil.copytree(ROOT / "src" / "synckit", target / "synckit", ignore=SKIP)
    requirements = target / "requirements.txt"
    if not requirements.exists():
        # Nothing beyond what Fivetran provides (fivetran_connector_sdk, requests).
        requirements.write_text("")
    check_requirements(requirements)
    archive = out / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(target.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(target))
    return archive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("connector", nargs="?", help="connector name; all connectors when omitted")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    names = [args.connector] if args.connector else sorted(
        p.name for p in (ROOT / "connectors").iterdir() if (p / "connector.py").exists())
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        archive = build(name, args.out)
        print(f"{name}: {archive.parent / name}/ and {archive}")


if __name__ == "__main__":
    main(sys.argv[1:])
