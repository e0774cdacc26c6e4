"""The policy workbench end to end in Chromium, on `decisions serve` over a copy of the bundled
rulesets kept in a git repository: an author (in English) drafts the CRS change of the policy
guide (a brother or sister in Canada worth 20 points instead of 15 from 2027-01-01), checks it,
decides the cases of the version in force on the new day too, states the new figures of the
three cases it moves (worked from the grid: 5 points more, never read off the engine), tries a
profile side by side and submits; a reviewer (in French) reads the diff, runs the impact over a
generated pool and the log, approves and publishes; the new version then decides. Screenshots
go where the other browser tests put theirs (docs/screenshots with `make screenshots`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import orjson
import pytest

from tests.apps import TOKENS, write_tokens
from tests.conftest import PROFILE, RULESETS

from .conftest import DECISIONS, Server, shot

pytestmark = pytest.mark.slow
SLOW = 600_000  # a save runs the CRS cases in a child process; a publish, every case


class WorkbenchServer(Server):
    """`decisions serve` over a git copy of the rulesets, with the test tokens (author and
    reviewer among them) and a worker timeout above the longest check."""

    def start(self) -> None:
        live = self.folder / "rulesets"
        shutil.copytree(RULESETS, live)
        for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "the rules in force"]):
            subprocess.run(["git", "-C", str(live), "-c", "user.name=setup", "-c",
                            "user.email=setup@example.org", *args], check=True)
        write_tokens(self.folder / "tokens")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(DECISIONS), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "2", "--timeout", "900", "--rulesets", str(live),
                 "--database-url", f"sqlite:///{self.folder / 'decisions.db'}",
                 "--tokens-file", str(self.folder / "tokens")],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready(300)  # it checks every ruleset first; the machine is shared
        self.token = TOKENS["everything"][1]
        self.live = live


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory, browser):
    server = WorkbenchServer(tmp_path_factory.mktemp("workbench"))
    try:
        server.start()
        for i in range(3):  # a few logged CRS assessments for the impact over the log
            server.decide({**PROFILE, "candidate_id": f"C-00070{i}", "sibling_in_canada": i != 1},
                          ruleset="express-entry.crs", as_of="2026-11-25")
        yield server
    finally:
        server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


def person(browser, server, name: str, locale: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale,
                                  base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.goto("/")
    page.fill("#token", TOKENS[name][1])
    page.click("button.primary")
    page.wait_for_url("**/")
    return context, page


def submit(page, selector: str) -> None:
    """Click a form's button and wait for the page it leads to (a save checks the draft)."""
    with page.expect_navigation(timeout=SLOW):
        page.click(selector)


def shown(page, selector: str) -> bool:
    """Whether the page shows ``selector`` now; a page that is reloading shows nothing yet."""
    from playwright.sync_api import Error

    try:
        return page.locator(selector).count() > 0
    except Error:  # the page went on to its next load while it was asked
        return False


