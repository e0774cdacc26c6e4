"""Build the explained decision: run each ruleset of the chain, tally scores with their caps,
settle every requirement as met or not (with why not), and settle the outcome.

The decision is plain JSON data, and it is what the decision log keeps. It holds everything the
candidate's facts made of the rules (what each fired rule matched and did, each requirement met
or not and why not, in both official languages) but names each rule by its ruleset and key
instead of repeating what the ruleset version says of it: its title, reference and condition as
written. Those texts were two thirds of a decision (a tech-draw decision: 49 KB of JSON, 19 KB
without them); the version, which the decision names with its sha256, holds them, and the
decision log keeps every version its decisions used. ``with_texts`` fills them in for showing,
``localized`` then picks one language.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from . import conditions as cond
from .engine import Engine, set_path
from .errors import EvaluationError
from .i18n import both, gettext
from .rulesets import Catalog, Rule, RulesetVersion


def decide(catalog: Catalog, engine: Engine, ruleset_id: str, facts: Any,
           as_of: dt.date | None = None, pinned: Mapping[str, str] | None = None) -> dict:
    """Decide ``facts`` with the ruleset ``ruleset_id`` in force on ``as_of`` (default: today).

    ``pinned`` maps ruleset ids to exact versions, for replaying a logged decision."""
    day = as_of or dt.date.today()
    if pinned and ruleset_id in pinned:
        top = catalog.version(ruleset_id, pinned[ruleset_id])
    else:
        top = catalog.in_force(ruleset_id, day)
    clean = catalog.validate(top, facts)
    working = _without_nulls(clean)
    chain = catalog.chain(top, day, pinned)

    fired: list[dict] = []
    requirements: list[dict] = []
    scores: dict[str, dict] = {}
    score_details: dict[str, list] = {}
    derived: dict[str, Any] = {}
    used: list[dict] = []
    outcome: dict = {}
    for alias, version in chain:
        run = engine.evaluate(version, working)
        working = run.facts
        derived.update(run.derived)
        met_rules = {f.index for f in run.fired}
        awards: dict[str, int] = {}
        for firing in run.fired:
            rule = version.rules[firing.index]
            fired.append(_fired_entry(version, rule, firing.value, working))
            if rule.kind == "award":
                awards[rule.bucket] = awards.get(rule.bucket, 0) + rule.points
        stage_requirements = [_requirement(version, rule, index in met_rules, working)
                              for index, rule in version.requirements]
        requirements.extend(stage_requirements)
        for name, spec in version.scores.items():
            scores[name], score_details[name] = tally(name, spec, awards)
            set_path(working, f"scores.{name}", dict(scores[name]))
        met = all(r["met"] for r in stage_requirements)
        outcome = version.outcome["met" if met else "not_met"]
        # Two keys, not one object: facts derived under the same prefix stay where they are.
        set_path(working, f"{alias}.met", met)
        set_path(working, f"{alias}.outcome", outcome["code"])
        used.append({**version.ref(), "as": alias, "outcome": outcome["code"], "met": met})

    return {
        "decision_id": uuid.uuid4().hex,
        "ruleset": top.id,
        "as_of": day.isoformat(),
        "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "outcome": outcome["code"],
        "outcome_title": outcome["title"],
        "title": top.title,
        "rulesets": used,
        "scores": scores,
        "score_details": score_details,
        "derived": derived,
        "fired": fired,
        "requirements": requirements,
    }


# The texts of a rule the decision names: from a ruleset reference ({"id", "version", "sha256"})
# to that version's texts by rule key (RulesetVersion.texts), or None when it is not known.
TextsOf = Callable[[Mapping[str, str]], "Mapping[str, Mapping[str, Any]] | None"]
RULE_TEXTS = {"fired": ("title", "reference"), "requirements": ("title", "reference",
                                                                  "condition")}


def catalog_texts(catalog: Catalog) -> TextsOf:
    """Texts from the loaded rulesets: the version of that id and number, if its sha256 is the
    one the decision names (a version edited in place says something else)."""
    def texts_of(ref: Mapping[str, str]) -> Mapping[str, Mapping[str, Any]] | None:
        version = catalog.by_sha256(ref["sha256"])
        if version is None or (version.id, version.version) != (ref["id"], ref["version"]):
            return None
        return version.texts
    return texts_of


def with_texts(decision: Mapping[str, Any], texts_of: TextsOf) -> dict:
    """The decision with each rule's title, reference (and for a requirement, its condition)
    filled in from the ruleset version it names, in both languages.

    An entry that already has a title (logged before decisions left texts out) stays as it is.
    A rule whose version cannot be found gets its key as title and no reference: the rest of
    the explanation still stands."""
    versions = {r["id"]: r for r in decision["rulesets"]}
    found: dict[str, Mapping[str, Mapping[str, Any]]] = {}

    def texts(ruleset_id: str) -> Mapping[str, Mapping[str, Any]]:
        if ruleset_id not in found:
            ref = versions.get(ruleset_id)
            found[ruleset_id] = (texts_of(ref) if ref else None) or {}
        return found[ruleset_id]

    out = dict(decision)
    for part, keys in RULE_TEXTS.items():
        entries = []
        for entry in decision[part]:
            if "title" not in entry:
                key = entry.get("row") or entry["rule"]
                text = texts(entry["ruleset"]).get(key) or {
                    "title": {"en": key, "fr": key}, "reference": None, "condition": None}
                entry = {**entry, **{k: text[k] for k in keys}}
            entries.append(entry)
        out[part] = entries
    return out


def without_texts(decision: Mapping[str, Any]) -> dict:
    """The decision as logged today: rule texts left to the ruleset version (see with_texts);
    replay compares decisions in this form, whichever form the logged one has."""
    out = dict(decision)
    for part, keys in RULE_TEXTS.items():
        out[part] = [{k: v for k, v in entry.items() if k not in keys}
                     for entry in decision[part]]
    return out


def localized(decision: Mapping[str, Any], lang: str) -> dict:
    """The decision with every text a person reads in ``lang`` only.

    Texts sit in known places (titles, why-not sentences); facts, matched values and why-not
    trees are never touched, even where a fact happens to look like ``{"en": ..., "fr": ...}``.
    About ten times faster than walking the whole tree with ``i18n.localize``."""
    out = dict(decision)
    for key in ("title", "outcome_title"):
        if key in out:
            out[key] = _text(out[key], lang)
    out["fired"] = [_localized_entry(entry, lang) for entry in out["fired"]]
    out["requirements"] = [_localized_entry(entry, lang) for entry in out["requirements"]]
    out["score_details"] = {name: [{**b, "title": _text(b["title"], lang)} for b in buckets]
                            for name, buckets in out["score_details"].items()}
    return out


def _localized_entry(entry: Mapping[str, Any], lang: str) -> dict:
    entry = dict(entry)
    for key in ("title", "because"):  # no title: a decision as logged (see with_texts)
        if key in entry:
            entry[key] = _text(entry[key], lang)
    return entry


def _text(value: Any, lang: str) -> Any:
    return value[lang] if isinstance(value, dict) else value


def _without_nulls(facts: Mapping[str, Any]) -> dict:
    """Null and absent mean the same to the engine: drop nulls, recursively."""
    return {k: _without_nulls(v) if isinstance(v, Mapping) else v
            for k, v in facts.items() if v is not None}


def _matched(rule: Rule, facts: Mapping[str, Any]) -> dict:
    out = {}
    for path in rule.reads:
        value = cond.get_path(facts, path)
        out[path] = None if value is cond.MISSING else value
    return out


def _fired_entry(version: RulesetVersion, rule: Rule, value: Any, facts: Mapping) -> dict:
    if rule.kind == "award":
        effect: dict[str, Any] = {"award": rule.bucket, "points": rule.points}
    elif rule.kind == "derive":
        effect = {"derive": rule.fact, "value": value}
    else:
        effect = {"requirement": "met"}
    entry = {"rule": rule.id, "ruleset": version.id, "matched": _matched(rule, facts),
             "effect": effect}
    if rule.table:
        entry["row"] = rule.table
    return entry


def _requirement(version: RulesetVersion, rule: Rule, met: bool, facts: Mapping) -> dict:
    entry = {"rule": rule.id, "ruleset": version.id, "met": met}
    if met:
        return entry
    reason = cond.why_not(rule.condition, facts)
    if reason is None:  # the engine and the explanation must never disagree
        raise EvaluationError(f"{version.id} {version.version}: requirement {rule.id} was not met "
                              "by the engine, yet its condition holds on the facts")
    entry["why_not"] = reason
    entry["because"] = rule.because or because_text(reason)
    entry["matched"] = _matched(rule, facts)
    return entry


def tally(score: str, spec: Mapping[str, Any], awards: Mapping[str, int]) -> tuple[dict, list]:
    """Sum the points per bucket, apply every cap from the leaves up, then the score's maximum.

    Returns the summary (``total`` and each top-level bucket, as counted) and the detail of every
    bucket: the points awarded, its cap, and what counted after the cap."""
    details: list[dict] = []

    def node(path: str, node_spec: Mapping[str, Any]) -> int:
        raw = awards.get(path, 0)
        for name, child in (node_spec.get("buckets") or {}).items():
            raw += node(f"{path}.{name}", child)
        cap = node_spec.get("cap")
        counted = min(raw, cap) if cap is not None else raw
        details.append({"bucket": path, "title": node_spec.get("title"), "points": raw,
                        "cap": cap, "counted": counted})
        return counted

    summary: dict[str, int] = {}
    for name, child in (spec.get("buckets") or {}).items():
        summary[name] = node(f"{score}.{name}", child)
    total = sum(summary.values())
    if spec.get("max") is not None:
        total = min(total, spec["max"])
    return {"total": total, **summary}, details


# ----------------------------------------------------------------------------------- why-not text
def _show(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return gettext(lang, "yes" if value else "no")
    if isinstance(value, list | tuple):
        return ", ".join(_show(v, lang) for v in value)
    return str(value)


def because_text(reason: Mapping[str, Any]) -> dict[str, str]:
    """The why-not of a requirement as one sentence in each official language."""
    return {lang: _because(reason, lang) for lang in ("en", "fr")}


def _because(reason: Mapping[str, Any], lang: str) -> str:
    if "all" in reason:
        return "; ".join(_because(r, lang) for r in reason["all"])
    if "any" in reason:
        items = gettext(lang, " or ").join(_because(r, lang) for r in reason["any"])
        return gettext(lang, "either {items}", items=items)
    fact, op, missing = reason["fact"], reason["op"], reason["missing"]
    expected = _show(reason["expected"], lang)
    if reason["constant"]:
        expected = f"{reason['constant']} ({expected})"
    value = _show(reason["value"], lang)
    if reason["expected"] is None:
        message = ("{fact} = {value}, needs to be empty" if op == "==" else
                   "{fact} is not given, needs a value")
    elif op in ("in", "not in"):
        verb = "needs one of" if op == "in" else "must not be one of"
        message = ("{fact} is not given, " if missing else "{fact} = {value}, ") + verb + \
            " {expected}"
    elif op == "==":
        message = "{fact} is not given, needs {expected}" if missing else \
            "{fact} = {value}, needs {expected}"
    else:
        message = "{fact} is not given, needs {op} {expected}" if missing else \
            "{fact} = {value}, needs {op} {expected}"
    return gettext(lang, message, fact=fact, value=value, op=op, expected=expected)


__all__ = ["decide", "with_texts", "without_texts", "catalog_texts", "localized", "tally",
           "because_text", "both"]
