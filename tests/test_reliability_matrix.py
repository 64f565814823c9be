"""The reliability matrix at a size that fits CI: every scenario for every connector, through
`fivetran debug`, each cell compared with the simulator's truth (the full run is `make reliability`)."""

from __future__ import annotations

import pytest

from tools.reliability import SCENARIOS, matrix, report
from tools.vendors import connector, kits


@pytest.mark.parametrize("name", sorted(kits()))
def test_matrix_compares_every_table(name):
    """Every table the connector declares, child tables included, is compared with the truth."""
    declared = set()
    for table in connector(name).catalogue():
        declared |= {table.name} | {child.table(table.name) for child in table.children}
    kit = kits([name])[name]
    assert not declared - set(kit.keys), f"the {name} kit does not compare {sorted(declared - set(kit.keys))}"
    assert set(kit.keys) == set(kit.fields), "every compared table needs its key and its fields"


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(kits()))
def test_matrix_small(name):
    cells = matrix([name], size=40, kills=2)
    assert [c.scenario for c in cells] == SCENARIOS
    failed = [c for c in cells if not c.ok]
    assert not failed, "\n" + report(failed, 40, 2)
    for c in cells:
        assert c.expected > 0 and c.delivered == c.expected
