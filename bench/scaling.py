"""Scaling benchmark: the same draw on this machine's engine processes (the current path, the
baseline) and on a local Dask cluster with 1 and 2 workers, in the same run.

    .venv/bin/python -m bench.scaling [--sizes 10000,50000,250000] [--quick] [--json FILE]

(also the `scaling` section of `python -m bench`: ``run(quick)`` returns its Markdown). For each
size a pool is generated (seed 1, as bench/draws.py) and the first tech draw held over it, each
way in a fresh child process, recorded into its own SQLite log:

* ``current``: `decisions draw --workers 2` (two supervised engine processes, threads feeding
  them batches of 100);
* ``dask-1``, ``dask-2``: `decisions draw --scheduler local` with 1 or 2 workers (each holding
  the rulesets and one engine process), chunks of 100. The cluster's start (the workers load,
  trial and compile the folder) is timed apart: it is paid once per cluster, not per draw.
* ``dask-2-apart``: the same 2 workers, but the scheduler and the workers are processes of their
  own (`dask scheduler`, `dask worker`, as on a real cluster) and the draw connects to it with
  `--scheduler tcp://...`: the coordinator's CPU no longer includes the scheduler's, which shows
  how much of the coordinator's cost per candidate is the scheduler's.

Reported: wall time of deciding and recording, throughput, the ratio of each to the baseline,
scaling from 1 to 2 workers, the overhead per chunk (a chunk that decides nothing, sent one at a
time: the scheduler round trip), the coordinator's CPU per candidate (what bounds a draw however
many workers decide: it reads, settles, ranks and records every candidate, and hosts the local
scheduler) and each process's own peak memory (VmHWM). Every run must give
the same invitations, cutoff and counts, which the benchmark checks.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.draws import RULESET, make_pool
from bench.memory import peak_mib

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10_000, 50_000, 250_000)
QUICK_SIZES = (2_000,)
MODES = ("current", "dask-1", "dask-2", "dask-2-apart")
EMPTY_CHUNKS = 200


def nothing(_decider, _catalog) -> None:
    """A chunk that decides nothing: what is left is what a chunk costs on the cluster."""
    return None


def child(mode: str, pool: str, database: str) -> None:
    """Hold the draw one way, print what it cost as JSON."""
    from service.decisions import ProcessDecider
    from service.draws import Pool, run_draw
    from service.rulesets import load_catalog
    from service.store import Store

    rulesets = str(ROOT / "rulesets")
    catalog = load_catalog(rulesets)
    store = Store(database)
    store.upgrade()
    started = time.perf_counter()
    cluster_cm = None
    if mode == "current":
        deciders = [ProcessDecider(catalog, rulesets) for _ in range(2)]
        engine_pids = [d.engine_pid for d in deciders]
        worker_pids: list[int] = []
    else:
        from service.distributed import connect

        address = "local"
        if mode.endswith("-apart"):
            address, apart = _cluster_apart(int(mode.split("-")[1]))
        cluster_cm = connect(address, rulesets, catalog, workers=int(mode.split("-")[1]))
        cluster = cluster_cm.__enter__()
        deciders = cluster.slots()
        worker_pids = list(cluster.client.run(os.getpid).values())
        engine_pids = list(cluster.client.run(_engine_pid).values())
    ready = time.perf_counter()
    overhead = None
    if cluster_cm is not None:
        # Sequential empty chunks: the fixed cost of one chunk (submit, schedule, the attempt
        # notice, run, result back), which a chunk of real work pays once.
        times = []
        for _ in range(EMPTY_CHUNKS):
            begun = time.perf_counter()
            cluster.result(cluster.submit(nothing))
            times.append(time.perf_counter() - begun)
        overhead = {"median_ms": 1e3 * statistics.median(times),
                    "p90_ms": 1e3 * sorted(times)[int(0.9 * len(times))]}
    began, cpu_began = time.perf_counter(), time.process_time()
    result = run_draw(catalog, deciders, RULESET, Pool.from_file(pool), store=store)
    done, cpu = time.perf_counter(), time.process_time() - cpu_began
    peaks = {"coordinator": peak_mib(),
             "workers": [peak_mib(p) for p in worker_pids],
             "engines": [peak_mib(p) for p in engine_pids]}
    retried = result.get("retried_chunks", 0)
    if cluster_cm is not None:
        cluster_cm.__exit__(None, None, None)
        for process in reversed(apart if mode.endswith("-apart") else []):
            process.kill()
            process.wait(10)
    else:
        for decider in deciders:
            decider.close()
    store.close()
    print(json.dumps({
        "mode": mode, "start_seconds": ready - started, "seconds": done - began,
        "coordinator_cpu_seconds": cpu,
        "chunk_overhead": overhead, "peaks_mib": peaks, "retried_chunks": retried,
        "chunks": -(-result["counts"]["assessed"] // 100),
        "same": {"invitations": [(i["rank"], i["candidate_id"], i["score"])
                                 for i in result["invitations"]],
                 "cutoff": result["cutoff"], "counts": result["counts"]}}))


def _cluster_apart(workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` workers, each its own process (no nanny, one thread), and
    the scheduler's address once every worker has joined."""
    from distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    # Workers start an engine process each, which a daemonic process may not.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": ROOT}
    processes = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host",
                                   "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)]
    processes += [subprocess.Popen([sys.executable, "-m", "dask", "worker", address,
                                    "--no-nanny", "--nthreads", "1", "--host", "127.0.0.1",
                                    "--no-dashboard", "--name", f"w{i}"], **quiet)
                  for i in range(workers)]
    # Every worker joined before `connect` registers the rulesets: none starts late.
    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, processes


