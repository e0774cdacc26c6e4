"""The synthetic pool generator: reproducible, on the published CRS distribution (checked with
the CRS ruleset itself), with the profiles the contract accepts."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import orjson
import pytest

from service.decisions import decide
from service.draws.pool import DISTRIBUTIONS, PoolError, generate, histogram, quotas


def pool(size: int, seed: int, **kwargs) -> tuple[list[dict], object]:
    profiles, report = generate(size, seed, **kwargs)
    return list(profiles), report


def test_the_same_seed_gives_the_same_pool_byte_for_byte():
    first, _ = pool(300, 42)
    second, _ = pool(300, 42)
    other, _ = pool(300, 43)
    dump = [orjson.dumps(p) for p in first]
    assert dump == [orjson.dumps(p) for p in second]
    assert dump != [orjson.dumps(p) for p in other]
    assert [p["candidate_id"] for p in first] == [f"C-{n:07d}" for n in range(1, 301)]


def test_quotas_follow_the_published_shares_exactly():
    dist = DISTRIBUTIONS["2019-04-12"]
    assert dist.total == 103_840
    assert quotas(dist, dist.total) == [count for _, _, count in dist.bins]
    for size in (0, 1, 7, 999, 12_345):
        q = quotas(dist, size)
        assert sum(q) == size
        shares = [size * c / dist.total for _, _, c in dist.bins]
        assert all(abs(n - share) < 1 for n, share in zip(q, shares, strict=True))
    assert DISTRIBUTIONS["2020-02-14"].total == 144_042


def test_the_pool_lands_in_the_target_ranges_by_the_crs_ruleset(catalog, engine):
    profiles, report = pool(500, 7, as_of=dt.date(2019, 7, 12))
    assert report.achieved == report.target == quotas(DISTRIBUTIONS["2019-04-12"], 500)
    scores = [decide(catalog, engine, "express-entry.crs", p, dt.date(2019, 7, 12))
              ["scores"]["crs"]["total"] for p in profiles]
    assert scores == report.scores  # the ruleset agrees with the generator's plain CRS
    assert histogram(scores) == report.target


def test_the_2020_distribution_and_its_higher_ranges():
    profiles, report = pool(400, 1, distribution="2020-02-14")
    assert report.as_of == dt.date(2020, 2, 14)
    assert histogram([s for s in report.scores], "2020-02-14") == report.target
    assert report.target[-2] == round(400 * 21_116 / 144_042)  # 451-600: 14.7% of that pool


def test_every_profile_meets_the_contract_and_its_window(catalog, engine):
    profiles, _ = pool(200, 5, as_of=dt.date(2019, 7, 12))
    for p in profiles:
        decide(catalog, engine, "oinp.hcp.tech-draw", p, dt.date(2019, 7, 12))  # no FactsError
        assert "2018-07-12" <= p["profile_submitted_at"] < "2019-07-13"


def test_the_mixes_are_realistic():
    profiles, report = pool(3000, 11)
    n = len(profiles)
    tests = Counter(p["first_language"]["test"] for p in profiles)
    assert tests["ielts"] / n > 0.7 and tests["celpip"] / n > 0.1 and tests["tef"] > 0
    assert sum(1 for p in profiles if p["second_language"]) / n > 0.03
    ages = Counter(p["age"] for p in profiles)
    assert 0.6 < sum(v for a, v in ages.items() if 20 <= a <= 34) / n < 0.9
    degree = {"bachelors", "two_or_more_credentials", "masters", "doctoral"}
    assert 0.75 < sum(1 for p in profiles if p["education"] in degree) / n < 0.95
    tech = {"2173", "2174", "2175", "2172", "2147", "0213"}
    assert 0.15 < sum(1 for p in profiles if p["primary_noc"] in tech) / n < 0.4
    assert 0.5 < sum(1 for p in profiles if p["intends_to_reside_in"] == "ON") / n < 0.75
    assert sum(1 for p in profiles if p["spouse"]) / n > 0.3
    assert report.mixes["tech occupation"]["yes"] == sum(
        1 for p in profiles if p["primary_noc"] in tech)


def test_bad_requests_are_refused():
    with pytest.raises(PoolError, match="no distribution"):
        generate(10, 1, distribution="2018-01-01")
    with pytest.raises(PoolError, match="negative"):
        generate(-1, 1)
