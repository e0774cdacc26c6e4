"""`decisions serve` for real: gunicorn with several workers on a loopback port.

The crash test sends decisions from several clients, SIGKILLs the whole server (master, workers
and engine processes) in the middle, and then finds every decision whose 201 reached a client in
the log, with the chain intact. All traffic stays on 127.0.0.1, bounded in count and time.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.store import Store
from tests.apps import TOKENS, write_min_age, write_tokens
from tests.conftest import PROFILE, RULESETS

REQUEST = json.dumps({"ruleset": "oinp.hcp.tech-draw", "facts": PROFILE,
                      "as_of": "2019-07-15"}).encode()
TOKEN = TOKENS["everything"][1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, database_url: str, workers: int = 3,
                 tokens: Path | None = None, rulesets: Path = RULESETS, port: int | None = None,
                 options: tuple[str, ...] = (), environment: dict[str, str] | None = None):
        self.port = port or free_port()
        self.tokens = tokens or write_tokens(tmp / "tokens")
        self.log = open(tmp / "server.log", "w+b")  # noqa: SIM115 (closed in stop)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DECISIONS_")}
        env.update(environment or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers), "--rulesets", str(rulesets),
             "--database-url", database_url, "--tokens-file", str(self.tokens), *options],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._wait_ready(timeout=60)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited:\n{self.output()[-4000:]}"
            try:
                if self.request("GET", "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server did not become ready:\n{self.output()[-4000:]}")

    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 10) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL every process of the server: no graceful anything."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        # What the master would have removed on a clean stop (see service.serve.run).
        shutil.rmtree(Path(tempfile.gettempdir()) / f"decisions-127.0.0.1-{self.port}",
                      ignore_errors=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.mark.slow
def test_every_answered_decision_survives_a_sigkill_of_the_server(tmp_path, database_url):
    server = Server(tmp_path, database_url, workers=3)
    received: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        for _ in range(300):  # bounded: at most 300 requests per client
            if stop.is_set():
                return
            try:
                status, body = server.request("POST", "/v1/decisions", REQUEST, timeout=10)
            except (OSError, http.client.HTTPException):  # reset, or cut mid-answer by the kill
                if stop.is_set():
                    return  # the server is gone: expected after the kill
                time.sleep(0.05)
                continue
            with lock:
                if status == 201:
                    received.append(json.loads(body)["decision_id"])
                else:
                    failures.append(f"{status} {body[:200]!r}")

    clients = [threading.Thread(target=client) for _ in range(6)]
    try:
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + 20
        while len(received) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # mid-load: requests are in flight in every worker
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
    finally:
        stop.set()
        server.stop()

    assert not failures, failures[:5]
    assert len(received) >= 50, f"too little load reached the server:\n{server.output()[-4000:]}"
    store = Store(database_url)
    logged = {record.decision_id for record in store.scan()}
    missing = set(received) - logged
    assert not missing, f"{len(missing)} answered decisions are not in the log"
    result = store.verify()
    assert result.intact, result.finding
    assert result.checked == len(logged) >= len(received)
    store.close()
    print(f"SIGKILL test: {len(received)} answered, {len(logged)} logged "
          f"({len(logged) - len(received)} logged but cut off before their answer)")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` and that run (zombies do not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(ppid) == pid and state not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                not in ("Z", "X"))
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_workers_leave_with_their_master_and_free_the_port(tmp_path):
    """SIGKILL of the master alone: its workers (and their engine processes) must not go on
    serving with no master, holding the port, or a new server could not start on it."""
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'decisions.db'}", workers=2)
    again = None
    others: list[int] = []
    engines: list[int] = []
    try:
        workers = [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)",
                                                  server.output())]
        engines = [e for w in workers for e in children(w)]
        assert len(workers) == 2 and len(engines) >= 2
        others = children(server.process.pid)  # multiprocessing's resource tracker too
        assert set(workers) <= set(others)
        load = threading.Event()

        def keep_busy() -> None:  # gunicorn's workers look at their parent only when idle
            while not load.is_set():
                try:
                    server.request("POST", "/v1/decisions", REQUEST, timeout=5)
                except (OSError, http.client.HTTPException):
                    time.sleep(0.05)

        clients = [threading.Thread(target=keep_busy) for _ in range(3)]
        for thread in clients:
            thread.start()
        time.sleep(1)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        deadline = time.monotonic() + 10
        while any(map(running, others + engines)) and time.monotonic() < deadline:
            time.sleep(0.1)
        load.set()
        for thread in clients:
            thread.join(30)
        assert not [p for p in others + engines if running(p)], "left behind"
        shutil.rmtree(Path(tempfile.gettempdir()) / f"decisions-127.0.0.1-{server.port}",
                      ignore_errors=True)
        (tmp_path / "again").mkdir()
        again = Server(tmp_path / "again", f"sqlite:///{tmp_path / 'decisions.db'}",
                       workers=1, tokens=server.tokens, port=server.port)
        assert again.request("POST", "/v1/decisions", REQUEST)[0] == 201
    finally:
        server.stop()
        if again is not None:
            again.stop()
        for pid in others + engines:  # should this test fail, leave nothing running
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_first_start_makes_a_token_and_serves_it_with_metrics_from_every_worker(tmp_path):
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'var' / 'decisions.db'}", workers=2,
                    tokens=tmp_path / "var" / "tokens")
    try:
        printed = server.output()
        token = printed.split("export DECISIONS_TOKEN=")[1].split()[0]
        assert token not in (tmp_path / "var" / "tokens").read_text()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def post(path: str, body: bytes) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            conn.request("POST", path, body=body, headers=headers)
            status = conn.getresponse().status
            conn.close()
            return status

        # A big batch keeps one worker busy; the single decisions sent meanwhile can only be
        # answered by the other one. Singles go on until the batch is answered (a fixed number
        # raced it: on a fast run the batch could end before they were sent).
        batch = json.dumps({"items": [json.loads(REQUEST)] * 1000}).encode()
        batch_status = []
        busy = threading.Thread(target=lambda: batch_status.append(
            post("/v1/decisions/batch", batch)))
        busy.start()
        time.sleep(0.3)
        singles = [post("/v1/decisions", REQUEST)]
        while busy.is_alive() and len(singles) < 500:
            singles.append(post("/v1/decisions", REQUEST))
        busy.join(timeout=60)
        assert batch_status == [200] and singles == [201] * len(singles)

        status, text = server.request("GET", "/metrics")
        assert status == 200
        decided = sum(sample.value for family in text_string_to_metric_families(text.decode())
                      for sample in family.samples if sample.name == "decisions_made_total")
        assert decided == 1000 + len(singles)  # summed over both workers' multiprocess files
        workers = {json.loads(line)["worker"] for line in server.output().splitlines()
                   if line.startswith("{") and '"route":"/v1/decisions' in line}
        assert len(workers) == 2
    finally:
        server.stop()


def readme_commands() -> list[str]:
    """The shell commands of the README's "HTTP API" section, as a reader would paste them."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## HTTP API", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]
    return [line for block in blocks for line in block.strip().splitlines()
            if line.startswith("curl ") or re.match(r"[A-Z]+=\$\(curl ", line)]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_the_readme_curl_calls_work_as_written(tmp_path):
    commands = readme_commands()
    assert len(commands) >= 8
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'decisions.db'}", workers=2)
    try:
        # The README runs from the repository folder; the export it writes goes to tmp_path.
        (tmp_path / "docs").symlink_to(Path(__file__).resolve().parents[2] / "docs")
        lines = [c.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}") for c in commands]
        lines = [c.replace("curl -s ", "curl -sf ") + " > /dev/null" if c.startswith("curl")
                 else c for c in lines]  # -f: an HTTP error fails the script
        script = "set -e\n" + "\n".join(lines) + ('\ntest -n "$ID"\ntest ${#SHA} = 64'
                                                   '\ntest -s decisions.jsonl\n')
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "DECISIONS_TOKEN": TOKEN})
        assert done.returncode == 0, (done.stderr, script)
    finally:
        server.stop()


