"""Setup forms and setup tests of every connector, through `fivetran configuration --test` against the
simulators; and the READMEs' configuration tables against the keys each connector accepts."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from simulators.harness import Server
from tools.e2e import CONNECTORS, ConnectorDir, fivetran_env
from tools.vendors import connector, kits

KITS = kits()


def setup_test(conn: ConnectorDir, config: dict[str, str]) -> tuple[int, str]:
    (conn.path / "configuration.json").write_text(json.dumps(config))
    run = subprocess.run(["fivetran", "configuration", ".", "--test"], cwd=conn.path, env=fivetran_env(),
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("name", sorted(KITS))
def test_form_matches_spec(name):
    module = connector(name)
    response = module.configuration_form().to_response()
    fields = {f.name: f for f in response.fields}
    assert list(fields) == list(module.SPEC)
    for key, spec in module.SPEC.items():
        field = fields[key]
        assert bool(field.required) == spec.required, key
        if spec.secret:
            assert field.text_field is not None and field.text_field != 0, f"{key} must be a password field"
        if spec.kind is bool:
            assert field.toggle, key
        if spec.choices:
            assert [o.value for o in field.dropdown_options] == list(spec.choices)
    names = [t.name for t in response.tests]
    assert "check_configuration" in names and len(names) >= 2


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(KITS))
def test_setup_tests_pass_and_fail_clearly(name, tmp_path):
    kit = KITS[name]
    sim = kit.make(20)
    with Server(sim) as server:
        conn = ConnectorDir(name, tmp_path)
        good = kit.config(sim, server.url)
        code, out = setup_test(conn, good)
        assert code == 0 and "All tests passed" in out, out[-2000:]
        code, out = setup_test(conn, {**good, **kit.extra["wrong_credentials"]})
        reason = [line for line in out.splitlines() if "check_" in line and "PASSED" not in line and "]:" in line]
        assert code != 0 and reason, out[-2000:]
        assert "credentials" in reason[-1] and any(w in reason[-1] for w in ("refused", "rejected", "check")), reason
        for secret in kit.extra["wrong_credentials"].values():
            assert secret not in out
        deny = kit.extra.get("deny_permission")
        if deny is not None:
            deny(sim)
            code, out = setup_test(conn, good)
            assert code != 0 and "permission denied" in out, out[-2000:]


def readme_keys(path) -> list[str]:
    """Keys in the first column of the README table under its 'Configuration' heading."""
    text = path.read_text()
    section = re.split(r"\n## ", text.split("\n## Configuration", 1)[1])[0]
    return re.findall(r"^\|\s*`([a-z0-9_]+)`", section, flags=re.M)


@pytest.mark.parametrize("name", sorted(p.name for p in CONNECTORS.iterdir() if (p / "connector.py").exists()))
def test_readme_configuration_table_lists_exactly_the_accepted_keys(name):
    readme = CONNECTORS / name / "README.md"
    assert readme.exists(), f"{name} has no README"
    assert sorted(readme_keys(readme)) == sorted(connector(name).SPEC)
