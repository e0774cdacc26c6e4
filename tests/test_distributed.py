"""Draws, impact and replay on a Dask cluster (issue 22) give what one machine gives.

The cluster tests start a real scheduler and two workers as separate processes on 127.0.0.1
(the ``dask`` command line, free ports, no nanny: killing a worker's process loses the worker),
and compare each run with the single-process path. They are marked slow: a cluster and its
workers' trial of the rulesets take 10 to 30 s to start on two shared cores."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from service.checks.impact import Case, Impact, compare
from service.decisions import InlineDecider
from service.draws import Pool, run_draw
from service.engine import CRASH_ENV

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
DRAW = "oinp.hcp.draw.tech-2019-07-12"
CRASH = "C-CRASH"


# ------------------------------------------------------------------------------ no cluster
def test_impact_joined_chunk_by_chunk_is_the_impact_of_one_run(catalog, engine):
    from .conftest import PROFILE

    cases = [Case({**PROFILE, "candidate_id": f"K{i}", "arranged_employment": offer,
                   "age": 20 + i % 15}, None, f"case {i}")
             for i, offer in enumerate(["none", "noc_00", "noc_0ab"] * 5)]
    decider = InlineDecider(catalog, engine)
    args = ("express-entry.crs", "2020-10-27", "2025-03-25")
    whole = compare(decider, catalog, *args, cases, includers=True)
    joined = Impact(*args)
    for start in range(0, len(cases), 4):
        joined.absorb(compare(decider, catalog, *args, cases[start:start + 4], includers=True))
    assert whole.examples and whole.includers  # something to join
    assert masked(joined.as_dict()) == masked(whole.as_dict())


def test_a_worker_whose_folder_differs_refuses_the_work(catalog, tmp_path, monkeypatch):
    from service.distributed.cluster import RulesetsOnWorker, folder_sha256

    changed = tmp_path / "rulesets"
    shutil.copytree(RULESETS, changed)
    path = changed / "oinp" / "draws" / "tech-2019-07-12.yaml"
    path.write_text(path.read_text().replace("invitations: 1623", "invitations: 1624"))
    monkeypatch.setenv("DECISIONS_RULESETS", str(changed))
    plugin = RulesetsOnWorker(str(RULESETS), folder_sha256(catalog), trial=False)
    plugin.setup(type("Worker", (), {"address": "tcp://10.0.0.9:4000"})())
    assert plugin.decider is None
    assert "tcp://10.0.0.9:4000 refuses the work" in plugin.refusal
    assert f"not {folder_sha256(catalog)[:16]}" in plugin.refusal


def test_a_scheduler_that_cannot_be_reached_is_said_so(catalog):
    from service.distributed import ClusterError, connect

    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {address}"):
        with connect(address, RULESETS, catalog, wait_timeout=2):
            pass


# ------------------------------------------------------------------------- a real cluster
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dask_process(*args: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    # The worktree's own code on the workers, whatever `pip install -e` points at; workers
    # start an engine process each, which a daemonic process may not.
    # Their engine processes crash for real on the candidate CRASH (service.engine.CRASH_ENV).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
           CRASH_ENV: CRASH, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_worker(address: str, name: str, logs: Path,
                 rulesets: Path | None = None) -> subprocess.Popen:
    """A worker; given ``rulesets``, it reads its own copy of the folder there, as a worker on
    another host does (DECISIONS_RULESETS), not the path the client names."""
    return dask_process("worker", address, "--no-nanny", "--nthreads", "1", "--host",
                        "127.0.0.1", "--no-dashboard", "--name", name,
                        log=logs / f"{name}.log",
                        env={"DECISIONS_RULESETS": str(rulesets)} if rulesets else None)


@contextlib.contextmanager
def cluster_of(workers: list[Path], logs: Path):
    """tcp://127.0.0.1:PORT of a scheduler whose workers each read their own folder."""
    address = f"tcp://127.0.0.1:{free_port()}"
    processes = [dask_process("scheduler", "--host", "127.0.0.1", "--port",
                              address.rsplit(":", 1)[1], "--no-dashboard",
                              log=logs / "scheduler.log")]
    try:
        processes += [start_worker(address, f"h{i}", logs, folder)
                      for i, folder in enumerate(workers)]
        yield address
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """tcp://127.0.0.1:PORT of a scheduler with two workers, all separate processes."""
    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    processes = [dask_process("scheduler", "--host", "127.0.0.1", "--port",
                              address.rsplit(":", 1)[1], "--no-dashboard",
                              log=logs / "scheduler.log")]
    try:
        processes += [start_worker(address, f"w{i}", logs) for i in range(2)]
        yield address
    finally:
        for process in reversed(processes):  # nothing to save: no clean shutdown needed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def pool_records():
    from service.draws.pool import generate

    profiles, _ = generate(600, 5, as_of=dt.date(2019, 7, 12))
    return list(profiles)


