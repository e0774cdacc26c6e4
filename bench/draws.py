"""Draw benchmark: time and peak memory of holding a draw over synthetic pools of 10,000, 50,000
and 250,000 candidates, and how they grow.

    .venv/bin/python -m bench.draws [--sizes 10000,50000,250000] [--workers 2] [--quick]

(also a section of `python -m bench`: ``run(quick)`` returns its Markdown). For each size, a pool
is generated (`service.pool`, seed 1, the 2019-04-12 distribution, as of 2019-07-12) and written
as JSON Lines; then the first tech draw (oinp.hcp.draw.tech-2019-07-12) is held over it in a
fresh child process, exactly as `decisions draw --pool FILE --workers N` holds it: the pool is
streamed, every candidate decided through N supervised engine processes, and the draw recorded in
a SQLite decision log. The child reports its wall time (deciding, then recording), its own peak
RSS (the coordinator) and the largest peak RSS of its engine processes, and the CPU time of all
of them while deciding and recording (less sensitive than wall time to a shared machine). The
smallest size is also held in process (no engine process) to show what the processes buy here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.memory import peak_mib

ROOT = Path(__file__).resolve().parent.parent
RULESET = "oinp.hcp.draw.tech-2019-07-12"
SIZES = (10_000, 50_000, 250_000)
QUICK_SIZES = (2_000, 10_000)


def make_pool(size: int, path: Path) -> dict:
    import orjson

    from service.draws.pool import generate

    started = time.perf_counter()
    profiles, report = generate(size, 1, dt.date(2019, 7, 12), "2019-04-12")
    with path.open("wb") as fh:
        for profile in profiles:
            fh.write(orjson.dumps(profile) + b"\n")
    return {"seconds": time.perf_counter() - started, "bytes": path.stat().st_size,
            "drawn_per_candidate": report.drawn / max(size, 1)}


def child(pool: str, database: str, workers: int) -> None:
    """Hold the draw in this process and print what it cost, as JSON."""
    from service.decisions import InlineDecider, ProcessDecider
    from service.draws import Pool, run_draw
    from service.engine import compiled
    from service.rulesets import load_catalog
    from service.store import Store
    from service.store import draws as draw_store

    started = time.perf_counter()
    catalog = load_catalog(ROOT / "rulesets")
    store = Store(database)
    store.upgrade()
    if workers:
        deciders = [ProcessDecider(catalog, str(ROOT / "rulesets")) for _ in range(workers)]
    else:
        deciders = [InlineDecider(catalog, compiled(catalog))]
    ready = time.perf_counter()
    pids = [d.engine_pid for d in deciders if getattr(d, "engine_pid", None) is not None]
    cpu_ready = _cpu(pids)
    phases: dict[str, float] = {}
    record = draw_store.record_draw

    def timed_record(*args, **kwargs):
        phases["decided"] = time.perf_counter()
        try:
            return record(*args, **kwargs)
        finally:
            phases["recorded"] = time.perf_counter()

    draw_store.record_draw = timed_record
    marks: list[tuple[int, float]] = []  # (candidates decided, seconds): the rate over the run
    result = run_draw(catalog, deciders, RULESET, Pool.from_file(pool), store=store,
                      progress=lambda n: marks.append((n, time.perf_counter())))
    done = time.perf_counter()
    cpu = _cpu(pids) - cpu_ready
    # Peaks read from each process itself (VmHWM): ru_maxrss would count the memory of the
    # process this one was started from (bench/memory.py).
    engines = max((peak_mib(pid) for pid in pids), default=float("nan"))
    for decider in deciders:
        decider.close()
    store.close()
    own = peak_mib()
    tenth = max(1, len(marks) // 10)
    first, last = marks[:tenth + 1], marks[-tenth - 1:]

    def rate(span: list[tuple[int, float]]) -> float:
        return (span[-1][0] - span[0][0]) / max(span[-1][1] - span[0][1], 1e-9)
    print(json.dumps({
        "start_seconds": ready - started, "decide_seconds": phases["decided"] - ready,
        "record_seconds": phases["recorded"] - phases["decided"], "total_seconds": done - ready,
        "cpu_seconds": cpu, "rate_first_tenth": rate(first) if len(first) > 1 else None,
        "rate_last_tenth": rate(last) if len(last) > 1 else None,
        "load_average": os.getloadavg()[0],
        "coordinator_peak_mib": own, "engine_process_peak_mib": engines,
        "database_bytes": Path(database.removeprefix("sqlite:///")).stat().st_size,
        "counts": {k: v for k, v in result["counts"].items() if isinstance(v, int)},
        "cutoff": result["cutoff"]}))


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of this process and of the engine processes ``pids``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def hold(pool: Path, workers: int, folder: Path) -> dict:
    database = f"sqlite:///{folder / f'draw-{pool.stem}-{workers}.db'}"
    out = subprocess.run([sys.executable, "-m", "bench.draws", "--child", str(pool), database,
                          str(workers)], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the draw over {pool.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(sizes: tuple[int, ...], workers: int, progress=print) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-draws-") as tmp:
        folder = Path(tmp)
        for i, size in enumerate(sizes):
            pool = folder / f"pool-{size}.jsonl"
            made = make_pool(size, pool)
            progress(f"pool of {size}: generated in {made['seconds']:.1f} s")
            runs = [(workers, hold(pool, workers, folder))]
            if i == 0 and workers:
                runs.append((0, hold(pool, 0, folder)))
            for used, result in runs:
                result.update(size=size, workers=used, pool=made)
                progress(f"pool of {size}, {used or 'no'} engine processes: "
                         f"{result['total_seconds']:.1f} s")
                rows.append(result)
            pool.unlink()
    return rows


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def markdown(rows: list[dict], workers: int) -> str:
    cpus = os.cpu_count()
    main = [r for r in rows if r["workers"] == workers]
    base = main[0]
    lines = [
        "Holding `oinp.hcp.draw.tech-2019-07-12` (1,623 invitations) over synthetic pools "
        f"(`decisions pool generate`, seed 1, 2019-04-12 distribution), {workers} engine "
        f"processes, SQLite log, {cpus} CPUs. Wall time from a loaded catalog; peak RSS of the "
        "coordinator (streams the pool, ranks, records) and of the largest engine process.",
        "",
        "| pool | generate s | decide s | record s | total s | us per candidate (wall) | "
        "CPU us per candidate | x time vs smallest | decided/s first 10% -> last 10% | "
        "load avg | coordinator peak MiB | engine peak MiB | database MiB | eligible | invited | "
        "cutoff |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- |",
    ]
    for r in main:
        per = 1e6 * r["total_seconds"] / r["size"]
        cutoff = r["cutoff"]
        lines.append(
            f"| {r['size']:,} | {r['pool']['seconds']:.1f} | {r['decide_seconds']:.1f} | "
            f"{r['record_seconds']:.1f} | {r['total_seconds']:.1f} | {per:,.0f} | "
            f"{1e6 * r['cpu_seconds'] / r['size']:,.0f} | "
            f"{r['total_seconds'] / base['total_seconds']:.1f} "
            f"(size x{r['size'] / base['size']:.0f}) | "
            f"{_rate(r['rate_first_tenth'])} -> {_rate(r['rate_last_tenth'])} | "
            f"{r['load_average']:.1f} | {r['coordinator_peak_mib']:.0f} | "
            f"{r['engine_process_peak_mib']:.0f} | {r['database_bytes'] / 2**20:.0f} | "
            f"{r['counts']['eligible']:,} | {r['counts']['invited']:,} | "
            f"{cutoff['score'] if cutoff else '-'}"
            f"{' (tie-break)' if cutoff and cutoff['tie_break_applied'] else ''} |")
    inline = [r for r in rows if r["workers"] == 0]
    if inline:
        r = inline[0]
        same = next(x for x in main if x["size"] == r["size"])
        lines += ["", f"In process (no engine process), {r['size']:,} candidates: "
                      f"{r['total_seconds']:.1f} s ({1e6 * r['total_seconds'] / r['size']:,.0f} "
                      f"us per candidate); {workers} engine processes are "
                      f"{r['total_seconds'] / same['total_seconds']:.2f}x as fast."]
    return "\n".join(lines)


def run(quick: bool = False, workers: int = 2) -> dict:
    sizes = QUICK_SIZES if quick else SIZES
    rows = measure(sizes, workers, progress=lambda text: print(text, file=sys.stderr))
    return {"markdown": markdown(rows, workers), "rows": rows}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else tuple(int(s) for s in args.sizes.split(","))
    rows = measure(sizes, args.workers, progress=lambda text: print(text, file=sys.stderr))
    print(markdown(rows, args.workers))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
