"""A crash or a hang of the engine costs one request: 503 for it, a fresh engine process for the
rest; no engine process outlives its parent."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from service.config import Config
from service.decisions import InlineDecider, ProcessDecider
from service.engine import CRASH_ENV, HANG_ENV
from service.errors import EngineUnavailableError, FactsError, Problem, RulesetError
from service.rulesets import MAX_FACTS_DEPTH

from .conftest import PROFILE, RULESETS

DAY = dt.date(2019, 7, 15)


def test_errors_keep_their_details_between_processes():
    error = pickle.loads(pickle.dumps(FactsError("bad", errors={"age": ["too old"]})))
    assert error.extra == {"errors": {"age": ["too old"]}} and error.status == 422
    problems = [Problem("a.yaml", 3, "rules[0]", "broken")]
    assert pickle.loads(pickle.dumps(RulesetError(problems))).problems == problems


@pytest.fixture
def crashing_decider(catalog, monkeypatch):
    monkeypatch.setenv(CRASH_ENV, "C-CRASH")
    decider = ProcessDecider(catalog, RULESETS)
    yield decider
    decider.close()


def test_engine_crash_costs_one_request_and_the_engine_comes_back(crashing_decider, catalog,
                                                                  engine):
    inline = InlineDecider(catalog, engine)
    before = crashing_decider.decide("oinp.hcp.tech-draw", PROFILE, DAY)
    assert before["outcome"] == inline.decide("oinp.hcp.tech-draw", PROFILE, DAY)["outcome"]
    pid = crashing_decider.engine_pid

    with pytest.raises(EngineUnavailableError) as err:
        crashing_decider.decide("oinp.hcp.tech-draw", {**PROFILE, "candidate_id": "C-CRASH"},
                                DAY)
    assert err.value.status == 503
    assert "exit code -11" in err.value.detail  # SIGSEGV, as durable-rules crashes

    after = crashing_decider.decide("oinp.hcp.tech-draw", PROFILE, DAY)
    assert after["outcome"] == before["outcome"]
    assert crashing_decider.engine_pid != pid and crashing_decider.restarts == 1


def test_batch_in_the_engine_process_answers_each_item(crashing_decider):
    results = crashing_decider.decide_many([
        ("oinp.hcp.tech-draw", PROFILE, DAY, None),
        ("oinp.hcp.tech-draw", {**PROFILE, "age": "old"}, DAY, None),
        ("no.such-ruleset", PROFILE, DAY, None)])
    assert results[0]["outcome"] == "meets_criteria"
    assert isinstance(results[1], FactsError) and "age" in results[1].extra["errors"]
    assert results[2].status == 404


def test_a_batch_item_that_crashes_the_engine_gets_its_own_503(crashing_decider):
    """The engine says which item it starts: the one it died on is blamed, the others (those it
    had decided too: their answers died with it) are decided by a fresh engine process. A retry
    of the same batch does the same, instead of failing whole again."""
    crash = {**PROFILE, "candidate_id": "C-CRASH"}
    batch = [("oinp.hcp.tech-draw", {**PROFILE, "candidate_id": f"C-{i}"}, DAY, None)
             for i in range(4)]
    batch[2] = ("oinp.hcp.tech-draw", crash, DAY, None)
    for attempt in (1, 2):
        results = crashing_decider.decide_many(batch)
        assert isinstance(results[2], EngineUnavailableError) and results[2].status == 503
        assert "stopped (exit code -11) while deciding these facts" in results[2].detail
        assert [r["outcome"] for i, r in enumerate(results) if i != 2] == ["meets_criteria"] * 3
        assert crashing_decider.restarts == attempt


def test_a_batch_stops_the_engine_at_most_max_stops_times(crashing_decider):
    crash = ("oinp.hcp.tech-draw", {**PROFILE, "candidate_id": "C-CRASH"}, DAY, None)
    results = crashing_decider.decide_many([crash] * 4 + [("oinp.hcp.tech-draw", PROFILE, DAY,
                                                            None)])
    assert crashing_decider.restarts == ProcessDecider.MAX_STOPS == 3
    assert all("while deciding these facts" in r.detail for r in results[:3])
    assert all(r.status == 503 and "was stopped 3 times while deciding other facts of this "
               "batch" in r.detail for r in results[3:])
    assert crashing_decider.decide("oinp.hcp.tech-draw", PROFILE, DAY)["outcome"] == \
        "meets_criteria"


def nested(depth: int) -> dict:
    top = node = {}
    for _ in range(depth):
        node["a"] = node = {}
    return top


def test_facts_nested_too_deep_cost_their_item_only(crashing_decider):
    """500 levels of objects failed pickling on the way to the engine process (RecursionError):
    a 500 for the whole batch. The contract bounds depth; the item gets a 422 with its path."""
    results = crashing_decider.decide_many([
        ("oinp.hcp.tech-draw", {**PROFILE, "x": nested(500)}, DAY, None),
        ("oinp.hcp.tech-draw", PROFILE, DAY, None),
        ("oinp.hcp.tech-draw", {**PROFILE, "first_language": [nested(MAX_FACTS_DEPTH)]}, DAY,
         None)])
    assert isinstance(results[0], FactsError) and results[0].status == 422
    assert results[0].extra["errors"] == {
        "x" + ".a" * MAX_FACTS_DEPTH: [f"Nested more than {MAX_FACTS_DEPTH} levels deep."]}
    assert results[1]["outcome"] == "meets_criteria"
    assert list(results[2].extra["errors"]) == ["first_language[0]" + ".a" * (MAX_FACTS_DEPTH - 1)]
    assert crashing_decider.restarts == 0


def test_trial_refuses_a_ruleset_folder_whose_cases_crash_the_engine(tmp_path, monkeypatch):
    import shutil

    from service.checks import cases_in_child

    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS, root)
    cases = root / "oinp" / "hcp-tech-draw.cases.yaml"
    cases.write_text(cases.read_text().replace("      en: A computer programmer (NOC 2174)",
                                               "      en: A crashing candidate (NOC 2174)", 1)
                     .replace('facts: {primary_noc: "2174"}',
                              'facts: {primary_noc: "2174", candidate_id: C-CRASH}', 1))
    monkeypatch.setenv(CRASH_ENV, "C-CRASH")
    with pytest.raises(RulesetError) as err:
        cases_in_child(root)
    message = str(err.value)
    assert "the engine crashed (exit code -11) while running case" in message
    assert "hcp-tech-draw.cases.yaml" in message and "A crashing candidate" in message
    monkeypatch.delenv(CRASH_ENV)
    report = cases_in_child(root)
    assert report.passed
    assert any("hcp-tech-draw.cases.yaml" in result.file for result in report.results)


def test_a_batch_pauses_the_garbage_collector_and_gives_it_back(catalog, engine):
    import gc

    decider = InlineDecider(catalog, engine)
    seen = []

    def reduce(decision, _catalog):
        seen.append(gc.isenabled())
        if decision["decision_id"] and len(seen) == 2:
            raise RuntimeError("a bug in a reduce function")
        return decision["outcome"]

    request = ("oinp.hcp.tech-draw", PROFILE, DAY, None)
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        decider.decide_many([request, request], reduce)
    assert seen == [False, False] and gc.isenabled()  # back on, even after an error
    gc.disable()
    try:
        assert decider.decide_many([request], reduce) == ["meets_criteria"]
        assert not gc.isenabled()  # left off by whoever turned it off
    finally:
        gc.enable()


# ------------------------------------------------------------------------------- hung engine
def running(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_the_engine_deadline_is_a_setting_below_the_worker_timeout():
    assert Config().engine_timeout == 30.0
    assert Config.from_env({"DECISIONS_ENGINE_TIMEOUT": "2.5"}).engine_timeout == 2.5
    with pytest.raises(ValueError, match="DECISIONS_ENGINE_TIMEOUT must be a number of seconds"):
        Config.from_env({"DECISIONS_ENGINE_TIMEOUT": "0"})


def test_a_hung_engine_costs_its_request_a_503_and_is_replaced(catalog, monkeypatch):
    monkeypatch.setenv(HANG_ENV, "C-HANG")  # the engine process sleeps on this candidate
    decider = ProcessDecider(catalog, RULESETS, timeout=3)
    try:
        hung = decider.engine_pid
        started = time.monotonic()
        with pytest.raises(EngineUnavailableError) as err:
            decider.decide("oinp.hcp.tech-draw", {**PROFILE, "candidate_id": "C-HANG"}, DAY)
        assert 3 <= time.monotonic() - started < 10
        assert err.value.status == 503 and "did not answer within 3 s" in err.value.detail
        assert not running(hung)  # killed, not left behind
        assert decider.decide("oinp.hcp.tech-draw", PROFILE, DAY)["outcome"] == "meets_criteria"
        assert decider.engine_pid != hung and decider.restarts == 1
    finally:
        decider.close()


def test_a_hung_batch_item_is_blamed_and_the_rest_answered_within_the_deadline(catalog,
                                                                            monkeypatch):
    monkeypatch.setenv(HANG_ENV, "C-HANG")
    decider = ProcessDecider(catalog, RULESETS, timeout=3)
    try:
        started = time.monotonic()
        results = decider.decide_many([
            ("oinp.hcp.tech-draw", PROFILE, DAY, None),
            ("oinp.hcp.tech-draw", {**PROFILE, "candidate_id": "C-HANG"}, DAY, None),
            ("oinp.hcp.tech-draw", PROFILE, DAY, None)])
        assert time.monotonic() - started < 10
        assert "did not answer within 3 s while deciding these facts" in results[1].detail
        # The deadline is for the whole call: no time is left to decide the others again.
        assert all(r.status == 503 and "3 s have passed" in r.detail
                   for r in (results[0], results[2]))
    finally:
        decider.close()


PARENT = """\
    import datetime as dt, sys, threading
    from service.decisions import ProcessDecider
    from service.rulesets import load_catalog
    from tests.conftest import PROFILE, RULESETS

    if __name__ == "__main__":
        catalog = load_catalog(RULESETS)
        deciders = []
        # Started from a thread that ends at once: the engine must live on (the kernel's
        # parent-death signal follows the thread that forked, not the process).
        thread = threading.Thread(target=lambda: deciders.append(
            ProcessDecider(catalog, RULESETS, timeout=600)))
        thread.start()
        thread.join()
        print(deciders[0].engine_pid, flush=True)
        sys.stdin.readline()
        print("deciding", flush=True)
        deciders[0].decide("oinp.hcp.tech-draw", {**PROFILE, "candidate_id": "C-HANG"},
                           dt.date(2019, 7, 15))
    """


def test_no_engine_process_outlives_its_parent(tmp_path):
    """A worker killed outright (SIGKILL: gunicorn's timeout, the OOM killer) while its engine
    hangs: the engine process must not stay behind, busy, for ever."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT))
    env = {**os.environ, HANG_ENV: "C-HANG", "PYTHONPATH": str(RULESETS.parent)}
    parent = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env, cwd=RULESETS.parent)
    engine = None
    try:
        engine = int(parent.stdout.readline())
        time.sleep(1)
        assert running(engine), "the engine died with the thread that started it"
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline() == "deciding\n"
        time.sleep(1)  # the engine is asleep on the hanging candidate
        assert running(engine)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while running(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(engine), "the engine process outlived its parent"
    finally:
        parent.kill()
        parent.wait(10)
        if engine is not None and running(engine):
            os.kill(engine, signal.SIGKILL)
