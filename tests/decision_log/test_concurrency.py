"""Many writers at once, in threads and in separate processes: every decision whose append
returned (was acknowledged) is in the log, numbered without gaps, and the chain holds."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from service.store import Store
from tests.databases import synthetic_entry

THREADS = 8
APPENDS_PER_THREAD = 25
PROCESSES = 4
THREADS_PER_PROCESS = 2
APPENDS_PER_PROCESS_THREAD = 20


def _write(store: Store, writer: int, count: int, start: threading.Barrier | None) -> list[str]:
    """Append ``count`` decisions one by one (some as pairs); the ids acknowledged."""
    if start is not None:
        start.wait()
    acknowledged = []
    n = 0
    while n < count:
        size = 2 if n % 5 == 4 and n + 1 < count else 1  # a few two-decision batches too
        entries = [synthetic_entry(writer * 10_000 + n + k) for k in range(size)]
        store.append(entries)
        acknowledged += [e.decision["decision_id"] for e in entries]
        n += size
    return acknowledged


def _assert_log_holds(store: Store, acknowledged: list[str]) -> None:
    records = list(store.scan())
    ids = [r.decision_id for r in records]
    assert len(ids) == len(set(ids)) == len(acknowledged)
    assert set(ids) == set(acknowledged)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    result = store.verify()
    assert result.intact, result.finding
    assert result.checked == len(acknowledged)


def test_many_threads_append_at_once(store):
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_write, store, t, APPENDS_PER_THREAD, start)
                   for t in range(THREADS)]
        acknowledged = [i for f in futures for i in f.result()]
    assert len(acknowledged) == THREADS * APPENDS_PER_THREAD
    _assert_log_holds(store, acknowledged)


def _process_writer(url: str, writer: int, start, results, key_file: str) -> None:
    # Its own engine and connections, as a gunicorn worker has, and the key they all share
    # (made by whichever process appends first).
    store = Store(url, key_file=key_file)
    start.wait()
    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        futures = [pool.submit(_write, store, writer * 10 + t, APPENDS_PER_PROCESS_THREAD, None)
                   for t in range(THREADS_PER_PROCESS)]
        results.put([i for f in futures for i in f.result()])
    store.close()


def test_several_processes_append_at_once(store, tmp_path):
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    key_file = str(tmp_path / "log-key")
    processes = [context.Process(target=_process_writer,
                                 args=(store.url, p, start, results, key_file))
                 for p in range(PROCESSES)]
    for process in processes:
        process.start()
    batches: list[list[str]] = []
    deadline = time.monotonic() + 120
    while len(batches) < PROCESSES:
        try:
            batches.append(results.get(timeout=0.5))
        except queue.Empty:
            crashed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            assert not crashed, f"a writer process failed (exit codes {crashed})"
            assert time.monotonic() < deadline, "the writers did not finish in time"
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    acknowledged = [i for batch in batches for i in batch]
    assert len(acknowledged) == PROCESSES * THREADS_PER_PROCESS * APPENDS_PER_PROCESS_THREAD
    signed = Store(store.url, key_file=key_file)
    try:
        _assert_log_holds(signed, acknowledged)  # every append signed, checkpoints tiling
        assert signed.verify().unchecked is None
    finally:
        signed.close()
