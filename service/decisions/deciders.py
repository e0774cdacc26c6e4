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
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..child import Child, ChildStopped
from ..config import DEFAULT_ENGINE_TIMEOUT
from ..engine import load_compiled
from ..errors import DecisionError, EngineUnavailableError, EvaluationError, FactsError
from ..rulesets import check_depth
from .decide import decide

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


def _engine_setup(rulesets_dir: str, expected: list):
    """In the engine process: load and compile the rulesets (they must be the ones the parent
    checked), then answer each batch of requests."""
    decider = InlineDecider(*load_compiled(rulesets_dir, expected))

    def handle(request: tuple, _progress) -> list[Any | DecisionError]:
        requests, reduce = request
        return decider.decide_many(requests, reduce)

    return handle


class ProcessDecider:
    """Decides in a supervised engine process (``service.child``); replaces it when it dies or
    hangs.

    One engine process per decider (per gunicorn worker). Requests from the worker's threads
    are serialised on the pipe: the engine never runs two decisions at once anyway (the C
    extension holds the GIL), and a batch travels in one round trip.

    Each call has ``timeout`` seconds (Config.engine_timeout), below gunicorn's worker timeout:
    past it the engine process is killed and the request gets a 503, instead of the worker being
    killed by gunicorn (an HTML 500) with the engine process left behind."""

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
        try:
            self._child = Child(_engine_setup, (self.rulesets_dir, self.expected),
                                name="decisions-engine", start_timeout=self.start_timeout)
        except ChildStopped as exc:
            raise EngineUnavailableError(
                "the engine process did not start in time" if exc.hung else
                f"the engine process died while starting (exit code {exc.exit_code})") from None
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
        requests = list(requests)
        results: list[Any | DecisionError] = [None] * len(requests)
        sent: list[int] = []
        for index, request in enumerate(requests):
            # Facts nested too deep for the contract are refused here, not in the engine
            # process: pickling them on the way there recurses (RecursionError about 500 levels
            # down), which failed the whole batch.
            try:
                check_depth(request[1])
            except FactsError as exc:
                results[index] = exc
            else:
                sent.append(index)
        if not sent:
            return results
        with self._lock:
            if self._child is None or not self._child.alive:
                self._start()
            try:
                answers = self._child.ask(([requests[i] for i in sent], reduce),
                                          deadline=self.timeout)
            except EvaluationError as exc:  # a bug in the engine process, not a crash
                answers = [exc] * len(sent)
            except ChildStopped as exc:
                self._child.close()
                self._child = None
                self.restarts += 1
                try:  # be ready for the next request; this one is lost, not logged
                    self._start()
                except EngineUnavailableError:
                    pass
                raise EngineUnavailableError(
                    f"the decision engine did not answer within {self.timeout:g} s; it was "
                    "stopped and has been restarted" if exc.hung else
                    f"the decision engine stopped while deciding (exit code {exc.exit_code}); "
                    "it has been restarted: send the request again") from None
        for index, answer in zip(sent, answers, strict=True):
            results[index] = answer
        return results

    def close(self) -> None:
        with self._lock:
            if self._child is not None:
                self._child.close()
            self._child = None
