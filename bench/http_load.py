"""Load the HTTP API on loopback and report decisions per second and latency percentiles.

Starts `decisions serve` (gunicorn) on a free 127.0.0.1 port with a fresh decision log, sends a
bounded number of requests from client processes, prints the figures and stops the server.

    .venv/bin/python bench/http_load.py [--workers 4] [--clients 4] [--requests 200]
        [--database-url postgresql://postgres@127.0.0.1/test] [--rulesets DIR]

Every decision is logged and committed before its answer, so the figures include the log write
(an fsync per decision on SQLite, or per batch).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUEST = json.loads((ROOT / "docs" / "examples" / "decision-request.json").read_text())
TOKEN = "bench-token-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(port: int, path: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", path, body=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                    "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - started


def _client(port: int, path: str, body: bytes, count: int, out) -> None:
    out.put([_post(port, path, body) for _ in range(count)])


def _run(port: int, path: str, body: bytes, clients: int, per_client: int):
    queue = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=_client, args=(port, path, body, per_client,
                                                                 queue)) for _ in range(clients)]
    started = time.perf_counter()
    for p in processes:
        p.start()
    results = [r for _ in processes for r in queue.get()]
    elapsed = time.perf_counter() - started
    for p in processes:
        p.join()
    bad = [s for s, _ in results if s not in (200, 201)]
    assert not bad, f"{len(bad)} failed requests: {bad[:5]}"
    return results, elapsed


def _percentiles(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="per client")
    parser.add_argument("--batch", type=int, default=100, help="items per batch request")
    parser.add_argument("--database-url")
    parser.add_argument("--rulesets", default=str(ROOT / "rulesets"))
    args = parser.parse_args()

    from service.auth import token_line

    with tempfile.TemporaryDirectory() as tmp:
        tokens = Path(tmp) / "tokens"
        tokens.write_text(token_line("bench", ["decide"], TOKEN) + "\n")
        url = args.database_url or f"sqlite:///{tmp}/decisions.db"
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers",
             str(args.workers), "--rulesets", args.rulesets, "--database-url", url,
             "--tokens-file", str(tokens)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/readyz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            single = json.dumps(REQUEST).encode()
            _run(port, "/v1/decisions", single, args.clients, 10)  # warm up every worker
            results, elapsed = _run(port, "/v1/decisions", single, args.clients, args.requests)
            print(f"single decisions: {len(results)} in {elapsed:.1f} s = "
                  f"{len(results) / elapsed:.0f}/s; {_percentiles([t for _, t in results])}")
            batch = json.dumps({"items": [REQUEST] * args.batch}).encode()
            per_client = max(1, args.requests // args.batch)
            results, elapsed = _run(port, "/v1/decisions/batch", batch, args.clients, per_client)
            decided = len(results) * args.batch
            print(f"batches of {args.batch}: {decided} decisions in {elapsed:.1f} s = "
                  f"{decided / elapsed:.0f}/s; per batch {_percentiles([t for _, t in results])}"
                  if len(results) >= 2 else f"batches: {decided} decisions in {elapsed:.1f} s")
            print(f"({args.workers} gunicorn workers, {args.clients} client processes, "
                  f"{os.cpu_count()} cores, log: {url.split(':')[0]})")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
