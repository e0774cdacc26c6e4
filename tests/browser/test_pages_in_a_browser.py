"""The pages in Chromium, as a person uses them: sign in with the token `decisions serve`
printed, read a decision and its why-not, switch to French, filter the log and verify it, open
the impact of a ruleset change and a draw. Screenshots go to a temporary folder, or to
docs/screenshots/ with `make screenshots`."""

from __future__ import annotations

import re

from tests.browser.conftest import shot, sign_in


def test_a_newcomer_signs_in_with_the_printed_token_from_the_keyboard(page, server):
    assert "Pages for people" in server.printed and f"{server.url}/" in server.printed
    page.goto("/")
    assert page.title().startswith("Sign in")
    body = page.inner_text("main")
    assert "make run" in body and "export DECISIONS_TOKEN=dcs_" in body
    shot(page, "sign-in")
    page.keyboard.press("Tab")  # the skip link comes first and shows itself when focused
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.locator("a.skip").bounding_box()["x"] >= 0
    page.focus("#token")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.type(f"export DECISIONS_TOKEN={server.token}")  # the whole printed line
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Welcome, local")
    assert page.inner_text("header").count("Sign out") == 1


def test_a_wrong_token_is_refused(page):
    page.goto("/")
    page.fill("#token", "dcs_wrong")
    page.click("button.primary")
    assert "This token is not valid" in page.inner_text("[role=alert]")
    assert page.get_attribute("#token", "aria-invalid") == "true"


def test_the_decision_page_explains_why_not_and_prints(page, server):
    sign_in(page, server)
    page.goto(f"/decisions/{server.seeded['not_met']}")
    outcome = page.inner_text("#outcome")
    assert outcome.startswith("Does not meet the tech draw criteria — candidate C-000124")
    why_not = page.inner_text("section.why-not")
    assert ("Intends to live in Ontario — Province or territory where the candidate intends to "
            "live: British Columbia, needs Ontario.") in why_not
    assert page.locator("svg.chart-bars").first.is_visible()
    assert page.locator("section[aria-labelledby=chain]").inner_text().count("holds") == 2
    shot(page, "decision")
    shot(page, "decision-crs", "section[aria-labelledby=score-crs]")
    page.emulate_media(media="print")
    assert not page.locator("header.site").is_visible()
    assert page.locator("#why-not").is_visible()
    page.emulate_media(media="screen")


def test_switching_to_french_translates_the_page_and_the_explanation(page, server):
    sign_in(page, server)
    page.goto(f"/decisions/{server.seeded['not_met']}")
    page.click("button[name=lang][value=fr]")
    page.wait_for_selector("html[lang=fr]")
    assert page.inner_text("#outcome").startswith(
        "Ne satisfait pas aux critères du tirage technologique — le candidat C-000124")
    why_not = page.inner_text("section.why-not")
    assert why_not.startswith("Pourquoi pas")
    assert ("A l'intention de vivre en Ontario — Province ou territoire où le candidat a "
            "l'intention de vivre\u00a0: Colombie-Britannique, il faut Ontario.") in why_not
    assert page.inner_text("nav[aria-label=Principal]").split() == [
        "Journal", "des", "décisions", "Ensembles", "de", "règles", "Ébauches", "Piste",
        "Tirages"]  # an auditor's menu: the workbench's drafts and its trail too
    shot(page, "decision-fr")
    page.click("button[name=lang][value=en]")
    page.wait_for_selector("html[lang=en]")


def test_filtering_the_log_and_verifying_the_chain(page, server):
    sign_in(page, server)
    page.click("nav >> text=Decision log")
    rows = page.locator("table.log tbody tr")
    assert rows.count() >= 7
    page.select_option("#f-ruleset", "oinp.hcp.tech-draw")  # choices, not free text
    page.select_option("#f-outcome", "does_not_meet_criteria")
    page.fill("#f-candidate", "C-000124")
    page.press("#f-candidate", "Enter")
    page.wait_for_url(re.compile(r".*outcome=does_not_meet_criteria&candidate_id=C-000124.*"))
    assert rows.count() == 1 and "Does not meet the tech draw criteria" in rows.inner_text()
    page.click("text=Verify the whole chain")
    status = page.inner_text("#verification")
    assert "The chain is intact." in status and "records checked" in status
    page.set_viewport_size({"width": 1280, "height": 1120})
    shot(page, "decision-log")
    with page.expect_download() as download:
        page.click("text=Export these records (JSON Lines)")
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert len(lines) == 1 and '"candidate_id":"C-000124"' in lines[0]


def test_the_impact_of_a_ruleset_change(page, server):
    sign_in(page, server)
    page.goto("/rulesets/express-entry.crs")
    assert "in force" in page.inner_text("section[aria-labelledby=versions]")
    assert re.search(r"\d+ of \d+ cases pass\.", page.inner_text("section[aria-labelledby=cases]"))
    shot(page, "ruleset")
    page.click("text=Impact of a change between versions")
    page.select_option("#from", "2020-10-27")
    page.select_option("#to", "2025-03-25")
    page.click("button:has-text('Compare')")
    summary = page.inner_text("#impact-summary")
    assert "cases decided with both versions" in summary
    assert page.locator("svg.chart-histogram").first.is_visible()
    assert page.locator(".side-by-side").count() >= 1
    page.evaluate("document.getElementById('summary').scrollIntoView()")
    shot(page, "impact")


def test_a_draw(page, server):
    sign_in(page, server)
    page.click("nav >> text=Draws")
    page.click(f"text={server.seeded['draw']}")
    cutoff = page.inner_text("#cutoff")
    assert re.search(r"candidates invited on July 12, 2019; the cutoff is \d+ points", cutoff)
    assert page.locator("svg.chart-histogram").first.is_visible()
    assert "cutoff" in page.locator("svg.chart-histogram").first.text_content()
    shot(page, "draw", "section[aria-labelledby=distribution] figure")


def test_a_federal_round_as_ircc_published_it(page, server):
    sign_in(page, server)
    # A worker's first ruleset page runs every bundled case (docs/pages.md): longer than 15 s
    # on a loaded machine.
    page.goto("/rulesets/express-entry.round.2023-06-28-healthcare", timeout=180_000)
    table = page.locator("#published-round")
    assert table.is_visible()
    rows = {row.locator("th").inner_text(): row.locator("td").inner_text()
            for row in table.locator("tbody tr").all()}
    assert rows == {"Round number": "#252",
                    "Date and time of round": "June 28, 2023 at 14:04:34 UTC",
                    "Round type": "Healthcare occupations (Version 1)",
                    "Number of invitations issued": "500",
                    "CRS score of lowest-ranked candidate invited": "476",
                    "Tie-breaking rule": "November 12, 2022 at 12:47:27 UTC"}
    assert "invitations.html?q=252" in table.locator("caption a").get_attribute("href")
    shot(page, "round", "#published-round")
    page.click("button[lang=fr]", timeout=180_000)  # the other worker may run the cases first
    rows = page.locator("#published-round tbody tr")
    assert rows.nth(4).inner_text().startswith("Note SCG du candidat le moins bien classé invité")
    assert "Professions de la santé (version 1)" in rows.nth(2).inner_text()
    # Days as a francophone writes them, not ISO dates.
    assert "28 juin 2023 à 14:04:34 UTC" in rows.nth(1).inner_text()
    assert "12 novembre 2022 à 12:47:27 UTC" in rows.nth(5).inner_text()