def _engine_pid(dask_worker=None) -> int | None:
    plugin = dask_worker.plugins.get("decisions-rulesets")
    return plugin.decider.engine_pid if plugin and plugin.decider else None


def hold(mode: str, pool: Path, folder: Path) -> dict:
    database = f"sqlite:///{folder / f'{pool.stem}-{mode}.db'}"
    out = subprocess.run([sys.executable, "-m", "bench.scaling", "--child", mode, str(pool),
                          database], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} over {pool.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(sizes: tuple[int, ...], progress=print, modes: tuple[str, ...] = MODES) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        folder = Path(tmp)
        for size in sizes:
            pool = folder / f"pool-{size}.jsonl"
            make_pool(size, pool)
            runs = {}
            for mode in modes:
                runs[mode] = hold(mode, pool, folder)
                progress(f"pool of {size}, {mode}: {runs[mode]['seconds']:.1f} s "
                         f"(start {runs[mode]['start_seconds']:.1f} s)")
            reference = runs["current"].pop("same")
            for mode in modes[1:]:
                if runs[mode].pop("same") != reference:
                    raise RuntimeError(f"{mode} over {size} candidates gave another draw")
            rows.append({"size": size, "load_average": os.getloadavg()[0], "runs": runs})
            pool.unlink()
    return rows


def _mib(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values) or "-"


def markdown(rows: list[dict]) -> str:
    lines = [
        f"Holding `{RULESET}` over synthetic pools (seed 1), each way in a fresh process "
        f"recording into SQLite, on {os.cpu_count()} CPUs shared with other work: the current "
        "path (2 engine processes fed by threads) is the baseline; a local Dask cluster "
        "(`--scheduler local`) with 1 and 2 workers, one engine process each, chunks of 100. "
        "Deciding and recording, from a ready cluster; starting it (scheduler, workers, each "
        "loading, trialling and compiling the folder) is apart. Every run gave the same "
        "invitations, cutoff and counts (checked).",
        "",
        "| pool | run | start s | draw s | candidates/s | time vs baseline | throughput vs "
        "baseline | chunk overhead ms (median, p90) | coordinator CPU us per candidate | "
        "coordinator peak MiB | worker peak MiB | engine peak MiB | retried chunks |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        base = next(iter(row["runs"].values()))  # the first way is the baseline
        for mode, r in row["runs"].items():
            over = r["chunk_overhead"]
            lines.append(
                f"| {row['size']:,} | {mode} | {r['start_seconds']:.1f} | {r['seconds']:.1f} | "
                f"{row['size'] / r['seconds']:,.0f} | {r['seconds'] / base['seconds']:.2f} | "
                f"{base['seconds'] / r['seconds']:.2f} | "
                + (f"{over['median_ms']:.1f}, {over['p90_ms']:.1f}" if over else "-")
                + f" | {1e6 * r['coordinator_cpu_seconds'] / row['size']:,.0f}"
                + f" | {r['peaks_mib']['coordinator']:.0f} | {_mib(r['peaks_mib']['workers'])} "
                  f"| {_mib(r['peaks_mib']['engines'])} | {r['retried_chunks']} |")
    if any({"current", "dask-1", "dask-2"} - set(row["runs"]) for row in rows):
        return "\n".join(lines + _scheduler_apart(rows))
    lines += ["", "| pool | scaling 1 -> 2 workers (time ratio) | Dask 2 workers vs baseline | "
                  "extra seconds per chunk on Dask 2 workers vs baseline | load avg |",
              "| --- | --- | --- | --- | --- |"]
    for row in rows:
        runs = row["runs"]
        extra = (runs["dask-2"]["seconds"] - runs["current"]["seconds"]) / \
            runs["dask-2"]["chunks"]
        one, two, base = (runs[m]["seconds"] for m in ("dask-1", "dask-2", "current"))
        lines.append(f"| {row['size']:,} | {one / two:.2f}x | {two / base:.2f} of its time | "
                     f"{1e3 * extra:+.1f} ms | {row['load_average']:.1f} |")
    return "\n".join(lines + _scheduler_apart(rows))


def _scheduler_apart(rows: list[dict]) -> list[str]:
    """How much of the coordinator's CPU per candidate is the local scheduler's: the same two
    workers with the scheduler in the coordinator (dask-2) and in a process of its own."""
    rows = [row for row in rows if {"dask-2", "dask-2-apart"} <= set(row["runs"])]
    if not rows:
        return []
    lines = ["", "| pool | coordinator CPU us per candidate, scheduler inside | scheduler apart "
                 "| share of the scheduler | draw time apart vs inside |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        inside, apart = row["runs"]["dask-2"], row["runs"]["dask-2-apart"]
        a, b = (1e6 * r["coordinator_cpu_seconds"] / row["size"] for r in (inside, apart))
        lines.append(f"| {row['size']:,} | {a:,.0f} | {b:,.0f} | {(a - b) / a:.0%} | "
                     f"{apart['seconds'] / inside['seconds']:.2f} |")
    return lines


def run(quick: bool = False) -> dict:
    rows = measure(QUICK_SIZES if quick else SIZES,
                   progress=lambda text: print(text, file=sys.stderr))
    return {"markdown": markdown(rows), "rows": rows}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="which ways to hold each draw; the first is the baseline")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else tuple(int(s) for s in args.sizes.split(","))
    modes = tuple(args.modes.split(","))
    unknown = set(modes) - set(MODES)
    if unknown or not modes:
        parser.error(f"--modes: some of {', '.join(MODES)}")
    rows = measure(sizes, progress=lambda text: print(text, file=sys.stderr), modes=modes)
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
