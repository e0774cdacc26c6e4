"""What the tests of the HTTP API, the pages and the browser share: one token per role, the
Config of an app over a fresh SQLite log, and a one-rule ruleset whose versions a test controls.
The fixtures that build apps are in tests/conftest.py."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

from service.auth import token_line
from service.config import Config

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"

TOKENS = {  # name: (roles, token)
    "everything": (("decide", "audit", "admin"), "tok-everything-0123456789"),
    "decider": (("decide",), "tok-decider-0123456789"),
    "auditor": (("audit",), "tok-auditor-0123456789"),
    "admin": (("admin",), "tok-admin-0123456789"),
    # the workbench: an author, a second author, a reviewer, and one who holds both roles
    "author": (("author",), "tok-author-0123456789"),
    "author2": (("author",), "tok-author2-0123456789"),
    "reviewer": (("review", "audit"), "tok-reviewer-0123456789"),
    "both": (("author", "review"), "tok-both-0123456789"),
}

MIN_AGE = """\
    id: test.min-age
    version: "{version}"
    effective: {{from: {effective}}}
    title: {{en: Minimum age, fr: Âge minimum}}
    reference: https://example.org/min-age
    facts:
      candidate_id: {{type: string, min_length: 1, max_length: 64}}
      age: {{type: integer, min: 0, max: 120}}
    rules:
      - id: adult
        title: {{en: Is an adult, fr: Est majeur}}
        reference: https://example.org/min-age#adult
        require: age >= {minimum}
    cases: min-age-{version}.cases.yaml
"""
MIN_AGE_CASES = """\
    ruleset: test.min-age
    cases:
      - name: A candidate of {minimum} is old enough
        as_of: {effective}
        facts: {{candidate_id: T1, age: {minimum}}}
        expect: {{outcome: eligible}}
      - name: A candidate a year younger than {minimum} is too young
        as_of: {effective}
        facts: {{candidate_id: T2, age: {below}}}
        expect: {{outcome: not_eligible}}
"""


def write_min_age(root: Path, version: str, effective: str, minimum: int = 18) -> Path:
    """A one-rule ruleset whose versions and threshold a test controls."""
    path = root / "test" / f"min-age-{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(MIN_AGE.format(version=version, effective=effective,
                                                   minimum=minimum)), encoding="utf-8")
    # Each version's own cases: a reload refuses a folder whose cases fail or miss a rule.
    (path.parent / f"min-age-{version}.cases.yaml").write_text(textwrap.dedent(MIN_AGE_CASES.format(
        minimum=minimum, below=minimum - 1, effective=effective)), encoding="utf-8")
    return path


def rulesets_without_french(folder: Path, code: str, classification: str = "noc-2021") -> Path:
    """A copy of the bundled rulesets where ``code`` of ``classification`` has no French title,
    with the note the format asks for instead: how a code whose official French title no source
    gave is shown, now that every bundled code has one."""
    root = folder / "rulesets"
    shutil.copytree(RULESETS, root)
    path = root / "classifications" / f"{classification}.yaml"
    text, found = re.subn(rf'^(  "{code}": {{en: "[^"]*"), fr: "[^"]*"',
                          r'\1, note: "no source read"', path.read_text(encoding="utf-8"),
                          flags=re.M)
    assert found == 1, f"{code} has no French title in {path}"
    path.write_text(text, encoding="utf-8")
    return root


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][1]}"}


def write_tokens(path: Path) -> Path:
    path.write_text("".join(token_line(name, roles, token) + "\n"
                            for name, (roles, token) in TOKENS.items()), encoding="utf-8")
    return path


def app_config(folder: Path, **overrides) -> Config:
    settings = {"rulesets_dir": str(RULESETS), "tokens_file": str(write_tokens(
        folder / "tokens")), "database_url": f"sqlite:///{folder / 'decisions.db'}",
        "isolate_engine": False, **overrides}
    return Config(**settings)


def close_app(app) -> None:
    service = app.extensions["decisions"]
    service.rules.decider.close()
    service.store.close()


def bundled_cases(ruleset_id: str) -> int:
    """How many cases (one per case and day) the bundled case files hold for a ruleset: what the
    pages count, read from the files so that the tests do not go stale when cases are added."""
    from service.checks.cases import CaseFileSchema, case_files
    from service.rulesets import load_yaml

    count = 0
    for path in case_files(RULESETS):
        loaded = CaseFileSchema().load(load_yaml(path, str(path))[0])
        if loaded["ruleset"] == ruleset_id:
            count += sum(len(case["as_of"]) for case in loaded["cases"])
    return count