def min_age_server(tmp_path: Path, workers: int, candidate: str):
    """A server over a min-age folder (adults from 18) that the test edits, and a function
    that asks it n times about a 19-year-old and gives the set of outcomes."""
    rulesets = tmp_path / "rulesets"
    write_min_age(rulesets, "2019-01-01", "2019-01-01", minimum=18)
    server = Server(tmp_path, f"sqlite:///{tmp_path / 'decisions.db'}", workers=workers,
                    rulesets=rulesets)
    body = json.dumps({"ruleset": "test.min-age", "facts": {"candidate_id": candidate, "age": 19}})

    def outcomes(n: int) -> set[str]:
        return {json.loads(server.request("POST", "/v1/decisions", body.encode())[1])["outcome"]
                for _ in range(n)}
    return rulesets, server, outcomes


@pytest.mark.slow
def test_workers_load_only_checked_rulesets_and_a_reload_replaces_them_all(tmp_path):
    rulesets, server, outcomes = min_age_server(tmp_path, workers=3, candidate="R1")

    def wait_for_boots(count: int) -> None:
        deadline = time.monotonic() + 60
        while server.output().count("Booting worker") < count:
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.2)
        server._wait_ready(timeout=60)

    try:
        wait_for_boots(3)
        assert outcomes(6) == {"eligible"}
        # Someone is half-way through editing the folder when a worker dies: its replacement
        # loads the checked snapshot, not the folder, and the server goes on as it was.
        (rulesets / "test" / "broken.yaml").write_text("id: [unclosed\n")
        write_min_age(rulesets, "2019-01-01", "2019-01-01", minimum=21)
        worker = next(json.loads(line)["worker"] for line in server.output().splitlines()
                      if '"route":"/v1/decisions"' in line)
        booted = server.output().count("Booting worker")
        os.kill(worker, signal.SIGKILL)
        wait_for_boots(booted + 1)
        assert outcomes(6) == {"eligible"}
        status, answer = server.request("POST", "/v1/admin/reload", timeout=60)
        assert status == 422 and "broken.yaml" in json.loads(answer)["detail"]
        assert outcomes(3) == {"eligible"}

        (rulesets / "test" / "broken.yaml").unlink()  # the edit is done: reload
        booted = server.output().count("Booting worker")
        status, answer = server.request("POST", "/v1/admin/reload", timeout=60)
        assert status == 200 and json.loads(answer)["workers_restarting"] is True
        wait_for_boots(booted + 3)
        assert outcomes(12) == {"not_eligible"}  # whichever worker answers
        assert server.process.poll() is None
    finally:
        server.stop()


