"""The impact of a ruleset change: what staff see before a new version goes live."""

from __future__ import annotations

import datetime as dt
import json

from service.checks.impact import Case, compare, format_impact, read_cases
from service.decisions import InlineDecider

from .conftest import PROFILE
from .test_cli import run


def test_job_offer_points_removal_moves_exactly_the_job_offer_cases(catalog, engine, tmp_path):
    cases = [Case({**PROFILE, "arranged_employment": offer}, None, offer)
             for offer in ("none", "noc_00", "noc_0ab", "noc_0ab")]
    impact = compare(InlineDecider(catalog, engine), catalog, "express-entry.crs", "2020-10-27",
                     "2025-03-25", cases)
    assert impact.cases == 4 and impact.changed_outcomes == 0 and not impact.errors
    total = impact.score_summary()["crs.total"]
    # The grid: arranged employment NOC 00 = 200, other NOC 0/A/B = 50; none from 2025-03-25.
    assert (total["changed"], total["down"], total["min"], total["max"]) == (3, 3, -200, 0)
    assert sorted(impact.shifts["crs.total"]) == [-200, -50, -50, 0]
    assert impact.shifts["crs.core"] == [0, 0, 0, 0]
    assert [e["case"] for e in impact.examples["crs down"]] == ["noc_00", "noc_0ab", "noc_0ab"]
    text = format_impact(impact)
    assert "crs.total" in text and "no longer fires: arranged-employment#1" in text


def test_diff_command_reads_json_lines_and_reports_outcome_changes(tmp_path):
    lines = [PROFILE, {"facts": {**PROFILE, "primary_noc": "1111"}, "as_of": "2023-01-10"}]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert [c.label.rsplit(":", 1)[1] for c in read_cases(path)] == ["1", "2"]
    result = run("diff", "oinp.hcp.tech-draw", "--from", "2019-07-11", "--to", "2022-11-16",
                 "--cases", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cases"] == 2 and report["errors"] == {}
    assert sum(o["count"] for o in report["outcomes"]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    result = run("diff", "oinp.hcp.tech-draw", "--from", "2019-07-11", "--to", "2022-11-16",
                 "--cases", str(bad))
    assert result.returncode == 2 and "bad.jsonl:1: not JSON" in result.stderr


def test_diff_from_the_decision_log_uses_every_decision_that_used_the_ruleset(
        catalog, engine, tmp_path):
    from service.decisions import decide
    from service.store import NewDecision, Store

    url = f"sqlite:///{tmp_path / 'log.db'}"
    store = Store(url)
    store.upgrade()
    day = dt.date(2025, 6, 1)
    logged = [(ruleset, {**PROFILE, "candidate_id": f"L{i}", "arranged_employment": offer})
              for i, (ruleset, offer) in enumerate([("express-entry.crs", "noc_00"),
                                                     ("express-entry.assessment", "noc_0ab"),
                                                     ("oinp.hcp.tech-draw", "none"),
                                                     ("express-entry.language", "noc_00")])]
    store.append([NewDecision(decide(catalog, engine, r, f, day), f) for r, f in logged],
                 [v.kept() for v in catalog.all_versions()])
    store.close()
    result = run("diff", "express-entry.crs", "--from", "2020-10-27", "--to", "2025-03-25",
                 "--log", "--database-url", url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # The language-only decision did not use the CRS: three cases, two with a job offer.
    assert report["cases"] == 3
    assert report["scores"]["crs.total"]["changed"] == 2
    assert (report["scores"]["crs.total"]["min"], report["scores"]["crs.total"]["max"]) == \
        (-200, 0)


def test_a_change_to_an_included_list_shows_in_every_ruleset_that_includes_it(tmp_path):
    """Issue 18 item 9: 21221 added to the tech list of express-entry.noc in a new version. The
    noc ruleset only derives, so its own outcome cannot move; the tech draw that includes it
    must show the 21221 candidate's outcome flip, and other candidates stay put."""
    import shutil

    from service.engine import load_compiled
    from tests.apps import RULESETS

    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS, root)
    old = (root / "express-entry" / "noc-2019-07-11.yaml").read_text(encoding="utf-8")
    new = old.replace('version: "2019-07-11"', 'version: "2026-04-01"') \
        .replace("effective: {from: 2019-07-11}", "effective: {from: 2026-04-01}") \
        .replace('value: ["21211", "21231"', 'value: ["21221", "21211", "21231"')
    new = "\n".join(line for line in new.splitlines() if not line.startswith("cases:"))
    assert new.count("21221") == 1
    (root / "express-entry" / "noc-2026-04-01.yaml").write_text(new, encoding="utf-8")
    catalog, engine = load_compiled(root)
    profile = {**PROFILE, "noc_version": "2021"}
    day = dt.date(2026, 5, 1)  # the tech draw is in force (revoked from 2026-05-30)
    cases = [Case({**profile, "primary_noc": "21221"}, day, "business systems specialist"),
             Case({**profile, "primary_noc": "21231"}, day, "software engineer")]
    impact = compare(InlineDecider(catalog, engine), catalog, "express-entry.noc", "2019-07-11",
                     "2026-04-01", cases, includers=True)
    assert impact.changed_outcomes == 0  # noc decides nothing: its outcome is "assessed"
    assert impact.derived == {"occupation.tech_2021_listed": 1}
    tech = impact.includers["oinp.hcp.tech-draw"]
    assert tech.outcomes == {("does_not_meet_criteria", "meets_criteria"): 1,
                             ("meets_criteria", "meets_criteria"): 1}
    [example] = tech.examples["outcome does_not_meet_criteria -> meets_criteria"]
    assert example["case"] == "business systems specialist"
    # a draw of 2019 is in force on none of these days: said once, not decided
    assert impact.includers["oinp.hcp.draw.tech-2019-07-12"].not_in_force == 2
    text = format_impact(impact)
    assert "== oinp.hcp.tech-draw, which includes express-entry.noc" in text
    assert "does_not_meet_criteria -> meets_criteria" in text
    none_line = next(line for line in text.splitlines()
                     if "in force on none of the cases' days: " in line)
    assert "oinp.hcp.draw.tech-2019-07-12" in none_line.split(": ", 1)[1].split(", ")
