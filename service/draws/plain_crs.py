"""Plain, hand-written CRS (Express Entry Comprehensive Ranking System) calculator.

An independent oracle for the CRS ruleset: straightforward Python, tables as dicts, standard
library only. Source: the CRS grid of docs/crs.md (IRCC's published criteria), "CRS (in force
2019-07-11)" and "Dated changes"; the input is the candidate profile of candidate-profile.md.

Scope and limits:
- Language results must be given as direct levels: test "clb" (English) or "nclc" (French).
  Raw test scores (ielts, celpip, pte_core, tef, tcf) are NOT converted here; passing one raises
  ValueError.
- education_assessed is not read (the grid as transcribed gives no CRS rule for it).
- Date switches: French additional points 15/30 before 2020-10-27, 25/50 from that day (some
  sources say 2020-10-20); arranged-employment points (200/50) up to 2025-03-24 inclusive and 0
  from 2025-03-25. Nothing after 2025 is encoded.
- "With spouse" = married or common_law AND spouse_accompanying AND NOT spouse_is_citizen_or_pr.
- Transferability language conditions read the first official language.
"""
import datetime

FRENCH_RAISE = datetime.date(2020, 10, 27)
ARRANGED_EMPLOYMENT_REMOVED = datetime.date(2025, 3, 25)

# age -> (with spouse, without spouse); 17 or less and 45 or more are 0
AGE = {
    18: (90, 99), 19: (95, 105),
    20: (100, 110), 21: (100, 110), 22: (100, 110), 23: (100, 110), 24: (100, 110),
    25: (100, 110), 26: (100, 110), 27: (100, 110), 28: (100, 110), 29: (100, 110),
    30: (95, 105), 31: (90, 99), 32: (85, 94), 33: (80, 88), 34: (75, 83), 35: (70, 77),
    36: (65, 72), 37: (60, 66), 38: (55, 61), 39: (50, 55), 40: (45, 50), 41: (35, 39),
    42: (25, 28), 43: (15, 17), 44: (5, 6),
}

EDUCATION = {
    "none": (0, 0),
    "secondary": (28, 30),
    "one_year_post_secondary": (84, 90),
    "two_year_post_secondary": (91, 98),
    "bachelors": (112, 120),
    "two_or_more_credentials": (119, 128),
    "masters": (126, 135),
    "doctoral": (140, 150),
}

# first official language, per ability, by CLB level (below 4 -> 0, 10 and above -> as 10)
FIRST_LANGUAGE = {
    4: (6, 6), 5: (6, 6), 6: (8, 9), 7: (16, 17), 8: (22, 23), 9: (29, 31), 10: (32, 34),
}

# second official language, per ability (same with and without spouse)
SECOND_LANGUAGE = {5: 1, 6: 1, 7: 3, 8: 3, 9: 6}  # 4 or less -> 0; 9 or more -> 6
SECOND_LANGUAGE_MAX = (22, 24)

CANADIAN_WORK = {1: (35, 40), 2: (46, 53), 3: (56, 64), 4: (63, 72), 5: (70, 80)}

SPOUSE_EDUCATION = {
    "none": 0, "secondary": 2, "one_year_post_secondary": 6, "two_year_post_secondary": 7,
    "bachelors": 8, "two_or_more_credentials": 9, "masters": 10, "doctoral": 10,
}
SPOUSE_LANGUAGE = {5: 1, 6: 1, 7: 3, 8: 3, 9: 5}  # 4 or less -> 0; 9 or more -> 5
SPOUSE_CANADIAN_WORK = {1: 5, 2: 7, 3: 8, 4: 9, 5: 10}

# skill transferability: band -> (lower value, higher value)
EDUCATION_BAND = {
    "none": None, "secondary": None,
    "one_year_post_secondary": "mid", "two_year_post_secondary": "mid", "bachelors": "mid",
    "two_or_more_credentials": "high", "masters": "high", "doctoral": "high",
}
TRANSFER_VALUES = {"mid": (13, 25), "high": (25, 50)}

PROVINCIAL_NOMINATION = 600
ARRANGED_EMPLOYMENT = {"none": 0, "noc_00": 200, "noc_0ab": 50}
CANADIAN_EDUCATION = {"none": 0, "one_or_two_year": 15, "three_year_or_more": 30}
SIBLING = 15
ABILITIES = ("reading", "writing", "listening", "speaking")


def _levels(lang):
    """The four levels of a language result given as clb/nclc; None when no result."""
    if lang is None:
        return None
    if lang.get("test") not in ("clb", "nclc"):
        raise ValueError("plain_crs handles only test clb/nclc, got {!r}".format(lang.get("test")))
    return [int(lang[a]) for a in ABILITIES]


