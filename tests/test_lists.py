"""Facts over lists (docs/rulesets.md, "Facts over lists"): a list-of-objects fact, checks of
each item, and derives that make a number of a list (sum, max, count; a filter, a date window up
to the decision date, a group-by), which the engine then compares as any derived fact."""

from __future__ import annotations

import datetime as dt

import pytest

from service import conditions as cond
from service.decisions import catalog_texts, with_texts
from service.decisions.decide import decide
from service.engine import compiled
from service.errors import ConditionError, EvaluationError, FactsError, RulesetError
from service.rulesets import load_catalog, validate_facts
from service.web.openapi import fact_schema

from .conftest import PROFILE

JOB = {"noc": "21231", "noc_version": "2021", "start": "2024-01-01", "end": "2024-06-30",
       "hours_per_week": 30, "in_canada": True}
DAY = dt.date(2024, 12, 1)


def job(**changes):
    return {**JOB, **changes}


# ------------------------------------------------------------------------------ the list fact
def test_a_list_fact_checks_each_item_and_its_length_before_reading_the_items(catalog):
    specs = catalog.facts_for(catalog.in_force("express-entry.noc", DAY))
    assert validate_facts(specs, PROFILE)["work_history"] == []  # optional: no jobs
    clean = validate_facts(specs, {**PROFILE, "work_history": [job(end=None), job()]})
    assert clean["work_history"][0]["end"] is None and clean["work_history"][1]["end"] == \
        "2024-06-30"
    ongoing = {k: v for k, v in JOB.items() if k != "end"}  # no end: ongoing, as null
    assert validate_facts(specs, {**PROFILE, "work_history": [ongoing]})["work_history"][0][
        "end"] is None
    cases = [
        ([1] * 1_000_000, {"work_history": ["Longer than maximum length 50."]}),
        ("21231", {"work_history": ["Not a valid list."]}),
        (None, {"work_history": ["Field may not be null."]}),
        ([job(), job(hours_per_week=200, noc="2173x", x=1)],
         {"work_history.1.hours_per_week": ["Must be greater than or equal to 0.0 and less "
                                            "than or equal to 168.0."],
          "work_history.1.noc": ["String does not match expected pattern."],
          "work_history.1.x": ["Unknown field."]}),
    ]
    for value, errors in cases:
        with pytest.raises(FactsError) as err:
            validate_facts(specs, {**PROFILE, "work_history": value})
        assert err.value.extra["errors"] == errors


def test_a_job_that_ends_before_it_starts_or_starts_after_the_decision_date_is_refused(
        catalog):
    top = catalog.in_force("express-entry.categories", DAY)
    ok = [job(end=None, start="2024-12-01"), job(end="2024-01-01"), job()]  # the same day is fine
    assert len(catalog.validate(top, {**PROFILE, "work_history": ok}, DAY)["work_history"]) == 3
    bad = [job(), job(end="2023-12-31"), job(start="2024-12-02", end=None)]
    with pytest.raises(FactsError) as err:
        catalog.validate(top, {**PROFILE, "work_history": bad}, DAY)
    errors = err.value.extra["errors"]
    assert set(errors) == {"work_history.1.end", "work_history.2.start"}
    assert "cannot end before it starts" in errors["work_history.1.end"][0]
    assert "after the date of the decision" in errors["work_history.2.start"][0]
    # a day later the same start is no longer in the future
    catalog.validate(top, {**PROFILE, "work_history": bad[2:]}, dt.date(2024, 12, 2))


def test_a_list_fact_is_an_array_in_the_openapi_document():
    spec = {"type": "list", "max_length": 50, "default": [],
            "fields": {"noc": {"type": "string"}, "end": {"type": "date", "nullable": True,
                                                          "required": False}}}
    assert fact_schema(spec) == {
        "type": "array", "maxItems": 50, "default": [],
        "items": {"type": "object", "additionalProperties": False,
                  "properties": {"noc": {"type": "string"},
                                 "end": {"type": ["string", "null"], "format": "date"}},
                  "required": ["noc"]}}


