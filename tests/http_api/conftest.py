"""An app over a fresh decision log, with one token per role."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from service import create_app
from service.auth import token_line
from service.config import Config
from tests.conftest import RULESETS
from tests.databases import database_url, store  # noqa: F401  (fixtures)

TOKENS = {  # name: (roles, token)
    "everything": (("decide", "audit", "admin"), "tok-everything-0123456789"),
    "decider": (("decide",), "tok-decider-0123456789"),
    "auditor": (("audit",), "tok-auditor-0123456789"),
    "admin": (("admin",), "tok-admin-0123456789"),
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


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][1]}"}


def write_tokens(path: Path) -> Path:
    path.write_text("".join(token_line(name, roles, token) + "\n"
                            for name, (roles, token) in TOKENS.items()), encoding="utf-8")
    return path


def _config(folder: Path, **overrides) -> Config:
    settings = {"rulesets_dir": str(RULESETS), "tokens_file": str(write_tokens(
        folder / "tokens")), "database_url": f"sqlite:///{folder / 'decisions.db'}",
        "isolate_engine": False, **overrides}
    return Config(**settings)


def _close(app) -> None:
    service = app.extensions["decisions"]
    service.rules.decider.close()
    service.store.close()


@pytest.fixture
def make_app(tmp_path):
    """Build a fresh app; keyword arguments override its Config (SQLite in tmp_path)."""
    apps = []

    def make(**overrides):
        app = create_app(_config(tmp_path, **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        _close(app)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app per test module (building one takes most of a second): tests that need an empty
    log or special settings use make_app."""
    app = create_app(_config(tmp_path_factory.mktemp("app")))
    yield app
    _close(app)


@pytest.fixture
def client(app):
    return app.test_client()
