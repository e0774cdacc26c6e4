"""Deciders: where decisions are computed, in this process or in a supervised engine process.

durable-rules is C code that can crash the whole process on some rule shapes (a Python ``try``
cannot catch a segmentation fault). The web service therefore decides in a child process, the
*engine process*, that it supervises: if the engine process dies during a request, that request
gets ``EngineUnavailableError`` (HTTP 503), nothing about it is logged, a fresh engine process is
started, and every other request goes on. The command line and the tests decide in process.

Both deciders have the same interface, so the web layer does not know which it has.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .engine import CRASH_ENV  # noqa: F401  (re-exported for the tests)
from .errors import DecisionError, EngineUnavailableError, EvaluationError, Problem

Request = tuple[str, Any, "dt.date | None", "Mapping[str, str] | None"]
# Applied to each decision where it is made, so that a caller that needs only part of it (a
# draw) does not pay for carrying the whole explanation across the pipe. Must be picklable: a
# module-level function, or a functools.partial of one.
Reduce = Callable[[dict], Any]


class InlineDecider:
    """Decides in this process (command line, tests, benchmarks)."""

    def __init__(self, catalog, engine):
        self.catalog, self.engine = catalog, engine

    def decide(self, ruleset_id: str, facts: Any, as_of: dt.date | None = None,
               pinned: Mapping[str, str] | None = None) -> dict:
        from .decisions import decide

        return decide(self.catalog, self.engine, ruleset_id, facts, as_of, pinned)

    def decide_many(self, requests: Iterable[Request],
                    reduce: Reduce | None = None) -> list[Any | DecisionError]:
        """Each request's decision (passed through ``reduce`` if given), or the error it alone
        raised."""
        out: list[Any | DecisionError] = []
        with _collector_paused():
            for request in requests:
                try:
                    decision = self.decide(*request)
                    out.append(decision if reduce is None else reduce(decision))
                except DecisionError as exc:
                    out.append(exc)
        return out

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a batch is decided: each decision is a tree
    of a few hundred dicts kept until the batch returns, so collections come often and each
    walks every decision so far, for nothing (decisions hold no reference cycles). It cost a
    quarter of a batch of 1,000 (docs/benchmarks.md). Reference counting still frees what the
    batch drops; the collector resumes, and catches up, when the batch is done."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def fingerprint(catalog) -> list[tuple[str, str, str]]:
    """What identifies a loaded catalog: every (id, version, sha256)."""
    return sorted((v.id, v.version, v.sha256) for v in catalog.all_versions())


def _engine_main(conn, rulesets_dir: str, expected: list) -> None:
    """The engine process: load the rulesets, check they are the parent's, answer requests."""
    from .engine import Engine
    from .rulesets import load_catalog

    try:
        catalog = load_catalog(rulesets_dir)
        if fingerprint(catalog) != expected:
            raise EngineUnavailableError("the ruleset folder changed since it was checked")
        engine = Engine()
        engine.prepare_all(catalog.all_versions())
    except DecisionError as exc:
        conn.send(("failed", exc.problem()))
        return
    conn.send(("ready", None))
    decider = InlineDecider(catalog, engine)
    while True:
        try:
            requests, reduce = conn.recv()
        except EOFError:
            return
        try:
            results = decider.decide_many(requests, reduce)
        except Exception as exc:  # a bug, not a crash: answer it, keep the process
            results = [EvaluationError(f"the decision failed: {exc}")] * len(requests)
        conn.send(results)


