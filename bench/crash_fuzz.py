"""Crash fuzzing, longer than the test suite runs it: statistics for docs/benchmarks.md.

    .venv/bin/python -m bench.crash_fuzz [EXAMPLES] [--fresh-sessions]

Generates random rulesets and facts with hypothesis (bench/fuzz.py), runs each in a child
process, and counts cases tried, crashes (with the exit code and the rule shapes), wrong answers
against the Python oracle, and rulesets refused at compile time.
"""

from __future__ import annotations

import json
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import CRASHED, EngineWorker, expected_firings, facts, rulesets


def run(examples: int, session_reuse: int | None = None) -> dict:
    worker = EngineWorker(session_reuse=session_reuse)
    stats = {"rulesets": 0, "fact_sets": 0, "crashes": 0, "wrong": 0, "refused": 0,
             "crash_shapes": [], "wrong_examples": []}

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(version=rulesets(), fact_sets=st.lists(facts, min_size=1, max_size=5))
    def one(version, fact_sets):
        stats["rulesets"] += 1
        stats["fact_sets"] += len(fact_sets)
        answer = worker.run(version, fact_sets)
        if answer == CRASHED:
            stats["crashes"] += 1
            stats["crash_shapes"].append({"exit": worker.shapes[-1][0],
                                          "rules": worker.shapes[-1][1][:8],
                                          "facts": fact_sets})
        elif isinstance(answer, str):
            stats["refused"] += 1
        else:
            for f, fired in zip(fact_sets, answer, strict=True):
                if set(fired) != expected_firings(version, f):
                    stats["wrong"] += 1
                    stats["wrong_examples"].append({"facts": f})

    started = time.perf_counter()
    one()
    worker.close()
    stats["seconds"] = round(time.perf_counter() - started, 1)
    return stats


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
    reuse = 1 if "--fresh-sessions" in sys.argv else None
    print(json.dumps(run(n, reuse), indent=1, default=str))
