"""A live ruleset folder the workbench may publish into (a git repository, one small ruleset
whose versions and cases the tests control), a decision service over it on a fresh database
(SQLite and PostgreSQL), and the people of the four-eyes journey."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from service.auth import Caller
from service.live import DecisionService, Rules
from service.workbench import Workbench
from tests.apps import RULESETS, write_min_age

ANN = Caller("ann", frozenset({"author"}))  # writes drafts
BOB = Caller("bob", frozenset({"review", "audit"}))  # reviews and publishes
CLAUDE = Caller("claude", frozenset({"author", "review"}))  # holds both roles
AUDITOR = Caller("ines", frozenset({"audit"}))


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=setup", "-c",
                           "user.email=setup@example.org", *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def live(tmp_path) -> Path:
    """rulesets/ with the contract, the classifications and test.min-age 2019-01-01 (18), in a
    git repository of its own."""
    root = tmp_path / "rulesets"
    (root / "contracts").mkdir(parents=True)
    shutil.copy(RULESETS / "contracts" / "candidate-profile.yaml", root / "contracts")
    shutil.copytree(RULESETS / "classifications", root / "classifications")
    write_min_age(root, "2019-01-01", "2019-01-01", 18)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "the rules as they are")
    return root


@pytest.fixture
def bench(live, store) -> Workbench:
    rules = Rules.load(str(live), isolated=False)
    service = DecisionService(rules, store, str(live), isolated=False)
    yield Workbench(service)
    rules.decider.close()


def write_adult_top(live: Path) -> None:
    """test.adult-top, which includes test.min-age, with a case of a 19-year-old in 2027 that a
    minimum age of 21 from 2027 breaks."""
    top = live / "test" / "adult-top-2019-01-01.yaml"
    top.write_text(textwrap.dedent("""\
        id: test.adult-top
        version: "2019-01-01"
        effective: {from: 2019-01-01}
        title: {en: Adult program, fr: Programme des adultes}
        reference: https://example.org/adult-top
        includes: [{ruleset: test.min-age, as: min}]
        rules:
          - id: adult
            title: {en: Old enough, fr: Assez âgé}
            reference: https://example.org/adult-top#adult
            require: min.met
        """), encoding="utf-8")
    (live / "test" / "adult-top.cases.yaml").write_text(textwrap.dedent("""\
        ruleset: test.adult-top
        cases:
          - name:
              en: A candidate of 19 is old enough in 2027
              fr: Un candidat de 19 ans a l'âge requis en 2027
            as_of: 2027-06-01
            facts: {candidate_id: T9, age: 19}
            expect: {outcome: eligible}
          - name: {en: A candidate of 17 is too young, fr: Un candidat de 17 ans est trop jeune}
            as_of: 2020-01-01
            facts: {candidate_id: T8, age: 17}
            expect: {outcome: not_eligible}
        """), encoding="utf-8")
