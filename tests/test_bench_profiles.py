"""The benchmark's generated profiles: valid, reproducible, and scored alike by the engine and the
plain calculator (bench/engine.py checks 10,000; this checks a few hundred on every `make test`).
Correctness only: no test asserts a speed. The Zen graph needs the optional `bench` group and is
checked by `make bench`."""

from __future__ import annotations

import pytest

from bench.engine import CRS_KEYS, plain_facts
from bench.profiles import AS_OF_DATES, coverage, generate
from service.decisions import decide
from service.draws.plain_crs import crs as plain_crs


@pytest.fixture(scope="module")
def profiles():
    return generate(300, seed=12)


def test_same_seed_same_profiles(profiles):
    assert generate(300, seed=12) == profiles
    assert generate(300, seed=13) != profiles


def test_profiles_cover_what_the_grid_reads(profiles):
    cov = coverage(generate(2000, seed=12))
    assert set(cov["as_of"]) == {d.isoformat() for d in AS_OF_DATES}
    assert len(cov["education"]) == 8
    assert set(cov["scored with spouse"]) == {"True", "False"}
    assert set(cov["education_assessed"]) == {"True", "False"}
    assert set(cov["second_language"]) == {"none", "clb", "nclc"}
    assert set(cov["noc_version"]) == {"2016", "2021"}


def test_profiles_meet_the_contract(catalog, profiles):
    top = catalog.in_force("express-entry.assessment", AS_OF_DATES[0])
    for facts, _as_of in profiles:
        catalog.validate(top, facts)  # raises FactsError naming the field


def test_engine_and_plain_function_agree(catalog, engine, profiles):
    for facts, as_of in profiles:
        got = decide(catalog, engine, "express-entry.crs", facts, as_of)["scores"]["crs"]
        want = plain_crs(plain_facts(facts), as_of)
        assert {k: got[k] for k in CRS_KEYS} == want, facts["candidate_id"]
