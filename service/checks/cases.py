"""Test cases that live beside the rulesets: run them, compare field by field, measure coverage.

A case file (``*.cases.yaml``) names a ruleset, optional ``base`` facts shared by its cases, and a
list of cases, each named as a sentence (``{en: ..., fr: ...}``, or one text read as English), with
the facts that differ from the base and what is
expected: outcome, scores, requirements met or not, rules fired or not, derived facts. Every rule
(every row of a table) of a tested ruleset version must fire in at least one case: a rule that
no case fires is a coverage failure.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from ..decisions import decide
from ..engine import Engine
from ..errors import DecisionError, Problem, RulesetError
from ..i18n import day_words
from ..rulesets import CASES_SUFFIX, Catalog, Text, load_yaml, schema_problems

NAME_MIN = 10  # a case's name is a sentence: at least this many characters in each language


class ExpectSchema(Schema):
    class Meta:
        unknown = RAISE

    outcome = fields.String()
    scores = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.Integer()))
    requirements = fields.Dict(keys=fields.String(),
                               values=fields.String(validate=validate.OneOf(["met", "not_met"])))
    fired = fields.List(fields.String())
    not_fired = fields.List(fields.String())
    derived = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
    error = fields.String()


class Days(fields.Field):
    """One date, or a list of dates: the case is decided, and checked, on each of them."""

    def _deserialize(self, value, attr, data, **kwargs):
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValidationError("give at least one date")
        try:  # the YAML loader gives dates as ISO text
            return [dt.date.fromisoformat(v) for v in values]
        except (TypeError, ValueError):
            raise ValidationError("a date (YYYY-MM-DD) or a list of dates") from None


class CaseName(Text):
    """A case's name, the sentence a person reads: ``{en: ..., fr: ...}`` as every text of the
    rulesets, or one plain text, read as English only (a case file written by hand in one
    language; a French page then shows the English). Loads as ``{"en": ...}`` or
    ``{"en": ..., "fr": ...}``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            names = {"en": value.strip()}
        else:
            names = super()._deserialize(value, attr, data, **kwargs)
        short = [lang for lang, text in names.items() if len(text) < NAME_MIN]
        if short:
            raise ValidationError(f"shorter than minimum length {NAME_MIN} (the {', '.join(short)} "
                                  "text): name the case in a sentence")
        return names


class CaseSchema(Schema):
    class Meta:
        unknown = RAISE

    name = CaseName(required=True)
    as_of = Days(required=True)
    facts = fields.Dict(load_default=dict)
    expect = fields.Nested(ExpectSchema, required=True)
    note = fields.String()


class CaseFileSchema(Schema):
    class Meta:
        unknown = RAISE

    ruleset = fields.String(required=True)
    base = fields.Dict(load_default=dict)
    cases = fields.List(fields.Nested(CaseSchema), required=True,
                        validate=validate.Length(min=1))


@dataclass
class Mismatch:
    field: str
    expected: Any
    actual: Any