# ---------------------------------------------------------------------- counting over a list
def test_the_window_counts_the_days_of_each_period_in_the_years_up_to_the_decision_date():
    window = cond.Window("start", "end", 3)
    days = {  # the window of 2024-12-01 runs from 2021-12-02 to 2024-12-01
        ("2021-06-01", "2021-12-01"): 0, ("2021-06-01", "2021-12-02"): 1,
        ("2024-12-01", None): 1, ("2024-01-01", "2024-06-30"): 182,
        ("2020-01-01", None): 1096, ("2024-11-01", "2025-03-01"): 31,
    }
    for (start, end), expected in days.items():
        assert cond.window_days(window, {"start": start, "end": end}, DAY) == expected
    # from a 29 February, the same date 3 years earlier is the 28th
    assert cond.window_days(window, {"start": "2021-02-28", "end": None},
                            dt.date(2024, 2, 29)) == 1096


def _aggregate(func, expr=None, where="true", by=None, window=True):
    names = cond.Names({"noc": cond.Field("string"), "hours": cond.Field("number"),
                        "in_canada": cond.Field("boolean"), "days": cond.Field("integer")},
                       {"listed": ["1", "2"]})
    return cond.Aggregate(func, "jobs", expr and cond.parse_value(expr, names),
                          cond.nnf(cond.parse(where, names)),
                          cond.Window("start", "end", 3) if window else None, by)


def test_sum_max_and_count_over_the_items_a_filter_keeps():
    jobs = [dict(zip(("noc", "hours", "in_canada", "start", "end"), row, strict=True)) for row in (
        ("1", 30, True, "2024-01-01", "2024-01-07"),  # 7 days at 30 h: 30 hours
        ("1", 15, False, "2024-02-01", "2024-02-14"),  # 14 days at 15 h: 30 hours
        ("2", 40, True, "2024-03-01", "2024-03-21"),  # 21 days at 30 h counted: 90 hours
        ("3", 30, True, "2024-04-01", "2024-05-01"))]  # not listed
    facts = {"jobs": jobs}
    hours = "min(hours, 30) * days / 7"
    assert cond.aggregate(_aggregate("sum", hours, "noc in listed"), facts, DAY) == 30 + 30 + 90
    assert cond.aggregate(_aggregate("sum", hours, "noc in listed", by="noc"), facts, DAY) == 90
    assert cond.aggregate(_aggregate("max", hours, "noc in listed"), facts, DAY) == 90
    assert cond.aggregate(_aggregate("max", hours, "noc in listed and days > 30"), facts,
                          DAY) == 0  # no item: 0
    assert cond.aggregate(_aggregate("count", where="in_canada"), facts, DAY) == 3
    assert cond.aggregate(_aggregate("count", window=False), {}, None) == 0  # no list: no items
    with pytest.raises(EvaluationError, match="within 3 years of the decision date"):
        cond.aggregate(_aggregate("count"), facts, None)


def test_division_in_a_value_expression():
    names = cond.Names({"a": cond.Field("number")}, {})
    assert cond.compute(cond.parse_value("a * 182 / 7", names), {"a": 30}) == 780.0
    with pytest.raises(ZeroDivisionError):
        cond.compute(cond.parse_value("a / 0", names), {"a": 1})


