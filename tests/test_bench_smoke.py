"""A small run of the benchmark code so it cannot rot (sizes tiny; figures not asserted as goals)."""

import pytest

from bench import report, run


@pytest.mark.e2e
def test_benchmark_smoke(tmp_path, capsys):
    assert run.main(["--smoke", "--only", "awardco"]) == 0
    out = capsys.readouterr().out
    assert "[awardco] {'size': 300, 'rows': 300" in out and "'429s': 0" in out


def test_report_writer(tmp_path):
    results = {"x": {"throughput": {"size": 10, "rows": 10, "requests": 2, "ours_rps": 8.0, "bare_rps": 10.0,
                                    "ratio": 0.8},
                     "memory": {"small": 1, "large": 2, "small_mb": 50.0, "large_mb": 60.0, "delta_mb": 10.0},
                     "budget": {"limit": "20 per 2s", "seconds": 3.0, "sent": 39, "allowed": 40, "used": 0.975,
                                "429s": 0},
                     "incremental": {"full_requests": 100, "second_requests": 2, "share": 0.02, "goal": 2}},
               "y": {"throughput": {"size": 10, "rows": 10, "requests": 2, "ours_rps": 5.0, "bare_rps": 10.0,
                                    "ratio": 0.5},
                     "memory": {"small": 1, "large": 2, "small_mb": 50.0, "large_mb": 90.0, "delta_mb": 40.0},
                     "budget": {"limit": "20 per 2s", "seconds": 3.0, "sent": 30, "allowed": 40, "used": 0.75,
                                "429s": 1},
                     "incremental": {"full_requests": 100, "second_requests": 6, "share": 0.06, "goal": 4,
                                     "second_counted": 3}}}
    scaling = [{"workers": 1, "rows_per_second": 10.0}, {"workers": 5, "rows_per_second": 45.0}]
    results["x"]["seconds"] = {"throughput": 4.2, "incremental": 1.0, "budget": 12.5}
    report.write(results, scaling, {"throughput": 10, "small": 1, "large": 2, "incremental": 3,
                                    "budget_seconds": 3, "memory_seconds": 61.0}, tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert "| x | 10 | 10 | 2 | 8 | 10 | 0.80 | met |" in text
    assert "| x | 3 | 100 | 2 | 2.0% | ≤ 2 | met | — |" in text
    assert "| x | 4 | 1 | 12 |" in text and "three runs at a time: 61 s" in text
    assert "| y | 3 | 100 | 6 | 6.0% | ≤ 4 | **missed** | 3 |" in text
    assert "| y | 10 | 10 | 2 | 5 | 10 | 0.50 | **missed** |" in text
    assert "5 workers / 1 worker = 4.50 reading the table (4.50 for the whole sync): met." in text
    assert (tmp_path / "throughput.png").stat().st_size > 1000