@dataclass
class CaseResult:
    file: str
    line: int | None
    name: str  # in English: reports, matching, the trial's progress
    mismatches: list[Mismatch]
    error: str | None = None
    names: dict[str, str] = field(default_factory=dict)  # each language the name is written in
    as_of: str | None = None  # the day it was decided on (ISO)

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None

    def name_in(self, lang: str) -> str:
        """The name in ``lang``, or in English when the case file names it in English only."""
        return name_in(self.names or self.name, lang)


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    uncovered: dict[str, list[str]] = field(default_factory=dict)  # "id version" -> rule ids
    never_failed: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    english_only: list[str] = field(default_factory=list)  # FILE:LINE of cases with no French name

    @property
    def passed(self) -> bool:
        return not self.problems and not self.uncovered and all(r.passed for r in self.results)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    """Case facts over base facts; a nested object is merged key by key, null replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def name_in(names: Mapping[str, str] | str, lang: str) -> str:
    """A case's name (as loaded: ``{"en": ..., "fr": ...}``, or a text) in ``lang``; the English
    where the case is named in English only."""
    if isinstance(names, str):
        return names
    return names.get(lang) or names["en"]


def case_names(case: Mapping[str, Any], day: dt.date) -> dict[str, str]:
    """A case's name in each language it is written in. Decided on several days, each day is a
    case of its own: "... (as of 2026-01-01)", "... (au 1er janvier 2026)"."""
    names = {"en": case["name"]} if isinstance(case["name"], str) else dict(case["name"])
    if len(case["as_of"]) == 1:
        return names
    suffix = {"en": f"(as of {day})", "fr": f"(au {day_words(day, 'fr')})"}
    return {lang: f"{text} {suffix[lang]}" for lang, text in names.items()}


def case_name(case: Mapping[str, Any], day: dt.date, lang: str = "en") -> str:
    """A case's name in reports (English unless asked otherwise), with its day when it is
    decided on several."""
    return name_in(case_names(case, day), lang)


_RULESET_LINE = re.compile(r"""^ruleset:[ \t]*["']?([^"'\s#]+)""", re.M)


def case_file_ruleset(path: Path) -> str | None:
    """The ruleset a case file tests (its top-level ``ruleset:``), read without parsing the file;
    None when it names none (loading the file says what is wrong)."""
    found = _RULESET_LINE.search(path.read_text(encoding="utf-8"))
    return found.group(1) if found else None


def case_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.rglob(f"*{CASES_SUFFIX}"))


def run_cases(catalog: Catalog, engine: Engine, paths: Iterable[Path],
              check_coverage: bool = True, progress=None) -> Report:
    """Run every case of the given files. ``progress(file, name)`` is told of each case before it
    runs (the trial in a child process uses it to name the case that crashed the engine)."""
    report = Report()
    fired_rules: dict[tuple[str, str], set[str]] = {}
    failed_reqs: dict[tuple[str, str], set[str]] = {}
    tested: set[str] = set()
    for path in paths:
        display = str(path.relative_to(catalog.root.parent)) if path.is_relative_to(
            catalog.root.parent) else str(path)
        try:
            data, lines = load_yaml(path, display)
            loaded = CaseFileSchema().load(data if isinstance(data, dict) else {})
        except RulesetError as exc:
            report.problems.extend(exc.problems)
            continue
        except ValidationError as exc:
            report.problems.extend(schema_problems(exc, CaseFileSchema(), display, lines))
            continue
        if loaded["ruleset"] not in catalog.by_id:
            report.problems.append(Problem(display, lines.get(("ruleset",)), "ruleset",
                                           f"no ruleset '{loaded['ruleset']}'"))
            continue
        tested.add(loaded["ruleset"])
        for i, case in enumerate(loaded["cases"]):
            facts = deep_merge(loaded["base"], case["facts"])
            if "fr" not in case["name"]:
                report.english_only.append(f"{display}:{lines.get(('cases', i))}")
            for day in case["as_of"]:
                names = case_names(case, day)
                name = names["en"]
                result = CaseResult(display, lines.get(("cases", i)), name, [], names=names,
                                    as_of=day.isoformat())
                report.results.append(result)
                if progress is not None:
                    progress(f"{display}:{result.line}", name)
                decision = _run_case(catalog, engine, loaded["ruleset"], facts, day,
                                     case["expect"], result)
                if decision is not None:
                    _tally(decision, fired_rules, failed_reqs)
    if check_coverage:
        _coverage(catalog, tested, fired_rules, failed_reqs, report)
    return report


def _run_case(catalog: Catalog, engine: Engine, ruleset_id: str, facts: dict, day: dt.date,
              expect: Mapping[str, Any], result: CaseResult) -> dict | None:
    """Decide one case on one day and record its mismatches; the decision, if there is one."""
    try:
        decision = decide(catalog, engine, ruleset_id, facts, day)
    except DecisionError as exc:
        if not (expect.get("error") and expect["error"] in exc.detail):
            result.error = exc.detail
        return None
    if "error" in expect:
        result.mismatches.append(Mismatch("error", expect["error"], None))
    known: dict[str, set[str]] = {}
    for ref in decision["rulesets"]:
        for r in catalog.version(ref["id"], ref["version"]).rules:
            for name in (r.id, r.table):
                if name:
                    known.setdefault(name, set()).add(ref["id"])
    result.mismatches.extend(compare(expect, decision, known))
    return decision