def test_two_facts_are_compared_only_where_names_allow_it():
    fields = {"start": cond.Field("date"), "end": cond.Field("date"), "n": cond.Field("integer")}
    with pytest.raises(ConditionError, match="not with another fact"):
        cond.parse("end >= start", cond.Names(fields, {}))
    pairs = cond.Names(fields, {}, fact_pairs=True)
    tree = cond.nnf(cond.parse("not end < start", pairs))
    assert cond.render(tree) == "end >= start"
    assert cond.evaluate(tree, {"start": "2024-01-01", "end": "2024-01-01"})
    assert not cond.evaluate(tree, {"start": "2024-01-02", "end": "2024-01-01"})
    assert not cond.evaluate(tree, {"end": "2024-01-01"})  # absent on one side: false
    assert cond.why_not(tree, {"start": "2024-01-02", "end": "2024-01-01"}) == {
        "fact": "end", "value": "2024-01-01", "op": ">=", "expected": "2024-01-02",
        "constant": "start", "missing": False}
    with pytest.raises(ConditionError, match="cannot be compared"):
        cond.parse("n >= start", pairs)


# ----------------------------------------------------------- a ruleset that counts a list
RULESET = """\
    id: demo.lists
    version: "2024-01-01"
    effective: {{from: 2024-01-01}}
    title: {{en: Lists, fr: Listes}}
    reference: https://example.org
    contract: candidate-profile
    derives:
      listed_hours: {{type: number, title: {{en: Hours, fr: Heures}}}}
      canada_jobs: {{type: integer, title: {{en: Jobs in Canada, fr: Emplois au Canada}}}}
    constants:
      listed: ["21231", "21232"]
    outcome:
      met_when: any
      met: {{code: some, title: {{en: Some, fr: Certains}}}}
      not_met: {{code: none, title: {{en: None, fr: Aucun}}}}
    rules:
      - id: hours
        title: {{en: Hours, fr: Heures}}
        reference: https://example.org
        derive:
          fact: listed_hours
          over: {over}
          where: "{where}"
          window: {{start: start, end: {end}, years: 3}}
          sum: "min(hours_per_week, 30) * days / 7"
          by: noc
      - id: jobs-in-canada
        title: {{en: Jobs in Canada, fr: Emplois au Canada}}
        reference: https://example.org
        derive: {{fact: canada_jobs, over: work_history, where: in_canada, count: true}}
      - id: a-year
        title: {{en: A year, fr: Un an}}
        reference: https://example.org
        require: listed_hours >= 1560
      - id: two-jobs
        title: {{en: Two jobs, fr: Deux emplois}}
        reference: https://example.org
        require: canada_jobs >= 2
    """


def write(ruleset_dir, over="work_history", where="noc in listed", end="end"):
    ruleset_dir("demo.yaml", RULESET.format(over=over, where=where, end=end))
    return ruleset_dir.root


def test_a_derived_count_is_decided_by_the_engine_and_met_when_any_requirement_is(ruleset_dir):
    catalog = load_catalog(write(ruleset_dir))
    engine = compiled(catalog)
    facts = {**PROFILE, "work_history": [
        job(start="2023-01-01", end="2023-06-30"), job(start="2024-01-01", end="2024-06-30"),
        job(noc="21232", start="2022-01-01", end="2022-12-31", in_canada=False)]}
    decision = decide(catalog, engine, "demo.lists", facts, DAY)
    # 21231: 181 + 182 days at 30 h; 21232: 365 days, each group on its own
    assert decision["derived"] == {"listed_hours": 30 * 365 / 7, "canada_jobs": 2}
    assert {r["rule"]: r["met"] for r in decision["requirements"]} == {"a-year": True,
                                                                     "two-jobs": True}
    assert decision["outcome"] == "some"
    one = decide(catalog, engine, "demo.lists", {**facts, "work_history": facts[
        "work_history"][:1]}, DAY)
    assert one["outcome"] == "none" and one["derived"] == {"listed_hours": 30 * 181 / 7,
                                                           "canada_jobs": 1}
    [year, _] = one["requirements"]
    assert year["why_not"]["value"] == 30 * 181 / 7 and year["why_not"]["expected"] == 1560
    fired = {f["rule"]: f["effect"] for f in one["fired"]}
    assert fired["hours"] == {"derive": "listed_hours", "value": 30 * 181 / 7}
    # as of 2026-01-02 the window opens on 2023-01-03: 2 days of the first job are out, and
    # the job of 2022 too; as of 2026-07-01 only the second job is left
    later = decide(catalog, engine, "demo.lists", facts, dt.date(2026, 1, 2))
    assert later["derived"]["listed_hours"] == 30 * (179 + 182) / 7
    later = decide(catalog, engine, "demo.lists", facts, dt.date(2026, 7, 1))
    assert later["derived"] == {"listed_hours": 780.0, "canada_jobs": 2}


