"""API benchmark: `decisions serve` (gunicorn, 2 workers) on loopback, every decision logged to
SQLite and to PostgreSQL, loaded from separate client processes; and a profile of one request.

    .venv/bin/python -m bench.api [--quick] [--json FILE]

(also a section of `python -m bench`: ``run(quick)`` returns its Markdown and figures).

For each database a fresh log is made (a SQLite file in a temporary folder on the local disk, or
a new schema in the PostgreSQL database `test` on 127.0.0.1:5432, dropped afterwards; PostgreSQL
is skipped, with the reason, when it does not answer). `decisions serve --workers 2` is started
on a free 127.0.0.1 port with a temporary tokens file, then loaded by closed-loop client
processes (`python -m bench.api --client ...`, one fresh process each: the load generator shares
nothing with the server or with this process). Each client sends one request at a time on a new
connection (gunicorn's sync workers close each one) until its time or its request count runs
out, and reports every latency and its own CPU time. Every figure counts only decisions that were
answered 201 (or, for a batch, 200) and so logged and committed; the log's record count is
checked against them at the end.

The load generator runs on the same 2 cores as the server. To show it is not the bottleneck the
section gives its CPU time against the wall time, the whole machine's CPU use, and the same
generator against `GET /healthz` (no decision, no log).

The profile: the Flask test client in a child process, `POST /v1/decisions` under cProfile, with
the engine in process (isolate_engine false: the engine's work shows up in the profile) and as
served (the engine in its supervised process: the worker waits on a pipe).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from bench import print_section

ROOT = Path(__file__).resolve().parent.parent
REQUEST = json.loads((ROOT / "docs" / "examples" / "decision-request.json").read_text())
TOKEN = "bench-api-token-0123456789"
WORKERS = 2
BATCH = 100
MAX_REQUESTS_PER_CLIENT = 50_000  # every client loop is bounded in count as well as in time

# (name, kind, clients, seconds full, seconds quick); None: not run in quick mode
LEVELS = (
    ("healthz", "healthz", 4, 5, 2),
    ("single, 1 client", "single", 1, 10, None),
    ("single, 2 clients", "single", 2, 12, None),
    ("single, 4 clients", "single", 4, 12, 3),
    ("batch of 100, 2 clients", "batch", 2, 15, 3),
    ("batch of 100, 4 clients", "batch", 4, 15, None),
)


# ------------------------------------------------------------------------------ the databases
def postgres_base() -> tuple[str | None, str]:
    """(a PostgreSQL URL that answers, or None; why not): found as the test suite finds it."""
    try:
        from tests.databases import postgres_base_url
    except ImportError as exc:  # psycopg (or the test extras) missing
        return None, f"cannot look for PostgreSQL ({exc})"
    return postgres_base_url()


@contextlib.contextmanager
def postgres_schema(base: str, prefix: str):
    """A URL whose connections use a new, empty schema, dropped on the way out."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ---------------------------------------------------------------------------------- the server
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`decisions serve` in its own session (master, workers, engine processes)."""

    def __init__(self, database_url: str, folder: Path, workers: int = WORKERS):
        from service.auth import token_line

        tokens = folder / "tokens"
        tokens.write_text(token_line("bench", ["decide"], TOKEN) + "\n")
        self.port = _free_port()
        self.log = open(folder / "server.log", "w+b")  # noqa: SIM115 (closed in stop)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DECISIONS_")}
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", str(workers), "--rulesets", str(ROOT / "rulesets"),
             "--database-url", database_url, "--tokens-file", str(tokens)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            start_new_session=True)
        try:
            self._wait_ready(90)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output()[-3000:]}")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready in {timeout} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's process tree (master, workers, engine processes)."""
        return sum(_proc_cpu(pid) for pid in _descendants(self.process.pid))

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_cpu(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo and len(found) < 10_000:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) seconds of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # without guest time, already counted in user
    return (total - idle) / ticks, total / ticks


