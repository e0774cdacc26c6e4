"""A federal round's pages: the round ruleset shows what IRCC published of it (round number,
date and time, type, invitations, lowest CRS score invited, tie-break time, cited), and a draw
held here over a pool shows its own cutoff and tie-break beside the published ones."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml

from tests.apps import TOKENS
from tests.pages.conftest import sign_in

ROUND = "express-entry.round.2023-06-28-healthcare"
CASES = Path(__file__).parents[2] / "rulesets/express-entry/rounds/2023-06-28-healthcare.cases.yaml"


def text(response) -> str:
    return response.get_data(as_text=True)


def round_pool() -> list[dict]:
    """Three candidates of the round's own cases: 476 points (the published lowest score) submitted
    at the published tie-break second and one second later, and one without healthcare work."""
    base = yaml.safe_load(CASES.read_text())["base"]
    for job in base["work_history"]:
        job["start"] = job["start"].isoformat()
    return [{**base, "candidate_id": "C-AT-TIE-BREAK"},
            {**base, "candidate_id": "C-ONE-SECOND-LATER",
             "profile_submitted_at": "2022-11-12T12:47:28Z"},
            {**base, "candidate_id": "C-NO-HEALTHCARE-WORK", "work_history": []}]


def test_a_round_ruleset_shows_the_round_as_ircc_published_it(client):
    sign_in(client, "auditor")
    html = text(client.get(f"/rulesets/{ROUND}"))
    published = html.split('id="published-round"')[1].split("</table>")[0]
    for shown in ("Round #252 as IRCC published it", "#252", "June 28, 2023 at 14:04:34 UTC",
                  "Healthcare occupations (Version 1)", ">500<", ">476<",
                  "November 12, 2022 at 12:47:27 UTC", "invitations.html?q=252"):
        assert shown in published, shown
    french = text(client.get(f"/rulesets/{ROUND}", headers={"Accept-Language": "fr"}))
    published = french.split('id="published-round"')[1].split("</table>")[0]
    assert "Ronde no 252 telle qu" in published
    assert "Professions de la santé (version 1)" in published
    assert "Note SCG du candidat le moins bien classé invité" in published


def test_a_round_held_here_shows_its_cutoff_beside_the_published_one(make_app):
    app = make_app()
    client = app.test_client()
    body = b"".join(orjson.dumps(c) + b"\n" for c in round_pool())
    held = client.post(f"/v1/draws?ruleset={ROUND}&draw_id=r252", data=body, headers={
        "Authorization": f"Bearer {TOKENS['decider'][1]}", "Content-Type": "application/jsonl"})
    assert held.status_code == 201, held.get_json()
    draw = held.get_json()
    # Two eligible at 476 and 500 invitations: both are invited, the later one sets the cutoff.
    assert draw["counts"]["invited"] == 2 and draw["counts"]["ineligible"] == 1
    assert draw["cutoff"]["score"] == 476
    assert draw["cutoff"]["tie_break_at"] == "2022-11-12T12:47:28Z"
    assert draw["published"]["lowest_score"] == 476
    sign_in(client, "auditor")
    html = text(client.get("/draws/r252"))
    table = html.split('id="published-round"')[1].split("</table>")[0]
    rows = {row.split("</th>")[0].rsplit(">", 1)[1]: row for row in table.split("<tr>")[2:]}
    assert ">476<" in rows["CRS score of lowest-ranked candidate invited"]
    assert rows["CRS score of lowest-ranked candidate invited"].count(">476<") == 2
    tie = rows["Tie-breaking rule"]
    assert "November 12, 2022 at 12:47:27 UTC" in tie \
        and "November 12, 2022 at 12:47:28 UTC" in tie
    invitations = rows["Number of invitations issued"]
    assert ">500<" in invitations and ">2<" in invitations
    french = text(client.get("/draws/r252", headers={"Accept-Language": "fr"}))
    assert "Règle de départage" in french and "Ce tirage" in french
