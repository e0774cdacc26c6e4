"""Shared fixtures, one set for every test folder: the bundled rulesets loaded once, a helper to
build small rulesets, apps over a fresh decision log (tests/apps.py) and the log's databases
(tests/databases.py)."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from service import create_app
from service.engine import compiled
from service.rulesets import load_catalog
from tests.apps import ROOT, RULESETS, app_config, close_app  # noqa: F401  (ROOT for the tests)
from tests.databases import database_url, store  # noqa: F401  (fixtures)


@pytest.fixture(scope="session", autouse=True)
def log_key_file(tmp_path_factory):
    """The decision log's signing key for whatever builds its Config from the environment (the
    CLI in process, servers started by tests): in a folder of the test run, never var/ of the
    checkout. Apps built by the fixtures have theirs beside their tokens file."""
    path = tmp_path_factory.mktemp("log-key") / "log-key"
    previous = os.environ.get("DECISIONS_LOG_KEY_FILE")
    os.environ["DECISIONS_LOG_KEY_FILE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("DECISIONS_LOG_KEY_FILE", None)
    else:
        os.environ["DECISIONS_LOG_KEY_FILE"] = previous


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(RULESETS)


@pytest.fixture(scope="session")
def engine(catalog):
    return compiled(catalog)


@pytest.fixture
def ruleset_dir(tmp_path):
    """A ruleset folder with the bundled contract; write(name, text) adds a file."""
    root = tmp_path / "rulesets"
    (root / "contracts").mkdir(parents=True)
    shutil.copy(RULESETS / "contracts" / "candidate-profile.yaml", root / "contracts")
    shutil.copytree(RULESETS / "classifications", root / "classifications")  # its codes' titles

    def write(name: str, text: str) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    write.root = root
    return write


PROFILE = {
    "candidate_id": "C-000123",
    "profile_submitted_at": "2019-06-30T14:05:00Z",
    "age": 29,
    "marital_status": "single",
    "spouse_accompanying": False,
    "spouse_is_citizen_or_pr": False,
    "education": "bachelors",
    "education_degree": "bachelors",
    "education_assessed": True,
    "canadian_education": "none",
    "first_language": {"test": "clb", "reading": 9, "writing": 9, "listening": 9, "speaking": 9},
    "second_language": None,
    "canadian_work_years": 1,
    "foreign_work_years": 3,
    "primary_noc": "2173",
    "noc_version": "2016",
    "certificate_of_qualification": False,
    "arranged_employment": "none",
    "provincial_nomination": False,
    "sibling_in_canada": False,
    "settlement_funds_cad": 20000,
    "family_size": 1,
    "intends_to_reside_in": "ON",
    "spouse": None,
}


@pytest.fixture
def make_app(tmp_path):
    """Build a fresh app; keyword arguments override its Config (SQLite in tmp_path)."""
    apps = []

    def make(**overrides):
        app = create_app(app_config(tmp_path, **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app per test module (building one takes most of a second): tests that need an empty
    log or special settings use make_app."""
    app = create_app(app_config(tmp_path_factory.mktemp("app")))
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()
