"""bench/compare.py: the before-and-after table of docs/benchmarks.md."""

from __future__ import annotations

from bench import compare


def results(assessment_ratio: float, batch_rate: float) -> dict:
    """The parts of a `python -m bench` result the compared figures read (others absent)."""
    return {"machine": {"date": "2026-11-25"},
            "engine": {"per_decision": {"alone": {
                "assessment": {"ratio_median": assessment_ratio, "median_us": 900.0},
                "crs": {"ratio_median": 80.0, "median_us": 400.0}}},
                "batches": {}},
            "api": {"result": {"databases": [{"database": "SQLite", "rows": [
                {"kind": "batch", "decisions_per_s": batch_rate / 2, "p99_ms": 900.0},
                {"kind": "batch", "decisions_per_s": batch_rate, "p99_ms": 300.0}]}]}}}


def test_key_figures_take_what_ran_and_leave_out_the_rest():
    figures = compare.key_figures(results(217.0, 1000.0))
    assert figures["engine.assessment_x_plain"] == 217.0
    assert figures["api.sqlite_batch"] == 1000.0  # the best level of that kind
    assert "engine.zen_trace_over_crs" not in figures  # Zen did not run
    assert "draws.250k_seconds" not in figures  # nor did the draws


def test_changes_read_as_better_or_worse_whichever_way_is_better(tmp_path):
    path = tmp_path / "baseline.json"
    baseline = compare.save_baseline(results(200.0, 500.0), "abc1234", path)
    assert compare.load_baseline(path) == baseline
    table = compare.markdown(results(100.0, 250.0), baseline)
    # Half the ratio to the plain function is better; half the throughput is worse.
    assert "| 200x | 100x | 2.00x better |" in table
    assert "| 500 decisions/s | 250 decisions/s | 0.50x worse |" in table
    assert "commit abc1234" in table
    assert compare.markdown(results(1.0, 1.0), None).startswith("No baseline")