def _age_points(age, col):
    if age <= 17 or age >= 45:
        return 0
    return AGE[age][col]


def _first_language_points(levels, col):
    total = 0
    for level in levels:
        if level >= 10:
            total += FIRST_LANGUAGE[10][col]
        elif level >= 4:
            total += FIRST_LANGUAGE[level][col]
    return total


def _second_language_points(levels, col):
    total = 0
    for level in levels:
        if level >= 9:
            total += SECOND_LANGUAGE[9]
        elif level >= 5:
            total += SECOND_LANGUAGE[level]
    return min(total, SECOND_LANGUAGE_MAX[col])


def _canadian_work_points(years, col):
    if years < 1:
        return 0
    return CANADIAN_WORK[min(years, 5)][col]


def _spouse_points(spouse):
    if spouse is None:
        return 0
    points = SPOUSE_EDUCATION[spouse["education"]]
    levels = _levels(spouse.get("first_language"))
    if levels is not None:
        for level in levels:
            if level >= 9:
                points += SPOUSE_LANGUAGE[9]
            elif level >= 5:
                points += SPOUSE_LANGUAGE[level]
    years = spouse.get("canadian_work_years", 0)
    if years >= 1:
        points += SPOUSE_CANADIAN_WORK[min(years, 5)]
    return points


def _with_language(band, lowest_clb):
    """Band value for the '+ language' rows: CLB 7+ all four (one under 9) -> lower, 9+ ->
    higher."""
    if band is None or lowest_clb < 7:
        return 0
    low, high = TRANSFER_VALUES[band]
    return high if lowest_clb >= 9 else low


def _with_canadian_work(band, canadian_years):
    """Band value for the '+ Canadian work' rows: 1 year -> lower, 2+ years -> higher."""
    if band is None or canadian_years < 1:
        return 0
    low, high = TRANSFER_VALUES[band]
    return high if canadian_years >= 2 else low


def _transferability(facts, first_levels):
    lowest = min(first_levels) if first_levels else 0
    cw = facts["canadian_work_years"]

    edu_band = EDUCATION_BAND[facts["education"]]
    education = min(50, _with_language(edu_band, lowest) + _with_canadian_work(edu_band, cw))

    fw = facts["foreign_work_years"]
    foreign_band = None if fw < 1 else ("mid" if fw <= 2 else "high")
    foreign = min(50, _with_language(foreign_band, lowest) + _with_canadian_work(foreign_band, cw))

    certificate = 0
    if facts["certificate_of_qualification"]:
        if lowest >= 7:
            certificate = 50
        elif lowest >= 5:
            certificate = 25

    return min(100, education + foreign + certificate)


def _french_points(facts, as_of):
    french = english = None
    for lang in (facts.get("first_language"), facts.get("second_language")):
        if lang is None:
            continue
        if lang["test"] == "nclc":
            french = _levels(lang)
        elif lang["test"] == "clb":
            english = _levels(lang)
    if french is None or min(french) < 7:
        return 0
    english_strong = english is not None and min(english) >= 5
    if as_of >= FRENCH_RAISE:
        return 50 if english_strong else 25
    return 30 if english_strong else 15


def _additional(facts, as_of):
    points = 0
    if facts["provincial_nomination"]:
        points += PROVINCIAL_NOMINATION
    if as_of < ARRANGED_EMPLOYMENT_REMOVED:
        points += ARRANGED_EMPLOYMENT[facts["arranged_employment"]]
    points += CANADIAN_EDUCATION[facts["canadian_education"]]
    if facts["sibling_in_canada"]:
        points += SIBLING
    points += _french_points(facts, as_of)
    return min(600, points)


def crs(facts, as_of):
    """CRS score of a candidate profile on the date as_of: {total, core, spouse,
    transferability, additional}."""
    with_spouse = (
        facts["marital_status"] in ("married", "common_law")
        and facts["spouse_accompanying"]
        and not facts["spouse_is_citizen_or_pr"]
    )
    col = 0 if with_spouse else 1

    first_levels = _levels(facts["first_language"]) or []
    second_levels = _levels(facts.get("second_language"))

    core = (
        _age_points(facts["age"], col)
        + EDUCATION[facts["education"]][col]
        + _first_language_points(first_levels, col)
        + (_second_language_points(second_levels, col) if second_levels else 0)
        + _canadian_work_points(facts["canadian_work_years"], col)
    )
    spouse = _spouse_points(facts.get("spouse")) if with_spouse else 0
    transferability = _transferability(facts, first_levels)
    additional = _additional(facts, as_of)
    total = min(1200, core + spouse + transferability + additional)
    return {
        "total": total,
        "core": core,
        "spouse": spouse,
        "transferability": transferability,
        "additional": additional,
    }
