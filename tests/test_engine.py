"""The engine: forward chaining, errors surfaced, sessions always deleted, threads kept apart."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import textwrap
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.decisions import catalog_texts, decide, with_texts
from service.engine import CompiledRuleset, Engine
from service.errors import EvaluationError, RulesetError
from service.rulesets import load_catalog
from service.rulesets.facts import SAFE_INTEGER

from .conftest import PROFILE, RULESETS

CHAIN = """\
    id: demo.chain
    version: "1"
    effective: {from: 2019-01-01}
    title: {en: Chain, fr: Chaîne}
    reference: https://example.org
    contract: candidate-profile
    derives:
      band: {type: string, title: {en: Band, fr: Tranche}}
      bonus: {type: integer, title: {en: Bonus, fr: Prime}}
      doubled: {type: integer, title: {en: Doubled, fr: Doublé}}
    scores:
      s:
        title: {en: Score, fr: Pointage}
        buckets:
          main: {title: {en: Main, fr: Principal}, cap: 25}
    rules:
      - id: young-band
        title: {en: Young, fr: Jeune}
        reference: https://example.org
        when: age < 30
        derive: {fact: band, value: young}
      - id: old-band
        title: {en: Old, fr: Âgé}
        reference: https://example.org
        when: age >= 30
        derive: {fact: band, value: old}
      - id: young-bonus
        title: {en: Young bonus, fr: Prime jeunesse}
        reference: https://example.org
        when: band == 'young'
        derive: {fact: bonus, value: 10}
      - id: doubled
        title: {en: Doubled bonus, fr: Prime doublée}
        reference: https://example.org
        derive: {fact: doubled, expr: bonus * 2 + canadian_work_years}
      - id: award-doubled
        title: {en: Award, fr: Attribution}
        reference: https://example.org
        when: doubled >= 20
        award: {to: s.main, points: 30}
      - id: needs-young
        title: {en: Young enough, fr: Assez jeune}
        reference: https://example.org
        require: band == 'young'
    """


@pytest.fixture
def chain(ruleset_dir):
    ruleset_dir("chain.yaml", CHAIN)
    catalog = load_catalog(ruleset_dir.root)
    return catalog, Engine()


def test_derived_facts_chain_through_three_rules_in_one_session(chain):
    catalog, engine = chain
    d = decide(catalog, engine, "demo.chain", {**PROFILE, "age": 25, "canadian_work_years": 3},
               dt.date(2020, 1, 1))
    assert d["derived"] == {"band": "young", "bonus": 10, "doubled": 23}
    order = [f["rule"] for f in d["fired"]]
    assert sorted(order) == sorted(["young-band", "young-bonus", "needs-young", "doubled",
                                    "award-doubled"])
    # Forward chaining: each derived fact fires the rules that read it, after it exists.
    assert order.index("young-band") < order.index("young-bonus") < order.index("doubled") \
        < order.index("award-doubled")
    assert d["scores"]["s"] == {"total": 25, "main": 25}  # 30 points, capped at 25
    assert d["score_details"]["s"][0] == {"bucket": "s.main", "title": {"en": "Main",
                                          "fr": "Principal"}, "points": 30, "cap": 25,
                                          "counted": 25}
    # The why-not in words is written where a decision is read (decisions.texts).
    old = with_texts(decide(catalog, engine, "demo.chain", {**PROFILE, "age": 40},
                            dt.date(2020, 1, 1)), catalog_texts(catalog))
    assert old["derived"] == {"band": "old"}
    assert old["outcome"] == "not_eligible"
    assert old["requirements"][0]["because"]["en"] == "Band: old (from Age: 40), needs young."


def test_an_error_inside_an_action_is_raised_not_hidden(ruleset_dir):
    ruleset_dir("bad.yaml", CHAIN.replace("derive: {fact: old-band", "x").replace(
        "when: age >= 30\n        derive: {fact: band, value: old}",
        "when: age >= 30\n        derive: {fact: band, value: young}").replace(
        "when: age < 30\n        derive: {fact: band, value: young}",
        "when: age < 35\n        derive: {fact: band, value: old}"))
    catalog = load_catalog(ruleset_dir.root)
    engine = Engine()
    with pytest.raises(EvaluationError, match="'band' was derived twice with different values"):
        decide(catalog, engine, "demo.chain", {**PROFILE, "age": 32}, dt.date(2020, 1, 1))
    # The failed session was deleted: the same compiled ruleset goes on answering.
    assert decide(catalog, engine, "demo.chain", {**PROFILE, "age": 20},
                  dt.date(2020, 1, 1))["derived"]["band"] == "old"


def test_sessions_are_always_deleted(chain):
    catalog, engine = chain
    version = catalog.version("demo.chain", "1")
    compiled = CompiledRuleset(version)
    # durable-rules refuses the 1,025th live session of a ruleset: 1,500 runs prove deletion,
    # including runs that fail half-way.
    for i in range(1500):
        facts = {**PROFILE, "age": 20 + i % 30}
        if i % 100 == 0:
            with pytest.raises(EvaluationError, match="rule doubled could not compute doubled"):
                compiled.evaluate({**facts, "age": 20, "canadian_work_years": "x"})
        else:
            compiled.evaluate(facts)


def test_many_threads_never_mix_candidates(catalog, engine):
    """Eight threads decide 800 different candidates at once; every decision must equal the one
    made alone, so no fact of one candidate can reach another's decision."""
    rng = random.Random(7)
    profiles = []
    for i in range(800):
        levels = {a: rng.randint(4, 10) for a in ("reading", "writing", "listening", "speaking")}
        profiles.append({**PROFILE, "candidate_id": f"C-{i}", "age": rng.randint(18, 60),
                         "primary_noc": rng.choice(["2173", "2174", "1111", "0213", "6322"]),
                         "first_language": {"test": "clb", **levels},
                         "intends_to_reside_in": rng.choice(["ON", "BC"]),
                         "canadian_work_years": rng.randint(0, 3)})
    day = dt.date(2019, 7, 15)

    def summary(d):
        return (d["outcome"], d["derived"], [(f["rule"], f["matched"]) for f in d["fired"]],
                [(r["rule"], r["met"]) for r in d["requirements"]])

    expected = [summary(decide(catalog, engine, "oinp.hcp.tech-draw", p, day)) for p in profiles]
    results: dict[int, tuple] = {}
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(offset, len(profiles), 8):
                results[i] = summary(decide(catalog, engine, "oinp.hcp.tech-draw", profiles[i],
                                            day))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [results[i] for i in range(len(profiles))] == expected


