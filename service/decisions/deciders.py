"""Deciders: where decisions are computed, in this process or in a supervised engine process.

durable-rules is C code that can crash the whole process on some rule shapes (a Python ``try``
cannot catch a segmentation fault). The web service therefore decides in a child process, the
*engine process*, that it supervises: if the engine process dies or hangs during a request, the
facts it was deciding get ``EngineUnavailableError`` (HTTP 503), nothing about them is logged,
a fresh engine process is started, the other items of a batch are decided, and every other
request goes on. The command line and the tests decide in process.

Both deciders have the same interface, so the web layer does not know which it has (and so
has the decider over a Dask cluster, ``service.distributed.DaskDecider``): ``decide``,
``decide_many``, ``retried_chunks`` (batches that had to run again elsewhere: always 0 on one
machine, where a crash is handled inside the batch), ``cancel`` (drop batches in flight
elsewhere: nothing to drop here) and ``close``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..child import Child, ChildStopped
from ..config import DEFAULT_ENGINE_TIMEOUT
from ..engine import load_compiled
from ..errors import DecisionError, EngineUnavailableError, EvaluationError, FactsError
from ..rulesets import check_depth
from .decide import decide

Request = tuple[str, Any, "dt.date | None", "Mapping[str, str] | None"]
# Applied to each decision where it is made, with the catalog it was decided with, so that a
# caller that needs only part of it (a draw) does not pay for carrying the whole explanation
# across the pipe, and can have what it keeps written in words there (decisions.why_nots).
# Must be picklable: a module-level function, or a functools.partial of one.
Reduce = Callable[[dict, Any], Any]


class InlineDecider:
    """Decides in this process (command line, tests, benchmarks)."""

    retried_chunks = 0

    def __init__(self, catalog, engine):
        self.catalog, self.engine = catalog, engine

    def decide(self, ruleset_id: str, facts: Any, as_of: dt.date | None = None,
               pinned: Mapping[str, str] | None = None) -> dict:
        return decide(self.catalog, self.engine, ruleset_id, facts, as_of, pinned)

    def decide_many(self, requests: Iterable[Request], reduce: Reduce | None = None,
                    starting: Callable[[int], None] | None = None) -> list[Any | DecisionError]:
        """Each request's decision (passed through ``reduce`` if given), or the error it alone
        raised. ``starting(i)`` is told before the i-th request is decided."""
        out: list[Any | DecisionError] = []
        with _collector_paused():
            for index, request in enumerate(requests):
                if starting is not None:
                    starting(index)
                try:
                    decision = self.decide(*request)
                    out.append(decision if reduce is None else reduce(decision, self.catalog))
                except DecisionError as exc:
                    out.append(exc)
        return out

    def cancel(self) -> None:
        pass

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


def _engine_setup(rulesets_dir: str, expected: list, deciding=None):
    """In the engine process: load and compile the rulesets (they must be the ones the parent
    checked), then answer each batch of requests, writing the index of each item as it starts
    into ``deciding`` (a shared integer) so that the parent knows which item was being decided
    if this process dies or hangs."""
    decider = InlineDecider(*load_compiled(rulesets_dir, expected))

    def starting(index: int) -> None:
        deciding.value = index

    def handle(request: tuple, _progress) -> list[Any | DecisionError]:
        requests, reduce = request
        if deciding is None:
            return decider.decide_many(requests, reduce)
        try:
            return decider.decide_many(requests, reduce, starting=starting)
        finally:
            deciding.value = -1  # every item done: a stop from here on is no item's doing

    return handle


class ProcessDecider:
    """Decides in a supervised engine process (``service.child``); replaces it when it dies or
    hangs.

    One engine process per decider (per gunicorn worker). Requests from the worker's threads
    are serialised on the pipe: the engine never runs two decisions at once anyway (the C
    extension holds the GIL), and a batch travels in one round trip.

    Each call has ``timeout`` seconds (Config.engine_timeout), below gunicorn's worker timeout:
    past it the engine process is killed, and what it had not decided gets a 503. The engine
    process says which item it is deciding as it starts it, so when it dies or hangs that item
    alone is blamed; the others, those it had decided too (their answers died with it), go to a
    fresh engine process, at most MAX_STOPS times per call and within the same deadline."""

    MAX_STOPS = 3
    retried_chunks = 0  # a crash is handled inside the batch (see decide_many)

    def __init__(self, catalog, rulesets_dir: str, start_timeout: float = 120.0,
                 timeout: float = DEFAULT_ENGINE_TIMEOUT):
        self.catalog = catalog
        self.rulesets_dir = str(rulesets_dir)
        self.expected = catalog.fingerprint()
        self.start_timeout = start_timeout
        self.timeout = timeout
        self._lock = threading.Lock()
        self._child: Child | None = None
        self.restarts = 0
        with self._lock:
            self._start()

    def _start(self) -> None:
        # Shared memory, not a message per item: the index costs the engine a store (a message
        # cost ~15 us of CPU an item, and woke this process for each).
        self._deciding = multiprocessing.get_context("spawn").RawValue("q", -1)
        try:
            self._child = Child(_engine_setup, (self.rulesets_dir, self.expected,
                                                self._deciding),
                                name="decisions-engine", start_timeout=self.start_timeout)
        except ChildStopped as exc:
            raise (EngineUnavailableError.said("the engine process did not start in time")
                   if exc.hung else EngineUnavailableError.said(
                       "the engine process died while starting (exit code {code})",
                       code=exc.exit_code)) from None
        except DecisionError as exc:
            raise EngineUnavailableError(f"the engine process could not load the rulesets: "
                                         f"{exc.detail}") from None

    @property
    def engine_pid(self) -> int | None:
        """The engine process's id (None while none runs)."""
        return self._child.process.pid if self._child is not None else None

    def decide(self, ruleset_id: str, facts: Any, as_of: dt.date | None = None,
               pinned: Mapping[str, str] | None = None) -> dict:
        result = self.decide_many([(ruleset_id, facts, as_of, pinned)])[0]
        if isinstance(result, DecisionError):
            raise result
        return result

    def decide_many(self, requests: Iterable[Request],
                    reduce: Reduce | None = None) -> list[Any | DecisionError]:
        """Each request's decision (passed through ``reduce``), or the error it alone caused.

        Raises EngineUnavailableError only when no engine process can be started."""
        requests = list(requests)
        results: list[Any | DecisionError] = [None] * len(requests)
        pending: list[int] = []
        for index, request in enumerate(requests):
            # Facts nested too deep for the contract are refused here, not in the engine
            # process: pickling them on the way there recurses (RecursionError about 500 levels
            # down), which failed the whole batch.
            try:
                check_depth(request[1])
            except FactsError as exc:
                results[index] = exc
            else:
                pending.append(index)
        stops = 0
        with self._lock:
            end = time.monotonic() + self.timeout
            while pending:
                if self._child is None or not self._child.alive:
                    # Starting an engine is not deciding: the start has its own bound
                    # (start_timeout), and counted against the deadline it left the first
                    # request after a stop too little time (the rulesets take seconds to compile
                    # on a loaded machine), so that request failed for another's hang.
                    starting = time.monotonic()
                    self._start()
                    end += time.monotonic() - starting
                self._deciding.value = -1
                try:
                    answers = self._child.ask(([requests[i] for i in pending], reduce),
                                              deadline=max(0.0, end - time.monotonic()))
                except EvaluationError as exc:  # a bug in the engine process, not a crash
                    answers = [exc] * len(pending)
                except ChildStopped as exc:
                    self._child.close()
                    self._child = None  # the next round, or the next call, starts a fresh one
                    self.restarts += 1
                    stops += 1
                    deciding = self._deciding.value
                    if 0 <= deciding < len(pending):  # that item did it; nothing is logged
                        culprit = pending.pop(deciding)
                        results[culprit] = EngineUnavailableError.said(
                            "the decision engine did not answer within {seconds} s while "
                            "deciding these facts; it was stopped and is replaced",
                            seconds=f"{self.timeout:g}") if exc.hung else \
                            EngineUnavailableError.said(
                                "the decision engine stopped (exit code {code}) while deciding "
                                "these facts; it is replaced", code=exc.exit_code)
                    if pending and (stops >= self.MAX_STOPS or time.monotonic() >= end):
                        for index in pending:
                            results[index] = EngineUnavailableError.said(
                                "not decided: the decision engine was stopped {stops} times "
                                "while deciding other facts of this batch; send these facts "
                                "again", stops=stops) if stops >= self.MAX_STOPS else \
                                EngineUnavailableError.said(
                                    "not decided: the decision engine was stopped and {seconds} "
                                    "s have passed while deciding other facts of this batch; "
                                    "send these facts again", seconds=f"{self.timeout:g}")
                        pending = []
                    continue
                for index, answer in zip(pending, answers, strict=True):
                    results[index] = answer
                pending = []
        return results

    def cancel(self) -> None:
        pass  # a batch in this engine process ends within the deadline anyway

    def close(self) -> None:
        with self._lock:
            if self._child is not None:
                self._child.close()
            self._child = None
