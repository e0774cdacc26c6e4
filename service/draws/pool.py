"""Synthetic Express Entry pools: reproducible candidate profiles whose CRS scores follow a
published distribution of the pool by CRS range (``decisions pool generate``). No Flask here.

How a pool is made (docs/draws.md):

* The target is one of IRCC's published distributions of the pool by CRS range (DISTRIBUTIONS,
  cited in docs/draws.md), scaled to the size asked for with exact quotas (largest remainders).
* Profiles are drawn from a model of the pool's make-up (age, marital status, education, language
  tests and levels, Canadian and foreign work, occupation (NOC 2016), province, funds...), whose
  mixes are anchored on IRCC's Express Entry Year-End Report 2019 where it gives one and are
  otherwise modelled (MIXES; every value is named in docs/draws.md).
* Each drawn profile is scored with the plain CRS function (``draws.plain_crs``, an independent
  oracle that agrees with the CRS ruleset; the generator's own test checks the agreement on
  generated profiles through the engine) and kept only while its CRS range still needs
  candidates (stratified rejection sampling). A range the model reaches too rarely is reported.
* The same size, seed, date and distribution give the same pool, byte for byte.
* A pool dated from the NOC 2021 switch (2022-11-16) is "a pool of today": NOC 2021 codes, a
  work history per candidate whose whole years are the profile's work years, the mixes of
  MIXES_2021, and by default the published distribution nearest its date. Earlier pools, and the
  pool without a date, are drawn exactly as before.

Language results are written as real test results (IELTS General Training, CELPIP-General, TEF
Canada on its pre-2023-12-11 scale) chosen inside the band of the sampled CLB/NCLC level, so that
the language ruleset's conversion is exercised; the CRS is computed from the levels.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import DecisionError
from .plain_crs import crs


class PoolError(DecisionError):
    status = 422
    title = "Invalid pool request"


# ------------------------------------------------------------------------ published distributions
@dataclass(frozen=True)
class Distribution:
    """IRCC's count of candidates in the pool by CRS range (the finest ranges published)."""

    as_of: dt.date
    source: str
    bins: tuple[tuple[int, int, int], ...]  # (low, high, count), inclusive, ascending
    note: str = ""

    @property
    def total(self) -> int:
        return sum(count for _, _, count in self.bins)


DISTRIBUTIONS = {
    "2019-04-12": Distribution(
        dt.date(2019, 4, 12),
        "IRCC, distribution of CRS scores in the pool as of 2019-04-12 (published with round #115 "
        "of 2019-04-17); quoted on the canadavisa.com forum 2019-06-06 "
        "(shared/reference/express-entry.md)",
        ((0, 300, 3471), (301, 350, 23116), (351, 360, 7838), (361, 370, 8361),
         (371, 380, 8306), (381, 390, 8422), (391, 400, 7241), (401, 410, 7513),
         (411, 420, 6861), (421, 430, 6586), (431, 440, 9539), (441, 450, 4410),
         (451, 600, 1903), (601, 1200, 273)),
        "601-1,200: 273 is derived (the published total 103,840 minus the quoted rows), not "
        "published"),
    "2020-02-14": Distribution(
        dt.date(2020, 2, 14),
        "IRCC, distribution of CRS scores in the pool as of 2020-02-14 (published with round #137 "
        "of 2020-02-19); quoted by sparkconsulting.pk (shared/reference/express-entry.md)",
        ((0, 300, 3674), (301, 350, 27668), (351, 360, 9825), (361, 370, 10308),
         (371, 380, 10342), (381, 390, 10566), (391, 400, 8517), (401, 410, 8391),
         (411, 420, 7267), (421, 430, 6590), (431, 440, 9561), (441, 450, 9681),
         (451, 600, 21116), (601, 1200, 536))),
}


def _from_feed(day: dt.date, counts: Sequence[int], note: str = "") -> Distribution:
    """A distribution as IRCC's rounds feed gives it since 2022 (fields dd1 to dd18: 601-1200,
    501-600, 451-500 and its five ten-point ranges, 401-450 and its five, 351-400, 301-350,
    0-300, total), as the finest ranges: 15 of them. A parent range that is not the sum of its
    sub-ranges, or a total that is not the sum of the ranges, is a transcription error."""
    (top, upper, mid, r491, r481, r471, r461, r451, low4, r441, r431, r421, r411, r401,
     r351, r301, r0, total) = counts
    if mid != r491 + r481 + r471 + r461 + r451 or low4 != r441 + r431 + r421 + r411 + r401 \
            or total != top + upper + mid + low4 + r351 + r301 + r0:
        raise ValueError(f"the distribution of {day} does not add up")
    return Distribution(
        day, f"IRCC, CRS score distribution of candidates in the pool as of {day} (Express Entry "
             "rounds feed, fields dd1-dd18; shared/reference/express-entry.md)",
        ((0, 300, r0), (301, 350, r301), (351, 400, r351), (401, 410, r401), (411, 420, r411),
         (421, 430, r421), (431, 440, r431), (441, 450, r441), (451, 460, r451),
         (461, 470, r461), (471, 480, r471), (481, 490, r481), (491, 500, r491),
         (501, 600, upper), (601, 1200, top)), note)