def test_an_including_ruleset_reads_scores_outcomes_and_derived_facts(ruleset_dir):
    ruleset_dir("chain.yaml", CHAIN)
    ruleset_dir("top.yaml", """\
        id: demo.top
        version: "1"
        effective: {from: 2019-01-01}
        title: {en: Top, fr: Haut}
        reference: https://example.org
        contract: candidate-profile
        includes: [{ruleset: demo.chain, as: chain}]
        rules:
          - id: score-floor
            title: {en: Score floor, fr: Seuil}
            reference: https://example.org
            require: scores.s.total >= 25 and scores.s.main >= 25
          - id: chain-met
            title: {en: Chain met, fr: Chaîne satisfaite}
            reference: https://example.org
            require: chain.met and chain.outcome == 'eligible' and band == 'young'
        """)
    catalog = load_catalog(ruleset_dir.root)
    engine = Engine()
    young = decide(catalog, engine, "demo.top", {**PROFILE, "age": 25}, dt.date(2020, 1, 1))
    assert [r["met"] for r in young["requirements"]] == [True, True, True]
    assert young["outcome"] == "eligible"
    old = with_texts(decide(catalog, engine, "demo.top", {**PROFILE, "age": 40},
                            dt.date(2020, 1, 1)), catalog_texts(catalog))
    unmet = {r["rule"]: r["because"]["en"] for r in old["requirements"] if not r["met"]}
    # Each fact by its title, a derived fact with what it came from, an included ruleset's
    # outcome with its own failed requirement (said once for its met and its outcome).
    assert unmet == {
        "needs-young": "Band: old (from Age: 40), needs young.",
        "score-floor": "Score: 0, needs at least 25; Main: 0, needs at least 25.",
        "chain-met": "Not eligible (Young enough: Band: old (from Age: 40), needs young); "
                     "Band: old (from Age: 40), needs young."}


