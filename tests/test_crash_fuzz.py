"""Fuzz the compiler: random rulesets and facts, run in a child process, must neither crash the
engine nor give an answer other than the Python oracle's. bench/crash_fuzz.py runs it longer."""

from __future__ import annotations

import os
import pickle
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import CRASHED, EngineWorker, expected_firings, facts, rulesets

CRASH_DUMP = os.path.join(tempfile.gettempdir(), "decisions-crash-example.pickle")


@pytest.fixture(scope="module")
def worker():
    w = EngineWorker()
    yield w
    w.close()


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(version=rulesets(), fact_sets=st.lists(facts, min_size=1, max_size=5))
def test_random_rulesets_neither_crash_nor_lie(worker, version, fact_sets):
    answer = worker.run(version, fact_sets)
    if answer == CRASHED:  # keep the example for a post-mortem: it is the shape to fix
        with open(CRASH_DUMP, "wb") as fh:
            pickle.dump((version, fact_sets), fh)
    assert answer != CRASHED, f"the engine crashed; example saved in {CRASH_DUMP}"
    if isinstance(answer, str):  # refused at compile time with a clear message: allowed
        assert answer.startswith("error: ")
        return
    for one, fired in zip(fact_sets, answer, strict=True):
        assert set(fired) == expected_firings(version, one), one