DISTRIBUTIONS.update({
    "2022-01-17": _from_feed(dt.date(2022, 1, 17), (
        899, 5106, 47202, 2738, 6192, 14828, 13010, 10434, 47283, 9650, 10225, 7687, 9139,
        10582, 58692, 31704, 5799, 196685)),
    "2025-03-16": _from_feed(dt.date(2025, 3, 16), (
        693, 25522, 70055, 13711, 13343, 16033, 14032, 12936, 61487, 12314, 13018, 11619,
        11919, 12617, 51802, 21303, 6047, 236909),
        "the last published before the CRS points for a job offer were removed (2025-03-25)"),
    "2025-08-05": _from_feed(dt.date(2025, 8, 5), (
        228, 24165, 76004, 12975, 12890, 16836, 17383, 15920, 73839, 15201, 16142, 14652,
        14456, 13388, 53590, 20534, 8225, 256585), "also CIC News 2025-08-08"),
    "2025-12-14": _from_feed(dt.date(2025, 12, 14), (
        390, 21792, 68700, 12315, 12149, 14859, 14535, 14842, 66948, 13992, 14244, 12750,
        12367, 13595, 52574, 18829, 8069, 237302)),
    "2026-08-03": _from_feed(dt.date(2026, 8, 3), (
        500, 19705, 73099, 12939, 12890, 16368, 16057, 14845, 60905, 13595, 13267, 11942,
        11326, 10775, 50107, 17101, 7683, 229100), "the latest in the stored feed"),
})
DEFAULT_DISTRIBUTION = "2019-04-12"


def nearest_distribution(day: dt.date) -> str:
    """The published distribution nearest ``day`` (the earlier of two as near)."""
    return min(DISTRIBUTIONS, key=lambda k: (abs((DISTRIBUTIONS[k].as_of - day).days),
                                             DISTRIBUTIONS[k].as_of))


def quotas(distribution: Distribution, size: int) -> list[int]:
    """How many candidates of ``size`` fall in each range: exact shares, largest remainders."""
    total = distribution.total
    exact = [size * count / total for _, _, count in distribution.bins]
    out = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[:size - sum(out)]:
        out[i] += 1
    return out


# ----------------------------------------------------------------------------------- the model
# Weights are relative (they need not sum to 100). Anchors, IRCC Express Entry Year-End Report
# 2019 (invitations, not the pool): 86% of invited candidates were 20 to 34; 90% held a
# bachelor's degree or more; NOC 2173, 2171 and 2174 were the most common occupations (2173:
# 6,529 of 85,300 invitations); about 62% chose Ontario; 48% lived in Canada. The pool has more
# older, less educated and lower-scoring candidates than the invited, so the mixes below are
# wider than those anchors (docs/draws.md lists them).
DEGREE_OF_LEVEL = {"bachelors": "bachelors", "two_or_more_credentials": "bachelors",
                   "masters": "masters", "doctoral": "doctoral"}