def test_too_many_comparisons_holding_at_once_are_refused_at_load(ruleset_dir):
    """65 rules testing `settlement_funds_cad >= k` crash durable-rules (its matching stack has 64
    slots); the compiler refuses them with the file and the facts to blame."""
    rules = "".join(f"""
      - id: r{k}
        title: {{en: R{k}, fr: R{k}}}
        reference: https://example.org
        when: settlement_funds_cad >= {k * 100}
        award: {{to: s.main, points: 1}}""" for k in range(70))
    ruleset_dir("wide.yaml", CHAIN.split("    rules:")[0].replace("demo.chain", "demo.wide")
                + "    rules:" + textwrap.indent(textwrap.dedent(rules), "    "))
    with pytest.raises(RulesetError) as err:
        Engine().prepare(load_catalog(ruleset_dir.root).version("demo.wide", "1"))
    problem = err.value.problems[0]
    assert problem.file == "rulesets/wide.yaml"
    assert "too many comparisons can hold at once" in problem.message
    assert "settlement_funds_cad (70)" in problem.message


# Thresholds whose shortest form durable-rules' JSON parser refuses (an exponent after a bare
# digit: 1e-07, 5e-324, 1e+16) next to ones it reads; the facts are drawn the same way.
X_THRESHOLDS = [0.0, 5e-324, 1e-7, -1e-7, 2.5e-5, 0.1, 1e16, -1e16, 1.5e300]
N_THRESHOLDS = [0.5, SAFE_INTEGER, -1e15]


@pytest.fixture(scope="module")
def numbers(tmp_path_factory):
    root = tmp_path_factory.mktemp("numbers")
    (root / "contracts").mkdir()
    shutil.copy(RULESETS / "contracts" / "candidate-profile.yaml", root / "contracts")
    shutil.copytree(RULESETS / "classifications", root / "classifications")
    requires = [(f"x{i}", f"x >= {t!r}") for i, t in enumerate(X_THRESHOLDS)]
    requires += [(f"h{i}", f"half >= {t!r}") for i, t in enumerate(X_THRESHOLDS)]
    requires += [("x-eq", "x == 1e-07")]
    requires += [(f"n{i}", f"n > {t!r}") for i, t in enumerate(N_THRESHOLDS)]
    head = textwrap.dedent(CHAIN).split("derives:")[0].replace("demo.chain", "demo.numbers")
    text = head + textwrap.dedent("""\
        facts:
          x: {type: number}
          n: {type: integer}
        derives:
          half: {type: number, title: {en: Half, fr: Moitié}}
        rules:
          - id: half
            title: {en: Half, fr: Moitié}
            reference: https://example.org
            derive: {fact: half, expr: x * 0.5}
        """) + "".join(f"""\
  - id: {rule}
    title: {{en: {rule}, fr: {rule}}}
    reference: https://example.org
    require: {condition}
""" for rule, condition in requires)
    (root / "numbers.yaml").write_text(text)
    return load_catalog(root), Engine()


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(x=st.floats(allow_nan=False, allow_infinity=False),
       n=st.integers(-SAFE_INTEGER, SAFE_INTEGER))
@example(x=1e-7, n=0).via("the tester's reading: 1e-7")
@example(x=1e16, n=SAFE_INTEGER).via("a one-digit mantissa from 1e16 up")
@example(x=-5e-324, n=-SAFE_INTEGER).via("the smallest subnormal")
def test_every_finite_number_reaches_the_engine_as_the_same_number(numbers, x, n):
    """Any number the contract takes is decided, and each comparison the engine makes on it
    (on the fact, and on a fact derived from it) is the one Python makes: no float written in a
    form durable-rules cannot parse (error 204), none read as another value."""
    catalog, engine = numbers
    d = decide(catalog, engine, "demo.numbers", {**PROFILE, "x": x, "n": n},
               dt.date(2020, 1, 1))
    met = {r["rule"]: r["met"] for r in d["requirements"]}
    assert d["derived"] == {"half": x * 0.5}
    assert met == {**{f"x{i}": x >= t for i, t in enumerate(X_THRESHOLDS)},
                   **{f"h{i}": x * 0.5 >= t for i, t in enumerate(X_THRESHOLDS)},
                   "x-eq": x == 1e-7,
                   **{f"n{i}": n > t for i, t in enumerate(N_THRESHOLDS)}}


def test_engines_of_one_process_share_each_compiled_version(catalog):
    """durable-rules frees next to nothing when a ruleset is deleted: an engine built again for
    the same content reuses the compiled versions instead of growing the process by a catalog."""
    version = catalog.in_force("oinp.hcp.tech-draw", dt.date(2019, 7, 15))
    assert Engine().prepare(version) is Engine().prepare(version)
