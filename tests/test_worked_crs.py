"""The CRS profiles worked by hand from the published grid (tests/cases/crs_worked.yaml, each with
its arithmetic) are the truth for CRS scores: the CRS ruleset's own cases must expect exactly
these scores for these profiles (they are decided by the engine in test_ruleset_cases.py), and
the independent plain CRS function the pool generator uses must agree with every one."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
import yaml

from service.draws.plain_crs import crs as plain_crs
from service.rulesets import load_yaml
from tests.apps import ROOT, RULESETS

WORKED = yaml.safe_load((ROOT / "tests" / "cases" / "crs_worked.yaml").read_text("utf-8"))
KEYS = ("total", "core", "spouse", "transferability", "additional")


@functools.cache
def _ruleset_cases() -> dict[str, dict]:
    path = RULESETS / "express-entry" / "crs.cases.yaml"
    data, _ = load_yaml(path, str(path))
    return {case["facts"]["candidate_id"]: case for case in data["cases"]
            if "candidate_id" in case.get("facts", {})}


def _id(case: dict) -> str:
    return case["facts"]["candidate_id"]


def test_there_are_worked_profiles():
    assert len(WORKED) >= 60


@pytest.mark.parametrize("worked", WORKED, ids=_id)
def test_the_crs_ruleset_cases_expect_the_worked_scores(worked):
    case = _ruleset_cases().get(_id(worked))
    assert case is not None, f"{_id(worked)} is not among the CRS ruleset's cases"
    assert str(case["as_of"]) == str(worked["as_of"])
    assert case["expect"]["scores"]["crs"] == worked["expect"]["crs"]


@pytest.mark.parametrize("worked", WORKED, ids=_id)
def test_the_plain_crs_function_agrees_with_every_worked_profile(worked):
    as_of = worked["as_of"]
    as_of = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(as_of)
    got = plain_crs(worked["facts"], as_of)
    assert {k: got[k] for k in KEYS} == worked["expect"]["crs"]
