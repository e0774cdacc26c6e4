"""A Dask cluster that decides: connect to one (or start one on this machine), load the rulesets
on every worker once, and send it work in chunks.

The pieces:

* ``RulesetsOnWorker``, a Dask WorkerPlugin: on each worker, when the worker joins, it loads the
  ruleset folder, compares its sha256 with the one the client pinned (``folder_sha256``: the
  sha256 of ``Catalog.fingerprint``, every id, version and content hash), runs the folder's own
  cases in a child process (the trial every reload goes through, so a folder that crashes the
  engine is refused there too) and starts one supervised engine process (``ProcessDecider``). A
  worker whose folder differs keeps a refusal instead, which every chunk sent to it raises.
* ``Cluster``: the client side. ``submit`` sends one chunk (a module-level function called on the
  worker with its decider and catalog) with ``retries``; ``map`` keeps a few chunks per worker in
  flight and yields the results in the order of the chunks, whatever order they finish in;
  ``retried_chunks`` counts the chunks that ran more than once (a lost worker, a task that
  raised); ``cancel`` drops every chunk in flight.
* ``DaskDecider``: the deciders' interface (``decide_many(requests, reduce)``) over a cluster,
  so a draw runs through ``run_draw`` exactly as on one machine: one chunk per batch, settled in
  pool order.

An engine crash on a worker is handled by the worker's engine process as on one machine (the
candidate that crashed it gets an error of its own, the rest of its chunk goes to a fresh engine
process); a worker that dies takes its chunks with it, and the scheduler gives them to another
worker. Either way the chunk counts as retried, and no candidate is lost or decided twice into
the result: a chunk's result is taken once, from the attempt that finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import itertools
import logging
import multiprocessing
import os
import pickle
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import dask
import orjson
from distributed import Client, Future, LocalCluster, WorkerPlugin, get_worker
from distributed.scheduler import KilledWorker
from distributed.utils import sync

from ..checks import check_rulesets
from ..config import DASK_SCHEDULER_ENV as SCHEDULER_ENV  # tcp://HOST:PORT, or "local"
from ..decisions import ProcessDecider
from ..errors import DecisionError
from ..rulesets import Catalog, load_catalog
from .work import decide_batch

RULESETS_ENV = "DECISIONS_RULESETS"  # on a worker: its own copy of the folder, if elsewhere
PLUGIN_NAME = "decisions-rulesets"
ATTEMPTS_TOPIC = "decisions-chunk-attempts"
RETRIES = 3  # a chunk that raised is run again this many times before the run fails
IN_FLIGHT_PER_WORKER = 2  # one running, one waiting on each worker: no worker idles between two
LOW_LEVEL_LOG_LENGTH = 20  # messages Dask keeps per stream for debugging (see connect)


class ClusterError(DecisionError):
    status = 503
    title = "Cluster unavailable"


def folder_sha256(catalog: Catalog) -> str:
    """The sha256 that pins a ruleset folder: of its fingerprint (every id, version and content
    sha256, sorted), so two folders with the same rulesets have the same pin wherever they
    are."""
    return hashlib.sha256(orjson.dumps(catalog.fingerprint())).hexdigest()


# -------------------------------------------------------------------------------- on a worker
# The rulesets this worker process holds, by pin: (catalog, engine process). Kept across plugin
# registrations (every client that connects registers the plugin again, which tears the old one
# down): a worker loads, trials and compiles a folder once, not once per draw. One pin at a time:
# a new pin closes the engine process of the old one.
_held: dict[str, tuple[Catalog, ProcessDecider]] = {}
_held_lock = threading.Lock()


class RulesetsOnWorker(WorkerPlugin):
    """Loads, checks and trials the ruleset folder once per worker, and keeps its engine
    process. Never raises in ``setup``: a refused worker keeps its reason, which every chunk
    sent to it raises and ``connect`` reports."""

    def __init__(self, rulesets_dir: str, sha256: str, trial: bool = True):
        self.rulesets_dir = rulesets_dir
        self.sha256 = sha256
        self.trial = trial

    def setup(self, worker) -> None:
        self.catalog: Catalog | None = None
        self.decider: ProcessDecider | None = None
        self.refusal: str | None = None
        with _held_lock:
            if self.sha256 in _held:
                self.catalog, self.decider = _held[self.sha256]
                return
            self.refusal = self._load(worker)
            if self.refusal is None:
                for _old_catalog, old_decider in _held.values():
                    old_decider.close()
                _held.clear()
                _held[self.sha256] = (self.catalog, self.decider)

    def _load(self, worker) -> str | None:
        directory = os.environ.get(RULESETS_ENV) or self.rulesets_dir
        where = f"worker {worker.address}"
        if multiprocessing.current_process().daemon:
            return (f"{where} runs as a daemonic process and cannot start its engine process: "
                    "start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False")
        try:
            catalog = load_catalog(directory)
            found = folder_sha256(catalog)
            if found != self.sha256:
                return (f"{where} refuses the work: its ruleset folder {directory} has sha256 "
                        f"{found[:16]}..., not {self.sha256[:16]}... as the client's; deploy "
                        "the same folder on every worker (docs/scaling.md)")
            if self.trial:
                check_rulesets(directory)  # its cases, in a child process
            self.decider = ProcessDecider(catalog, directory)
            self.catalog = catalog
        except DecisionError as exc:
            return f"{where} cannot load the rulesets from {directory}: {exc.detail}"
        return None


def _worker_state(sha256: str, dask_worker=None) -> str | None:
    """Run on every worker by ``connect``: None when ready for this pin, else why not."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    if plugin is None:
        return f"worker {dask_worker.address} has not loaded the rulesets"
    if plugin.refusal:
        return plugin.refusal
    if plugin.sha256 != sha256:
        return (f"worker {dask_worker.address} holds rulesets {plugin.sha256[:16]}..., not "
                f"{sha256[:16]}...")
    return None