class ProcessDecider:
    """Decides in a supervised engine process; restarts it when it dies.

    One engine process per decider (per gunicorn worker). Requests from the worker's threads
    are serialised on the pipe: the engine never runs two decisions at once anyway (the C
    extension holds the GIL), and a batch travels in one round trip."""

    def __init__(self, catalog, rulesets_dir: str, start_timeout: float = 120.0):
        self.catalog = catalog
        self.rulesets_dir = str(rulesets_dir)
        self.expected = fingerprint(catalog)
        self.start_timeout = start_timeout
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process = None
        self._conn = None
        self.restarts = 0
        with self._lock:
            self._start()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_engine_main, name="decisions-engine",
                                        args=(child, self.rulesets_dir, self.expected),
                                        daemon=True)
        process.start()
        child.close()
        if not parent.poll(self.start_timeout):
            process.kill()
            raise EngineUnavailableError("the engine process did not start in time")
        try:
            status, detail = parent.recv()
        except EOFError:
            raise EngineUnavailableError(
                f"the engine process died while starting (exit code {process.exitcode})"
            ) from None
        if status != "ready":
            process.join(5)
            raise EngineUnavailableError(f"the engine process could not load the rulesets: "
                                         f"{detail.get('detail')}")
        self._process, self._conn = process, parent

    def decide(self, ruleset_id: str, facts: Any, as_of: dt.date | None = None,
               pinned: Mapping[str, str] | None = None) -> dict:
        result = self.decide_many([(ruleset_id, facts, as_of, pinned)])[0]
        if isinstance(result, DecisionError):
            raise result
        return result

    def decide_many(self, requests: Iterable[Request],
                    reduce: Reduce | None = None) -> list[Any | DecisionError]:
        requests = list(requests)
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            try:
                self._conn.send((requests, reduce))
                return self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                self._process.join(5)
                code = self._process.exitcode
                self._process = self._conn = None
                self.restarts += 1
                try:  # be ready for the next request; this one is lost, not logged
                    self._start()
                except EngineUnavailableError:
                    pass
                raise EngineUnavailableError(
                    f"the decision engine stopped while deciding (exit code {code}); it has "
                    "been restarted: send the request again") from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._process is not None:
                self._process.join(5)
                if self._process.is_alive():
                    self._process.kill()
            self._process = self._conn = None


# ---------------------------------------------------------------------------------------- trial
def _trial_main(conn, rulesets_dir: str) -> None:
    from .cases import case_files, format_report, run_cases
    from .engine import Engine
    from .rulesets import load_catalog

    try:
        catalog = load_catalog(rulesets_dir)
        engine = Engine()
        engine.prepare_all(catalog.all_versions())
    except DecisionError as exc:
        conn.send(("failed", exc))
        return
    report = run_cases(catalog, engine, case_files(catalog.root),
                       progress=lambda where, name: conn.send(("case", (where, name))))
    conn.send(("done", (report.passed, format_report(report), fingerprint(catalog))))


def trial(rulesets_dir: str, timeout: float = 600.0) -> tuple[bool, str, list]:
    """Load a ruleset folder and run all its cases in a child process, so that a ruleset that
    crashes the engine is found without taking this process down.

    Returns (passed, report text, fingerprint of what was tried). A crash or a hang is reported
    as a RulesetError naming the case that was running."""
    from .errors import RulesetError

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_trial_main, args=(child, str(rulesets_dir)),
                              name="decisions-trial", daemon=True)
    process.start()
    child.close()
    current = None
    deadline = timeout
    try:
        while True:
            if not parent.poll(deadline):
                process.kill()
                raise RulesetError([Problem(str(rulesets_dir), None, "", f"the engine hung for "
                                            f"{timeout:.0f} s while running case {current}")])
            try:
                kind, payload = parent.recv()
            except EOFError:
                process.join(5)
                where = f"case {current[0]} ({current[1]})" if current else "loading"
                raise RulesetError([Problem(current[0].rsplit(":", 1)[0] if current else
                                            str(rulesets_dir), None, "",
                                            f"the engine crashed (exit code {process.exitcode})"
                                            f" while running {where}")]) from None
            if kind == "case":
                current = payload
            elif kind == "failed":
                raise payload
            else:
                return payload
    finally:
        parent.close()
        process.join(5)


def check_rulesets(rulesets_dir: str, isolated: bool = True) -> None:
    """What a ruleset folder must pass before it serves: every file loads and compiles, and its
    own test cases all pass with every rule covered (as `decisions test` reports). With
    ``isolated`` the cases run in a child process, so a ruleset that crashes the engine is
    refused too. Raises RulesetError listing what is wrong; returns when all is well."""
    from .errors import RulesetError

    if isolated:
        passed, report, _tried = trial(rulesets_dir)
    else:
        from .cases import case_files, format_report, run_cases
        from .engine import Engine
        from .rulesets import load_catalog

        catalog = load_catalog(rulesets_dir)
        engine = Engine()
        engine.prepare_all(catalog.all_versions())
        result = run_cases(catalog, engine, case_files(catalog.root))
        passed, report = result.passed, format_report(result)
    if not passed:
        lines = [line for line in report.splitlines()
                 if line.startswith(("FAIL", "ERROR", "UNCOVERED", "    "))]
        raise RulesetError([Problem(str(rulesets_dir), None, "cases", "its test cases do not "
                                    "pass:\n" + "\n".join(lines[:200]))])