MIXES: dict[str, Any] = {
    "age": [((18, 19), 1), ((20, 24), 12), ((25, 29), 33), ((30, 34), 29), ((35, 39), 15),
            ((40, 44), 7), ((45, 50), 3)],
    "marital_status": [("single", 48), ("married", 44), ("common_law", 6), ("divorced", 1.5),
                       ("separated", 0.3), ("widowed", 0.2)],
    "education": [("secondary", 3), ("one_year_post_secondary", 3),
                  ("two_year_post_secondary", 7), ("bachelors", 44),
                  ("two_or_more_credentials", 17), ("masters", 24), ("doctoral", 2)],
    "spouse_education": [("secondary", 8), ("one_year_post_secondary", 5),
                         ("two_year_post_secondary", 9), ("bachelors", 45),
                         ("two_or_more_credentials", 10), ("masters", 21), ("doctoral", 2)],
    "canadian_work_years": [(0, 60), (1, 20), (2, 10), (3, 5), (4, 3), (5, 2)],
    "foreign_work_years": [(0, 14), (1, 11), (2, 13), (3, 14), (4, 11), (5, 10), (6, 8),
                           (7, 7), (8, 5), (9, 4), (10, 3)],
    "english_clb": [(5, 3), (6, 7), (7, 22), (8, 26), (9, 26), (10, 16)],
    "english_test": [("ielts", 82), ("celpip", 18)],
    "french_first": 0.02,  # share with French (TEF) as first official language
    "french_second": 0.07,  # share with a TEF result as second official language
    "french_nclc": [(4, 25), (5, 25), (6, 20), (7, 20), (8, 10)],
    "noc": [
        # the six tech draw occupations (NOC 2016)
        ("2173", 11), ("2174", 9), ("2175", 3), ("2172", 2), ("2147", 1.5), ("0213", 2.5),
        # other information technology
        ("2171", 7), ("2281", 2), ("2282", 1.5), ("2283", 0.5),
        # business, finance, administration, management
        ("1111", 5), ("1112", 2), ("1114", 1.5), ("1121", 1), ("1122", 1.5), ("1123", 2),
        ("1241", 2), ("1221", 1), ("1211", 0.5), ("1215", 0.5), ("1311", 1), ("0124", 2),
        ("0111", 1), ("0112", 1), ("0601", 0.8), ("0621", 0.7), ("0631", 1),
        # engineering, science, health, education, social
        ("2131", 2), ("2132", 2), ("2133", 1.5), ("2134", 0.5), ("2141", 0.5), ("2148", 0.5),
        ("2161", 0.5), ("2121", 0.5), ("2211", 0.5), ("2231", 0.7), ("2241", 0.7),
        ("3012", 1), ("3131", 0.5), ("3111", 0.3), ("4011", 1), ("4021", 1), ("4031", 1),
        ("4032", 0.5), ("4163", 1.5), ("4152", 0.5), ("4212", 0.5),
        # sales and service (skill level B)
        ("6311", 3), ("6211", 2), ("6235", 1), ("6232", 0.5),
        # skilled trades (Federal Skilled Trades groups 72, 73, 632)
        ("6322", 2), ("6321", 1), ("7241", 0.5), ("7237", 0.5), ("7271", 0.4), ("7312", 0.4),
        ("7321", 0.4),
    ],
    "province": [("ON", 62), ("BC", 15), ("AB", 9), ("MB", 3), ("SK", 3), ("NS", 3),
                 ("NB", 2), ("NL", 1), ("PE", 1), ("YT", 0.3), ("NT", 0.2), ("NU", 0.1)],
    "children": [(0, 60), (1, 25), (2, 13), (3, 2)],
    "arranged_employment": [("none", 96.3), ("noc_0ab", 3.5), ("noc_00", 0.2)],
    "provincial_nomination": 0.006,
    "sibling_in_canada": 0.05,
    "relative_in_canada": 0.12,
    "spouse_accompanying": 0.88,
    "spouse_is_citizen_or_pr": 0.04,
    "spouse_language_test": 0.75,
    "funds_short": 0.08,  # share whose funds fall short of the federal amount
}
TRADE_PREFIXES = ("72", "73", "632", "633", "82", "92")

# ------------------------------------------------------------------- the pool of today (NOC 2021)
# From the NOC 2021 switch (2022-11-16) a pool is drawn with NOC 2021 codes and a work history per
# candidate (docs/draws.md, "A pool of today"). Earlier pools are drawn exactly as before, byte for
# byte (no work history: nothing decided before the first categories, 2023-05-31, reads one).
NOC_2021_FROM = dt.date(2022, 11, 16)
TEF_699_FROM = dt.date(2023, 12, 11)  # TEF Canada results from this day are scored /699
# The NOC 2016 mix above in NOC 2021 unit groups (the same weights; StatCan's NOC 2016 -> 2021
# concordance, the unit group each 2016 code mostly went to), plus occupations of the Express
# Entry categories (express-entry.categories, every version) so that category eligibility varies
# over a pool: healthcare, education, transport, agriculture, senior managers, researchers.
TECH_2021 = {"21231", "21232", "21234", "21223", "21311", "20012"}  # the six above, in NOC 2021
NOC_2021_MIX = [
    # the tech draw occupations and other information technology
    ("21231", 11), ("21232", 9), ("21234", 3), ("21223", 2), ("21311", 1.5), ("20012", 2.5),
    ("21222", 7), ("22220", 2), ("22221", 1.5), ("22222", 0.5), ("21211", 1), ("21220", 0.5),
    # business, finance, administration, management
    ("11100", 5), ("11101", 2), ("11109", 1.5), ("11200", 1), ("11201", 1.5), ("11202", 2),
    ("13110", 2), ("13100", 1), ("12010", 0.5), ("12013", 0.5), ("12200", 1), ("10022", 2),
    ("10010", 1), ("10011", 1), ("60010", 0.8), ("60020", 0.7), ("60030", 1),
    ("00012", 0.3), ("00013", 0.2),
    # engineering, science, health, education, social
    ("21300", 2), ("21301", 2), ("21310", 1.5), ("21320", 0.5), ("21321", 0.5), ("21399", 0.5),
    ("21210", 0.5), ("21110", 0.5), ("22100", 0.5), ("22300", 0.7), ("22310", 0.7),
    ("31301", 1.5), ("31120", 0.5), ("31100", 0.3), ("31102", 0.4), ("32101", 0.7),
    ("33102", 1.2), ("41200", 1), ("41201", 0.3), ("41210", 1), ("41220", 1), ("41221", 0.5),
    ("42202", 1), ("41402", 1.5), ("41300", 0.5), ("42201", 0.5),
    # sales and service (TEER 2 and 3)
    ("62020", 3), ("62010", 2),
    # trades, transport and agriculture (Federal Skilled Trades groups among them)
    ("63200", 2), ("62200", 1), ("72200", 0.5), ("72106", 0.5), ("72310", 0.4), ("72401", 0.4),
    ("72410", 0.4), ("73300", 1), ("72600", 0.2), ("72404", 0.2), ("22313", 0.1),
    ("82030", 0.2), ("63201", 0.2),
]
# The pool since 2023 holds more candidates living and working in Canada and higher CRS scores
# (in 2026-08 a third of it at 451-500, against 2% at 451-600 in 2019-04): more Canadian work,
# more French, higher English levels. Modelled, not published (docs/draws.md).
MIXES_2021: dict[str, Any] = {
    **MIXES,
    "noc": NOC_2021_MIX,
    "canadian_work_years": [(0, 42), (1, 25), (2, 14), (3, 9), (4, 5), (5, 5)],
    "english_clb": [(5, 2), (6, 5), (7, 18), (8, 25), (9, 28), (10, 22)],
    "french_first": 0.03,
    "french_second": 0.12,
    "french_nclc": [(4, 18), (5, 18), (6, 18), (7, 22), (8, 14), (9, 10)],
}
# Federal Skilled Trades, NOC 2021: major groups 72 (but 726), 73, 82, 83, 92, 93 (but 932),
# minor group 6320 and unit group 62200 (shared/reference/express-entry.md).
TRADE_PREFIXES_2021 = ("72", "73", "82", "83", "92", "93", "6320", "62200")
NOT_TRADES_2021 = ("726", "932")
FULL_TIME_HOURS = 30  # IRCC: full-time is 30 hours a week; 1,560 hours (52 weeks) are a year
HOURS_A_YEAR = 1560
PART_TIME = 0.12  # share of Canadian jobs that are part-time (modelled)
LEFT_JOB = 0.15  # share whose last job has ended (modelled): its end is 1 to 18 months back
SECOND_EMPLOYER = 0.2  # share of Canadian work of 2 years or more split between two employers
OTHER_OCCUPATION_ABROAD = 0.2  # share of those with a Canadian job whose work abroad was in
#                               another occupation (a change of career on arrival)
NEWCOMER_JOB = 0.15  # share without a year in Canada who hold a first Canadian job (2-11 months)

