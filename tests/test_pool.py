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


# ------------------------------------------------------------------------- the pool of today
def _sha256(profiles) -> str:
    import hashlib

    return hashlib.sha256(b"".join(orjson.dumps(p) + b"\n" for p in profiles)).hexdigest()


@pytest.mark.parametrize(("size", "seed", "as_of", "distribution", "sha256"), [
    # the pools this generator made before it knew about NOC 2021 and work histories (taken
    # from the code of that commit): seeds in tests, benchmarks and the policy guide rely on them
    (300, 42, None, None, "c2d5c03ebdd223bf293940542945ca3abf2a51091bb348fae2d6186f5fc5a133"),
    (300, 9, dt.date(2019, 7, 12), None,
     "1d814b0850e54e0e7e8c8a196b70d3e59356a99a9500c4bdc6fe2925d03d027d"),
    (200, 1, None, "2020-02-14",
     "daf0ea26967953a8d93d08e3c05d5638c4353b52f6ec0d0a4d8f453309a89405"),
    (200, 5, dt.date(2019, 8, 1), None,
     "ceb415d59173a8b86db4d1eaceca5496ee925314bfe49e93d54c55ce57ed0fae"),
])
def test_a_pool_dated_before_the_noc_2021_switch_is_the_one_it_always_was(
        size, seed, as_of, distribution, sha256):
    profiles, _ = pool(size, seed, as_of=as_of, distribution=distribution)
    assert _sha256(profiles) == sha256
    assert all(p["noc_version"] == "2016" and "work_history" not in p for p in profiles)


def test_the_published_distribution_nearest_the_date_is_followed():
    from service.draws.pool import nearest_distribution

    assert nearest_distribution(dt.date(2019, 7, 12)) == "2019-04-12"
    assert nearest_distribution(dt.date(2026, 12, 4)) == "2026-08-03"
    assert nearest_distribution(dt.date(2025, 6, 1)) == "2025-08-05"  # 65 days after, 77 before
    assert nearest_distribution(dt.date(2025, 5, 26)) == "2025-03-16"  # 71 days either way
    # the totals IRCC published (shared/reference/express-entry.md, rounds feed dd18)
    totals = {"2022-01-17": 196_685, "2025-03-16": 236_909, "2025-08-05": 256_585,
              "2025-12-14": 237_302, "2026-08-03": 229_100}
    for day, total in totals.items():
        dist = DISTRIBUTIONS[day]
        assert dist.total == total and len(dist.bins) == 15
        assert [low for low, _, _ in dist.bins][-3:] == [491, 501, 601]
    last = DISTRIBUTIONS["2026-08-03"]
    assert sum(n for low, high, n in last.bins if 451 <= low and high <= 500) == 73_099
    assert sum(n for low, high, n in last.bins if 401 <= low and high <= 450) == 60_905


def _whole_years(jobs, day: dt.date, years: int, which) -> int:
    """Written apart from the generator: full-time-equivalent hours (30 a week at most) in the
    window of ``years`` years ending on ``day``, in whole years of 1,560 hours."""
    opens = dt.date(day.year - years, day.month, day.day) + dt.timedelta(days=1)
    hours = 0.0
    for job in jobs:
        if which(job):
            start = max(dt.date.fromisoformat(job["start"]), opens)
            end = dt.date.fromisoformat(job["end"]) if job["end"] else day
            if end >= start:
                hours += min(job["hours_per_week"], 30) * ((end - start).days + 1) / 7
    return int(hours // 1560)


@pytest.fixture(scope="module")
def pool_2026():
    day = dt.date(2026, 12, 1)
    profiles, report = pool(400, 3, as_of=day)
    return day, profiles, report


def test_a_2026_pool_follows_the_2026_distribution_by_the_crs_ruleset(pool_2026, catalog,
                                                                       engine):
    day, profiles, report = pool_2026
    assert report.distribution == "2026-08-03" and report.as_of == day
    dist = DISTRIBUTIONS["2026-08-03"]
    assert report.achieved == report.target == quotas(dist, 400)
    scores = [decide(catalog, engine, "express-entry.crs", p, day)["scores"]["crs"]["total"]
              for p in profiles]
    assert scores == report.scores  # the ruleset agrees with the generator's plain CRS
    counts = histogram(scores, "2026-08-03")
    for (_, _, published), got in zip(dist.bins, counts, strict=True):
        assert abs(got / 400 - published / dist.total) < 1 / 400  # within one candidate
    assert counts[-2] == round(400 * 19_705 / 229_100)  # 501-600: 8.6% of that pool


def test_a_2026_pool_has_noc_2021_codes_and_work_histories_its_years_agree_with(pool_2026):
    day, profiles, _ = pool_2026
    jobs = [j for p in profiles for j in p["work_history"]]
    assert all(len(p["primary_noc"]) == 5 and p["noc_version"] == "2021" for p in profiles)
    assert all(len(j["noc"]) == 5 and j["noc_version"] == "2021" for j in jobs)
    for p in profiles:
        history = p["work_history"]
        assert _whole_years(history, day, 10, lambda j: j["in_canada"]) == \
            p["canadian_work_years"]
        assert _whole_years(history, day, 10, lambda j: not j["in_canada"]) == \
            p["foreign_work_years"]
        if p["canadian_work_years"] or p["foreign_work_years"]:
            assert history and history[-1]["noc"] == p["primary_noc"]  # the latest job's
        adult = dt.date(day.year - p["age"] + 18, day.month, day.day) - dt.timedelta(days=1)
        for job in history:
            start = dt.date.fromisoformat(job["start"])
            assert adult <= start <= day
            assert job["end"] is None or start <= dt.date.fromisoformat(job["end"]) <= day
        if p["trade_work_years"]:
            primary = p["primary_noc"]
            assert _whole_years(history, day, 5, lambda j, n=primary: j["noc"] == n) == \
                p["trade_work_years"]
    part_time = [j for j in jobs if j["hours_per_week"] < 30]
    assert 0.03 < len(part_time) / len(jobs) < 0.2 and all(j["in_canada"] for j in part_time)
    assert 0.5 < sum(1 for j in jobs if j["end"] is None) / len(profiles) < 0.95
    assert any(j["end"] for j in jobs) and any(not j["in_canada"] for j in jobs)
    assert sum(1 for p in profiles if p["canadian_work_years"]) / len(profiles) > 0.4
    tef = [lang for p in profiles for lang in (p["first_language"], p["second_language"])
           if lang and lang["test"] == "tef"]
    assert tef and all(lang["test_date"] >= "2023-12-11" and max(
        lang[a] for a in ("reading", "writing", "listening", "speaking")) > 300 for lang in tef)


@pytest.mark.parametrize("day", [dt.date(2024, 6, 1), dt.date(2026, 12, 1)])
def test_a_pool_of_today_validates_and_its_category_eligibility_varies(day, catalog, engine):
    profiles, _ = pool(240, 8, as_of=day)
    assessment = catalog.in_force("express-entry.assessment", day)
    for p in profiles:
        catalog.validate(assessment, p, day)  # the contract, its checks on that date included
    outcomes = Counter()
    met = Counter()
    for p in profiles[:160]:
        decision = decide(catalog, engine, "express-entry.categories", p, day)
        outcomes[decision["outcome"]] += 1
        met.update(r["rule"] for r in decision["requirements"] if r["met"])
    assert outcomes["eligible_for_a_category"] and outcomes["eligible_for_no_category"]
    assert len(met) >= 2 and "french" in met  # more than one category, never all of one
    assert all(n < 160 for n in met.values())