def _tally(decision: Mapping[str, Any], fired: dict, failed: dict) -> None:
    """Count, per ruleset version, the rules a decision fired and the requirements it failed."""
    for ref in decision["rulesets"]:
        fired.setdefault((ref["id"], ref["version"]), set())
        failed.setdefault((ref["id"], ref["version"]), set())
    for entry in decision["fired"]:
        version = _version_of(decision, entry["ruleset"])
        fired[(entry["ruleset"], version)].add(entry.get("row", entry["rule"]))
    for req in decision["requirements"]:
        if not req["met"]:
            failed[(req["ruleset"], _version_of(decision, req["ruleset"]))].add(req["rule"])


def _version_of(decision: Mapping[str, Any], ruleset_id: str) -> str:
    return next(r["version"] for r in decision["rulesets"] if r["id"] == ruleset_id)


def _coverage(catalog: Catalog, tested: set[str], fired: Mapping, failed: Mapping,
              report: Report) -> None:
    """Every rule (every table row) of each version of a tested ruleset, or of a ruleset that a
    tested one includes, must fire in some case; a requirement should also fail in some case."""
    ids = set(tested)
    for ruleset_id in tested:
        for version in catalog.versions(ruleset_id):
            ids.update(catalog.chain_ids(version))
    for ruleset_id in sorted(ids):
        for version in catalog.versions(ruleset_id):
            if catalog.corrected_by(version) is not None:
                continue  # it decides nothing new; kept so that its decisions replay as made
            key = (version.id, version.version)
            seen = fired.get(key, set()) | {r.id for r in version.rules if r.never_holds
                                            and r.id in failed.get(key, set())}
            missing = [r.table or r.id for r in version.rules if (r.table or r.id) not in seen]
            if missing and key not in fired:
                report.uncovered[f"{version.id} {version.version}"] = [
                    f"any rule: no case decides with this version (add cases with an as_of "
                    f"from {version.effective_from} on)"]
            elif missing:
                report.uncovered[f"{version.id} {version.version}"] = list(dict.fromkeys(missing))
            never = [r.id for r in version.rules if r.kind == "require"
                     and r.id not in failed.get(key, set())]
            if never:
                report.never_failed[f"{version.id} {version.version}"] = never


QUALIFIER = ":"  # RULESET:rule names the rule of one ruleset, e.g. oinp.hcp:education


def _qualified(name: str) -> tuple[str | None, str]:
    ruleset, sep, rule = name.rpartition(QUALIFIER)
    return (ruleset, rule) if sep else (None, name)


