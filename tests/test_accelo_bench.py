"""Smoke test of the worker benchmark (tiny sizes, no timing claims: the report holds the ratios)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from tests.test_accelo_connector import acc

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_measure_runs_the_connector_and_counts_requests(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the simulator process imports the module by name
    bench = importlib.import_module("accelo_workers")
    try:
        result = bench.measure(workers=3, records=250, latency=0.0, page_size=50)
    finally:
        sys.modules.pop("accelo_workers", None)
    assert result["rows"] == 250 and result["rows_per_second"] > 0
    assert result["token_requests"] == 1 and result["rate_limited"] == 0
    # The five empty tables: one short first page each. Companies: pages 0..5 of 50 rows overlapping by one
    # (250 rows need 6) and one /count after the full first page. A first sync sends no delete check: it has
    # just read every id it holds.
    # Every other table is empty: one request each, one per object for a per-object table, and the contract
    # listing of the contract-periods fan-out.
    empty = sum(len(e.objects) or 1 for e in acc.ENTITIES.values())
    assert result["requests"] == 6 + 6 + empty
