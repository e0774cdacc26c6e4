"""A real server and a real browser: `decisions serve` (gunicorn, two workers, as `make run`
starts it) on a free local port, seeded through the HTTP API with the token it printed, and
Debian's Chromium driven by Playwright (never a browser download).

Outside CI a missing browser skips these tests with the reason; under CI=true it fails them
(.ci/run installs `chromium` first)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.conftest import PROFILE, RULESETS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
# A test run never rewrites committed files: screenshots go to a temporary folder, unless
# DECISIONS_SCREENSHOTS names where to write them (`make screenshots` refreshes docs/screenshots).
SCREENSHOTS = Path(os.environ.get("DECISIONS_SCREENSHOTS") or
                   tempfile.mkdtemp(prefix="decisions-screenshots-"))
DECISIONS = Path(sys.executable).with_name("decisions")


def _missing(why: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: under CI=true the browser tests must run (.ci/run installs "
                    "chromium)")
    pytest.skip(f"{why} (apt-get install chromium chromium-driver; pip install playwright)")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _missing(f"no browser at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path):
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "serve.log"
        self.process: subprocess.Popen | None = None
        self.token = ""
        self.printed = ""

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(DECISIONS), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "2", "--rulesets", str(RULESETS),
                 "--database-url", f"sqlite:///{self.folder / 'decisions.db'}",
                 "--tokens-file", str(self.folder / "tokens")],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "DECISIONS_LOG_LEVEL": "WARNING"})
        self.wait_ready(90)
        self.printed = self.log.read_text(errors="replace")
        self.token = re.search(r"export DECISIONS_TOKEN=(dcs_\S+)", self.printed).group(1)

    def wait_ready(self, seconds: float) -> None:
        """Until /readyz answers 200; the server's log in the error if it stops or never does."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"decisions serve stopped:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"decisions serve did not get ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def call(self, method: str, path: str, body: bytes | None = None,
             content_type: str = "application/json") -> dict:
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def decide(self, facts: dict, ruleset: str = "oinp.hcp.tech-draw",
               as_of: str = "2019-07-15") -> str:
        return self.call("POST", "/v1/decisions", orjson.dumps(
            {"ruleset": ruleset, "facts": facts, "as_of": as_of}))["decision_id"]


@pytest.fixture(scope="session")
def server(tmp_path_factory, browser):
    """The server, with decisions and one draw in its log: {"met", "not_met", "crs", "draw"}."""
    server = Server(tmp_path_factory.mktemp("served"))
    try:
        server.start()
        server.seeded = {
            "met": server.decide(PROFILE),
            "not_met": server.decide({**PROFILE, "candidate_id": "C-000124",
                                      "intends_to_reside_in": "BC"}),
            "crs": server.decide({**PROFILE, "candidate_id": "C-000200",
                                  "canadian_work_years": 3}, ruleset="express-entry.crs"),
        }
        for i in range(3):
            server.decide({**PROFILE, "candidate_id": f"C-00030{i}", "age": 30 + i})
        from service.draws.pool import generate

        profiles, _ = generate(200, 3, as_of=dt.date(2019, 7, 12))
        pool = b"".join(orjson.dumps(p) + b"\n" for p in profiles)
        server.call("POST", "/v1/draws?ruleset=oinp.hcp.draw.tech-2019-07-12"
                            "&draw_id=tech-2019-07-12", pool, "application/jsonl")
        server.seeded["draw"] = "tech-2019-07-12"
        yield server
    finally:
        server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-CA",
                                  base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page, name: str, element: str | None = None) -> Path:
    """A screenshot in SCREENSHOTS (docs/screenshots, which the README shows, when asked for)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if element:
        page.locator(element).first.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path))
    return path


def sign_in(page, server) -> None:
    page.goto("/")
    page.fill("#token", server.token)
    page.click("button.primary")
    page.wait_for_url("**/")
