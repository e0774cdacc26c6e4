"""Seeded generator of realistic Express Entry candidate profiles for the benchmarks.

    from bench.profiles import generate
    for facts, as_of in generate(10_000, seed=2019): ...

Each profile follows the candidate profile contract (shared/reference/candidate-profile.md,
rulesets/contracts/candidate-profile.yaml) and comes with the decision date it is assessed on:
2019-07-11 (the project's baseline: French points 15/30, job-offer points 50/200) or 2026-11-25
(French 25/50, no job-offer points), half each. Languages are given as levels (test ``clb`` for
English, ``nclc`` for French), so the plain calculator service/draws/plain_crs.py applies to
every profile.

What is covered, with weights chosen to look like an Express Entry pool rather than a uniform grid:
every marital status (spouse accompanying or not, citizen or not, spouse object present or not),
all eight education levels with and without an ECA, Canadian education, first language English or
French with per-ability spread (CLB 0 to 12), an optional second official language, Canadian and
foreign work, trades certificates, job offers of both kinds, nominations, siblings, NOC 2016 and
NOC 2021 codes (tech, trades, newly eligible and ineligible occupations), funds and family size.
The same seed always yields the same profiles (random.Random, no global state).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

AS_OF_DATES = (dt.date(2019, 7, 11), dt.date(2026, 11, 25))
ABILITIES = ("reading", "writing", "listening", "speaking")

MARITAL = (("single", 45), ("married", 33), ("common_law", 12), ("divorced", 5),
           ("separated", 3), ("widowed", 2))
EDUCATION = (("none", 2), ("secondary", 6), ("one_year_post_secondary", 6),
             ("two_year_post_secondary", 11), ("bachelors", 34), ("two_or_more_credentials", 12),
             ("masters", 24), ("doctoral", 5))
SPOUSE_EDUCATION = (("none", 4), ("secondary", 12), ("one_year_post_secondary", 8),
                    ("two_year_post_secondary", 12), ("bachelors", 34),
                    ("two_or_more_credentials", 8), ("masters", 19), ("doctoral", 3))
CANADIAN_EDUCATION = (("none", 70), ("one_or_two_year", 15), ("three_year_or_more", 15))
ARRANGED = (("none", 88), ("noc_0ab", 10), ("noc_00", 2))
PROVINCES = (("ON", 45), ("BC", 18), ("AB", 12), ("MB", 4), ("SK", 4), ("NS", 4), ("NB", 3),
             ("QC", 3), ("NL", 2), ("PE", 2), ("YT", 1), ("NT", 1), ("NU", 1))
# Age in whole years: most candidates are 24 to 35; a tail on both sides (17 and 45+ score 0).
AGES = tuple((age, w) for age, w in zip(range(17, 56), (
    1, 2, 3, 5, 7, 9, 12, 14, 15, 15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 3, 2, 2, 2,
    2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), strict=True))
# Typical level of a test taker (before the per-ability spread).
FIRST_LEVEL = ((4, 2), (5, 3), (6, 6), (7, 18), (8, 22), (9, 25), (10, 16), (11, 5), (12, 3))
SECOND_LEVEL = ((3, 10), (4, 15), (5, 18), (6, 17), (7, 16), (8, 11), (9, 8), (10, 5))

# Primary occupations: (NOC 2016, NOC 2021) pairs of common Express Entry occupations, plus the
# OINP tech codes, trades, the 2022 newly eligible / ineligible occupations, a few low-skill ones.
NOCS = (
    ("2173", "21231"), ("2174", "21232"), ("2147", "21311"), ("2175", "21234"),
    ("2172", "21223"), ("0213", "20012"), ("2171", "21222"), ("1111", "11100"),
    ("1112", "11101"), ("0124", "10022"), ("4021", "41210"), ("3012", "31301"),
    ("1241", "13110"), ("6322", "63200"), ("7241", "72200"), ("7237", "72106"),
    ("7271", "72310"), ("7312", "72401"), ("9241", "92101"), ("6332", "63202"),
    ("3413", "33102"), ("7511", "73300"), ("4413", "43100"), ("5232", "55109"),
    ("6342", "64200"), ("6421", "64100"), ("6611", "65100"), ("9619", "95109"),
    ("0013", "00013"), ("4112", "41101"),
)


def _pick(rng: random.Random, table):
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def _levels(rng: random.Random, typical: int, test: str) -> dict:
    """Four abilities around a typical level: most within one level of it, a few further off."""
    out: dict = {"test": test}
    for ability in ABILITIES:
        spread = rng.choices((-2, -1, 0, 1, 2), (4, 20, 52, 20, 4))[0]
        out[ability] = max(0, min(12, typical + spread))
    return out


def profile(rng: random.Random, index: int, as_of: dt.date) -> dict:
    """One candidate profile assessed on ``as_of``."""
    marital = _pick(rng, MARITAL)
    partnered = marital in ("married", "common_law")
    accompanying = partnered and rng.random() < 0.8
    spouse_citizen = partnered and rng.random() < 0.1
    education = _pick(rng, EDUCATION)

    english_first = rng.random() < 0.82
    first = _levels(rng, _pick(rng, FIRST_LEVEL), "clb" if english_first else "nclc")
    second = None
    if rng.random() < (0.25 if english_first else 0.7):  # francophones often have English too
        second = _levels(rng, _pick(rng, SECOND_LEVEL), "nclc" if english_first else "clb")

    spouse = None
    if partnered and (accompanying or rng.random() < 0.3):
        spouse_lang = None
        roll = rng.random()
        if roll < 0.7:
            spouse_lang = _levels(rng, _pick(rng, FIRST_LEVEL), "clb")
        elif roll < 0.8:
            spouse_lang = _levels(rng, _pick(rng, FIRST_LEVEL), "nclc")
        spouse = {
            "education": _pick(rng, SPOUSE_EDUCATION),
            "first_language": spouse_lang,
            "canadian_work_years": rng.choices(range(7), (60, 15, 10, 6, 4, 3, 2))[0],
            "canadian_study_two_years": rng.random() < 0.1,
        }

    noc_2016, noc_2021 = rng.choice(NOCS)
    use_2021 = as_of >= dt.date(2022, 11, 16) and rng.random() < 0.9
    canadian_work = rng.choices(range(8), (45, 20, 13, 9, 5, 4, 2, 2))[0]
    children = rng.choices(range(5), (55, 20, 17, 6, 2))[0]
    submitted = dt.datetime.combine(as_of, dt.time(12), tzinfo=dt.UTC) - dt.timedelta(
        seconds=rng.randrange(1, 365 * 24 * 3600))
    return {
        "candidate_id": f"C-{index:06d}",
        "profile_submitted_at": submitted.isoformat().replace("+00:00", "Z"),
        "age": _pick(rng, AGES),
        "marital_status": marital,
        "spouse_accompanying": accompanying,
        "spouse_is_citizen_or_pr": spouse_citizen,
        "education": education,
        "education_assessed": rng.random() < 0.88,
        "canadian_education": _pick(rng, CANADIAN_EDUCATION),
        "first_language": first,
        "second_language": second,
        "canadian_work_years": canadian_work,
        "foreign_work_years": rng.choices(range(11), (20, 14, 13, 12, 10, 8, 7, 6, 4, 3, 3))[0],
        "primary_noc": noc_2021 if use_2021 else noc_2016,
        "noc_version": "2021" if use_2021 else "2016",
        "certificate_of_qualification": rng.random() < 0.05,
        "arranged_employment": _pick(rng, ARRANGED),
        "provincial_nomination": rng.random() < 0.06,
        "sibling_in_canada": rng.random() < 0.08,
        "settlement_funds_cad": rng.randrange(2_000, 80_000, 500),
        "family_size": 1 + (1 if partnered else 0) + children,
        "intends_to_reside_in": _pick(rng, PROVINCES),
        "spouse": spouse,
        "relative_in_canada": rng.random() < 0.15,
        "canadian_study_two_years": rng.random() < 0.12,
        "trade_work_years": rng.choices(range(6), (80, 4, 5, 4, 4, 3))[0],
    }


def generate(n: int, seed: int = 2019) -> list[tuple[dict, dt.date]]:
    """``n`` profiles with their decision dates, the same for the same seed."""
    return list(iter_profiles(n, seed))


def iter_profiles(n: int, seed: int = 2019) -> Iterator[tuple[dict, dt.date]]:
    rng = random.Random(seed)
    for i in range(n):
        as_of = rng.choice(AS_OF_DATES)
        yield profile(rng, i + 1, as_of), as_of


def coverage(profiles: list[tuple[dict, dt.date]]) -> dict[str, dict]:
    """How many profiles fall in each value of the fields that steer the CRS (for the report)."""
    out: dict[str, dict] = {}

    def count(field: str, value) -> None:
        value = str(value)  # as shown, and the same after a JSON round trip (True, not true)
        out.setdefault(field, {})
        out[field][value] = out[field].get(value, 0) + 1

    for facts, as_of in profiles:
        count("as_of", as_of.isoformat())
        count("marital_status", facts["marital_status"])
        with_spouse = (facts["marital_status"] in ("married", "common_law")
                       and facts["spouse_accompanying"] and not facts["spouse_is_citizen_or_pr"])
        count("scored with spouse", with_spouse)
        count("education", facts["education"])
        count("education_assessed", facts["education_assessed"])
        count("first_language.test", facts["first_language"]["test"])
        count("second_language", (facts["second_language"] or {}).get("test", "none"))
        count("noc_version", facts["noc_version"])
        count("arranged_employment", facts["arranged_employment"])
    return out
