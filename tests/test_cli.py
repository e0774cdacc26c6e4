"""The decisions command, end to end, as policy staff and developers run it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import PROFILE, ROOT, RULESETS

BROKEN = Path(__file__).parent / "broken"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_check_passes_on_the_bundled_rulesets():
    result = run("check", str(RULESETS))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")


def test_check_fails_with_every_message_on_a_broken_folder(tmp_path):
    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS, root)
    for name in ("unknown-fact.yaml", "missing-french.yaml"):
        text = (BROKEN / name).read_text().replace("test.broken", f"test.{name[:-5]}")
        (root / name).write_text(text)
    result = run("check", str(root))
    assert result.returncode == 1
    assert "rulesets/unknown-fact.yaml:12: rules[adult].require: unknown fact 'agee'; did you " \
           "mean 'age'?" in result.stderr
    assert "rulesets/missing-french.yaml:10: rules[adult].title: missing the fr text" \
        in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_explain_eligible_and_ineligible_candidates(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(PROFILE))
    result = run("explain", "oinp.hcp.tech-draw", str(good), "--as-of", "2019-07-15")
    assert result.returncode == 0, result.stderr
    assert "Outcome: Meets the tech draw criteria [meets_criteria]" in result.stdout
    assert "[met    ] Intends to live in Ontario" in result.stdout

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**PROFILE, "education": "two_year_post_secondary",
                               "education_degree": "none"}))
    result = run("explain", "oinp.hcp.tech-draw", str(bad), "--as-of", "2019-07-15", "--json")
    decision = json.loads(result.stdout)
    assert decision["outcome"] == "does_not_meet_criteria"
    education = next(r for r in decision["requirements"] if r["rule"] == "education")
    assert education["because"]["en"].startswith("The stream asks for a bachelor's, master's "
                                                 "or doctoral degree.")

    result = run("explain", "oinp.hcp.tech-draw", str(bad), "--as-of", "2019-07-15",
                 "--lang", "fr")
    assert "Résultat: Ne satisfait pas aux critères du tirage technologique" in result.stdout


def test_explain_reports_bad_facts_by_field(tmp_path):
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({**PROFILE, "age": "old"}))
    result = run("explain", "oinp.hcp.tech-draw", str(facts), "--as-of", "2019-07-15")
    assert result.returncode == 1
    assert "age: Not a valid integer." in result.stderr


DEMO = """\
id: demo.adult
version: "1"
effective: {from: 2019-01-01}
title: {en: Adult, fr: Adulte}
reference: https://example.org
contract: candidate-profile
rules:
  - id: adult
    title: {en: Adult, fr: Adulte}
    reference: https://example.org
    require: age >= 18
  - id: in-ontario
    title: {en: In Ontario, fr: En Ontario}
    reference: https://example.org
    require: intends_to_reside_in == 'ON'
"""
CASE = """\
  - name: A {age}-year-old candidate {verdict}
    as_of: 2020-01-01
    facts: {{age: {age}}}
    expect: {{outcome: {outcome}}}
