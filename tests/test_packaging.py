"""The deployable folder: carries the toolkit, names no provided package, and runs with `fivetran debug`
in a clean virtual environment that holds only fivetran-connector-sdk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from simulators.awardco import AwardcoSim
from simulators.harness import Server
from tests.support import ROOT, ConnectorDir, compare
from tools import package

pytestmark = pytest.mark.e2e
CLEAN_VENV = ROOT / ".venv-package-test"


def test_package_contents(tmp_path):
    archive = package.build("awardco", tmp_path)
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"connector.py", "requirements.txt", "synckit/__init__.py", "synckit/sync.py"} <= names
    assert not any(n.startswith(("files/", "configuration.json")) for n in names)
    for line in (tmp_path / "awardco" / "requirements.txt").read_text().splitlines():
        assert not line.lower().startswith(("fivetran", "requests"))


def test_provided_packages_are_refused(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("pyjwt==2.8.0\nrequests>=2\n")
    with pytest.raises(SystemExit, match="requests"):
        package.check_requirements(req)


def clean_venv() -> str:
    python = CLEAN_VENV / "bin" / "python"
    if not (CLEAN_VENV / "bin" / "fivetran").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CLEAN_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "fivetran-connector-sdk"], check=True)
    return str(CLEAN_VENV / "bin")


def test_packaged_connector_runs_in_a_clean_venv(tmp_path):
    bin_dir = clean_venv()
    listing = subprocess.run([f"{bin_dir}/python", "-m", "pip", "list", "--format=freeze"], capture_output=True,
                             text=True, check=True).stdout
    assert "saas-connectors" not in listing and "synckit" not in listing.lower()
    package.build("awardco", tmp_path)
    sim = AwardcoSim(users=1200, report_page_size=500, polls_before_done=1)
    with Server(sim) as server:
        config = {"api_key": "test-key", "base_url": server.url}
        (tmp_path / "awardco" / "configuration.json").write_text(json.dumps(config))
        env = {**os.environ, "DO_NOT_TRACK": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        env.pop("PYTHONPATH", None)
        run = subprocess.run(["fivetran", "debug", "--configuration", "configuration.json"],
                             cwd=tmp_path / "awardco", env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    conn = ConnectorDir.__new__(ConnectorDir)
    conn.name, conn.path = "awardco", tmp_path / "awardco"
    truth = {k: {"email": r["EMAIL"]} for k, r in sim.report_truth().items()}
    result = compare(conn.rows("user"), truth, "employee_id", ["email"])
    assert result.ok, str(result)