def _run_chunk(sha256: str, run_id: str, index: int, work: Callable[..., Any],
               pickled_args: bytes) -> Any:
    """One chunk on a worker: say that it starts (``Cluster.retried_chunks`` counts these),
    then ``work(decider, catalog, *args)`` with the worker's rulesets."""
    args = pickle.loads(pickled_args)
    worker = get_worker()
    # A round trip to the scheduler before the work starts (about a millisecond): the batched
    # worker.log_event could die unsent with a worker killed just after starting the chunk,
    # and that attempt would not be counted.
    sync(worker.loop, worker.scheduler.log_event, topic=ATTEMPTS_TOPIC, msg=[run_id, index])
    problem = _worker_state(sha256, dask_worker=worker)
    if problem is not None:
        raise ClusterError(problem)
    plugin = worker.plugins[PLUGIN_NAME]
    return work(plugin.decider, plugin.catalog, *args)


# -------------------------------------------------------------------------------- the client
class Cluster:
    """A connected client whose workers hold the rulesets pinned by ``sha256``."""

    def __init__(self, client: Client, sha256: str, local: LocalCluster | None = None):
        self.client = client
        self.sha256 = sha256
        self.local = local
        self.run_id = uuid.uuid4().hex[:12]
        self._indexes = itertools.count()
        self._attempts: Counter = Counter()
        self._lock = threading.Lock()
        self._in_flight: set[Future] = set()
        client.subscribe_topic(ATTEMPTS_TOPIC, self._attempted)

    def _attempted(self, event: tuple) -> None:
        run_id, index = event[1]
        if run_id == self.run_id:
            with self._lock:
                self._attempts[index] += 1

    @property
    def workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    @property
    def dashboard_link(self) -> str | None:
        """The scheduler's dashboard, when it runs one (it needs bokeh)."""
        services = self.client.scheduler_info().get("services", {})
        return self.client.dashboard_link if "dashboard" in services else None

    def attempts(self) -> dict[int, int]:
        """How many times each chunk of this client's has started so far, by its index."""
        with self._lock:
            return dict(self._attempts)

    @property
    def retried_chunks(self) -> int:
        """Chunks of this client's work that started more than once."""
        with self._lock:
            return sum(1 for n in self._attempts.values() if n > 1)

    def submit(self, work: Callable[..., Any], *args: Any) -> Future:
        index = next(self._indexes)
        # The chunk's data travels as one bytes object: the scheduler unpickles every task it
        # is sent and kept some of each chunk's hundred profile dicts (the coordinator, which
        # hosts a local scheduler, grew about 2.7 KB per candidate: 242 MiB at 50,000); bytes
        # it passes on whole.
        pickled = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        future = self.client.submit(_run_chunk, self.sha256, self.run_id, index, work, pickled,
                                    key=f"decisions-{self.run_id}-{index}", retries=RETRIES,
                                    pure=False)
        with self._lock:
            self._in_flight.add(future)
        return future

    def result(self, future: Future) -> Any:
        """The chunk's result (its error raised), and the chunk let go on the cluster."""
        try:
            return future.result()
        except KilledWorker as exc:
            raise ClusterError(f"a chunk was lost with {RETRIES} workers in turn ({exc}); the "
                               "run is abandoned, nothing recorded") from None
        finally:
            with self._lock:
                self._in_flight.discard(future)
            future.release()

    def map(self, work: Callable[..., Any], chunks: Iterable[tuple],
            progress: Callable[[int], None] | None = None) -> Iterator[Any]:
        """``work(decider, catalog, *chunk)`` for every chunk on the workers, results in the
        order of the chunks; ``progress`` is told how many chunks are done. A few chunks per
        worker in flight bound what waits in memory; stopping the iteration cancels the
        rest."""
        window: deque[Future] = deque()
        done = 0
        in_flight = IN_FLIGHT_PER_WORKER * max(1, self.workers)
        try:
            for chunk in chunks:
                window.append(self.submit(work, *chunk))
                while len(window) > in_flight:
                    yield self.result(window.popleft())
                    done += 1
                    if progress:
                        progress(done)
            while window:
                yield self.result(window.popleft())
                done += 1
                if progress:
                    progress(done)
        finally:
            if window:
                self.client.cancel(list(window))

    def cancel(self) -> None:
        """Drop every chunk in flight (Ctrl-C): whoever waits on one gets CancelledError."""
        with self._lock:
            futures = list(self._in_flight)
        if futures:
            self.client.cancel(futures)

    def decider(self) -> DaskDecider:
        return DaskDecider(self)

    def slots(self) -> list[DaskDecider]:
        """One decider per worker for ``run_draw``, which runs a thread per decider and keeps
        two batches out per decider: one running and one waiting on each worker."""
        decider = self.decider()
        return [decider] * max(1, self.workers)

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()


