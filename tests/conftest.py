"""Shared fixtures: the bundled rulesets, loaded once, and a helper to build small rulesets."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from service.engine import Engine
from service.rulesets import load_catalog

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(RULESETS)


@pytest.fixture(scope="session")
def engine(catalog):
    engine = Engine()
    engine.prepare_all(v for versions in catalog.by_id.values() for v in versions)
    return engine


@pytest.fixture
def ruleset_dir(tmp_path):
    """A ruleset folder with the bundled contract; write(name, text) adds a file."""
    root = tmp_path / "rulesets"
    (root / "contracts").mkdir(parents=True)
    shutil.copy(RULESETS / "contracts" / "candidate-profile.yaml", root / "contracts")

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