@pytest.mark.parametrize(("changes", "key", "message"), [
    ({"over": "age"}, "rules[hours].derive.over", "no list fact 'age'"),
    ({"end": "noc"}, "rules[hours].derive.window.end", "'noc' is not a date field"),
    ({"where": "nocc in listed"}, "rules[hours].derive.where", "unknown fact 'nocc'"),
    ({"where": "work_history"}, "rules[hours].derive.where", "unknown fact 'work_history'"),
])
def test_a_derive_over_a_list_is_checked_at_load(ruleset_dir, changes, key, message):
    with pytest.raises(RulesetError) as err:
        load_catalog(write(ruleset_dir, **changes))
    assert any(p.key == key and message in p.message for p in err.value.problems), \
        err.value.problems


@pytest.mark.parametrize(("derive", "message"), [
    ("{fact: n, over: work_history, sum: hours_per_week, by: nocc}", "no field 'nocc'"),
    ("{fact: n, over: work_history, max: hours_per_week, by: noc}", "'by' groups a sum"),
    ("{fact: n, over: work_history}", "one of sum, max or count"),
    ("{fact: n, over: work_history, count: true, sum: days}", "one of sum, max or count"),
    ("{fact: n, expr: age, where: in_canada}", "only a derive over a list has 'where'"),
    ("{fact: n, over: work_history, sum: days}", "unknown fact 'days'"),  # no window, no days
])
def test_the_parts_of_a_derive_over_a_list_are_checked(ruleset_dir, derive, message):
    ruleset_dir("demo.yaml", f"""\
        id: demo.lists
        version: "2024-01-01"
        effective: {{from: 2024-01-01}}
        title: {{en: Lists, fr: Listes}}
        reference: https://example.org
        contract: candidate-profile
        derives: {{n: {{type: number, title: {{en: N, fr: N}}}}}}
        rules:
          - id: n
            title: {{en: N, fr: N}}
            reference: https://example.org
            derive: {derive}
        """)
    with pytest.raises(RulesetError) as err:
        load_catalog(ruleset_dir.root)
    assert any(message in p.message for p in err.value.problems), err.value.problems


@pytest.mark.parametrize(("spec", "message"), [
    ("{type: list, fields: {a: {type: string}}}", "max_length, 1 to 1000"),
    ("{type: list, max_length: 1001, fields: {a: {type: string}}}", "max_length, 1 to 1000"),
    ("{type: list, max_length: 5}", "lists its fields"),
    ("{type: list, max_length: 5, fields: {a: {type: object, fields: {b: {type: string}}}}}",
     "single values"),
    ("{type: list, max_length: 5, default: [1], fields: {a: {type: string}}}", "single value"),
    ("{type: integer, default: []}", "only a list fact defaults to []"),
])
def test_a_list_fact_is_bounded_and_flat(ruleset_dir, spec, message):
    ruleset_dir("demo.yaml", f"""\
        id: demo.lists
        version: "2024-01-01"
        effective: {{from: 2024-01-01}}
        title: {{en: Lists, fr: Listes}}
        reference: https://example.org
        facts: {{items: {spec}}}
        """)
    with pytest.raises(RulesetError) as err:
        load_catalog(ruleset_dir.root)
    assert any(message in p.message for p in err.value.problems), err.value.problems