# IRCC settlement funds by family size (shared/reference/express-entry.md), by the day each
# table was in force from (the fsw-settlement-funds rulesets' versions).
FUNDS = {2019: (12669, 15772, 19390, 23542, 26701, 30114, 33528, 3414),
         2020: (12960, 16135, 19836, 24083, 27315, 30806, 34299, 3492)}
FUNDS_FROM = [
    (dt.date(2019, 1, 17), FUNDS[2019]),
    (dt.date(2020, 1, 4), FUNDS[2020]),
    (dt.date(2021, 7, 15), (13213, 16449, 20222, 24553, 27847, 31407, 34967, 3560)),
    (dt.date(2022, 5, 11), (13310, 16570, 20371, 24733, 28052, 31638, 35224, 3586)),
    (dt.date(2023, 4, 25), (13757, 17127, 21055, 25564, 28994, 32700, 36407, 3706)),
    (dt.date(2024, 5, 28), (14690, 18288, 22483, 27297, 30690, 34917, 38875, 3958)),
    (dt.date(2025, 7, 7), (15263, 19001, 23360, 28362, 32168, 36280, 40392, 4112)),
]


def funds_on(day: dt.date) -> tuple[int, ...]:
    """The settlement funds table in force on ``day`` (before 2019-01-17: the 2019 table)."""
    found = FUNDS[2019]
    for start, table in FUNDS_FROM:
        if start <= day:
            found = table
    return found

# Minimum IELTS General Training band per CLB level, by ability (R, W, L, S).
IELTS = {10: (8.0, 7.5, 8.5, 7.5), 9: (7.0, 7.0, 8.0, 7.0), 8: (6.5, 6.5, 7.5, 6.5),
         7: (6.0, 6.0, 6.0, 6.0), 6: (5.0, 5.5, 5.5, 5.5), 5: (4.0, 5.0, 5.0, 5.0),
         4: (3.5, 4.0, 4.5, 4.0)}
# TEF Canada on the /699 scale (tests from 2023-12-11): the lowest score of NCLC 4 to 10 by ability
# (R, W, L, S), as express-entry.language 2024-01-30 converts them (the IRCC chart).
TEF_699_LOWEST = ((306, 352, 393, 434, 462, 503, 546), (268, 330, 379, 428, 472, 512, 558),
                  (306, 352, 393, 434, 462, 503, 546), (328, 387, 422, 456, 494, 518, 556))
TEF_699 = {level: tuple((lowest[level - 4], lowest[level - 3] - 1 if level < 10 else 699)
                        for lowest in TEF_699_LOWEST) for level in range(4, 11)}
