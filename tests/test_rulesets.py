"""Loading rulesets: every broken file is refused with its exact file, line, key and message
(the engine's capacity limits when it is compiled, as `decisions check` does)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from service.engine import load_compiled
from service.errors import FactsError, RulesetError, UnknownRulesetError
from service.rulesets import MAX_FACTS_DEPTH, load_catalog, validate_facts

from .conftest import PROFILE, RULESETS

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+): ([^:]*): (.+)$")


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_ruleset_is_refused_with_file_line_key_and_message(path, tmp_path):
    line, key, message = EXPECT.match(path.read_text().splitlines()[0]).groups()
    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS / "contracts", root / "contracts")
    shutil.copytree(RULESETS / "classifications", root / "classifications")
    shutil.copy(path, root / path.name)
    with pytest.raises(RulesetError) as err:
        load_compiled(root)  # what `decisions check` does: load, then compile for the engine
    found = [(p.file, p.line, p.key, p.message) for p in err.value.problems]
    assert any(f == f"rulesets/{path.name}" and ln == int(line) and k == key.strip()
               and message in m for f, ln, k, m in found), found


def test_bundled_rulesets_load_with_a_hash_per_version(catalog):
    for versions in catalog.by_id.values():
        for v in versions:
            assert re.fullmatch(r"[0-9a-f]{64}", v.sha256)


def test_hash_ignores_comments_and_layout_but_not_meaning(ruleset_dir):
    text = """\
        id: demo.one
        version: "1"
        effective: {from: 2019-01-01}
        title: {en: Demo, fr: Démo}
        reference: https://example.org
        contract: candidate-profile
        rules:
          - id: adult
            title: {en: Adult, fr: Adulte}
            reference: https://example.org
            require: age >= 18
        """
    path = ruleset_dir("demo.yaml", text)
    first = load_catalog(ruleset_dir.root).version("demo.one", "1").sha256
    relaid = textwrap.dedent(text).replace("effective: {from: 2019-01-01}",
                                           "effective:\n  from: 2019-01-01  # first day")
    path.write_text("# a comment\n" + relaid, encoding="utf-8")
    assert load_catalog(ruleset_dir.root).version("demo.one", "1").sha256 == first
    path.write_text(text.replace("age >= 18", "age >= 19"), encoding="utf-8")
    assert load_catalog(ruleset_dir.root).version("demo.one", "1").sha256 != first


def test_version_in_force_is_chosen_by_effective_dates(ruleset_dir):
    for version, start, end in (("a", "2019-01-01", "2019-12-31"), ("b", "2020-01-01", None),
                                ("c", "2031-01-01", None)):
        effective = f"{{from: {start}{', to: ' + end if end else ''}}}"
        ruleset_dir(f"demo-{version}.yaml", f"""\
            id: demo.dated
            version: "{version}"
            effective: {effective}
            title: {{en: Demo, fr: Démo}}
            reference: https://example.org
            contract: candidate-profile
            """)
    catalog = load_catalog(ruleset_dir.root)
    assert catalog.in_force("demo.dated", dt.date(2019, 6, 1)).version == "a"
    assert catalog.in_force("demo.dated", dt.date(2019, 12, 31)).version == "a"
    assert catalog.in_force("demo.dated", dt.date(2020, 1, 1)).version == "b"
    assert catalog.in_force("demo.dated", dt.date(2030, 12, 31)).version == "b"
    assert catalog.in_force("demo.dated", dt.date(2031, 1, 1)).version == "c"
    with pytest.raises(UnknownRulesetError, match="in force on 2018-12-31"):
        catalog.in_force("demo.dated", dt.date(2018, 12, 31))
    with pytest.raises(UnknownRulesetError, match="did you mean 'demo.dated'"):
        catalog.in_force("demo.datd", dt.date(2020, 1, 1))


def _dated(ruleset_dir, version: str, start: str, extra: str = "", minimum: int = 18) -> None:
    ruleset_dir(f"demo-{version}.yaml", f"""\
        id: demo.dated
        version: "{version}"
        effective: {{from: {start}}}
        title: {{en: Demo, fr: Démo}}
        reference: https://example.org
        contract: candidate-profile
        rules:
          - id: adult
            title: {{en: Adult, fr: Majeur}}
            reference: https://example.org
            require: age >= {minimum}
        """.rstrip(" ") + textwrap.indent(textwrap.dedent(extra), " " * 8))


CORRECTS = """\
    corrects:
      version: "{target}"
      made: 2026-12-04
      because: {{en: The age was wrong, fr: L'âge était faux}}
    """


def test_a_correction_replaces_its_version_over_its_period(ruleset_dir):
    _dated(ruleset_dir, "a", "2019-01-01")
    _dated(ruleset_dir, "a.2", "2019-01-01", CORRECTS.format(target="a"), minimum=21)
    _dated(ruleset_dir, "b", "2021-01-01")
    catalog = load_catalog(ruleset_dir.root)
    assert catalog.in_force("demo.dated", dt.date(2019, 1, 1)).version == "a.2"
    assert catalog.in_force("demo.dated", dt.date(2020, 12, 31)).version == "a.2"
    assert catalog.in_force("demo.dated", dt.date(2021, 1, 1)).version == "b"
    corrected = catalog.version("demo.dated", "a")  # still loaded: decisions that named it replay
    assert catalog.corrected_by(corrected).version == "a.2"
    assert catalog.corrected_by(catalog.version("demo.dated", "a.2")) is None
    assert catalog.last_day(corrected) == dt.date(2020, 12, 31)
    top = catalog.in_force("demo.dated", dt.date(2020, 1, 1))
    assert [v.version for _, v in catalog.chain(top, dt.date(2020, 1, 1),
                                                {"demo.dated": "a"})] == ["a.2"]


@pytest.mark.parametrize("versions, message", [
    ([("a", "2019-01-01", ""), ("a.2", "2019-01-01", CORRECTS.format(target="z"))],
     "demo-a.2.yaml:.*corrects.version: no other version 'z' of demo.dated to correct"),
    ([("a", "2019-01-01", ""), ("a.2", "2019-02-01", CORRECTS.format(target="a"))],
     "demo-a.2.yaml:.*effective: a correction covers the period of the version it corrects"),
    ([("a", "2019-01-01", ""), ("a.2", "2019-01-01", CORRECTS.format(target="a")),
      ("a.3", "2019-01-01", CORRECTS.format(target="a"))],
     "corrects.version: demo.dated version a is already corrected by"),
    ([("a", "2019-01-01", ""), ("a.2", "2019-01-01", CORRECTS.format(target="a.2"))],
     "corrects.version: no other version 'a.2' of demo.dated to correct"),
    ([("a", "2019-01-01", ""), ("b", "2019-01-01", "")],
     "starts on the same day \\(a version that replaces it over its whole period says so"),
])
def test_a_correction_names_another_version_and_covers_its_period(ruleset_dir, versions,
                                                                  message):
    for version, start, extra in versions:
        _dated(ruleset_dir, version, start, extra)
    with pytest.raises(RulesetError, match=message):
        load_catalog(ruleset_dir.root)


def test_include_cycle_is_refused(ruleset_dir):
    for name, other in (("a", "b"), ("b", "a")):
        ruleset_dir(f"{name}.yaml", f"""\
            id: demo.{name}
            version: "1"
            effective: {{from: 2019-01-01}}
            title: {{en: Demo, fr: Démo}}
            reference: https://example.org
            contract: candidate-profile
            includes: [{{ruleset: demo.{other}}}]
            """)
    with pytest.raises(RulesetError, match="includes itself"):
        load_catalog(ruleset_dir.root)


def test_every_problem_of_a_folder_is_reported_at_once(tmp_path):
    root = tmp_path / "rulesets"
    shutil.copytree(RULESETS / "contracts", root / "contracts")
    shutil.copytree(RULESETS / "classifications", root / "classifications")
    for i, path in enumerate(BROKEN[:4]):
        text = path.read_text().replace("id: test.broken", f"id: test.broken-{i}")
        (root / path.name).write_text(text)
    with pytest.raises(RulesetError) as err:
        load_catalog(root)
    assert len({p.file for p in err.value.problems}) == 4


def test_facts_contract_rejects_unknown_wrong_and_out_of_range_fields(catalog):
    specs = catalog.facts_for(catalog.in_force("oinp.hcp.tech-draw", dt.date(2019, 7, 15)))
    assert validate_facts(specs, PROFILE)["age"] == 29
    bad = {**PROFILE, "agee": 3, "age": 121, "marital_status": "maried",
           "first_language": {**PROFILE["first_language"], "reading": "nine"},
           "spouse_accompanying": "yes", "family_size": 2.5}
    with pytest.raises(FactsError) as err:
        validate_facts(specs, bad)
    errors = err.value.extra["errors"]
    assert set(errors) == {"agee", "age", "marital_status", "first_language.reading",
                           "spouse_accompanying", "family_size"}
    assert errors["agee"] == ["Unknown field."]


def test_numbers_are_doubles_and_integers_stay_where_doubles_are_exact(catalog):
    """The contract's precision (docs/rulesets.md): an integer fact within 2**53, exact; a number
    fact any finite double, a whole number past 2**53 becoming the nearest double."""
    specs = {"n": {"type": "integer"}, "x": {"type": "number"}}
    assert validate_facts(specs, {"n": 2**53 - 1, "x": 1e-7}) == {"n": 2**53 - 1, "x": 1e-7}
    big = validate_facts(specs, {"n": -(2**53) + 1, "x": 10**20})["x"]
    assert big == 1e20 and isinstance(big, float)
    with pytest.raises(FactsError) as err:
        validate_facts(specs, {"n": 2**53, "x": 10**400})
    assert err.value.extra["errors"] == {
        "n": ["Must be a whole number from -9007199254740991 to 9007199254740991."],
        "x": ["Not a finite number."]}


def test_patterns_match_whole_strings_and_strings_hold_no_control_characters():
    specs = {"noc": {"type": "string", "pattern": "[0-9]{4}|[0-9]{5}"},
             "language": {"type": "object", "fields": {"test": {"type": "string"}}},
             "sent": {"type": "datetime", "required": False}}
    assert validate_facts(specs, {"noc": "21734", "language": {"test": "clb"}})["noc"] == "21734"
    with pytest.raises(FactsError) as err:  # re.match took "2173" of "217345x"
        validate_facts(specs, {"noc": "217345x", "language": {"test": "clb"}})
    assert err.value.extra["errors"] == {"noc": ["String does not match expected pattern."]}
    with pytest.raises(FactsError) as err:
        validate_facts(specs, {"noc": "2173\n", "language": {"test": "c\x85lb"},
                               "sent": "2019-06-30T14:05:00\nZ"})  # fromisoformat takes it
    assert err.value.extra["errors"] == {
        "noc": ["Control characters are not allowed (U+000A at position 4)."],
        "language.test": ["Control characters are not allowed (U+0085 at position 1)."],
        "sent": ["Control characters are not allowed (U+000A at position 19)."]}


def test_facts_nest_at_most_max_depth_levels(catalog):
    specs = catalog.facts_for(catalog.in_force("oinp.hcp.tech-draw", dt.date(2019, 7, 15)))
    deep = top = {}
    for _ in range(100_000):  # walked without recursion, however deep
        deep["a"] = deep = {}
    with pytest.raises(FactsError) as err:
        validate_facts(specs, {**PROFILE, "first_language": top})
    assert err.value.extra["errors"] == {
        "first_language" + ".a" * MAX_FACTS_DEPTH: [
            f"Nested more than {MAX_FACTS_DEPTH} levels deep."]}


def test_defaults_fill_optional_facts_and_dates_are_normalised(catalog):
    specs = catalog.facts_for(catalog.in_force("oinp.hcp.tech-draw", dt.date(2019, 7, 15)))
    minimal = {k: PROFILE[k] for k in ("candidate_id", "age", "marital_status", "education",
                                       "first_language", "primary_noc", "noc_version",
                                       "intends_to_reside_in")}
    minimal["profile_submitted_at"] = "2019-06-30T10:05:00-04:00"
    clean = validate_facts(specs, minimal)
    assert clean["relative_in_canada"] is False and clean["canadian_work_years"] == 0
    assert clean["profile_submitted_at"] == "2019-06-30T14:05:00Z"
    assert clean["second_language"] is None


def test_rule_texts_from_the_kept_content_are_those_of_the_loaded_rules(catalog):
    """A logged decision shows rule texts read from the content the log keeps (hashed and
    verified), not from the loaded Rule objects: both must say the same, table rows included."""
    for version in catalog.all_versions():
        assert version.texts == {
            rule.key: {"title": rule.title, "reference": rule.reference,
                       "condition": rule.source} for rule in version.rules}, version.id
    tables = [v for v in catalog.all_versions() if any(r.table for r in v.rules)]
    assert tables and any("@" in r.table for v in tables for r in v.rules if r.table)


def test_a_contract_check_that_names_an_unknown_fact_is_refused_with_its_line(tmp_path):
    root = tmp_path / "rulesets"
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "mini.yaml").write_text(textwrap.dedent("""\
        id: mini
        title: {en: Mini, fr: Mini}
        reference: https://example.org
        facts:
          age: {type: integer}
          married: {type: boolean}
        checks:
          - id: adult-if-married
            field: age
            require: not marryed or age >= 18
            message: {en: A married candidate is an adult, fr: Un candidat marié est majeur}
            reference: https://example.org
        """), encoding="utf-8")
    with pytest.raises(RulesetError) as err:
        load_catalog(root)
    [found] = err.value.problems
    assert (found.file, found.line, found.key) == ("rulesets/contracts/mini.yaml", 10,
                                                   "checks[adult-if-married].require")
    assert "unknown fact 'marryed'; did you mean 'married'?" in found.message