@pytest.fixture(scope="module")
def on_one_machine(catalog, engine, pool_records):
    """The draw as it is held today, in process: what every cluster run must give."""
    rows: list[dict] = []
    result = run_draw(catalog, [InlineDecider(catalog, engine)], DRAW,
                      Pool.from_records(pool_records), on_candidate=rows.append)
    return result, rows


def masked(value):
    """Decision ids are random (uuid4), so they differ between any two runs; the rest of a
    result must be the same, byte for byte."""
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()
                if k not in ("decision_id", "log_seq", "held_at", "decided_at")}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def same_draw(result: dict, rows: list[dict], reference: tuple[dict, list[dict]]) -> None:
    expected, expected_rows = reference
    assert orjson.dumps(masked(rows)) == orjson.dumps(masked(expected_rows))
    assert orjson.dumps(masked(result["invitations"])) == \
        orjson.dumps(masked(expected["invitations"]))
    for key in ("cutoff", "counts", "pool", "rulesets", "ruleset"):
        assert result[key] == expected[key], key


@pytest.mark.slow
def test_a_draw_on_the_cluster_is_the_draw_on_one_machine(scheduler, catalog, pool_records,
                                                          on_one_machine, tmp_path):
    from service.distributed import connect
    from service.distributed.cluster import LOW_LEVEL_LOG_LENGTH
    from service.store import Store
    from service.store import draws as draw_store

    store = Store(f"sqlite:///{tmp_path / 'log.db'}")
    store.upgrade()
    rows: list[dict] = []
    with connect(scheduler, RULESETS, catalog) as cluster:
        assert cluster.workers == 2
        # Small chunks, so that they finish out of order on two workers.
        result = run_draw(catalog, cluster.slots(), DRAW, Pool.from_records(pool_records),
                          batch_size=15, store=store, on_candidate=rows.append)
        # The client keeps only the last few messages it sent (each holds a chunk's facts):
        # Dask's default of 1,000 was what the coordinator grew by with the pool.
        kept = cluster.client.scheduler_comm.recent_message_log
        assert kept.maxlen == LOW_LEVEL_LOG_LENGTH and len(kept) <= LOW_LEVEL_LOG_LENGTH
    same_draw(result, rows, on_one_machine)
    assert result["retried_chunks"] == 0
    assert draw_store.load_draw(store, result["draw_id"])["retried_chunks"] == 0
    store.close()


@pytest.mark.slow
def test_an_engine_crash_on_a_worker_costs_a_retry_and_only_that_candidate(
        scheduler, catalog, pool_records, monkeypatch):
    from service.decisions import ProcessDecider
    from service.distributed import connect

    pool = [*pool_records[:150], {**pool_records[0], "candidate_id": CRASH}, *pool_records[150:300]]
    # The reference: this machine's engine process, crashing on the same candidate.
    monkeypatch.setenv(CRASH_ENV, CRASH)
    decider = ProcessDecider(catalog, str(RULESETS))
    expected_rows: list[dict] = []
    try:
        expected = run_draw(catalog, [decider], DRAW, Pool.from_records(pool), batch_size=20,
                            on_candidate=expected_rows.append)
    finally:
        decider.close()
    rows: list[dict] = []
    with connect(scheduler, RULESETS, catalog) as cluster:
        result = run_draw(catalog, cluster.slots(), DRAW, Pool.from_records(pool),
                          batch_size=20, on_candidate=rows.append)
    same_draw(result, rows, (expected, expected_rows))
    assert [r["status"] for r in rows if r["candidate_id"] == CRASH] == ["error"]
    assert result["counts"]["error"] == 1
    assert result["retried_chunks"] == 1  # the chunk that held it, decided again in part