# ----------------------------------------------------------------------------- the load clients
def _bodies(kind: str, client: int) -> list[bytes]:
    if kind == "healthz":
        return [b""]
    if kind == "single":
        return [json.dumps({**REQUEST, "facts": {**REQUEST["facts"],
                                                 "candidate_id": f"L{client}-{n}"}}).encode()
                for n in range(200)]
    return [json.dumps({"items": [{**REQUEST, "facts": {**REQUEST["facts"],
                                                        "candidate_id": f"B{client}-{n}-{i}"}}
                                  for i in range(BATCH)]}).encode() for n in range(10)]


def client(port: int, kind: str, index: int, start_at: float, seconds: float,
           max_requests: int) -> dict:
    """One closed-loop client: a request at a time until ``seconds`` or ``max_requests``."""
    path = {"healthz": "/healthz", "single": "/v1/decisions",
            "batch": "/v1/decisions/batch"}[kind]
    method = "GET" if kind == "healthz" else "POST"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if method == "POST":
        headers["Content-Type"] = "application/json"
    bodies = _bodies(kind, index)
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu0, start = time.process_time(), time.monotonic()
    deadline = start + seconds
    latencies: list[float] = []
    statuses: Counter = Counter()
    n = 0
    while n < max_requests and time.monotonic() < deadline:
        body = bodies[n % len(bodies)]
        n += 1
        began = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            status = str(response.status)
        except OSError as exc:
            status = type(exc).__name__
        elapsed = time.perf_counter() - began
        statuses[status] += 1
        if status in ("200", "201"):
            latencies.append(elapsed)
    return {"client": index, "start": start, "end": time.monotonic(),
            "cpu_seconds": time.process_time() - cpu0, "statuses": dict(statuses),
            "latencies": latencies}


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def load(server: Server, kind: str, clients: int, seconds: float) -> dict:
    """Run ``clients`` client processes for ``seconds``; aggregate what they report."""
    start_at = time.monotonic() + 2.0  # time for every client process to start
    procs = [subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--client", str(server.port), kind, str(i),
         repr(start_at), str(seconds), str(MAX_REQUESTS_PER_CLIENT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT) for i in range(clients)]
    time.sleep(max(0.0, start_at - time.monotonic()))
    machine0, server0 = _machine_cpu(), server.cpu_seconds()
    outs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=seconds + 180)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a load client failed:\n{err.decode()[-3000:]}")
        outs.append(json.loads(out))
    machine1, server1 = _machine_cpu(), server.cpu_seconds()
    wall = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    latencies = sorted(t for o in outs for t in o["latencies"])
    statuses: Counter = Counter()
    for o in outs:
        statuses.update(o["statuses"])
    ok = len(latencies)
    items = BATCH if kind == "batch" else (1 if kind == "single" else 0)
    gen_cpu = sum(o["cpu_seconds"] for o in outs)
    late = max(o["start"] for o in outs) - start_at
    return {
        "kind": kind, "clients": clients, "seconds": wall, "requests": sum(statuses.values()),
        "ok": ok, "failed": {k: v for k, v in statuses.items() if k not in ("200", "201")},
        "decisions": ok * items, "requests_per_s": ok / wall,
        "decisions_per_s": ok * items / wall,
        "p50_ms": 1000 * _percentile(latencies, 0.50),
        "p90_ms": 1000 * _percentile(latencies, 0.90),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "max_ms": 1000 * latencies[-1] if latencies else float("nan"),
        "mean_ms": 1000 * statistics.fmean(latencies) if latencies else float("nan"),
        "generator_cpu_s": gen_cpu, "generator_cores": gen_cpu / wall,
        "generator_cpu_us_per_request": 1e6 * gen_cpu / max(1, sum(statuses.values())),
        "server_cores": (server1 - server0) / wall,
        "machine_busy": (machine1[0] - machine0[0]) / max(1e-9, machine1[1] - machine0[1]),
        "clients_started_late_s": max(0.0, late),
        "load_average": os.getloadavg()[0],
    }


