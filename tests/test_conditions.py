"""The condition language: parsing, checking, normal forms, why-not, and the property that the
durable-rules engine and the Python evaluator (which renders the why-not) always agree."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import conditions as cond
from service.engine import CompiledRuleset
from service.engine.compile import dnf
from service.errors import ConditionError
from service.rulesets import Rule, RulesetVersion

FACTS = {
    "age": cond.Field("integer"),
    "score": cond.Field("number"),
    "status": cond.Field("string", ("single", "married", "common_law")),
    "noc": cond.Field("string"),
    "flag": cond.Field("boolean"),
    "lang.reading": cond.Field("number"),
    "lang": cond.Field("object"),
}
NAMES = cond.Names(FACTS, {"tech_nocs": ["2173", "2174", "0213"], "floor": 400})


def parse(text: str):
    return cond.nnf(cond.parse(text, NAMES))


def test_comparisons_ranges_and_constants_parse_to_atoms():
    assert parse("age >= 18") == cond.Atom("age", ">=", 18)
    assert parse("18 <= age") == cond.Atom("age", ">=", 18)
    assert parse("20 <= age <= 29") == cond.All((cond.Atom("age", ">=", 20),
                                                 cond.Atom("age", "<=", 29)))
    assert parse("noc in tech_nocs") == cond.Atom("noc", "in", ("2173", "2174", "0213"),
                                                  "tech_nocs")
    assert parse("score >= floor") == cond.Atom("score", ">=", 400, "floor")
    assert parse("lang.reading > 6.5") == cond.Atom("lang.reading", ">", 6.5)
    assert parse("flag") == cond.Atom("flag", "==", True)
    assert parse("lang == null") == cond.Atom("lang", "==", None)


def test_not_is_pushed_down_to_the_comparisons():
    assert parse("not (age >= 18 and flag)") == cond.Any_((cond.Atom("age", "<", 18),
                                                           cond.Atom("flag", "!=", True)))
    assert parse("not noc in tech_nocs") == cond.Atom("noc", "not in", ("2173", "2174", "0213"),
                                                      "tech_nocs")


@pytest.mark.parametrize("text, message", [
    ("agee >= 3", "unknown fact 'agee'; did you mean 'age'?"),
    ("noc in tech_noc", "unknown name 'tech_noc'; did you mean 'tech_nocs'?"),
    ("age >= 'x'", "'age' is an integer; 'x' is not"),
    ("status == 'maried'", "'maried' is not an allowed value of 'status'"),
    ("age", "'age' is an integer, not a yes/no fact"),
    ("age >= score", "compare the fact 'score' with a value"),
    ("age + 1 > 3", "a comparison needs a fact on one side"),
    ("open('x')", "is not a condition"),
    ("().__class__", "is not a condition"),
    ("age >= ", "syntax error"),
    ("age in 3", "needs a list of values"),
    ("age < null", "null can only be compared with == or !="),
    ("", "non-empty"),
])
def test_bad_conditions_are_refused_with_a_clear_message(text, message):
    with pytest.raises(ConditionError, match=None) as err:
        cond.parse(text, NAMES)
    assert message in err.value.detail


def test_dnf_writes_number_lists_out_and_keeps_string_lists_whole():
    assert len(dnf(parse("age in [1, 2, 3] and (flag or score > 1)"))) == 6
    assert len(dnf(parse("noc in tech_nocs"))) == 1
    with pytest.raises(ConditionError, match="too complex"):
        dnf(parse(" and ".join(f"(age == {i} or score == {i})" for i in range(7))))


def test_why_not_names_the_failing_parts_only():
    facts = {"age": 17, "noc": "1111", "flag": True}
    reason = cond.why_not(parse("age >= 18 and flag and noc in tech_nocs"), facts)
    assert reason == {"all": [
        {"fact": "age", "value": 17, "op": ">=", "expected": 18, "constant": None,
         "missing": False},
        {"fact": "noc", "value": "1111", "op": "in", "expected": ["2173", "2174", "0213"],
         "constant": "tech_nocs", "missing": False}]}
    assert cond.why_not(parse("age >= 18 or flag"), facts) is None
    missing = cond.why_not(parse("score >= floor"), facts)
    assert missing["missing"] and missing["constant"] == "floor"


def test_value_expressions_compute_min_max_and_arithmetic():
    tree = cond.parse_value("min(age, score) * 2 + 1", NAMES)
    assert cond.compute(tree, {"age": 20, "score": 7.5}) == 16.0
    assert cond.compute(tree, {"age": 20}) is None  # a missing fact makes the value null


# ------------------------------------------------------------------ engine and evaluator agree
def _version(condition) -> RulesetVersion:
    rule = Rule(id="req", kind="require", title={"en": "R", "fr": "R"}, reference="x",
                condition=condition, source=cond.render(condition))
    return RulesetVersion(id="prop", version="1", effective_from=dt.date(2019, 1, 1),
                          effective_to=None, title={"en": "P", "fr": "P"}, description=None,
                          reference="x", path="prop.yaml", sha256="0" * 64, facts={},
                          derives={}, includes=[], constants={}, scores={}, rules=[rule],
                          outcome={}, cases=None)


# Small shared pools of values so that facts often equal the values they are compared with:
# the boundaries are where a wrong operator would show.
INTS = st.integers(17, 20)
NUMS = st.sampled_from([6, 6.5, 7, 7.5])


def _atoms():
    ints, nums = INTS, NUMS
    strings = st.sampled_from(["2173", "2174", "0213", "1111", "single", "married", "a-b_c"])
    str_lists = st.lists(strings, min_size=1, max_size=4).map(tuple)
    ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    return st.one_of(
        st.builds(cond.Atom, st.just("age"), ops, ints),
        st.builds(cond.Atom, st.just("score"), ops, nums),
        st.builds(cond.Atom, st.just("lang.reading"), ops, nums),
        st.builds(cond.Atom, st.sampled_from(["noc", "status"]), st.sampled_from(["==", "!="]),
                  strings),
        st.builds(cond.Atom, st.sampled_from(["noc", "status"]),
                  st.sampled_from(["in", "not in"]), str_lists),
        st.builds(cond.Atom, st.just("age"), st.sampled_from(["in", "not in"]),
                  st.lists(ints, min_size=1, max_size=3).map(tuple)),
        st.builds(cond.Atom, st.just("flag"), st.sampled_from(["==", "!="]), st.booleans()),
        st.builds(cond.Atom, st.sampled_from(["score", "lang"]), st.sampled_from(["==", "!="]),
                  st.none()),
    )


conditions = st.recursive(
    _atoms(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: cond.All(tuple(xs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: cond.Any_(tuple(xs))),
        inner.map(cond.Not)),
    max_leaves=6)

facts_strategy = st.fixed_dictionaries({}, optional={
    "age": INTS,
    "score": NUMS,
    "noc": st.sampled_from(["2173", "2174", "0213", "1111", "217", "a-b_c"]),
    "status": st.sampled_from(["single", "married", "common_law"]),
    "flag": st.booleans(),
    "lang": st.fixed_dictionaries({}, optional={"reading": NUMS}),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=conditions, facts=st.lists(facts_strategy, min_size=1, max_size=4))
def test_engine_and_why_not_agree_on_every_condition(condition, facts):
    tree = cond.nnf(condition)
    try:
        dnf(tree)
    except ConditionError:
        return  # refused at load time: never reaches the engine
    compiled = CompiledRuleset(_version(tree))
    for one in facts:
        fired = bool(compiled.evaluate(one).fired)
        assert fired == cond.evaluate(tree, one), (cond.render(tree), one)
        assert (cond.why_not(tree, one) is None) == fired