def compare(expect: Mapping[str, Any], decision: Mapping[str, Any],
            known: Mapping[str, set[str]] | None = None) -> list[Mismatch]:
    """Expected against actual, field by field (only the fields the case states). A rule id that
    no ruleset of the decision has is a mismatch too: a stale case must not pass silently.

    Rule ids are unique within a ruleset, not across the rulesets one decision includes (the
    Express Entry ``education`` category and Ontario's ``education`` criterion meet in the
    assessment). A case names a rule by its id alone when one ruleset of the decision has it, or
    as ``RULESET:rule`` (``express-entry.categories:education``); an id alone that several
    rulesets of the decision have is a mismatch, never a guess at which one was meant.
    ``known`` maps each rule id (or table row) of the rulesets used to the rulesets that have it."""
    out: list[Mismatch] = []
    if known is not None:
        for where in ("fired", "not_fired", "requirements"):
            for name in expect.get(where, []):
                ruleset, rule = _qualified(name)
                owners = known.get(rule, set())
                if ruleset is not None and ruleset not in owners or not owners:
                    out.append(Mismatch(f"{where}.{name}", "a rule of the rulesets used",
                                        "no such rule"))
                elif ruleset is None and len(owners) > 1 and where != "requirements":
                    # (a requirement is looked up among the decision's requirements below,
                    # where an award or derive rule of the same id in another ruleset is none)
                    out.append(Mismatch(f"{where}.{name}", "a rule of one ruleset", _ambiguous(
                        rule, owners)))
    if "outcome" in expect and expect["outcome"] != decision["outcome"]:
        out.append(Mismatch("outcome", expect["outcome"], decision["outcome"]))
    for score, parts in expect.get("scores", {}).items():
        actual = decision["scores"].get(score, {})
        for part, value in parts.items():
            if actual.get(part) != value:
                out.append(Mismatch(f"scores.{score}.{part}", value, actual.get(part)))
    for name, state in expect.get("requirements", {}).items():
        ruleset, rule = _qualified(name)
        found = [r for r in decision["requirements"]
                 if r["rule"] == rule and ruleset in (None, r["ruleset"])]
        if len(found) > 1:
            out.append(Mismatch(f"requirements.{name}", state, _ambiguous(
                rule, {r["ruleset"] for r in found})))
            continue
        actual = ("met" if found[0]["met"] else "not_met") if found else None
        if actual != state:
            out.append(Mismatch(f"requirements.{name}", state, actual if found else "no such "
                                "requirement"))
    fired = {(e["ruleset"], key) for e in decision["fired"] for key in (e["rule"], e.get("row"))
             if key}

    def has_fired(name: str) -> bool:
        ruleset, rule = _qualified(name)
        return any(key == rule and ruleset in (None, owner) for owner, key in fired)

    for name in expect.get("fired", []):
        if not has_fired(name):
            out.append(Mismatch(f"fired.{name}", "fired", "did not fire"))
    for name in expect.get("not_fired", []):
        if has_fired(name):
            out.append(Mismatch(f"not_fired.{name}", "did not fire", "fired"))
    for name, value in expect.get("derived", {}).items():
        if decision["derived"].get(name, "(not derived)") != value:
            out.append(Mismatch(f"derived.{name}", value,
                                decision["derived"].get(name, "(not derived)")))
    return out


def _ambiguous(rule: str, rulesets: set[str]) -> str:
    return (f"ambiguous: {len(rulesets)} rulesets of the decision have '{rule}' ("
            + ", ".join(f"{r}{QUALIFIER}{rule}" for r in sorted(rulesets))
            + "): name one as RULESET:rule")


def format_report(report: Report) -> str:
    lines = []
    for p in report.problems:
        lines.append(f"ERROR {p}")
    for r in report.results:
        if r.passed:
            continue
        where = f"{r.file}:{r.line}" if r.line else r.file
        lines.append(f"FAIL {where}: {r.name}")
        if r.error:
            lines.append(f"    error: {r.error}")
        for m in r.mismatches:
            lines.append(f"    {m.field}: expected {m.expected!r}, got {m.actual!r}")
    for version, rules in report.uncovered.items():
        shown = ", ".join(rules[:40]) + (f" and {len(rules) - 40} more" if len(rules) > 40 else "")
        lines.append(f"UNCOVERED {version}: no case fires {shown}")
    for version, rules in report.never_failed.items():
        lines.append(f"note {version}: no case fails requirement {', '.join(rules)}")
    by_file: dict[str, list[str]] = {}  # named in English only: French pages show the English
    for where in report.english_only:
        file, _, line = where.rpartition(":")
        by_file.setdefault(file, []).append(line)
    for file, at in by_file.items():
        lines.append(f"note {file}: {len(at)} case(s) named in English only, with no French "
                     f"name (line {', '.join(at[:10])}{' ...' if len(at) > 10 else ''})")
    passed = sum(r.passed for r in report.results)
    # A case file that cannot be read (a bad date, a broken key) is a failure too: its cases
    # did not run, and a closing "0 failed" must never hide it.
    failed = len(report.results) - passed + len(report.problems)
    lines.append(f"{passed} passed, {failed} failed"
                 + (f", {len(report.uncovered)} ruleset versions not fully covered"
                    if report.uncovered else ""))
    return "\n".join(lines)