def test_a_crs_points_change_from_draft_to_a_published_version(browser, bench_server):
    server = bench_server
    author_context, page = person(browser, server, "author", "en-CA")
    try:
        # 1. start a draft of express-entry.crs from 2027-01-01
        page.goto("/drafts")
        page.select_option("#ruleset", "express-entry.crs")
        page.fill("#effective_from", "2027-01-01")
        page.fill("#reason", "Hypothetical Ministerial Instructions: sibling 20 points")
        submit(page, "#new-draft button.primary")
        draft_url = page.url
        assert re.search(r"/drafts/d-[0-9a-f]+$", draft_url)
        assert "Draft of express-entry.crs, version 2027-01-01" in page.inner_text("h1")

        # 2. the points and the source they cite, as a form written into the text
        page.fill('[name="f:rules[sibling-in-canada].award.points"]', "20")
        page.fill('[name="f:rules[sibling-in-canada].reference"]',
                  "Ministerial Instructions of 2027-XX-XX (sibling 20) - hypothetical")
        page.fill("#form-reason", "sibling 15 -> 20")
        submit(page, "#save-values")
        assert "Saved and checked." in page.inner_text("#notice")
        row = page.locator("#draft-text tr", has_text="award: {to: crs.additional.sibling")
        assert "points: 20" in row.inner_text()
        # no case decides with the new version yet: the check says so, submit is not offered
        assert "express-entry.crs 2027-01-01" in page.inner_text("#check-result")
        assert page.locator("#submit-form").count() == 0
        page.goto(draft_url)  # the top of the page, for the guide's picture
        shot(page, "workbench-draft")

        # 3. the cases of the version in force decided on 2027-01-01 too: three of them move
        submit(page, "#cover-form button")
        failing = page.inner_text("#failed-cases")
        assert failing.count("scores.crs.total") == 3
        shot(page, "workbench-cases", "section[aria-labelledby=cases]")

        # 4. each moved case: its new figures stated from the grid (5 points more)
        for n in range(3):
            table = page.inner_text("#failed-cases")
            total = int(re.search(r"scores\.crs\.total\s+(\d+)\s+\d+", table).group(1))
            additional = int(re.search(r"scores\.crs\.additional\s+(\d+)\s+\d+",
                                       table).group(1))
            submit(page, "#failed-cases form >> nth=0 >> button")
            assert page.locator("#tried-draft").is_visible()
            draft_side = page.locator("#tried-draft [data-score='crs.total']").inner_text()
            in_force = page.locator("#tried-in-force [data-score='crs.total']").inner_text()
            assert int(draft_side) - int(in_force) == 5
            if n == 0:
                shot(page, "workbench-try", "#tried")
            page.fill("#case-name", f"From 2027-01-01 the sibling is worth 20 points (case {n + 1}"
                                    f": {total + 5})")
            page.fill('[name="value:scores.crs.total"]', str(total + 5))
            page.fill('[name="value:scores.crs.additional"]', str(additional + 5))
            page.check('[name="confirm:outcome"]')
            submit(page, "#make-case button.primary")
            assert "The case is added" in page.inner_text("#notice")
        assert "The draft checks" in page.inner_text("#check-result")

        # 5. submitted with a reason
        page.fill("#submit-reason", "Sibling in Canada: 20 points from 2027-01-01")
        submit(page, "#submit-form button")
        assert page.inner_text("#draft-state") == "submitted for review"
    finally:
        author_context.close()

    reviewer_context, page = person(browser, server, "reviewer", "fr-CA")
    try:
        # 6. the review, in French: the diff, the impact, then approve and publish
        page.goto(draft_url + "/review")
        assert "Révision" in page.inner_text("h1")
        assert "points: 20}" in page.inner_text("section[aria-labelledby=diff]")
        page.fill("#pool", "300")
        page.fill("#log", "50")
        submit(page, "#start-impact")
        deadline = time.monotonic() + SLOW / 1000
        # The run goes on in the background; the page reloads itself every few seconds while
        # it runs (its refresh), with nobody touching it, and shows the result when it is done.
        loads = []
        page.on("load", lambda: loads.append(time.monotonic()))
        while not shown(page, "#impact-pool"):
            assert time.monotonic() < deadline, page.inner_text("section[aria-labelledby=impact]")
            page.wait_for_timeout(1000)  # Playwright's own wait: the page's events go on
        page.wait_for_load_state()
        assert loads, "the page never reloaded itself while the impact ran"
        pool = page.inner_text("#impact-pool")
        assert "crs.additional" in pool and "crs.total" in pool
        assert "Le résultat change pour 0" in pool  # points move, nothing is decided
        log = page.inner_text("#impact-log")
        assert "sur 3 cas" in log
        shot(page, "workbench-review-fr", "section[aria-labelledby=impact]")
        page.fill("#comment", "Conforme aux instructions")
        submit(page, "#approve")
        assert page.inner_text("#draft-state") == "approuvée"
        page.fill("#publish-reason", "en vigueur le 2027-01-01")
        submit(page, "#publish")
        assert "Publiée" in page.inner_text("#notice"), page.inner_text("main")[:2000]
        assert page.inner_text("#draft-state") == "publiée"
        page.goto("/trail")
        trail = page.inner_text("#trail")
        assert "reviewer" in trail and "publiée" in trail
        shot(page, "workbench-trail-fr")
    finally:
        reviewer_context.close()

    # 7. the new version is in the folder, committed, and decides from its first day
    assert (server.live / "express-entry" / "crs-2027-01-01.yaml").exists()
    log = subprocess.run(["git", "-C", str(server.live), "log", "-1", "--format=%an %s"],
                         capture_output=True, text=True).stdout
    assert log.startswith("reviewer express-entry.crs 2027-01-01")
    # The workers are being replaced after the reload: until they all are, one that is not
    # yet may answer with the rulesets it had (or not answer at all).
    deadline = time.monotonic() + 120
    while True:
        try:
            decided = server.call("POST", "/v1/decisions", orjson.dumps(
                {"ruleset": "express-entry.crs", "as_of": "2027-01-01",
                 "facts": {**PROFILE, "sibling_in_canada": True}}))
            if any(r["version"] == "2027-01-01" for r in decided["rulesets"]):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "no worker decides with the published version"
        time.sleep(1)
    assert decided["scores"]["crs"]["additional"] == 20
