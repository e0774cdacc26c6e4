"""The loaded rulesets: a rule, a ruleset version, and the catalog of every version with the one in
force on a date and the chain of included versions one decision evaluates."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import Schema

from .. import conditions as cond
from ..errors import FactsError, UnknownRulesetError, closest
from .facts import facts_schema, validate_facts
from .names import Classification, fact_words, of_value, spec_at, titled_values
from .texts import REVOKED_RULE, content_texts


@dataclass
class Rule:
    """One compiled unit the engine can fire: a rule, or one row of a table (for one key)."""

    id: str
    kind: str  # require, award or derive
    title: dict
    reference: str
    condition: Any  # NNF condition tree (when + row match, or require)
    source: str  # the condition as written, for pages
    points: int | None = None
    bucket: str | None = None
    fact: str | None = None
    value: Any = None
    expr: Any = None  # parsed value expression for derive
    because: dict | None = None
    aggregate: Any = None  # a derive over a list (cond.Aggregate)
    table: str | None = None
    line: int | None = None
    reads: tuple = ()  # fact paths shown as "matched" in the explanation
    shows: tuple = ()  # fact paths its ``because`` template fills in (matched too)

    @property
    def never_holds(self) -> bool:
        """A requirement that no facts can meet (a revoked version's): a case covers it by
        failing it, since nothing can fire it."""
        return self.condition == cond.FALSE

    @property
    def key(self) -> str:
        """Unique within its version: the rule id, or for a row of a decision table, the row
        (``table#3``, or ``table#3@key`` when the table has several keys)."""
        return self.table or self.id


@dataclass(frozen=True)
class Check:
    """A contract's check (``checks:``), its condition parsed: facts that break it are refused
    with ``message`` at ``field``; with ``each``, every item of that list is checked and one
    that breaks it is refused at ``each.INDEX.field``."""

    id: str
    field: str
    condition: Any
    message: dict
    reference: str
    each: str | None = None


@dataclass(frozen=True)
class Change:
    """A contract's declared change of one fact (``changes:``): what "what would change the
    outcome" may try. ``kind`` is how the fact moves: ``step`` (up by ``step`` to ``max``),
    ``values`` (up through ``values``, in order), ``set`` (to ``value``) or ``by`` (up by the
    derived fact ``by`` of the decision, e.g. a shortfall)."""

    id: str
    fact: str
    title: dict
    when: Any  # NNF condition tree, or None: always
    kind: str
    step: float | None = None
    max: float | None = None
    values: tuple = ()
    value: Any = None
    by: str | None = None
    integer: bool = False  # the fact is an integer: steps stay whole numbers


@dataclass
class RulesetVersion:
    id: str
    version: str
    effective_from: dt.date
    effective_to: dt.date | None
    title: dict
    description: dict | None
    reference: str
    path: str
    sha256: str
    facts: dict  # name -> fact spec (contract and own facts merged)
    derives: dict
    includes: list  # [(ruleset id, alias)]
    constants: dict  # name -> {"value", "reference"?}
    scores: dict
    rules: list[Rule]
    outcome: dict
    cases: str | None
    draw: dict | None = None  # draw parameters (date, invitations, validity_days, score...)
    corrects: str | None = None  # the version this one replaces over the same period
    checks: tuple = ()  # the Checks of its contract
    outcome_when: str = "all"  # met when all requirements are met, or "any" of them
    changes: tuple = ()  # the Changes its contract declares (what would change the outcome)
    raw: dict = field(repr=False, default_factory=dict)
    lines: dict = field(repr=False, default_factory=dict)
    canonical: str = field(repr=False, default="")  # its sha256 is ``sha256``

    def in_force_on(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None
                                               or day <= self.effective_to)

    def ref(self) -> dict:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    @functools.cached_property
    def texts(self) -> dict[str, dict]:
        """What an explanation shows of each rule that the decision itself does not hold, by
        rule key (``Rule.key``): its title, reference and condition as written. A logged
        decision names rules by key; these texts are filled in when it is shown. Taken from
        the canonical content, exactly as for a version the decision log keeps."""
        return content_texts(self.canonical)

    @functools.cached_property
    def because_texts(self) -> dict[str, dict]:
        """The ``because:`` text of each requirement that has one, by rule key, as written (a
        revoked version's one requirement included): what its why-not says in words."""
        out = {raw["id"]: raw["because"] for raw in self.raw.get("rules") or ()
               if raw.get("because")}
        if "revoked" in self.raw:
            out[REVOKED_RULE] = self.raw["revoked"]["because"]
        return out

    def kept(self) -> dict[str, Any]:
        """This version as the decision log keeps it (``Store.keep_versions``)."""
        return {"sha256": self.sha256, "ruleset_id": self.id, "version": self.version,
                "content": self.canonical}

    @functools.cached_property
    def requirements(self) -> list[tuple[int, Rule]]:
        """The requirement rules with their index, in file order."""
        return [(i, r) for i, r in enumerate(self.rules) if r.kind == "require"]



ASSESSED_OUTCOME = {  # a ruleset without requirements (a points grid, a conversion table)
    "met": {"code": "assessed", "title": {"en": "Assessed", "fr": "Évalué"}},
    "not_met": {"code": "assessed", "title": {"en": "Assessed", "fr": "Évalué"}},
}
REVOKED_OUTCOME = {  # a version that records the end of a program (``revoked:``)
    "met": {"code": "revoked", "title": {"en": "Not in force: revoked",
                                         "fr": "Plus en vigueur : abrogé"}},
    "not_met": {"code": "revoked", "title": {"en": "Not in force: revoked",
                                             "fr": "Plus en vigueur : abrogé"}},
}
DEFAULT_OUTCOME = {
    "met": {"code": "eligible", "title": {"en": "Eligible", "fr": "Admissible"}},
    "not_met": {"code": "not_eligible", "title": {"en": "Not eligible", "fr": "Non admissible"}},
}


def flatten_facts(specs: Mapping[str, dict], prefix: str = "") -> dict[str, cond.Field]:
    out: dict[str, cond.Field] = {}
    for name, spec in specs.items():
        path = f"{prefix}{name}"
        out[path] = cond.Field(spec["type"], tuple(spec["enum"]) if spec.get("enum") else None)
        if spec["type"] == "object":
            out.update(flatten_facts(spec["fields"], path + "."))
    return out


def version_words(version: RulesetVersion) -> tuple[dict[str, dict], dict[str, dict], set[str]]:
    """What a person reads for the facts a version knows: the title of each fact path (facts,
    derived facts, score totals and buckets), the words of each enum value that has them, and
    the facts that hold occupation codes (``codes:``), shown with their titles."""
    titles: dict[str, dict] = {}
    values: dict[str, dict] = {}
    coded: set[str] = set()

    def walk(specs: Mapping[str, dict], prefix: str = "", parent: dict | None = None) -> None:
        for name, spec in specs.items():
            path = f"{prefix}{name}"
            title = spec.get("title")
            if title and parent:  # "First official language, reading"
                title = {lang: f"{parent[lang]}, {_lower_first(text)}"
                         for lang, text in title.items()}
            if title:
                titles[path] = title
            if spec.get("titles"):
                values[path] = spec["titles"]
            if spec.get("codes"):
                coded.add(path)
            if spec["type"] == "object":
                walk(spec["fields"], path + ".", title)

    walk(version.facts)
    walk(version.derives)
    for score, spec in version.scores.items():
        titles[f"scores.{score}.total"] = spec["title"]
        for bucket, sub in (spec.get("buckets") or {}).items():
            titles[f"scores.{score}.{bucket}"] = sub["title"]
    return titles, values, coded


def chain_words(versions: Iterable[RulesetVersion]) -> tuple[dict, dict, frozenset]:
    """``version_words`` of the versions of one decision's chain, later over earlier."""
    titles: dict[str, dict] = {}
    values: dict[str, dict] = {}
    coded: set[str] = set()
    for v in versions:
        more_titles, more_values, more_coded = version_words(v)
        titles.update(more_titles)
        values.update(more_values)
        coded |= more_coded
    return titles, values, frozenset(coded)


def _lower_first(text: str) -> str:
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def list_facts(specs: Mapping[str, dict], prefix: str = "") -> dict[str, dict]:
    """Every list fact by its dotted path, with the specs of its items' fields."""
    out: dict[str, dict] = {}
    for name, spec in specs.items():
        if spec["type"] == "list":
            out[f"{prefix}{name}"] = spec["fields"]
        elif spec["type"] == "object":
            out.update(list_facts(spec["fields"], f"{prefix}{name}."))
    return out


def bucket_paths(score: str, spec: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every award target of a score: ``crs.core``, ``crs.transferability.education``..."""
    out = []
    for name, sub in (spec.get("buckets") or {}).items():
        path = f"{prefix or score}.{name}"
        out.append(path)
        out.extend(bucket_paths(score, sub, path))
    return out


def exported_names(version: RulesetVersion) -> dict[str, cond.Field]:
    """Facts a ruleset makes available to a ruleset that includes it (besides its inputs)."""
    out = {name: cond.Field(spec["type"], tuple(spec["enum"]) if spec.get("enum") else None)
           for name, spec in version.derives.items()}
    for score, spec in version.scores.items():  # the total and each top-level bucket
        out[f"scores.{score}.total"] = cond.Field("integer")
        for bucket in spec.get("buckets") or {}:
            out[f"scores.{score}.{bucket}"] = cond.Field("integer")
    return out


def alternative_names(version: RulesetVersion) -> list[str]:
    """The requirements of a ruleset of alternatives (``met_when: any``) an includer may read
    one by one, as ``ALIAS.NAME.met``: each requirement id with dashes as underscores (the
    Express Entry categories: ``categories.healthcare.met``, ``categories.senior_managers.met``).
    A ruleset whose outcome needs every requirement exports only ``ALIAS.met``."""
    if version.outcome_when != "any":
        return []
    return [_fact_name(rule["id"]) for rule in version.raw.get("rules") or []
            if "require" in rule]


def alternative(alias: str, rule_id: str) -> str:
    """Where an includer reads one alternative of a ruleset of alternatives: ``ALIAS.NAME``
    (its ``.met``), NAME being the requirement id as ``alternative_names`` gives it."""
    return f"{alias}.{_fact_name(rule_id)}"


def _fact_name(rule_id: str) -> str:
    return rule_id.replace("-", "_")


QUOTED_CODE = re.compile(r"""['"]([0-9]{4,5})['"]""")  # a code as a condition writes it


# ---------------------------------------------------------------------------------------- catalog
class Catalog:
    """Every loaded version of every ruleset, immutable once built."""

    def __init__(self, versions: Iterable[RulesetVersion], root: Path,
                 classifications: Mapping[str, Classification] | None = None):
        self.root = root
        self.classifications: dict[str, Classification] = dict(classifications or {})
        self._schemas: dict[tuple[str, str], tuple[Schema, tuple[Check, ...]]] = {}
        self._chains: dict[tuple, list] = {}
        self.by_id: dict[str, list[RulesetVersion]] = {}
        for v in sorted(versions, key=lambda v: (v.id, v.effective_from)):
            self.by_id.setdefault(v.id, []).append(v)
        self._by_sha256 = {v.sha256: v for v in self.all_versions()}
        self._corrected_by = {(v.id, v.corrects): v for v in self.all_versions() if v.corrects}
        self._words: dict[tuple, tuple[dict, dict, frozenset]] = {}
        self._check_messages: dict[str, dict[str, str]] = {}

    def all_versions(self) -> list[RulesetVersion]:
        return [v for vs in self.by_id.values() for v in vs]

    def fingerprint(self) -> list[tuple[str, str, str]]:
        """What identifies this catalog: every (id, version, sha256), sorted, and each
        classification's titles as (``classifications/ID``, version, sha256)."""
        return sorted([(v.id, v.version, v.sha256) for v in self.all_versions()]
                      + [(f"classifications/{c.id}", c.version, c.sha256)
                         for c in self.classifications.values()])

    # ------------------------------------------------------------------- names (names.py)
    def occupation_title(self, code: str, noc_version: str, lang: str) -> str | None:
        """The title of an occupation code in ``lang``: ``noc_version`` is the version as the
        profile gives it (``2016``, ``2021``) or a classification id (``noc-2021``). None when
        the code, or its title in that language, is not known."""
        found = self.classifications.get(noc_version) or self.classifications.get(
            f"noc-{noc_version}")
        return found.title_of(code, lang) if found else None

    def value_title(self, path: str, value: Any, lang: str,
                    top: RulesetVersion | None = None) -> str | None:
        """The words for an enum value of the fact at ``path`` (in the contract of ``top`` and
        what it includes, or of any loaded version), or None."""
        versions = self._closure(top) if top is not None else self.all_versions()
        for v in versions:
            spec = spec_at(v.facts, path) or v.derives.get(path)
            words = of_value(spec, value, lang)
            if words is not None:
                return words
        return None

    def code_title(self, code: str, lang: str) -> str | None:
        """The title of a code written alone (a literal in a condition, a table row, a derived
        value), from the classification whose codes have its number of digits; None when no
        classification has it (or has no title in ``lang``)."""
        for found in self.classifications.values():
            if len(code) == found.digits and code in found.codes:
                return found.title_of(code, lang)
        return None

    def codes_named(self, text: Any, lang: str) -> list[tuple[str, str | None]]:
        """Each code a condition or a list names (``'21231'`` in ``primary_noc in [...]``), once,
        in order, with its title (None: no title in ``lang``); texts that are no known code are
        left out."""
        found = QUOTED_CODE.findall(text) if isinstance(text, str) else [
            str(v) for v in (text if isinstance(text, list | tuple) else [text])]
        out: dict[str, str | None] = {}
        for code in found:
            if code not in out and any(len(code) == c.digits and code in c.codes
                                       for c in self.classifications.values()):
                out[code] = self.code_title(code, lang)
        return list(out.items())

    def names(self, lang: str) -> dict[str, Any]:
        """Every name the loaded folder gives, in ``lang`` (``GET /v1/names``): each
        classification's codes with their titles (None: no title in that language), and the
        words for the enum values of every fact and derived fact that titles them."""
        values: dict[str, dict[str, str]] = {}
        for v in self.all_versions():
            for path, titles in [*titled_values(v.facts), *titled_values(v.derives)]:
                values.setdefault(path, {k: t[lang] for k, t in titles.items()})
        return {"classifications": [
                    {"id": c.id, "version": c.version, "title": c.title[lang],
                     "reference": c.reference,
                     "codes": {code: c.title_of(code, lang) for code in sorted(c.codes)}}
                    for c in sorted(self.classifications.values(), key=lambda c: c.id)],
                "values": dict(sorted(values.items()))}

    def fact_words(self, top: RulesetVersion | None, facts: Mapping[str, Any],
                   lang: str) -> dict[str, str]:
        """What each fact of ``facts`` means in words, by dotted path, in ``lang``
        (``names.fact_words``), with the contract of ``top`` (None: of every loaded version)."""
        def occupation(code: str, classification_id: str, language: str) -> str | None:
            found = self.classifications.get(classification_id)
            return found.title_of(code, language) if found else None
        specs: dict = {}
        for v in ([top] if top is not None else self.all_versions()):
            specs.update(self.facts_for(v))
        return fact_words(specs, facts, lang, occupation)

    def check_messages(self, lang: str) -> dict[str, str]:
        """What each contract check of the loaded versions says, English -> ``lang`` (a 422
        names the English; the API answers in the language asked for)."""
        found = self._check_messages.get(lang)
        if found is None:
            found = self._check_messages[lang] = {
                check.message["en"]: check.message[lang]
                for v in self.all_versions() for check in v.checks}
        return found

    def by_sha256(self, sha256: str) -> RulesetVersion | None:
        """The loaded version with exactly this content, if any."""
        return self._by_sha256.get(sha256)

    def ids(self) -> list[str]:
        return sorted(self.by_id)

    def versions(self, ruleset_id: str) -> list[RulesetVersion]:
        if ruleset_id not in self.by_id:
            close = closest(ruleset_id, self.by_id)
            raise UnknownRulesetError.said(
                "no ruleset '{id}'; did you mean '{close}'?", id=ruleset_id, close=close) \
                if close else UnknownRulesetError.said("no ruleset '{id}'", id=ruleset_id)
        return self.by_id[ruleset_id]

    def version(self, ruleset_id: str, version: str) -> RulesetVersion:
        for v in self.versions(ruleset_id):
            if v.version == version:
                return v
        raise UnknownRulesetError.said("ruleset '{id}' has no version '{version}'",
                                       id=ruleset_id, version=version)

    def words(self, versions: Iterable[RulesetVersion]) -> tuple[dict, dict, frozenset]:
        """Fact titles, enum words and the facts holding occupation codes of every version of
        one decision's chain (``version_words``), later versions over earlier ones; built once
        per chain (of loaded versions, or of versions the decision log keeps)."""
        versions = list(versions)
        # By content: a version the log keeps may share its id and number with another.
        key = tuple(v.sha256 for v in versions)
        found = self._words.get(key)
        if found is None:
            found = chain_words(versions)
            if len(self._words) < 10_000:
                self._words[key] = found
        return found

    def corrected_by(self, version: RulesetVersion) -> RulesetVersion | None:
        """The version that replaces ``version`` over its whole period, if one does."""
        return self._corrected_by.get((version.id, version.version))

    def last_day(self, version: RulesetVersion) -> dt.date | None:
        """The last day ``version`` is in force: its own ``to``, or the day before the next
        version starts, whichever is first; None while no end is known."""
        later = [v.effective_from for v in self.versions(version.id)
                 if v.effective_from > version.effective_from]
        ends = [d for d in (version.effective_to,
                            min(later) - dt.timedelta(days=1) if later else None) if d]
        return min(ends) if ends else None

    def in_force(self, ruleset_id: str, day: dt.date) -> RulesetVersion:
        """The version in force on ``day``: the latest ``from`` on or before it, not expired."""
        # A corrected version no longer decides (a replay pins it by name, through chain()).
        candidates = [v for v in self.versions(ruleset_id) if v.in_force_on(day)
                      and (v.id, v.version) not in self._corrected_by]
        if not candidates:
            raise UnknownRulesetError.said("no version of '{id}' is in force on {day}",
                                           id=ruleset_id, day=day.isoformat())
        return max(candidates, key=lambda v: v.effective_from)

    def chain(self, top: RulesetVersion, day: dt.date,
              pinned: Mapping[str, str] | None = None) -> list[tuple[str, RulesetVersion]]:
        """The versions one decision evaluates, included ones first: [(alias, version)].

        ``pinned`` maps ruleset ids to versions (replay); others are picked by ``day``."""
        key = (top.id, top.version, day, tuple(sorted(pinned.items())) if pinned else ())
        cached = self._chains.get(key)
        if cached is not None:
            return cached
        order: list[tuple[str, RulesetVersion]] = []
        seen: set[str] = set()

        def visit(v: RulesetVersion, alias: str) -> None:
            if v.id in seen:
                return
            seen.add(v.id)
            for inc_id, inc_alias in v.includes:
                if pinned and inc_id in pinned:
                    visit(self.version(inc_id, pinned[inc_id]), inc_alias)
                else:
                    visit(self.in_force(inc_id, day), inc_alias)
            order.append((alias, v))

        visit(top, default_alias(top.id))
        if len(self._chains) < 10_000:  # a catalog is immutable: the chain for a day is fixed
            self._chains[key] = order
        return order

    def facts_for(self, top: RulesetVersion) -> dict:
        """The facts contract of a ruleset and everything it includes (any version)."""
        merged: dict = {}
        for v in self._closure(top):
            merged.update(v.facts)
        return merged

    def validate(self, top: RulesetVersion, facts: Any, day: dt.date | None = None) -> dict:
        """Check caller facts against the contract of ``top`` and what it includes; its checks
        may read the decision's date as ``as_of``."""
        key = (top.id, top.version)
        found = self._schemas.get(key)
        if found is None:  # built once per version: building a schema costs ~1 ms
            checks = {c.id: c for v in self._closure(top) for c in v.checks}
            found = self._schemas[key] = (facts_schema(self.facts_for(top)),
                                          tuple(checks.values()))
        schema, checks = found
        clean = validate_facts(schema, facts)
        broken: dict[str, list[str]] = {}
        as_of = {"as_of": day.isoformat()} if day is not None else {}
        seen = {**clean, **as_of} if as_of and checks else clean
        for check in checks:
            if check.each is None:
                if not cond.evaluate(check.condition, seen):
                    broken.setdefault(check.field, []).append(check.message["en"])
                continue
            items = cond.get_path(clean, check.each)
            for i, item in enumerate(() if items is cond.MISSING else items):
                if not cond.evaluate(check.condition, {**item, **as_of}):
                    broken.setdefault(f"{check.each}.{i}.{check.field}", []).append(
                        check.message["en"])
        if broken:
            raise FactsError("; ".join(f"{k}: {' '.join(v)}" for k, v in broken.items()),
                             errors=broken)
        return clean

    def includers(self, ruleset_id: str) -> list[str]:
        """Ids of the rulesets that include ``ruleset_id`` in some version, directly or not."""
        found: set[str] = set()
        frontier = {ruleset_id}
        while frontier:
            frontier = {v.id for v in self.all_versions() if v.id not in found
                        and any(inc in frontier for inc, _ in v.includes)}
            found |= frontier
        return sorted(found - {ruleset_id})

    def chain_ids(self, top: RulesetVersion) -> set[str]:
        """Ids of a ruleset and of everything it includes, directly or not."""
        return {v.id for v in self._closure(top)}

    def _closure(self, top: RulesetVersion) -> list[RulesetVersion]:
        # A revoked version takes the facts its ruleset took before: a profile the program
        # accepted gets its "revoked" answer, not a 422 for a field it no longer knows.
        out, stack, seen = [], [top], set()
        if "revoked" in top.raw:
            stack.extend(self.by_id.get(top.id, []))
        while stack:
            v = stack.pop()
            if (v.id, v.version) in seen:
                continue
            seen.add((v.id, v.version))
            out.append(v)
            for inc_id, _ in v.includes:
                stack.extend(self.by_id.get(inc_id, []))
        return out


def default_alias(ruleset_id: str) -> str:
    return _fact_name(ruleset_id.rsplit(".", 1)[-1])