def bench_database(label: str, url: str, quick: bool, progress) -> dict:
    from service.store import Store

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        server = Server(url, Path(tmp))
        progress(f"api/{label}: server ready in {server.start_seconds:.1f} s on port "
                 f"{server.port}")
        try:
            warm = load(server, "single", 4, 1.5)  # every worker and engine process warmed
            rows = []
            for name, kind, clients, full, short in LEVELS:
                seconds = short if quick else full
                if seconds is None:
                    continue
                row = load(server, kind, clients, seconds)
                row["name"] = name
                rows.append(row)
                progress(f"api/{label}: {name}: {row['decisions_per_s']:,.0f} decisions/s, "
                         f"{row['requests_per_s']:,.0f} requests/s, p50 {row['p50_ms']:.1f} ms,"
                         f" p99 {row['p99_ms']:.1f} ms")
        finally:
            server.stop()
        store = Store(url)
        try:
            logged = store.count()
        finally:
            store.close()
    expected = warm["decisions"] + sum(r["decisions"] for r in rows)
    return {"database": label, "server_start_s": server.start_seconds, "rows": rows,
            "logged_records": logged, "answered_decisions": expected}


# ------------------------------------------------------------------------------- the profile
WATCHED = {  # cProfile key suffix: what it stands for
    "service/web/views.py:create_decision": "the whole view (after Flask routing and the guard)",
    "service/web/plumbing.py:validated": "request body: parse and validate (marshmallow)",
    "service/web/plumbing.py:_authorize": "bearer token check",
    "service/decision_service.py:decide": "decide and log (DecisionService.decide)",
    "service/decisions/deciders.py:decide_many":
        "deciding (the decider, engine in or out of process)",
    "service/store/log.py:append": "writing the log record, committed",
    "service/store/log.py:_row": "  of which serialising the record (canonical JSON)",
    "service/store/log.py:record_hash": "  of which hashing it",
    "service/decisions.py:localized": "localizing the decision for the answer",
    "service/web/plumbing.py:respond": "writing the answer (orjson)",
}


def profile_child(isolate: bool, requests: int, folder: str) -> dict:
    """In this (child) process: the app on a fresh SQLite log, POST /v1/decisions ``requests``
    times unprofiled then under cProfile."""
    import cProfile
    import pstats

    from service import create_app
    from service.auth import token_line
    from service.config import Config

    tokens = Path(folder) / "tokens"
    tokens.write_text(token_line("bench", ["decide"], TOKEN) + "\n")
    app = create_app(Config(rulesets_dir=str(ROOT / "rulesets"), tokens_file=str(tokens),
                            database_url=f"sqlite:///{folder}/decisions.db",
                            isolate_engine=isolate))
    client_ = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bodies = _bodies("single", 0)

    def post(n: int) -> None:
        response = client_.post("/v1/decisions", data=bodies[n % len(bodies)], headers=headers,
                                content_type="application/json")
        assert response.status_code == 201, response.get_data(as_text=True)[:500]

    for n in range(30):
        post(n)
    timings = []
    for n in range(requests):
        began = time.perf_counter()
        post(n)
        timings.append(time.perf_counter() - began)
    timings.sort()
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for n in range(requests):
        post(n)
    profiler.disable()
    profiled = time.perf_counter() - began
    stats = pstats.Stats(profiler)
    entries = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        short = file.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        entries.append({"function": f"{short}:{line}({func})" if line else func,
                        "key": f"{short}:{func}", "calls": calls,
                        "tottime_us": 1e6 * tottime / requests,
                        "cumtime_us": 1e6 * cumtime / requests})
    total_us = 1e6 * profiled / requests
    watched = {}
    for suffix in WATCHED:
        found = [e for e in entries if e["key"].endswith(suffix)]
        if found:
            best = max(found, key=lambda e: e["cumtime_us"])
            watched[suffix] = {"cumtime_us": best["cumtime_us"],
                               "calls": best["calls"] / requests}
    by_tot = sorted(entries, key=lambda e: -e["tottime_us"])[:20]
    by_cum = sorted(entries, key=lambda e: -e["cumtime_us"])[:25]
    for e in by_tot + by_cum:
        e["share"] = e["tottime_us"] / total_us
    service = app.extensions["decisions"]
    service.rules.decider.close()
    service.store.close()
    return {"isolate_engine": isolate, "requests": requests,
            "median_ms": 1000 * statistics.median(timings),
            "p99_ms": 1000 * _percentile(timings, 0.99),
            "profiled_us_per_request": total_us, "watched": watched,
            "by_tottime": by_tot, "by_cumtime": by_cum}


