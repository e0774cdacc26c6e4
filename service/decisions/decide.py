"""Build the explained decision: run each ruleset of the chain, tally scores with their caps,
settle every requirement as met or not (with why not), and settle the outcome.

The decision is plain JSON data, and it is what the decision log keeps. It holds everything the
candidate's facts made of the rules (what each fired rule matched and did, each requirement met
or not and why not: the why-not tree, which parts failed with which values, and the facts the
requirement read) but names each rule by its ruleset and key instead of repeating what the
ruleset version says of it: its title, reference and condition as written, and the words of its
why-not. Those texts were two thirds of a decision (a tech-draw decision: 49 KB of JSON, 19 KB
without them), and writing the why-nots in words was a third of an assessment's time; the
version, which the decision names with its sha256, holds what they are written from, and the
decision log keeps every version its decisions used. ``with_texts`` writes them where a decision
is read (the API, the pages, the CLI), ``localized`` then picks one language; a decision nobody
reads in words (a draw's, an impact run's, a replay's) never pays for them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from .. import conditions as cond
from ..engine import Engine
from ..errors import EvaluationError
from ..rulesets import Catalog, Rule, RulesetVersion, alternative


def decide(catalog: Catalog, engine: Engine, ruleset_id: str, facts: Any,
           as_of: dt.date | None = None, pinned: Mapping[str, str] | None = None) -> dict:
    """Decide ``facts`` with the ruleset ``ruleset_id`` in force on ``as_of`` (default: today).

    ``pinned`` maps ruleset ids to exact versions, for replaying a logged decision."""
    day = as_of or dt.date.today()
    if pinned and ruleset_id in pinned:
        top = catalog.version(ruleset_id, pinned[ruleset_id])
    else:
        top = catalog.in_force(ruleset_id, day)
    clean = catalog.validate(top, facts, day)
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
        run = engine.evaluate(version, working, day)
        working = run.facts
        derived.update(run.derived)
        met_rules = {f.index for f in run.fired}
        awards: dict[str, int] = {}
        for firing in run.fired:
            rule = version.rules[firing.index]
            entry = _fired_entry(version, rule, firing.value, working)
            fired.append(entry)
            if rule.kind == "award":
                awards[rule.bucket] = awards.get(rule.bucket, 0) + rule.points
        stage_requirements = [_requirement(version, rule, index in met_rules, working)
                              for index, rule in version.requirements]
        requirements.extend(stage_requirements)
        for name, spec in version.scores.items():
            scores[name], score_details[name] = tally(name, spec, awards)
            cond.set_path(working, f"scores.{name}", dict(scores[name]))
        met = (any if version.outcome_when == "any" else all)(
            r["met"] for r in stage_requirements)
        outcome = version.outcome["met" if met else "not_met"]
        # Two keys, not one object: facts derived under the same prefix stay where they are.
        cond.set_path(working, f"{alias}.met", met)
        cond.set_path(working, f"{alias}.outcome", outcome["code"])
        entry = {**version.ref(), "as": alias, "outcome": outcome["code"], "met": met}
        if version.outcome_when == "any":  # a ruleset of alternatives: which ones are met,
            entry["met_by"] = [r["rule"] for r in stage_requirements if r["met"]]
            # and each alternative on its own for an includer: ALIAS.NAME.met
            for (_, rule), requirement in zip(version.requirements, stage_requirements,
                                              strict=True):
                cond.set_path(working, f"{alternative(alias, rule.id)}.met", requirement["met"])
        used.append(entry)

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


def _without_nulls(facts: Mapping[str, Any]) -> dict:
    """Null and absent mean the same to the engine: drop nulls, recursively."""
    return {k: _without_nulls(v) if isinstance(v, Mapping) else v
            for k, v in facts.items() if v is not None}


def _matched(rule: Rule, facts: Mapping[str, Any]) -> dict:
    out = {}
    for path in rule.reads + rule.shows:
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
    entry["matched"] = _matched(rule, facts)  # what its why-not in words is written from
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