def test_a_condition_cannot_compare_a_list(ruleset_dir):
    ruleset_dir("demo.yaml", """\
        id: demo.lists
        version: "2024-01-01"
        effective: {from: 2024-01-01}
        title: {en: Lists, fr: Listes}
        reference: https://example.org
        contract: candidate-profile
        rules:
          - id: jobs
            title: {en: Jobs, fr: Emplois}
            reference: https://example.org
            require: work_history != null
        """)
    with pytest.raises(RulesetError, match="is a list: a condition reads a number made of it"):
        load_catalog(ruleset_dir.root)


def test_a_check_of_each_item_names_a_list_of_the_contract(tmp_path):
    root = tmp_path / "rulesets"
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "mini.yaml").write_text("""\
id: mini
title: {en: Mini, fr: Mini}
reference: https://example.org
facts:
  age: {type: integer}
checks:
  - id: each-age
    each: age
    field: age
    require: age >= 18
    message: {en: Adult, fr: Majeur}
    reference: https://example.org
""", encoding="utf-8")
    with pytest.raises(RulesetError) as err:
        load_catalog(root)
    [found] = err.value.problems
    assert (found.line, found.key) == (8, "checks[each-age].each")
    assert "no list fact 'age'" in found.message


def test_a_window_that_would_open_before_year_one_opens_on_the_first_day():
    window = cond.Window("start", "end", 3)
    assert cond.window_days(window, {"start": "0001-01-01", "end": None},
                            dt.date(2, 1, 1)) == 366


# ------------------------------------------------------------ the candidate's values in a why-not
def test_a_because_shows_the_facts_it_names_never_rounded_up_to_a_threshold():
    from service.decisions.why_not import fill

    because = {"en": "found {hours} hours, offer: {offer}, level {level}",
               "fr": "trouvé {hours} heures, offre : {offer}, niveau {level}"}
    assert fill(because, {"hours": 779.99, "offer": False, "level": 6.0}) == {
        "en": "found 779.9 hours, offer: no, level 6",
        "fr": "trouvé 779,9 heures, offre : non, niveau 6"}
    assert fill(because, {"hours": 780.0})["en"] == \
        "found 780 hours, offer: not given, level not given"


def test_the_why_not_of_a_category_says_what_the_candidate_has_in_both_languages(catalog,
                                                                                  engine):
    facts = {**PROFILE, "work_history": [job(end="2024-06-29")]}  # 181 days: 775.7 hours
    decision = with_texts(decide(catalog, engine, "express-entry.categories", facts, DAY),
                          catalog_texts(catalog))
    stem = next(r for r in decision["requirements"] if r["rule"] == "stem")
    assert not stem["met"] and stem["why_not"]["value"] == 30 * 181 / 7
    assert stem["because"]["en"].endswith("found: 775.7 hours in one such job")
    assert stem["because"]["fr"].endswith("trouvé : 775,7 heures dans un tel emploi")
    french = next(r for r in decision["requirements"] if r["rule"] == "french")
    assert ("first official language (English levels given directly (Canadian Language "
            "Benchmarks, CLB)) 9") in french["because"]["en"]


def test_a_because_that_names_an_unknown_fact_is_refused_at_load(ruleset_dir):
    ruleset_dir("demo.yaml", """\
        id: demo.lists
        version: "2024-01-01"
        effective: {from: 2024-01-01}
        title: {en: Lists, fr: Listes}
        reference: https://example.org
        contract: candidate-profile
        rules:
          - id: adult
            title: {en: Adult, fr: Majeur}
            reference: https://example.org
            require: age >= 18
            because: {en: "age {age}", fr: "âge {agee}"}
        """)
    with pytest.raises(RulesetError) as err:
        load_catalog(ruleset_dir.root)
    [found] = err.value.problems
    assert found.key == "rules[adult].because.fr"
    assert "unknown fact or constant '{agee}'" in found.message