@pytest.mark.slow
def test_a_cancelled_draw_drops_its_chunks_and_records_nothing(scheduler, catalog,
                                                               pool_records, tmp_path):
    from service.distributed import connect
    from service.store import Store
    from service.store import draws as draw_store

    store = Store(f"sqlite:///{tmp_path / 'log.db'}")
    store.upgrade()

    def interrupt(done: int) -> None:
        if done >= 60:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    with connect(scheduler, RULESETS, catalog) as cluster:
        with pytest.raises(KeyboardInterrupt):
            run_draw(catalog, cluster.slots(), DRAW, Pool.from_records(pool_records),
                     batch_size=20, store=store, draw_id="cancelled", progress=interrupt)
        deadline = time.monotonic() + 10
        while cluster.client.processing() and any(cluster.client.processing().values()) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(cluster.client.processing().values())  # nothing left running
    assert draw_store.load_draw(store, "cancelled") is None
    assert store.count() == 0  # no invited decision logged either
    store.close()


@pytest.mark.slow
def test_the_commands_give_the_same_results_on_the_cluster(scheduler, catalog, engine,
                                                           pool_records, tmp_path):
    """draw, diff and replay through `decisions`, with and without --scheduler."""
    from service.cli.main import main
    from service.decisions import decide
    from service.store import NewDecision, Store

    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in pool_records[:200]))
    outcomes = {}
    for where in ("here", "cluster"):
        outcomes[where] = tmp_path / f"{where}.jsonl"
        cluster = ["--scheduler", scheduler] if where == "cluster" else ["--workers", "0"]
        assert main(["draw", DRAW, "--pool", str(pool), "--no-record", "--quiet",
                     "--rulesets", str(RULESETS), "--outcomes", str(outcomes[where]),
                     "--batch-size", "30", *cluster]) == 0
    assert [masked(json.loads(line)) for line in outcomes["here"].read_text().splitlines()] == \
        [masked(json.loads(line)) for line in outcomes["cluster"].read_text().splitlines()]

    url = f"sqlite:///{tmp_path / 'log.db'}"
    store = Store(url)
    store.upgrade()
    day = dt.date(2025, 6, 1)
    store.append([NewDecision(decide(catalog, engine, "express-entry.crs", p, day), p)
                  for p in pool_records[:40]], [v.kept() for v in catalog.all_versions()])
    store.close()
    printed = {}
    for where in ("here", "cluster"):
        cluster = ["--scheduler", scheduler, "--chunk-size", "7"] if where == "cluster" else []
        out = tmp_path / f"diff-{where}.txt"
        with out.open("w") as fh, contextlib.redirect_stdout(fh):
            assert main(["diff", "express-entry.crs", "--from", "2020-10-27", "--to",
                         "2025-03-25", "--log", "--database-url", url, "--json",
                         "--rulesets", str(RULESETS), *cluster]) == 0
            assert main(["replay", "--database-url", url, "--json", "--rulesets",
                         str(RULESETS), *cluster]) == 0
        printed[where] = out.read_text()
    here, there = (printed[w].split("\n}\n", 1) for w in ("here", "cluster"))
    assert masked(json.loads(here[0] + "}")) == masked(json.loads(there[0] + "}"))
    assert here[1] == there[1]  # the replays, line by line, in log order
    assert here[1].count('"result":"identical"') == 40