def profile(isolate: bool, requests: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-api-profile-") as tmp:
        out = subprocess.run(
            [sys.executable, "-m", "bench.api", "--profile-child", "1" if isolate else "0",
             str(requests), tmp], cwd=ROOT, capture_output=True, timeout=600, check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("DECISIONS_")})
    if out.returncode != 0:
        raise RuntimeError(f"the profile failed:\n{out.stderr.decode()[-3000:]}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- rendering
def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _best(result: dict, kind: str) -> dict | None:
    rows = [r for r in result["rows"] if r["kind"] == kind]
    return max(rows, key=lambda r: r["decisions_per_s"]) if rows else None


def markdown(results: dict) -> str:
    cpus = os.cpu_count()
    out = [f"`decisions serve --workers {WORKERS}` (gunicorn sync workers, each deciding in "
           f"its own supervised engine process) on a free 127.0.0.1 port, {cpus} CPUs shared "
           "with the load generator. The request is `docs/examples/decision-request.json` "
           "(`oinp.hcp.tech-draw`, a complete explained decision logged per decision), each "
           "with its own candidate id; a batch holds 100 of them. Closed-loop "
           "client processes (`python -m bench.api --client`), one request at a time each on a "
           "new connection. Every decision counted was answered 201 (batch: 200, every item "
           "201), so written and committed to the log before its answer.", ""]
    if results.get("postgres_skipped"):
        out += [f"**PostgreSQL not measured**: {results['postgres_skipped']}.", ""]
    summary = []
    for db in results["databases"]:
        single, batch = _best(db, "single"), _best(db, "batch")
        if single:
            summary.append([f"{db['database']}: single calls", f"{single['name']}",
                            f"{single['decisions_per_s']:,.0f}", f"{single['p50_ms']:.1f}",
                            f"{single['p99_ms']:.1f}",
                            "yes" if single["decisions_per_s"] >= 1000 else "no",
                            "yes" if single["p99_ms"] <= 20 else "no"])
        within = [r for r in db["rows"] if r["kind"] == "single" and r["p99_ms"] <= 20]
        if single and within and max(within, key=lambda r: r["decisions_per_s"]) is not single:
            r = max(within, key=lambda r: r["decisions_per_s"])
            summary.append([f"{db['database']}: single calls, most with p99 <= 20 ms",
                            r["name"], f"{r['decisions_per_s']:,.0f}", f"{r['p50_ms']:.1f}",
                            f"{r['p99_ms']:.1f}",
                            "yes" if r["decisions_per_s"] >= 1000 else "no", "yes"])
        if batch:
            summary.append([f"{db['database']}: batches of {BATCH}", f"{batch['name']}",
                            f"{batch['decisions_per_s']:,.0f}",
                            f"{batch['p50_ms']:.0f} per batch", f"{batch['p99_ms']:.0f} per batch",
                            "yes" if batch["decisions_per_s"] >= 1000 else "no", "-"])
    out += ["### Against the targets (issue 12)", "",
            "At least 1,000 logged decisions per second; single calls with p99 at most 20 ms. "
            "Best level of each kind:", "",
            _table(["log, call", "level", "logged decisions/s", "p50 ms", "p99 ms",
                    ">= 1,000/s", "p99 <= 20 ms"], summary), ""]
    for db in results["databases"]:
        rows = []
        for r in db["rows"]:
            failed = ", ".join(f"{k}: {v}" for k, v in r["failed"].items()) or "0"
            rows.append([r["name"], f"{r['seconds']:.1f}", f"{r['ok']:,}", failed,
                         f"{r['requests_per_s']:,.0f}",
                         f"{r['decisions_per_s']:,.0f}" if r["kind"] != "healthz" else "-",
                         f"{r['p50_ms']:.1f}", f"{r['p90_ms']:.1f}", f"{r['p99_ms']:.1f}",
                         f"{r['max_ms']:.0f}", f"{r['server_cores']:.2f}",
                         f"{1000 * r['server_cores'] / max(r['requests_per_s'], 1e-9):.2f}",
                         f"{1000 * r['server_cores'] / r['decisions_per_s']:.2f}"
                         if r["decisions_per_s"] else "-",
                         f"{r['generator_cores']:.2f}", f"{r['generator_cpu_us_per_request']:,.0f}",
                         f"{_rest(r):.2f}", f"{r['machine_busy']:.0%}",
                         f"{r['load_average']:.1f}"])
        check = ("matches" if db["logged_records"] == db["answered_decisions"] else
                 "**does not match**")
        out += [f"### {db['database']}", "",
                f"Server start (ruleset snapshot checked, migrations, gunicorn, workers ready): "
                f"{db['server_start_s']:.1f} s. Records in the log afterwards: "
                f"{db['logged_records']:,}; decisions answered (warm-up included): "
                f"{db['answered_decisions']:,}: {check}.", "",
                _table(["load", "s", "answered", "failed", "requests/s", "logged decisions/s",
                        "p50 ms", "p90 ms", "p99 ms", "max ms", "server CPU (cores)",
                        "server CPU ms per request", "server CPU ms per decision",
                        "generator CPU (cores)", "generator CPU us per request",
                        "rest of the machine (cores)", "machine CPU busy", "load avg"], rows),
                ""]
    out += _generator_note(results)
    out += _profile_markdown(results["profile"])
    out += _reading(results)
    return "\n".join(out)


def _generator_note(results: dict) -> list[str]:
    lines = ["### Is the load generator the bottleneck?", ""]
    for db in results["databases"]:
        health = next((r for r in db["rows"] if r["kind"] == "healthz"), None)
        single = _best(db, "single")
        if not (health and single):
            continue
        lines.append(
            f"- **{db['database']}**: the same generator drives `GET /healthz` (the same "
            f"gunicorn workers and Flask; no token, no decision, no log) at "
            f"{health['requests_per_s']:,.0f} requests/s, "
            f"{health['requests_per_s'] / max(single['requests_per_s'], 1e-9):.1f}x the "
            f"{single['requests_per_s']:,.0f} decision requests/s of its best single level. "
            f"There it spent {single['generator_cores']:.2f} cores of CPU against "
            f"{single['server_cores']:.2f} for the server's processes "
            f"({single['generator_cpu_us_per_request']:,.0f} us of generator CPU per request); "
            f"the machine was {single['machine_busy']:.0%} busy, the rest ({_rest(single):.2f} "
            "cores) being the database and other users of this shared machine.")
    lines += ["", "So the generator can ask for much more than the server gives, and it takes a "
              "small share of the CPU: the figures are the server's, on a machine whose 2 "
              "cores the generator, the server and the database share (a separate load "
              "machine would give the server somewhat more).", ""]
    return lines


def _profile_markdown(profiles: dict) -> list[str]:
    lines = ["### Where a request's time goes (cProfile)", "",
             "`POST /v1/decisions` through Flask's test client in a child process (SQLite log, "
             "no network, no gunicorn). Unprofiled time per request, then the cumulative time "
             "of the main stages under cProfile (which inflates Python calls against C calls), "
             "per request:", ""]
    modes = [("engine in process", profiles["inline"]), ("as served: engine process",
                                                         profiles["isolated"])]
    rows = [["median ms per request (unprofiled)"] + [f"{p['median_ms']:.2f}" for _, p in modes],
            ["p99 ms per request (unprofiled)"] + [f"{p['p99_ms']:.2f}" for _, p in modes],
            ["us per request under cProfile"]
            + [f"{p['profiled_us_per_request']:,.0f}" for _, p in modes]]
    for suffix, what in WATCHED.items():
        cells = []
        for _, p in modes:
            w = p["watched"].get(suffix)
            share = w["cumtime_us"] / p["profiled_us_per_request"] if w else 0
            cells.append(f"{w['cumtime_us']:,.0f} ({share:.0%})" if w else "-")
        rows.append([f"`{suffix.split(':')[-1]}`: {what.strip()}"] + cells)
    lines += [_table(["", *[m for m, _ in modes]], rows), ""]
    p = profiles["inline"]
    lines += [f"Engine in process, top entries by own time ({p['requests']:,} requests):", "",
              _table(["function", "calls per request", "own us", "cumulative us", "own share"],
                     [[f"`{e['function']}`", f"{e['calls'] / p['requests']:,.1f}",
                       f"{e['tottime_us']:,.1f}", f"{e['cumtime_us']:,.1f}",
                       f"{e['share']:.1%}"] for e in p["by_tottime"][:15]]), "",
              "<details><summary>By cumulative time, and the as-served profile</summary>", "",
              _table(["function (engine in process)", "calls per request", "cumulative us",
                      "own us"],
                     [[f"`{e['function']}`", f"{e['calls'] / p['requests']:,.1f}",
                       f"{e['cumtime_us']:,.1f}", f"{e['tottime_us']:,.1f}"]
                      for e in p["by_cumtime"][:25]]), ""]
    q = profiles["isolated"]
    lines += [_table(["function (as served), by own time", "calls per request", "own us",
                      "cumulative us", "own share"],
                     [[f"`{e['function']}`", f"{e['calls'] / q['requests']:,.1f}",
                       f"{e['tottime_us']:,.1f}", f"{e['cumtime_us']:,.1f}",
                       f"{e['share']:.1%}"] for e in q["by_tottime"][:15]]), "",
              "</details>", ""]
    return lines


def _rest(r: dict) -> float:
    """Cores used by everything but the server and the generator (the database, other users)."""
    return max(0.0, r["machine_busy"] * (os.cpu_count() or 1) - r["server_cores"]
               - r["generator_cores"])


def _reading(results: dict) -> list[str]:
    """What the figures say, with this run's numbers, and what to change in service/."""
    lines = ["### Reading", ""]
    cpus = os.cpu_count() or 1
    for db in results["databases"]:
        parts = []
        for kind, label in (("single", "single calls"), ("batch", f"batches of {BATCH}")):
            r = _best(db, kind)
            if r:
                ms = 1000 * r["server_cores"] / r["decisions_per_s"]
                parts.append(f"{label} {ms:.1f} ms (at most {1000 * cpus / ms:,.0f}/s on "
                             f"{cpus} cores given wholly to the server; the machine was "
                             f"{r['machine_busy']:.0%} busy at that level)")
        if parts:
            lines.append(f"- **{db['database']}: server CPU per logged decision** (master, "
                         f"workers and engine processes; the database server not counted): "
                         + "; ".join(parts) + ". The 1,000/s target needs at most "
                         f"{cpus:.0f} ms of CPU per logged decision on these {cpus} cores, "
                         "all of them, before the database and the load generator take theirs.")
    for db in results["databases"]:
        singles = {r["clients"]: r for r in db["rows"] if r["kind"] == "single"}
        if 2 in singles and 4 in singles:
            two, four = singles[2], singles[4]
            gain = four["decisions_per_s"] / two["decisions_per_s"] - 1
            lines.append(
                f"- **{db['database']}: two sync workers, two or four clients**: "
                f"{two['decisions_per_s']:,.0f}/s with 2 clients, "
                f"{four['decisions_per_s']:,.0f}/s with 4 ({gain:+.0%}), while the median "
                f"latency goes from {two['p50_ms']:.1f} to {four['p50_ms']:.1f} ms: the extra "
                "requests mostly queue for a worker. "
                + (f"The machine was {four['machine_busy']:.0%} busy then (load average "
                   f"{four['load_average']:.1f}; the rest of the machine took "
                   f"{_rest(four):.2f} cores): CPU-bound in this run."
                   if four["machine_busy"] >= 0.9 else
                   f"Yet the machine was only {four['machine_busy']:.0%} busy: each worker "
                   "also waits, on its engine process (a pipe round trip) and on the log's "
                   "commit, and the other worker cannot use that time. A third worker might "
                   "use it (more memory, one more engine process): to measure, as the issue "
                   "fixes 2."))
    p = results["profile"]["inline"]
    w, total = p["watched"], p["profiled_us_per_request"]

    def share(key: str) -> str:
        entry = w.get(key)
        return f"{entry['cumtime_us'] / total:.0%}" if entry else "?"

    commit = next((e for e in p["by_tottime"] if "commit" in e["function"]), None)
    lines.append(
        f"- **What dominates a request now** (cProfile, engine in process, "
        f"{p['median_ms']:.1f} ms unprofiled): deciding "
        f"({share('service/decisions/deciders.py:decide_many')}), writing the log record "
        f"({share('service/store/log.py:append')}"
        + (f", of which the commit, an fsync, {commit['tottime_us'] / total:.0%}"
           if commit else "")
        + f"), reading and validating the body ("
        f"{share('service/web/plumbing.py:validated')}), localizing "
        f"the decision ({share('service/decisions.py:localized')}), writing the answer "
        f"({share('service/web/plumbing.py:respond')}). As served, the engine runs in its own "
        f"process: {results['profile']['isolated']['median_ms']:.1f} ms per request against "
        f"{p['median_ms']:.1f} ms in process.")
    lines.append(
        "- **Changed after the first profile** (see Before and after at the top): the answer "
        "was dumped through `DecisionSchema` field by field (31% of a request) and localized by "
        "walking the whole bilingual tree (11%); it is now written with orjson as built "
        "(a test holds every answer to the documented schemas) and localized only where texts "
        "are (`decisions.localized`).")
    lines.append(
        "- **What is left:** single calls pay per request what a batch pays once (Flask, the "
        "token, the pipe round trip to the engine process, a commit with its fsync), so the "
        "1,000/s target is in reach only by batches; for single calls it would take group "
        "commit of concurrent requests (one writer) and a decision cheaper to build (see the "
        "engine section: the explanation and durable-rules' C calls are most of it).")
    lines.append("")
    return lines


# ------------------------------------------------------------------------------------- running
def run(quick: bool = False, progress=None) -> dict:
    progress = progress or (lambda text: print(text, file=sys.stderr, flush=True))
    results: dict = {"databases": [], "quick": quick}
    with tempfile.TemporaryDirectory(prefix="bench-api-log-") as tmp:
        results["databases"].append(
            bench_database("SQLite", f"sqlite:///{tmp}/decisions.db", quick, progress))
    base, why = postgres_base()
    if base is None:
        results["postgres_skipped"] = f"no PostgreSQL server answered ({why})"
        progress(f"api: PostgreSQL skipped: {why}")
    else:
        with postgres_schema(base, "bench_api") as url:
            results["databases"].append(bench_database("PostgreSQL", url, quick, progress))
    requests = 100 if quick else 300
    progress(f"api: profiling {requests} requests, engine in process then as served")
    results["profile"] = {"inline": profile(False, requests), "isolated": profile(True, requests)}
    results["markdown"] = markdown(results)
    return results


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port, kind, index, start_at, seconds, max_requests = sys.argv[2:8]
        print(json.dumps(client(int(port), kind, int(index), float(start_at), float(seconds),
                                int(max_requests))))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--profile-child":
        print(json.dumps(profile_child(sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    print_section(run(args.quick), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