@pytest.mark.slow
def test_sighup_loads_the_folder_afresh_only_when_it_passes(tmp_path):
    rulesets, server, outcomes = min_age_server(tmp_path, workers=2, candidate="H1")

    def hangup_and_wait(booted: int) -> None:
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 90
        while server.output().count("Booting worker") < booted + 2:
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.2)
        server._wait_ready(timeout=60)

    try:
        assert outcomes(4) == {"eligible"}
        # A change whose cases were updated with it: SIGHUP publishes it to every worker.
        write_min_age(rulesets, "2019-01-01", "2019-01-01", minimum=21)
        hangup_and_wait(server.output().count("Booting worker"))
        assert "reload: rulesets checked and published" in server.output()
        assert outcomes(6) == {"not_eligible"}
        # A change that breaks its own cases: refused, the workers start on the rules in use.
        path = rulesets / "test" / "min-age-2019-01-01.yaml"
        path.write_text(path.read_text().replace("age >= 21", "age >= 19"))
        hangup_and_wait(server.output().count("Booting worker"))
        assert "reload refused, the rules in use stay" in server.output()
        assert outcomes(6) == {"not_eligible"}
        # An emptied folder (issue 17, item 1: it was accepted, and every decision was then a
        # 404): a signal cannot name what goes, so it is refused and logged.
        for file in (rulesets / "test").iterdir():
            file.unlink()
        hangup_and_wait(server.output().count("Booting worker"))
        refusal = [line for line in server.output().splitlines()
                   if "reload refused" in line and "test.min-age" in line]
        assert refusal and "POST /v1/admin/reload?remove=" in refusal[0], server.output()[-2000:]
        assert outcomes(6) == {"not_eligible"}
        assert server.process.poll() is None
    finally:
        server.stop()