"""


def _demo(ruleset_dir, cases):
    ruleset_dir("demo.yaml", DEMO)
    base = {k: PROFILE[k] for k in ("candidate_id", "marital_status", "education",
                                    "first_language", "primary_noc", "noc_version",
                                    "intends_to_reside_in")}
    ruleset_dir("demo.cases.yaml", "ruleset: demo.adult\nbase: " + json.dumps(base)
                + "\ncases:\n" + "".join(CASE.format(**c) for c in cases))
    return ruleset_dir.root


def test_test_command_passes_and_reports_expected_against_actual(ruleset_dir):
    root = _demo(ruleset_dir, [
        {"age": 30, "verdict": "is an adult", "outcome": "eligible"},
        {"age": 12, "verdict": "is a child", "outcome": "eligible"}])
    result = run("test", str(root))
    assert result.returncode == 1
    assert "FAIL rulesets/demo.cases.yaml:" in result.stdout
    assert "A 12-year-old candidate is a child" in result.stdout
    assert "outcome: expected 'eligible', got 'not_eligible'" in result.stdout
    assert "1 passed, 1 failed" in result.stdout


def test_test_command_lists_rules_no_case_fires(ruleset_dir):
    root = _demo(ruleset_dir, [{"age": 12, "verdict": "is a child", "outcome": "not_eligible"}])
    result = run("test", str(root))
    assert result.returncode == 1
    assert "UNCOVERED demo.adult 1: no case fires adult" in result.stdout
    root = _demo(ruleset_dir, [{"age": 12, "verdict": "is a child", "outcome": "not_eligible"},
                               {"age": 30, "verdict": "is an adult", "outcome": "eligible"}])
    result = run("test", str(root))
    assert result.returncode == 0, result.stdout
    assert "2 passed, 0 failed" in result.stdout


def test_a_case_naming_a_rule_that_does_not_exist_fails(ruleset_dir):
    root = _demo(ruleset_dir, [{"age": 12, "verdict": "is a child", "outcome": "not_eligible"},
                               {"age": 30, "verdict": "is an adult", "outcome": "eligible"}])
    cases = root / "demo.cases.yaml"
    cases.write_text(cases.read_text().replace("expect: {outcome: eligible}",
                                               "expect: {outcome: eligible, fired: [adlut]}"))
    result = run("test", str(root))
    assert result.returncode == 1
    assert "fired.adlut: expected 'a rule of the rulesets used', got 'no such rule'" \
        in result.stdout


def test_a_case_can_be_decided_on_several_days(ruleset_dir):
    root = _demo(ruleset_dir, [{"age": 12, "verdict": "is a child", "outcome": "not_eligible"},
                               {"age": 30, "verdict": "is an adult", "outcome": "eligible"}])
    cases = root / "demo.cases.yaml"
    cases.write_text(cases.read_text().replace("as_of: 2020-01-01", "as_of: [2020-01-01, "
                                               "2021-06-30]"))
    result = run("test", str(root))
    assert result.returncode == 0, result.stdout
    assert "4 passed, 0 failed" in result.stdout
    cases.write_text(cases.read_text().replace("2021-06-30", "2018-06-30", 1))
    result = run("test", str(root))
    assert "A 12-year-old candidate is a child (as of 2018-06-30)" in result.stdout
    assert "no version of 'demo.adult' is in force on 2018-06-30" in result.stdout


def test_a_case_file_with_an_impossible_date_fails_test_and_check(ruleset_dir):
    root = _demo(ruleset_dir, [{"age": 12, "verdict": "is a child", "outcome": "not_eligible"},
                               {"age": 30, "verdict": "is an adult", "outcome": "eligible"}])
    cases = root / "demo.cases.yaml"
    cases.write_text(cases.read_text().replace("as_of: 2020-01-01", "as_of: 2019-02-30", 1))
    result = run("test", str(root))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cases[0].as_of: '2019-02-30' is not a real date" in result.stdout
    # its cases never ran: the file counts as a failure in the closing line
    assert result.stdout.rstrip().splitlines()[-1].startswith("0 passed, 1 failed")
    result = run("check", str(root))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "rulesets/demo.cases.yaml:" in result.stderr and "not a real date" in result.stderr
    assert "1 problem(s) found" in result.stderr


def test_check_names_an_impossible_effective_date_with_its_line(ruleset_dir):
    root = _demo(ruleset_dir, [{"age": 30, "verdict": "is an adult", "outcome": "eligible"}])
    ruleset = next(p for p in root.glob("*.yaml") if not p.name.endswith(".cases.yaml"))
    ruleset.write_text(ruleset.read_text().replace("from: 2019-01-01", "from: 2027-02-30"))
    result = run("check", str(root))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "effective.from: '2027-02-30' is not a real date" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_refuses_an_engine_deadline_past_the_worker_timeout(tmp_path):
    """A hung engine must cost its request a 503 before gunicorn kills the worker."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DECISIONS_")},
           "DECISIONS_ENGINE_TIMEOUT": "45"}
    # No ruleset folder either: were the deadline let through, the start would stop there.
    result = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--timeout", "40",
                             "--rulesets", str(tmp_path / "none"), "--port", str(free_port()),
                             "--database-url", f"sqlite:///{tmp_path / 'd.db'}",
                             "--tokens-file", str(tmp_path / "tokens")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "the engine's deadline (DECISIONS_ENGINE_TIMEOUT, 45 s) must be below the worker " \
           "timeout (--timeout, 40 s)" in result.stderr
