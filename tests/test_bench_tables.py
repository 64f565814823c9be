"""The per-table request benchmark: attribution of requests to tables, edit counting and one small real run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import tables
from simulators.harness import LoggedRequest
from tools.vendors import kits


def test_path_table_names_the_last_segment_that_is_a_table():
    table_of = tables.path_table(["companies", "invoices"])
    assert table_of(LoggedRequest("GET", "/api/v0/companies/12/invoices", "", 200)) == "invoices"
    assert table_of(LoggedRequest("GET", "/api/v0/companies", "_limit=100", 200)) == "companies"
    assert table_of(LoggedRequest("POST", "/oauth2/v0/token", "", 200)) is None


rows = st.dictionaries(st.integers(0, 30), st.dictionaries(st.sampled_from("ab"), st.integers(0, 3)), max_size=20)


@given(rows, rows)
def test_changed_counts_every_key_whose_row_differs(before, after):
    counted = tables.changed({"t": before}, {"t": after})["t"]
    assert counted == len({k for k in before.keys() | after.keys() if before.get(k) != after.get(k)})
    assert tables.changed({"t": before}, {"t": before})["t"] == 0


@pytest.mark.e2e
def test_small_run_accounts_for_every_request(tmp_path):
    kit = kits(["accelo"])["accelo"]
    result = tables.measure(kit, 150)
    by_table = {r["table"]: r for r in result["tables"]}
    assert by_table["companies"]["first_rows"] == 150
    assert all(r["first_requests"] >= 1 for r in result["tables"] if not r["parent"])
    # a first load pages every table to its end: at least one request per 100 rows
    assert all(r["first_requests"] * 100 >= r["first_rows"] for r in result["tables"] if not r["parent"])
    assert sum(r["edited"] for r in result["tables"]) >= 1
    assert result["delete_total"] >= 1 and result["delete_daily_share"] < 0.02
    text = tables.write({"accelo": result}, tmp_path).read_text()
    assert "| companies | 150 |" in text and "Delete detection:" in text
