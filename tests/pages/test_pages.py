"""The pages, as a browser without JavaScript reads them: sign-in and sessions, roles, CSRF, the
decision page, the decision log (filters, pages, verify, export), rulesets, cases, impact, draws,
and both official languages."""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from html.parser import HTMLParser

import orjson
import pytest

from service.pages import data as page_data
from service.pages import views as pages
from service.store import record_hash
from tests.apps import MIN_AGE, TOKENS, bundled_cases
from tests.conftest import PROFILE
from tests.databases import tamper
from tests.pages.conftest import CSRF, csrf_token, decide, sign_in


def text(response) -> str:
    return response.get_data(as_text=True)


# ------------------------------------------------------------------------- sign-in, sessions
def test_the_first_page_says_how_to_sign_in_with_the_token_make_run_printed(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = text(page)
    assert "make run" in html and "export DECISIONS_TOKEN=dcs_" in html
    assert '<label for="token">API token</label>' in html
    assert "var/tokens" in html  # what to do when the token is lost


def test_sign_in_starts_a_strict_httponly_session_and_sign_out_ends_it(client, seeded):
    token = csrf_token(client)
    response = client.post("/sign-in", data={"token": TOKENS["auditor"][1], "csrf_token": token,
                                              "next": "/decisions"})
    assert response.status_code == 303 and response.headers["Location"] == "/decisions"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("decisions_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    assert TOKENS["auditor"][1] not in cookie  # the session keeps the token's hash only
    assert client.get("/decisions").status_code == 200
    out = client.post("/sign-out", data={"csrf_token": csrf_token(client, "/decisions")})
    assert out.status_code == 303
    assert client.get("/decisions").status_code == 302


def test_the_cookie_is_secure_over_tls(app):
    client = app.test_client()
    page = client.get("/", base_url="https://decisions.example")
    token = CSRF.search(text(page)).group(1)
    response = client.post("/sign-in", base_url="https://decisions.example",
                           data={"token": TOKENS["auditor"][1], "csrf_token": token})
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("pasted", [
    "{token}", "  {token}\n", "export DECISIONS_TOKEN={token}", "Bearer {token}", "'{token}'"])
def test_the_token_may_be_pasted_as_printed(client, pasted):
    response = client.post("/sign-in", data={
        "token": pasted.format(token=TOKENS["auditor"][1]), "csrf_token": csrf_token(client)})
    assert response.status_code == 303


def test_a_wrong_token_is_refused_with_a_message(client):
    response = client.post("/sign-in", data={"token": "dcs_not-a-token",
                                              "csrf_token": csrf_token(client)})
    assert response.status_code == 401
    assert "This token is not valid" in text(response) and 'aria-invalid="true"' in text(response)
    assert client.get("/decisions").status_code == 302


@pytest.mark.parametrize("path, data", [
    ("/sign-in", {"token": TOKENS["auditor"][1]}), ("/decisions/verify", {}),
    ("/language", {"lang": "fr"}), ("/sign-out", {})])
def test_every_form_needs_its_csrf_token(client, seeded, path, data):
    sign_in(client)
    for extra in ({}, {"csrf_token": "forged"}):
        response = client.post(path, data={**data, **extra})
        assert response.status_code == 400, (path, extra)
        assert response.mimetype == "text/html" and "The form has expired" in text(response)


def test_a_csrf_token_of_another_session_is_refused(app, client):
    other = app.test_client()
    stolen = csrf_token(other)
    response = client.post("/sign-in", data={"token": TOKENS["auditor"][1],
                                              "csrf_token": stolen})
    assert response.status_code == 400


def test_pages_ask_for_sign_in_and_for_the_right_role(app, seeded):
    anonymous = app.test_client()
    response = anonymous.get("/decisions?outcome=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/decisions?outcome%3Dx"
    decider = app.test_client()
    sign_in(decider, "decider")
    forbidden = decider.get(f"/decisions/{seeded['met']}")
    assert forbidden.status_code == 403 and forbidden.mimetype == "text/html"
    assert "does not have the role" in text(forbidden) and "audit" in text(forbidden)
    assert decider.get("/rulesets").status_code == 200
    assert decider.get("/draws").status_code == 200
    assert "Decision log" not in text(decider.get("/"))  # not offered without the role
    admin = app.test_client()
    sign_in(admin, "admin")
    assert admin.get("/rulesets").status_code == 200
    assert admin.get("/draws").status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_sends_elsewhere(client, target):
    response = client.post("/sign-in", data={"token": TOKENS["auditor"][1], "next": target,
                                              "csrf_token": csrf_token(client)})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_revoking_the_token_ends_its_sessions(make_app, tmp_path):
    app = make_app()
    client = app.test_client()
    sign_in(client, "auditor")
    assert client.get("/decisions").status_code == 200
    tokens = tmp_path / "tokens"
    kept = [line for line in tokens.read_text().splitlines() if not line.startswith("auditor ")]
    tokens.write_text("\n".join(kept) + "\n")
    response = client.get("/decisions")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def session_cookie(client) -> str:
    return client.get_cookie("decisions_session").value


def test_a_signed_out_session_cookie_no_longer_signs_in_on_any_worker(make_app, tmp_path):
    # Issue 17, 17b: the cookie is signed, not stored, so a copy of it kept working after
    # "Sign out". Two apps over the same folder stand for two gunicorn workers.
    first, second = make_app(), make_app()
    client = first.test_client()
    sign_in(client, "auditor")
    copied = session_cookie(client)
    other = second.test_client()
    other.set_cookie("decisions_session", copied)
    assert other.get("/decisions").status_code == 200  # the same session, on the other worker
    out = client.post("/sign-out", data={"csrf_token": csrf_token(client, "/decisions")})
    assert out.status_code == 303 and client.get("/decisions").status_code == 302
    for app in (first, second):
        replay = app.test_client()
        replay.set_cookie("decisions_session", copied)
        response = replay.get("/decisions")
        assert response.status_code == 302, app
        assert response.headers["Location"].startswith("/sign-in")
    sign_in(client, "auditor")  # a new session works, and is another one
    assert session_cookie(client) != copied and client.get("/decisions").status_code == 200
    assert "sessions-ended" in {p.name for p in tmp_path.iterdir()}


def test_deleting_the_ended_sessions_file_ends_every_session(make_app, tmp_path, monkeypatch):
    client = make_app().test_client()
    sign_in(client, "auditor")
    assert client.get("/decisions").status_code == 200
    (tmp_path / "sessions-ended").unlink()
    assert client.get("/decisions").status_code == 302  # its signed-out list could come back
    monkeypatch.setattr("service.pages.session.time.time",
                        lambda: dt.datetime.now().timestamp() + 2)
    sign_in(client, "auditor")
    assert client.get("/decisions").status_code == 200


def test_the_ended_sessions_file_drops_sessions_past_their_hours(tmp_path, monkeypatch):
    from service.pages.session import EndedSessions

    ended = EndedSessions(tmp_path / "sessions-ended")
    now = int(dt.datetime.now().timestamp())
    for n in range(150):
        ended.end(f"old-{n}", now - 10)
    ended.end("live", now + 3600)
    lines = (tmp_path / "sessions-ended").read_text().splitlines()
    assert len(lines) < 100 and lines[-1] == f"live {now + 3600}"  # expired ones are dropped
    assert ended.has_ended("live", now) and not ended.has_ended("old-3", now)


def test_a_session_ends_after_its_hours(client, monkeypatch, seeded):
    sign_in(client)
    assert client.get("/decisions").status_code == 200
    monkeypatch.setattr("service.pages.session.time.time",
                        lambda: dt.datetime.now().timestamp() + 9 * 3600)
    assert client.get("/decisions").status_code == 302


def test_workers_share_the_session_key_file(tmp_path):
    from service.pages.session import read_or_create_key

    path = tmp_path / "var" / "session-key"
    first = read_or_create_key(path)
    assert read_or_create_key(path) == first and len(first) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_a_session_key_that_cannot_be_made_stops_the_start(tmp_path):
    from service.errors import DecisionError
    from service.pages.session import read_or_create_key

    not_a_folder = tmp_path / "tokens"
    not_a_folder.write_text("")
    with pytest.raises(DecisionError, match="set DECISIONS_SECRET_KEY, or "
                                            "DECISIONS_SECRET_KEY_FILE"):
        read_or_create_key(not_a_folder / "session-key")


def test_a_short_secret_key_is_refused():
    from service.config import Config
    from service.pages.session import secret_key

    with pytest.raises(ValueError, match="at least 32"):
        secret_key(Config(), {"DECISIONS_SECRET_KEY": "short"})
    assert secret_key(Config(), {"DECISIONS_SECRET_KEY": "k" * 40}) == "k" * 40


# ----------------------------------------------------------------------------- decision page
def test_the_decision_page_explains_a_decision(auditor, seeded, app):
    page = auditor.get(f"/decisions/{seeded['not_met']}")
    assert page.status_code == 200
    html = text(page)
    # the outcome in one sentence, then why not
    assert ("<strong>Does not meet the tech draw criteria</strong> — candidate C-000124, "
            "assessed as of July 15, 2019 under") in html
    assert "1 of its 2 requirements is not met." in html
    why_not = html.split('id="why-not"')[1].split("</section>")[0]
    assert "Intends to live in Ontario" in why_not
    assert "intends to live: British Columbia, needs Ontario." in why_not
    # requirements with their condition as written
    assert "<code>intends_to_reside_in == &#39;ON&#39;</code>" in html
    # the CRS breakdown as a table and a chart drawn here
    assert re.search(r'<svg [^>]*role="img"', html) and "<title id=" in html
    assert "A. Core / human capital factors" in html and "Points counted" in html
    # every rule that fired with its facts, effect and reference
    store = app.extensions["decisions"].store
    record = store.get(seeded["not_met"])
    decision = orjson.loads(record.decision)
    # (the log names each rule; its title is the version's)
    for fired in app.extensions["decisions"].shown(decision)["fired"][:5]:
        assert fired["title"]["en"].replace("'", "&#39;") in html
    assert 'href="https://www.canada.ca/' in html
    assert "+110 points to Age" in html
    # versions, hashes, and the place in the chain
    for ref in decision["rulesets"]:
        assert ref["sha256"] in html
    assert record.prev_hash in html and record.record_hash in html
    assert f"Record {record.seq} of 3 in the decision log." in html
    assert "Its content matches its hash." in html


def test_the_decision_page_in_french(auditor, seeded):
    html = text(auditor.get(f"/decisions/{seeded['not_met']}",
                            headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}))
    assert '<html lang="fr">' in html
    assert "<strong>Ne satisfait pas aux critères du tirage technologique</strong>" in html
    assert "le candidat C-000124, évalué en date du 15 juillet 2019" in html
    assert "Colombie-Britannique, il faut Ontario." in html
    why_not = html.split('id="why-not"')[1].split("</section>")[0]
    assert "Pourquoi pas" in why_not and "A l&#39;intention de vivre en Ontario" in why_not
    assert "Règles appliquées" in html


def test_the_language_switch_outlasts_accept_language(auditor, seeded):
    page = f"/decisions/{seeded['met']}"
    token = csrf_token(auditor, page)
    switched = auditor.post("/language", data={"lang": "fr", "next": page, "csrf_token": token})
    assert switched.status_code == 303 and switched.headers["Location"] == page
    html = text(auditor.get(page, headers={"Accept-Language": "en"}))
    assert "Satisfait aux critères du tirage technologique" in html
    assert 'value="en" lang="en">English</button>' in html
    assert "toutes satisfaites" in html


def test_an_unknown_decision_is_a_page_not_a_problem(auditor):
    response = auditor.get("/decisions/nope")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "no decision &#39;nope&#39; in the log" in text(response)


def test_an_address_nothing_answers_is_a_page_in_the_pages_language(client):
    """A browser asking for an address no page answers gets the error page, in French when the
    page language is French; the API's clients still get problem+json."""
    html_headers = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    french = client.get("/nothing-here", headers={**html_headers, "Accept-Language": "fr"})
    assert french.status_code == 404 and french.mimetype == "text/html"
    assert "<h1>Introuvable</h1>" in text(french)
    assert "Il n&#39;y a rien à cette adresse." in text(french)
    assert 'lang="fr"' in text(french)
    english = client.get("/nothing-here", headers=html_headers)
    assert english.status_code == 404 and "<h1>Not found</h1>" in text(english)
    assert client.post("/rulesets", headers={**html_headers, "Accept-Language": "fr"}
                       ).status_code == 405
    for api in (client.get("/nothing-here"), client.get("/v1/nothing-here", headers=html_headers)):
        assert api.status_code == 404 and api.mimetype == "application/problem+json"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_control_character_in_the_address_is_a_422_page_naming_it(make_app, database_url):
    # Issue 17, item 3: a NUL here was a 500 on PostgreSQL (its text cannot hold NUL).
    client = make_app(database_url=database_url).test_client()
    sign_in(client, "everything")
    for url, name in [("/decisions?candidate_id=C%00", "candidate_id"),
                      ("/decisions?outcome=a%01b&ruleset=x", "outcome"),
                      ("/decisions/%00", "decision_id"), ("/draws/d%00", "draw_id"),
                      ("/decisions/export?version=%7F", "version"),
                      ("/rulesets/oinp.hcp.tech-draw?version=%C2%85", "version")]:
        response = client.get(url)
        assert response.status_code == 422, (url, text(response)[:300])
        assert response.mimetype == "text/html"
        assert f"control character in {name}" in text(response), url
    french = client.get("/draws/%00", headers={"Accept-Language": "fr"})
    assert "caractère de contrôle dans draw_id" in text(french)
    assert client.get("/decisions?candidate_id=C-1").status_code == 200


def test_the_print_stylesheet_hides_navigation_and_shows_link_targets(client):
    css = text(client.get("/static/pages.css"))
    media = css.split("@media print")[1]
    assert "header.site" in media and "display: none" in media
    assert 'a.ref::after { content: " <" attr(href) ">"' in media


# ------------------------------------------------------------------------------ decision log
def _log_app(folder, decisions: int):
    """An app with decisions of two candidates (one not in Ontario), signed in as auditor."""
    from service import create_app
    from tests.apps import app_config

    app = create_app(app_config(folder))
    client = app.test_client()
    for i in range(decisions):
        facts = {**PROFILE, "candidate_id": f"C-{i % 2}",
                 "intends_to_reside_in": "ON" if i % 2 == 0 else "BC"}
        decide(client, facts)
    sign_in(client, "auditor")
    return app, client


@pytest.fixture(scope="module")
def log_client(tmp_path_factory):
    """An app with seven decisions of two candidates (one not in Ontario)."""
    from tests.apps import close_app

    app, client = _log_app(tmp_path_factory.mktemp("log"), 7)
    yield client
    close_app(app)


def seqs(html: str) -> list[int]:
    return [int(n) for n in re.findall(r">No\. (\d+)<", html)]


def test_the_log_filters_and_pages(log_client, monkeypatch):
    assert seqs(text(log_client.get("/decisions"))) == [7, 6, 5, 4, 3, 2, 1]
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    first = text(log_client.get("/decisions?candidate_id=C-0&order=asc"))
    assert seqs(first) == [1, 3]
    next_url = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = text(log_client.get(next_url))
    assert seqs(second) == [5, 7] and 'rel="next"' not in second and "First page" in second
    assert seqs(text(log_client.get("/decisions?outcome=does_not_meet_criteria"))) == [6, 4]
    today = dt.date.today()
    assert len(seqs(text(log_client.get(f"/decisions?from={today}&to={today}")))) == 2
    tomorrow = today + dt.timedelta(days=1)
    assert "No decision matches." in text(log_client.get(f"/decisions?from={tomorrow}"))
    assert seqs(text(log_client.get("/decisions?ruleset=oinp.hcp.tech-draw&version=2019-07-11"
                                    "&candidate_id=C-1"))) == [6, 4]


def select_options(html: str, name: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of each option of the <select> named ``name``."""
    select = re.search(r'<select id="[^"]+" name="' + name + r'">(.*?)</select>', html, re.S)
    assert select, f"no <select> named {name}"
    return [(value, label, bool(selected)) for value, selected, label in re.findall(
        r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select.group(1))]


def test_the_log_filters_offer_the_known_rulesets_versions_and_outcomes(log_client):
    """Issue 19 item 5: choices, not free text; an address written before still filters."""
    html = text(log_client.get("/decisions"))
    rulesets = select_options(html, "ruleset")
    assert rulesets[0] == ("", "All rulesets", True)
    assert ("oinp.hcp.tech-draw", "oinp.hcp.tech-draw", False) in rulesets
    assert ("express-entry.crs", "express-entry.crs", False) in rulesets  # loaded, not logged
    versions = [value for value, _, _ in select_options(html, "version")]
    assert versions[0] == "" and "2019-07-11" in versions and versions[1:] == sorted(
        versions[1:], reverse=True)
    outcomes = {value: label for value, label, _ in select_options(html, "outcome")}
    assert "Does not meet the tech draw criteria" in outcomes["does_not_meet_criteria"]
    assert outcomes["does_not_meet_criteria"].endswith(" (does_not_meet_criteria)")
    chosen = text(log_client.get("/decisions?ruleset=oinp.hcp.tech-draw&version=2019-07-11"
                                 "&outcome=does_not_meet_criteria"))
    assert seqs(chosen) == [6, 4, 2]
    assert [v for v, _, selected in select_options(chosen, "ruleset") if selected] == [
        "oinp.hcp.tech-draw"]
    assert [v for v, _, selected in select_options(chosen, "version") if selected] == [
        "2019-07-11"]
    assert [v for v, _, selected in select_options(chosen, "outcome") if selected] == [
        "does_not_meet_criteria"]
    old = text(log_client.get("/decisions?ruleset=retired.program&outcome=gone"))
    assert "No decision matches." in old
    assert ("retired.program", "retired.program", True) in select_options(old, "ruleset")
    assert ("gone", "gone", True) in select_options(old, "outcome")
    french = text(log_client.get("/decisions", headers={"Accept-Language": "fr"}))
    outcomes = {value: label for value, label, _ in select_options(french, "outcome")}
    assert "Ne satisfait pas aux critères du tirage technologique" in outcomes[
        "does_not_meet_criteria"]


def test_bad_filters_are_explained_next_to_their_field(log_client):
    response = log_client.get("/decisions?from=15/07/2019")
    assert response.status_code == 422
    html = text(response)
    assert 'aria-invalid="true" aria-describedby="from-error"' in html
    assert 'id="from-error">Write the date as YYYY-MM-DD' in html
    bad_cursor = text(log_client.get("/decisions?cursor=xyz"))
    assert "This page link is not valid" in bad_cursor


def test_the_export_holds_the_filtered_records_with_hashes_that_recompute(log_client):
    response = log_client.get("/decisions/export?candidate_id=C-1")
    assert response.mimetype == "application/jsonl"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = [json.loads(line) for line in text(response).splitlines()]
    assert [r["seq"] for r in lines] == [2, 4, 6]
    for r in lines:
        row = {**r, "ruleset_id": r["ruleset"], "ruleset_version": r["version"],
               **{k: orjson.dumps(r[k], option=orjson.OPT_SORT_KEYS).decode()
                  for k in ("facts", "rulesets", "decision")}}
        assert record_hash(row) == r["record_hash"]


def test_the_verify_button_reports_an_intact_and_then_a_broken_chain(log_client):
    token = csrf_token(log_client, "/decisions")
    response = log_client.post("/decisions/verify", data={"csrf_token": token,
                                                          "next": "/decisions?outcome=x"})
    assert response.status_code == 303 and response.headers["Location"] == "/decisions?outcome=x"
    html = text(log_client.get("/decisions"))
    assert "The chain is intact." in html and "7 records checked." in html
    assert "The chain is intact." not in text(log_client.get("/decisions"))  # shown once
    store = log_client.application.extensions["decisions"].store
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS decision_log_no_update")
        conn.exec_driver_sql("UPDATE decision_log SET outcome = 'eligible' WHERE seq = 4")
    log_client.post("/decisions/verify", data={"csrf_token": token})
    html = text(log_client.get("/decisions"))
    assert "The chain is broken." in html and "Record 4 (altered)" in html
    record = store.page(store_filters(), after=3, limit=1)[0][0]
    page = text(log_client.get(f"/decisions/{record.decision_id}"))
    assert "Its content no longer matches its hash: it was altered." in page


def test_the_verify_button_reports_an_altered_kept_ruleset_version(tmp_path):
    from tests.apps import close_app

    app, log_client = _log_app(tmp_path, 7)
    token = csrf_token(log_client, "/decisions")
    store = app.extensions["decisions"].store
    # What the log's decisions show of the CRS rules, changed behind its back.
    tamper(store, "UPDATE ruleset_versions SET content = REPLACE(content, 'Age', 'Forged') "
                  "WHERE ruleset_id = 'express-entry.crs'", table="ruleset_versions")
    log_client.post("/decisions/verify", data={"csrf_token": token})
    html = text(log_client.get("/decisions"))
    assert "A kept ruleset version was altered." in html and "express-entry.crs" in html
    assert "The chain of 7 records holds." in html
    close_app(app)


def store_filters():
    from service.store import Filters

    return Filters()


# ---------------------------------------------------------------------------------- rulesets
def write_min_age(root, version: str, minimum: int, cases: str | None = None):
    """A one-rule ruleset version, with a case file of its own when ``cases`` is given."""
    folder = root / "test"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "contracts").mkdir(exist_ok=True)
    # The same one-rule ruleset as the API tests; it names its case file, written only here.
    body = textwrap.dedent(MIN_AGE.format(version=version, effective=version, minimum=minimum))
    if cases:
        (folder / f"min-age-{version}.cases.yaml").write_text(cases, encoding="utf-8")
    (folder / f"min-age-{version}.yaml").write_text(body, encoding="utf-8")


def test_rulesets_mark_versions_in_force_and_scheduled(make_app, tmp_path):
    root = tmp_path / "rulesets"
    today = dt.date.today()
    write_min_age(root, "2019-01-01", 18)
    write_min_age(root, "2099-01-01", 21)
    client = make_app(rulesets_dir=str(root)).test_client()
    sign_in(client, "decider")
    listing = text(client.get("/rulesets"))
    assert "Minimum age" in listing and "2099-01-01 from January 1, 2099" in listing
    page = text(client.get("/rulesets/test.min-age"))
    assert re.search(r"2019-01-01</span>.*?status-in_force\">in force", page, re.S)
    assert re.search(r"2099-01-01</a>.*?status-scheduled\">scheduled", page, re.S)
    assert "<code>age &gt;= 18</code>" in page  # the version in force, shown by default
    assert 'href="https://example.org/min-age#adult"' in page
    assert "This ruleset has no case file of its own." in page
    scheduled = text(client.get("/rulesets/test.min-age?version=2099-01-01"))
    assert "<code>age &gt;= 21</code>" in scheduled
    assert today.year < 2099


def test_a_ruleset_page_shows_its_cases_and_rule_coverage(auditor, monkeypatch):
    page = text(auditor.get("/rulesets/oinp.hcp.tech-draw"))
    cases = bundled_cases("oinp.hcp.tech-draw")
    assert f"{cases} of {cases} cases pass." in page
    assert "A candidate who intends to live in British Columbia does not meet the Ontario " \
           "residence criterion" in page
    coverage = page.split("Rule coverage")[1]
    assert coverage.count("2 of 2") == 2
    crs = text(auditor.get("/rulesets/express-entry.crs"))
    assert "Age" in crs and "age-with-spouse" in crs  # its tables, as grids (below)
    # the cases ran once for this catalog: the next page reads the cached run
    catalog = auditor.application.extensions["decisions"].rules.catalog
    assert catalog in pages.CASE_RUNS._runs
    monkeypatch.setattr(pages.data, "run_cases", lambda *a, **k: pytest.fail("ran again"))
    cases = bundled_cases("express-entry.language")
    page = text(auditor.get("/rulesets/express-entry.language"))
    assert f"{cases} of {cases} cases pass." in page


def test_a_french_ruleset_page_shows_the_case_names_in_french(auditor):
    french = text(auditor.get("/rulesets/oinp.hcp.tech-draw", headers={"Accept-Language": "fr"}))
    assert "Un candidat qui a l&#39;intention de vivre en Colombie-Britannique ne satisfait pas " \
           "au critère de résidence en Ontario" in french
    assert "A candidate who intends to live in British Columbia" not in french
    english = text(auditor.get("/rulesets/oinp.hcp.tech-draw"))
    assert "Colombie-Britannique" not in english.split('id="cases"')[1]


def test_a_case_named_in_english_only_reads_in_english_on_a_french_page(make_app, tmp_path):
    """A case file written by hand in one language: its names are English, and a French page
    shows them as they are, marked as English (lang="en"), beside the French of the others."""
    root = tmp_path / "rulesets"
    write_min_age(root, "2019-01-01", 18, cases=textwrap.dedent("""\
        ruleset: test.min-age
        cases:
          - name:
              en: A candidate of 18 is old enough
              fr: Un candidat de 18 ans a l'âge requis
            as_of: [2019-01-01, 2020-01-01]
            facts: {candidate_id: T1, age: 18}
            expect: {outcome: eligible}
          - name: A candidate of 17 is too young
            as_of: 2019-01-01
            facts: {candidate_id: T2, age: 17}
            expect: {outcome: not_eligible}
        """))
    client = make_app(rulesets_dir=str(root)).test_client()
    sign_in(client, "auditor")
    french = text(client.get("/rulesets/test.min-age", headers={"Accept-Language": "fr"}))
    assert "3 cas sur 3 réussissent." in french
    assert '<th scope="row">Un candidat de 18 ans a l&#39;âge requis (au 1er janvier 2019)</th>' \
        in french
    assert '<th scope="row" lang="en">A candidate of 17 is too young</th>' in french
    english = text(client.get("/rulesets/test.min-age"))
    assert '<th scope="row">A candidate of 18 is old enough (as of 2020-01-01)</th>' in english
    assert '<th scope="row">A candidate of 17 is too young</th>' in english


def grid_rows(html: str, caption: str) -> list[list[str]]:
    """The cells of the grid whose caption starts with ``caption``, row by row, as text."""
    table = next(t for t in re.findall(r"<table class=\"data grid\">.*?</table>", html, re.S)
                 if re.search(r'class="grid-title">' + re.escape(caption) + r"[^<]*<", t))
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in
             re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def test_a_points_table_reads_as_the_published_grid(auditor):
    """Issue 19 item 5: bands and points, a column for each case (with or without a spouse),
    not the compiled condition of each row."""
    crs = text(auditor.get("/rulesets/express-entry.crs?version=2019-07-11"))
    assert "with_spouse and age == 18" not in crs and "20.0 &lt;= age" not in crs
    age = grid_rows(crs, "Age")
    assert age[0][1:3] == ["With a spouse or partner when with_spouse",
                           "Without a spouse or partner when not with_spouse"]
    assert ["17 or less", "0", "0"] in age and ["18", "90", "99"] in age
    assert ["20 to 29", "100", "110"] in age and ["45 or more", "0", "0"] in age
    assert len(age) == 1 + 20  # the header and one row per band
    # tables with the same rows side by side: the two transferability education combinations
    education = grid_rows(crs, "… with first-language levels")
    assert education[0][1].startswith("Post-secondary credential of one year or longer")
    assert education[1:] == [["7 to 8", "13", "25"], ["9 or more", "25", "50"]]
    # a table alone, keyed on codes: one column of points, each code with its words
    job = grid_rows(crs, "Arranged employment (valid job offer)")
    assert job == [["arranged_employment", "Points"],
                   ["noc_00 valid job offer in NOC major group 00 (senior management)", "200"],
                   ["noc_0ab valid job offer in another NOC 0, A or B occupation", "50"]]
    # the rules that are not tables keep their form
    assert "<code>marital_status in partnered and spouse_accompanying and not " \
           "spouse_is_citizen_or_pr</code>" in crs
    french = text(auditor.get("/rulesets/express-entry.crs?version=2019-07-11",
                              headers={"Accept-Language": "fr"}))
    age = grid_rows(french, "Âge")
    assert age[0][1] == "Avec époux ou conjoint de fait quand with_spouse"
    assert ["17 ou moins", "0", "0"] in age and ["20 à 29", "100", "110"] in age
    assert ["45 ou plus", "0", "0"] in age
    assert "points à Âge" in french


def test_grid_numbers_are_written_as_each_language_writes_them(auditor):
    page = "/rulesets/express-entry.fsw.settlement-funds?version=2019"
    english = grid_rows(text(auditor.get(page)), "Settlement funds required by number")
    assert ["1", "12,669"] in english
    french = grid_rows(text(auditor.get(page, headers={"Accept-Language": "fr"})),
                       "Fonds d&#39;établissement exigés selon")
    assert ["1", "12\u00a0669"] in french  # a non-breaking space between thousands
    language = text(auditor.get("/rulesets/express-entry.language?version=2019-07-11",
                                headers={"Accept-Language": "fr"}))
    ielts = grid_rows(language, "Première langue officielle : résultat en compréhension de "
                                "l&#39;écrit au test IELTS")
    assert ["3,5 à 3,999", "4"] in ielts  # a decimal comma, every digit the chart gives


def test_a_long_ruleset_is_folded_by_its_own_parts(auditor):
    """The CRS page: a part per score bucket and per derived fact, in the order the ruleset
    declares them, each folded (<details>) unless asked open; the requirements of a ruleset
    with nothing else stay open."""
    crs = text(auditor.get("/rulesets/express-entry.crs"))
    parts = re.findall(r'<details class="part" id="part-\d+"( open)?>\s*<summary><h3>(.*?)</h3>',
                       crs)
    assert [title for _, title in parts][:4] == [
        "A. Core / human capital factors", "B. Spouse or common-law partner factors",
        "C. Skill transferability factors", "D. Additional points"]
    assert [title for _, title in parts][4].startswith("Scored with a spouse")
    assert not any(opened for opened, _ in parts)
    opened = text(auditor.get("/rulesets/express-entry.crs?open=all"))
    assert opened.count('<details class="part"') == opened.count('<details class="part" id="part-')
    assert len(re.findall(r'<details class="part" id="part-\d+" open>', opened)) == len(parts)
    draw = text(auditor.get("/rulesets/oinp.hcp.tech-draw"))
    assert len(re.findall(r'<details class="part" id="part-\d+" open>', draw)) == 1


def test_every_version_of_every_ruleset_shows_in_both_languages(auditor):
    """Grids and parts from every bundled table shape (points, conversion charts, codes,
    revoked versions, draws), in English and French."""
    catalog = auditor.application.extensions["decisions"].rules.catalog
    for version in catalog.all_versions():
        for language in ("en", "fr"):
            url = f"/rulesets/{version.id}?version={version.version}"
            response = auditor.get(url, headers={"Accept-Language": language})
            assert response.status_code == 200, (url, language)
            html = text(response)
            tables = len(version.raw.get("tables") or [])
            assert html.count('<table class="data grid">') <= tables, url
            assert (tables == 0) == ('<table class="data grid">' not in html), url


def test_the_log_choices_hold_versions_only_the_log_kept(auditor):
    """A ruleset or version the loaded rulesets no longer have, but decisions in the log used,
    is still offered."""
    catalog = auditor.application.extensions["decisions"].rules.catalog
    choices = page_data.log_choices(catalog, [("oinp.hcp.retired", "2018-01-01")], {}, "fr")
    assert ("oinp.hcp.retired", "oinp.hcp.retired") in choices["ruleset"]
    assert ("2018-01-01", "2018-01-01") in choices["version"]
    assert ("", "") not in choices["version"]
    outcomes = dict(choices["outcome"])
    assert outcomes["revoked"] == "Plus en vigueur : abrogé (revoked)"


def test_a_failing_case_shows_expected_and_actual(make_app, tmp_path):
    root = tmp_path / "rulesets"
    write_min_age(root, "2019-01-01", 18, cases=(
        "ruleset: test.min-age\ncases:\n"
        "  - name: A 20-year-old is an adult\n    as_of: 2020-01-01\n"
        "    facts: {candidate_id: A, age: 20}\n    expect: {outcome: eligible}\n"
        "  - name: A 17-year-old is wrongly expected to be an adult\n    as_of: 2020-01-01\n"
        "    facts: {candidate_id: B, age: 17}\n    expect: {outcome: eligible}\n"))
    client = make_app(rulesets_dir=str(root)).test_client()
    sign_in(client, "decider")
    page = text(client.get("/rulesets/test.min-age"))
    assert "1 of 2 cases passes." in page
    assert "<code>outcome</code>: expected eligible, got not_eligible" in page
    assert "Requirements no case fails" in page


# ------------------------------------------------------------------------------------ impact
def test_the_impact_page_compares_two_versions_on_the_rulesets_cases(auditor):
    response = auditor.get("/rulesets/express-entry.crs/diff?from=2020-10-27&to=2025-03-25")
    assert response.status_code == 200
    html = text(response)
    assert f"{bundled_cases('express-entry.crs')} cases decided with both versions" in html
    assert "the outcome changes for 0" in html
    assert re.search(r'<svg [^>]*class="chart chart-histogram"', html)
    assert "no change" in html and "<code>crs.total</code>" in html
    examples = html.split('id="examples"')[1]
    assert "CRS goes down" in examples and examples.count('class="side"') >= 2
    assert "With 2020-10-27" in examples and "With 2025-03-25" in examples
    assert "+200 points to Arranged employment" in examples


def test_the_impact_page_reads_the_log_only_for_auditors(app, seeded):
    decider = app.test_client()
    sign_in(decider, "decider")
    refused = decider.get("/rulesets/oinp.hcp.tech-draw/diff?source=log")
    assert refused.status_code == 422 and "needs the audit role" in text(refused)
    auditor = app.test_client()
    sign_in(auditor, "auditor")
    html = text(auditor.get("/rulesets/oinp.hcp.tech-draw/diff?source=log&from=2019-07-11"
                            "&to=2022-11-16"))
    assert "2 cases decided with both versions" in html
    bad = auditor.get("/rulesets/oinp.hcp.tech-draw/diff?from=1999")
    assert bad.status_code == 422 and "This ruleset has no version 1999." in text(bad)
    single = text(auditor.get("/rulesets/express-entry.fsw.grid/diff"))
    assert "one version only" in single


# ------------------------------------------------------------------------------------- draws
def test_the_draw_page(make_app, tmp_path, monkeypatch):
    pytest.importorskip("service.draws", reason="the draws module (issue 7) is not here yet")
    from tests.test_draws import POOL, small_draw_rulesets

    app = make_app(rulesets_dir=str(small_draw_rulesets(tmp_path)))
    client = app.test_client()
    body = b"".join(orjson.dumps(c) + b"\n" for c in POOL)
    held = client.post("/v1/draws?ruleset=test.draw.small&draw_id=d1", data=body, headers={
        "Authorization": f"Bearer {TOKENS['decider'][1]}", "Content-Type": "application/jsonl"})
    assert held.status_code == 201, held.get_json()
    sign_in(client, "auditor")
    monkeypatch.setattr(pages, "INVITATIONS_PAGE", 2)
    html = text(client.get("/draws/d1"))
    assert "the cutoff is 449 points" in html
    assert "submitted at or before January 1, 2019 at 10:00:00 UTC (the tie-break)" in html
    assert re.search(r'<svg [^>]*class="chart chart-histogram"', html) and "cutoff 449" in html
    invitations = html.split('id="invitations"')[1]
    assert invitations.count("explanation") == 2 and 'rel="next"' in invitations
    next_url = re.search(r'<a href="([^"]+)" rel="next">', invitations).group(1)
    rest = text(client.get(next_url.replace("&amp;", "&"))).split('id="invitations"')[1]
    assert rest.count("explanation") == 1 and 'rel="next"' not in rest
    assert "d1" in text(client.get("/draws"))
    french = text(client.get("/draws/d1", headers={"Accept-Language": "fr"}))
    assert "Un petit tirage d&#39;essai" in french and "le seuil est de 449 points" in french
    # Dates as a francophone writes them (issue 19, item 6), never ISO times.
    assert "12 juillet 2019" in french and "1er janvier 2019 à 10:00:00 UTC" in french
    assert "2019-01-01" not in french and "10:00:00 UTC (the" not in french
    assert client.get("/draws/nope").status_code == 404


# ------------------------------------------------------------------------ pages as documents
class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.labels: set[str] = set()
        self.html_lang = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "label" and attrs.get("for"):
            self.labels.add(attrs["for"])
        if tag == "html":
            self.html_lang = attrs.get("lang")


def page_urls(seeded) -> list[str]:
    return ["/", f"/decisions/{seeded['not_met']}", f"/decisions/{seeded['crs']}", "/decisions",
            "/rulesets", "/rulesets/oinp.hcp.tech-draw", "/rulesets/express-entry.crs",
            "/rulesets/express-entry.crs/diff",
            "/draws"]


def test_pages_are_plain_accessible_documents(auditor, seeded):
    for url in page_urls(seeded):
        response = auditor.get(url)
        assert response.status_code == 200, url
        html = text(response)
        page = _Page()
        page.feed(html)
        assert page.html_lang == "en", url
        assert "<script" not in html.lower(), url  # nothing needs JavaScript
        assert [t for t, _ in page.tags].count("h1") == 1, url
        assert ("a", {"class": "skip", "href": "#content"}) in page.tags, url
        for tag, attrs in page.tags:
            if tag in ("input", "select", "textarea") and attrs.get("type") not in (
                    "hidden", "submit"):
                assert attrs.get("id") in page.labels, (url, attrs)  # every control labelled
            if tag in ("link", "img", "script") or (tag == "form"):
                target = attrs.get("href") or attrs.get("src") or attrs.get("action") or ""
                assert target.startswith("/"), (url, tag, target)  # all from this app
            if tag == "svg":
                assert attrs.get("role") == "img" and attrs.get("aria-labelledby"), url
            if tag == "th" and attrs.get("scope") is None:
                pytest.fail(f"{url}: a table header without scope")
        headers = response.headers
        assert "script-src" not in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
        assert headers["Content-Language"] == "en"


def test_focus_is_always_visible_and_colours_have_contrast(client):
    css = text(client.get("/static/pages.css"))
    assert ":focus-visible { outline: 3px solid" in css
    assert "outline: none" not in css.replace("main:focus { outline: none; }", "")

    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    def contrast(a: str, b: str) -> float:
        high, low = sorted((luminance(a), luminance(b)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    variables = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6})", css))
    for fg, bg in (("text", "#ffffff"), ("muted", "#ffffff"), ("link", "#ffffff"),
                   ("ok", "ok-bg"), ("bad", "bad-bg"), ("muted", "soft"), ("link", "info-bg"),
                   ("text", "bad-bg")):
        background = bg if bg.startswith("#") else variables[bg]
        assert contrast(variables[fg], background) >= 4.5, (fg, bg)
    assert contrast("#ffffff", "#14365f") >= 4.5 and contrast("#ffffff", "#1f5fa8") >= 4.5


def test_a_superseded_version_shows_its_last_day(auditor):
    """Issue 19 item 5: the day before the next version starts, not "—"."""
    page = text(auditor.get("/rulesets/oinp.hcp.tech-draw"))
    versions = page.split('id="versions"')[1].split("</table>")[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", versions, flags=re.S)[1:]
    last_days = [re.findall(r"<td>(.*?)</td>", row, flags=re.S)[1].strip() for row in rows]
    assert last_days[-1] == "—"  # the latest version has no known end
    assert all(day != "—" for day in last_days[:-1]), last_days
    assert "2022" in last_days[0] and "2026" in last_days[1], last_days