class DaskDecider:
    """The deciders' interface over a cluster: each ``decide_many`` is one chunk on a worker,
    decided by that worker's engine process (``reduce`` applied there, as on one machine)."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self._lock = threading.Lock()
        self._engine_replaced = 0  # chunks during which a worker's engine process was replaced

    @property
    def retried_chunks(self) -> int:
        """Chunks run again on another worker, and chunks decided again in part by a fresh
        engine process after a crash."""
        with self._lock:
            return self.cluster.retried_chunks + self._engine_replaced

    def decide(self, ruleset_id: str, facts: Any, as_of=None, pinned=None) -> dict:
        result = self.decide_many([(ruleset_id, facts, as_of, pinned)])[0]
        if isinstance(result, DecisionError):
            raise result
        return result

    def decide_many(self, requests: Iterable[Any], reduce: Callable | None = None) -> list:
        results, engine_restarts = self.cluster.result(
            self.cluster.submit(decide_batch, list(requests), reduce))
        if engine_restarts:
            with self._lock:
                self._engine_replaced += 1
        return results

    def cancel(self) -> None:
        self.cluster.cancel()

    def close(self) -> None:
        pass  # the cluster is closed by whoever connected to it


@contextlib.contextmanager
def connect(address: str, rulesets_dir: str | Path, catalog: Catalog, *,
            workers: int | None = None, trial: bool = True,
            wait_timeout: float = 120.0) -> Iterator[Cluster]:
    """A cluster whose every worker holds ``catalog``'s rulesets: ``address`` is a scheduler
    (``tcp://HOST:PORT``) or ``local`` (a scheduler and ``workers`` worker processes on this
    machine, default one per CPU). Raises ClusterError when the scheduler cannot be reached, no
    worker joins in ``wait_timeout`` seconds, or a worker refuses the folder."""
    # Workers start an engine process each: a daemonic worker process may not have children.
    # Set for the whole process, so that a local worker restarted after a crash gets it too.
    # Dask keeps the last `low-level-log-length` messages of every batched stream for its
    # developers (default 1,000): the client's to the scheduler and, in a local scheduler, the
    # scheduler's to each worker, and each of those holds a chunk's facts. That was the memory
    # the coordinator grew by with the pool (about 0.7 KB a candidate, 27 MiB at 40,000, up to
    # some 30 MiB per stream); docs/scaling.md says how to set the same on a scheduler of its own.
    dask.config.set({"distributed.worker.daemon": False,
                     "distributed.admin.low-level-log-length": LOW_LEVEL_LOG_LENGTH})
    local = None
    try:
        if address == "local":
            local = LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                host="127.0.0.1", silence_logs=logging.ERROR,
                dashboard_address="127.0.0.1:0" if importlib.util.find_spec("bokeh") else None)
            client = Client(local)
        else:
            client = Client(address, timeout=wait_timeout)
    except OSError as exc:
        if local is not None:
            local.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    sha256 = folder_sha256(catalog)
    try:
        client.wait_for_workers(1, timeout=wait_timeout)
        # Registered again only when a worker lacks this pin: the scheduler keeps the plugin
        # and gives it to every worker that joins later.
        if any(client.run(_worker_state, sha256).values()):
            client.register_plugin(RulesetsOnWorker(str(Path(rulesets_dir).resolve()), sha256,
                                                    trial), name=PLUGIN_NAME)
        refusals = [why for why in client.run(_worker_state, sha256).values() if why]
        if refusals:
            raise ClusterError("; ".join(sorted(refusals)))
    except (OSError, TimeoutError) as exc:
        client.close()
        if local is not None:
            local.close()
        raise ClusterError(f"no worker of the Dask scheduler at {address} is ready: {exc}") \
            from None
    except BaseException:
        client.close()
        if local is not None:
            local.close()
        raise
    cluster = Cluster(client, sha256, local)
    try:
        yield cluster
    finally:
        cluster.cancel()
        cluster.close()


def chunked(items: Iterable[Any], size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = ["SCHEDULER_ENV", "Cluster", "ClusterError", "DaskDecider", "connect",
           "folder_sha256", "chunked"]