# TEF Canada, scale before 2023-12-11 (R /300, W /450, L /360, S /450): NCLC -> (low, high).
TEF = {10: ((263, 300), (393, 450), (316, 360), (393, 450)),
       9: ((248, 262), (371, 392), (298, 315), (371, 392)),
       8: ((233, 247), (349, 370), (280, 297), (349, 370)),
       7: ((207, 232), (310, 348), (249, 279), (310, 348)),
       6: ((181, 206), (271, 309), (217, 248), (271, 309)),
       5: ((151, 180), (226, 270), (181, 216), (226, 270)),
       4: ((121, 150), (181, 225), (145, 180), (181, 225))}
ABILITIES = ("reading", "writing", "listening", "speaking")
MAX_DRAWS_PER_CANDIDATE = 5000  # give up on a range the model almost never reaches


class _Choice:
    """A weighted choice, by bisection on cumulative weights (faster than random.choices)."""

    def __init__(self, items: Sequence[tuple[Any, float]]):
        self.values = [v for v, _ in items]
        total, self.cumulative = 0.0, []
        for _, weight in items:
            total += weight
            self.cumulative.append(total)
        self.total = total

    def __call__(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


@dataclass
class Model:
    """The pool's make-up; ``sample`` draws one profile (as sent, and with CLB levels)."""

    as_of: dt.date
    mixes: dict | None = None  # default: MIXES, or MIXES_2021 from the NOC 2021 switch

    def __post_init__(self) -> None:
        self.noc_2021 = self.as_of >= NOC_2021_FROM
        if self.mixes is None:
            self.mixes = dict(MIXES_2021 if self.noc_2021 else MIXES)
        m = self.mixes
        self.choose = {name: _Choice(m[name]) for name in (
            "age", "marital_status", "education", "spouse_education", "canadian_work_years",
            "foreign_work_years", "english_clb", "english_test", "french_nclc", "noc",
            "province", "children", "arranged_employment")}
        self.funds = funds_on(self.as_of)
        self.window_start = dt.datetime.combine(self.as_of, dt.time(), dt.UTC) - \
            dt.timedelta(days=365)

    def sample(self, rng: random.Random, candidate_id: str) -> tuple[dict, dict]:
        m, c = self.mixes, self.choose
        low, high = c["age"](rng)
        age = rng.randint(low, high)
        marital = c["marital_status"](rng)
        partnered = marital in ("married", "common_law")
        accompanying = partnered and rng.random() < m["spouse_accompanying"]
        spouse_pr = partnered and rng.random() < m["spouse_is_citizen_or_pr"]
        education = c["education"](rng)
        canadian_work = c["canadian_work_years"](rng)
        if canadian_work == 5:
            canadian_work = rng.randint(5, 8)
        if canadian_work:
            canadian_education = _pick(rng, (("none", 45), ("one_or_two_year", 30),
                                             ("three_year_or_more", 25)))
        else:
            canadian_education = _pick(rng, (("none", 92), ("one_or_two_year", 4),
                                             ("three_year_or_more", 4)))
        foreign_work = c["foreign_work_years"](rng)
        noc = c["noc"](rng)
        trade = self.is_trade(noc)

        french_first = rng.random() < m["french_first"]
        if french_first:
            first_levels = _levels(rng, c["french_nclc"](rng) + 2)
            first = _tef(rng, first_levels, self.as_of)
            first_plain = {"test": "nclc", **dict(zip(ABILITIES, first_levels, strict=True))}
            second_levels = _levels(rng, c["english_clb"](rng)) if rng.random() < 0.6 else None
            second = _english(rng, second_levels, c["english_test"](rng)) \
                if second_levels else None
            second_plain = {"test": "clb", **dict(zip(ABILITIES, second_levels, strict=True))} \
                if second_levels else None
        else:
            first_levels = _levels(rng, c["english_clb"](rng))
            first = _english(rng, first_levels, c["english_test"](rng))
            first_plain = {"test": "clb", **dict(zip(ABILITIES, first_levels, strict=True))}
            second_levels = _levels(rng, c["french_nclc"](rng)) \
                if rng.random() < m["french_second"] else None
            second = _tef(rng, second_levels, self.as_of) if second_levels else None
            second_plain = {"test": "nclc", **dict(zip(ABILITIES, second_levels, strict=True))} \
                if second_levels else None

        spouse = spouse_plain = None
        if accompanying:
            spouse_levels = _levels(rng, c["english_clb"](rng) - rng.randint(0, 2)) \
                if rng.random() < m["spouse_language_test"] else None
            spouse_work = rng.choice((0, 0, 1, 2)) if canadian_work else 0
            spouse = {"education": c["spouse_education"](rng),
                      "first_language": _english(rng, spouse_levels, "ielts")
                      if spouse_levels else None,
                      "canadian_work_years": spouse_work,
                      "canadian_study_two_years": bool(canadian_education != "none"
                                                       and rng.random() < 0.3)}
            spouse_plain = {**spouse, "first_language": {
                "test": "clb", **dict(zip(ABILITIES, spouse_levels, strict=True))}
                if spouse_levels else None}

        children = c["children"](rng) if partnered else (1 if rng.random() < 0.05 else 0)
        family = 1 + (1 if partnered else 0) + children
        need = self.funds[min(family, 7) - 1] + self.funds[7] * max(0, family - 7)
        factor = rng.uniform(0.3, 0.99) if rng.random() < m["funds_short"] else \
            rng.uniform(1.0, 3.5)
        submitted = self.window_start + dt.timedelta(seconds=rng.randrange(366 * 86400))

        profile = {
            "candidate_id": candidate_id,
            "profile_submitted_at": submitted.isoformat().replace("+00:00", "Z"),
            "age": age,
            "marital_status": marital,
            "spouse_accompanying": accompanying,
            "spouse_is_citizen_or_pr": spouse_pr,
            "education": education,
            # Every profile has its education assessed (ECA) or Canadian: foreign education
            # without an ECA earns no CRS points, and the plain CRS function does not model it.
            "education_assessed": True,
            # The pool's make-up counts degrees ("bachelor's degree or more"), so a bachelor's
            # level here is a degree; so are two credentials (no published share of diplomas).
            "education_degree": DEGREE_OF_LEVEL.get(education, "none"),
            "canadian_education": canadian_education,
            "first_language": first,
            "second_language": second,
            "canadian_work_years": canadian_work,
            "foreign_work_years": foreign_work,
            "primary_noc": noc,
            "noc_version": "2021" if self.noc_2021 else "2016",
            "certificate_of_qualification": trade and rng.random() < 0.25,
            "arranged_employment": c["arranged_employment"](rng),
            "provincial_nomination": rng.random() < m["provincial_nomination"],
            "sibling_in_canada": rng.random() < m["sibling_in_canada"],
            "settlement_funds_cad": int(need * factor),
            "family_size": family,
            "intends_to_reside_in": c["province"](rng),
            "spouse": spouse,
            "relative_in_canada": rng.random() < m["relative_in_canada"],
            "canadian_study_two_years": canadian_education != "none" and rng.random() < 0.65,
            "trade_work_years": rng.randint(2, 6) if trade else 0,
        }
        if self.noc_2021:
            self._work_history(rng, profile)
        plain = {**profile, "first_language": first_plain, "second_language": second_plain,
                 "spouse": spouse_plain}
        return profile, plain

    def is_trade(self, noc: str) -> bool:
        """A Federal Skilled Trades occupation, in the NOC version of the pool's date."""
        if not self.noc_2021:
            return noc.startswith(TRADE_PREFIXES)
        return noc.startswith(TRADE_PREFIXES_2021) and not noc.startswith(NOT_TRADES_2021)

    def _work_history(self, rng: random.Random, profile: dict) -> None:
        """Give ``profile`` the jobs its years of work stand for (docs/draws.md), then state its
        years from those jobs, so that the two always agree: ``canadian_work_years`` and
        ``foreign_work_years`` are the whole years (1,560 hours, at most 30 counted a week) in the
        10 years up to the pool's date, ``trade_work_years`` those in the primary occupation in
        the last 5 years (a trade only). Jobs start no earlier than at age 18."""
        day, noc = self.as_of, profile["primary_noc"]
        earliest = day - dt.timedelta(days=int(365.25 * max(0, profile["age"] - 18)))
        jobs: list[dict] = []
        # The latest work goes on to the pool's date (end None), or ended 1 to 18 months before.
        end = None if rng.random() >= LEFT_JOB else day - dt.timedelta(days=rng.randint(30, 540))
        last = end or day  # the last day of the work placed so far
        canadian = profile["canadian_work_years"]
        if canadian or rng.random() < NEWCOMER_JOB:
            part_time = rng.random() < PART_TIME
            hours = rng.choice((15, 20, 24, 25)) if part_time else \
                rng.choice((30, 35, 37.5, 40, 40, 44))
            years = canadian + rng.uniform(0.05, 0.9) if canadian else rng.uniform(0.17, 0.92)
            span = int(years * 364 * FULL_TIME_HOURS / min(hours, FULL_TIME_HOURS))
            start = max(earliest, last - dt.timedelta(days=span - 1))
            first_start = start
            if canadian >= 2 and rng.random() < SECOND_EMPLOYER and (last - start).days > 90:
                # the same occupation with two employers, up to six weeks between them
                cut = start + dt.timedelta(days=rng.randint(45, (last - start).days - 30))
                jobs.append(_job(noc, start, cut - dt.timedelta(days=rng.randint(1, 45)),
                                 hours, True))
                start = cut
            jobs.append(_job(noc, start, end, hours, True))
            end = last = first_start - dt.timedelta(days=rng.randint(14, 200))
        foreign = profile["foreign_work_years"]
        if foreign and last >= earliest:
            # another occupation abroad only before a Canadian job: the primary occupation
            # is the one of the latest job
            abroad = noc if not jobs or rng.random() >= OTHER_OCCUPATION_ABROAD else \
                self.choose["noc"](rng)
            span = int((foreign + rng.uniform(0.05, 0.9)) * 364)
            start = max(earliest, last - dt.timedelta(days=span - 1))
            jobs.insert(0, _job(abroad, start, end, rng.choice((35, 40, 40, 45)), False))
        profile["work_history"] = jobs
        profile["canadian_work_years"] = _years(jobs, day, 10, lambda j: j["in_canada"])
        profile["foreign_work_years"] = _years(jobs, day, 10, lambda j: not j["in_canada"])
        profile["trade_work_years"] = _years(jobs, day, 5, lambda j: j["noc"] == noc) \
            if self.is_trade(noc) else 0

    @staticmethod
    def in_pool(plain: dict) -> bool:
        """Roughly eligible for a federal program, as every profile in the pool is (the draw's
        assessment decides the programs exactly)."""
        levels = [plain["first_language"][a] for a in ABILITIES]
        skilled = plain["foreign_work_years"] + plain["canadian_work_years"] >= 1
        fsw = min(levels) >= 7 and skilled and plain["education"] != "none"
        cec = plain["canadian_work_years"] >= 1 and min(levels) >= 5
        fst = plain["trade_work_years"] >= 2 and min(levels[2], levels[3]) >= 5 and \
            min(levels[0], levels[1]) >= 4 and (plain["certificate_of_qualification"] or
                                                plain["arranged_employment"] != "none")
        return fsw or cec or fst


def _pick(rng: random.Random, items: Sequence[tuple[Any, float]]) -> Any:
    return _Choice(items)(rng)


def _levels(rng: random.Random, base: int) -> list[int]:
    """Four ability levels around a base level (each within one level of it), from 4 to 12."""
    return [max(4, min(12, base + rng.choice((-1, 0, 0, 0, 1)))) for _ in ABILITIES]


def _english(rng: random.Random, levels: list[int], test: str) -> dict:
    if test == "celpip":
        return {"test": "celpip", **{a: float(level) for a, level in
                                     zip(ABILITIES, levels, strict=True)}}
    out = {"test": "ielts"}
    for i, (ability, level) in enumerate(zip(ABILITIES, levels, strict=True)):
        level = min(level, 10)
        low = IELTS[level][i]
        high = 9.0 if level == 10 else IELTS[level + 1][i] - 0.5
        out[ability] = low + 0.5 * rng.randint(0, int((high - low) * 2))
    return out


def _tef(rng: random.Random, levels: list[int], as_of: dt.date) -> dict:
    out: dict[str, Any] = {"test": "tef"}
    for i, (ability, level) in enumerate(zip(ABILITIES, levels, strict=True)):
        low, high = TEF[min(level, 10)][i]
        out[ability] = rng.randint(low, high)
    taken = as_of - dt.timedelta(days=rng.randint(30, 600))
    out["test_date"] = taken.isoformat()
    if taken >= TEF_699_FROM:  # the same place in the level's band of the /699 scale
        for i, (ability, level) in enumerate(zip(ABILITIES, levels, strict=True)):
            (low, high), (new_low, new_high) = TEF[min(level, 10)][i], TEF_699[min(level, 10)][i]
            out[ability] = new_low + (out[ability] - low) * (new_high - new_low) // (high - low)
    return out


def _job(noc: str, start: dt.date, end: dt.date | None, hours: float, in_canada: bool) -> dict:
    return {"noc": noc, "noc_version": "2021", "start": start.isoformat(),
            "end": end.isoformat() if end else None, "hours_per_week": hours,
            "in_canada": in_canada}


def _years(jobs: Sequence[dict], day: dt.date, years: int, which) -> int:
    """Whole years of work (1,560 hours, 30 counted a week at most) of the jobs ``which``
    keeps, in the ``years`` years that end on ``day`` (both ends counted)."""
    opens = _years_before(day, years) + dt.timedelta(days=1)
    hours = 0.0
    for job in jobs:
        if not which(job):
            continue
        start = max(dt.date.fromisoformat(job["start"]), opens)
        end = min(dt.date.fromisoformat(job["end"]) if job["end"] else day, day)
        if end >= start:
            hours += min(job["hours_per_week"], FULL_TIME_HOURS) * ((end - start).days + 1) / 7
    return int(hours // HOURS_A_YEAR)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# ------------------------------------------------------------------------------- the generator
@dataclass
class Report:
    """Target against achieved candidates per CRS range, and what the sampling cost."""

    distribution: str
    size: int
    seed: int
    as_of: dt.date
    bins: list[tuple[int, int]]
    target: list[int]
    achieved: list[int] = field(default_factory=list)
    drawn: int = 0
    rejected_not_in_pool: int = 0
    mixes: dict[str, Counter] = field(default_factory=dict)
    scores: list[int] = field(default_factory=list)  # the plain CRS of each profile, in order

    def lines(self) -> list[str]:
        out = [f"pool of {self.size} as of {self.as_of}, distribution {self.distribution}, "
               f"seed {self.seed}: {self.drawn} profiles drawn "
               f"({self.drawn / max(self.size, 1):.2f} per candidate), "
               f"{self.rejected_not_in_pool} outside the pool's programs",
               f"{'CRS range':>11} {'target':>8} {'achieved':>8} {'target %':>8} "
               f"{'achieved %':>10}"]
        for (low, high), target, got in zip(self.bins, self.target, self.achieved, strict=True):
            out.append(f"{low:>5}-{high:<5} {target:>8} {got:>8} "
                       f"{100 * target / max(self.size, 1):>8.2f} "
                       f"{100 * got / max(self.size, 1):>10.2f}")
        for name, counter in self.mixes.items():
            total = sum(counter.values()) or 1
            shares = ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in counter.most_common(8))
            out.append(f"{name}: {shares}")
        return out


def generate(size: int, seed: int, as_of: dt.date | None = None,
             distribution: str | None = None,
             model: Model | None = None) -> tuple[Iterator[dict], Report]:
    """Profiles (candidate facts, as the contract has them) and the report, which is complete
    once the iterator is exhausted. ``as_of`` (default: the distribution's date) sets the
    12-month window of submission times, the funds table and the model: from the NOC 2021
    switch, NOC 2021 codes and work histories. ``distribution`` defaults to the published one
    nearest ``as_of``, or without a date to DEFAULT_DISTRIBUTION (the pool this command has
    always made without one, byte for byte)."""
    if size < 0:
        raise PoolError("the size of a pool cannot be negative")
    if distribution is None:
        distribution = nearest_distribution(as_of) if as_of else DEFAULT_DISTRIBUTION
    if distribution not in DISTRIBUTIONS:
        raise PoolError(f"no distribution {distribution!r}: {', '.join(DISTRIBUTIONS)}")
    dist = DISTRIBUTIONS[distribution]
    day = as_of or dist.as_of
    model = model or Model(day)
    target = quotas(dist, size)
    bins = [(low, high) for low, high, _ in dist.bins]
    lows = [low for low, _ in bins]
    names = ("age", "education", "first test", "noc", "tech occupation", "province")
    if model.noc_2021:
        names += ("jobs in the work history", "a part-time job", "in Canada")
    report = Report(distribution, size, seed, day, bins, target, [0] * len(bins),
                    mixes={k: Counter() for k in names})
    tech = TECH_2021 if model.noc_2021 else {"2173", "2174", "2175", "2172", "2147", "0213"}

    def profiles() -> Iterator[dict]:
        rng = random.Random(f"decisions-pool/{distribution}/{day}/{seed}")
        order = [i for i, n in enumerate(target) for _ in range(n)]
        rng.shuffle(order)
        waiting = [deque() for _ in bins]
        cap = max(64, size // 50)
        for number, wanted in enumerate(order, start=1):
            tries = 0
            while not waiting[wanted]:
                tries += 1
                if tries > MAX_DRAWS_PER_CANDIDATE:
                    raise PoolError(f"the model almost never reaches CRS {bins[wanted][0]}-"
                                    f"{bins[wanted][1]}: adjust the mixes")
                report.drawn += 1
                profile, plain = model.sample(rng, "")
                if not Model.in_pool(plain):
                    report.rejected_not_in_pool += 1
                    continue
                score = crs(plain, day)["total"]
                k = bisect.bisect_right(lows, score) - 1
                if len(waiting[k]) < cap and target[k] > 0:
                    waiting[k].append((profile, score))
            profile, score = waiting[wanted].popleft()
            report.scores.append(score)
            profile["candidate_id"] = f"C-{number:07d}"
            report.achieved[wanted] += 1
            _tally(report, profile, tech)
            yield profile

    return profiles(), report


def _tally(report: Report, p: dict, tech: set) -> None:
    age = p["age"]
    report.mixes["age"][f"{age // 5 * 5}-{age // 5 * 5 + 4}"] += 1
    report.mixes["education"][p["education"]] += 1
    report.mixes["first test"][p["first_language"]["test"]] += 1
    report.mixes["noc"][p["primary_noc"]] += 1
    report.mixes["tech occupation"]["yes" if p["primary_noc"] in tech else "no"] += 1
    report.mixes["province"][p["intends_to_reside_in"]] += 1
    if "work_history" in p:
        jobs = p["work_history"]
        report.mixes["jobs in the work history"][str(len(jobs))] += 1
        report.mixes["a part-time job"]["yes" if any(
            j["hours_per_week"] < FULL_TIME_HOURS for j in jobs) else "no"] += 1
        report.mixes["in Canada"]["works or worked in Canada" if any(
            j["in_canada"] for j in jobs) else "no Canadian job"] += 1


def histogram(scores: Sequence[int], distribution: str = DEFAULT_DISTRIBUTION) -> list[int]:
    """Counts of ``scores`` in the ranges of a published distribution."""
    lows = [low for low, _, _ in DISTRIBUTIONS[distribution].bins]
    out = [0] * len(lows)
    for score in scores:
        out[bisect.bisect_right(lows, score) - 1] += 1
    return out