@pytest.mark.slow
def test_a_worker_killed_mid_draw_costs_a_retry_not_a_candidate(scheduler, catalog,
                                                                pool_records, on_one_machine,
                                                                tmp_path):
    from service.distributed import connect
    from service.distributed.cluster import _worker_state
    from service.store import Store
    from service.store import draws as draw_store

    doomed = start_worker(scheduler, "doomed", tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'log.db'}")
    store.upgrade()
    rows: list[dict] = []
    killed: list[int] = []

    def kill_the_third_worker(done: int) -> None:
        # Once it has started a chunk: the scheduler knows which worker holds which chunk, and
        # the cluster which chunks have started (a chunk only waiting there is not retried).
        if done < 100 or killed:
            return
        held = cluster.client.processing().get(doomed_address) or ()
        if any(cluster.attempts().get(int(key.rsplit("-", 1)[1])) for key in held):
            os.kill(doomed.pid, signal.SIGKILL)  # its engine process dies with it
            killed.append(doomed.wait(10))

    try:
        with connect(scheduler, RULESETS, catalog) as cluster:
            cluster.client.wait_for_workers(3, timeout=120)
            deadline = time.monotonic() + 120  # the third worker loads and trials the folder
            while any(cluster.client.run(_worker_state, cluster.sha256).values()):
                assert time.monotonic() < deadline, "the third worker did not get the rulesets"
                time.sleep(0.5)
            doomed_address = next(address for address, info in cluster.client.scheduler_info(
                n_workers=-1)["workers"].items() if info["name"] == "doomed")
            result = run_draw(catalog, cluster.slots(), DRAW, Pool.from_records(pool_records),
                              batch_size=20, store=store, on_candidate=rows.append,
                              progress=kill_the_third_worker)
            assert cluster.workers == 2
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)
    assert killed == [-signal.SIGKILL]
    same_draw(result, rows, on_one_machine)
    assert result["retried_chunks"] >= 1
    recorded = draw_store.load_draw(store, result["draw_id"])
    assert recorded["retried_chunks"] == result["retried_chunks"]
    import sqlalchemy as sa

    from service.store.tables import draws
    with store.engine.connect() as conn:
        column = conn.execute(sa.select(draws.c.retried_chunks)).scalar_one()
    assert column == result["retried_chunks"]
    store.close()


@pytest.mark.slow
def test_workers_with_their_own_copies_of_the_folder_draw_as_one_machine(
        catalog, pool_records, on_one_machine, tmp_path):
    """As on several hosts without a shared disk: each worker reads its own copy of the folder
    at another path than the client's. Same content, same pin, same draw; a host whose copy
    differs by one number is named when the client connects, and nothing is decided."""
    from distributed import Client

    from service.distributed import ClusterError, connect

    copies = []
    for host in ("host-a", "host-b"):
        shutil.copytree(RULESETS, tmp_path / host / "rulesets")
        copies.append(tmp_path / host / "rulesets")
    with cluster_of(copies, tmp_path) as address:
        with Client(address, timeout=60) as client:  # both hosts in before the pin is sent
            client.wait_for_workers(2, timeout=120)
        rows: list[dict] = []
        # No trial of the cases on the workers: the other tests have it; here only the copies.
        with connect(address, RULESETS, catalog, trial=False) as cluster:
            assert cluster.workers == 2
            result = run_draw(catalog, cluster.slots(), DRAW, Pool.from_records(pool_records),
                              batch_size=25, on_candidate=rows.append)
        same_draw(result, rows, on_one_machine)

    stale = tmp_path / "host-c" / "rulesets"
    shutil.copytree(RULESETS, stale)
    path = stale / "oinp" / "draws" / "tech-2019-07-12.yaml"
    path.write_text(path.read_text().replace("invitations: 1623", "invitations: 1624"))
    with cluster_of([copies[0], stale], tmp_path) as address:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        with pytest.raises(ClusterError, match=f"its ruleset folder {stale} has sha256"):
            with connect(address, RULESETS, catalog, trial=False):
                pass
