"""The impact of a ruleset change: decide the same cases with two versions and compare.

This is how policy staff see what a new version does before it goes live: how many decisions
change outcome, how scores move, and examples of each kind of change with both explanations.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import DecisionError
from ..store import Filters, Record, Store
from .cases import name_in

EXAMPLES_PER_KIND = 3
LOG_CASES = 2000  # the impact page decides at most this many logged decisions (the latest)
LOG_SCAN = 20_000  # ... found among this many of the newest records


@dataclass
class Case:
    facts: dict
    as_of: dt.date | None = None
    label: str | dict[str, str] = ""  # a case file's case: its name, {"en": ..., "fr": ...}


@dataclass
class Impact:
    ruleset: str
    from_version: str
    to_version: str
    cases: int = 0
    errors: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # (from, to) -> count
    shifts: dict[str, list[int]] = field(default_factory=dict)  # "crs.total" -> every shift
    examples: dict[str, list[dict]] = field(default_factory=dict)  # kind -> [{from, to}]
    # The same cases decided by every ruleset that includes this one, directly or not, with the
    # old and the new version in its chain: a change to an included list shows where it lands.
    includers: dict[str, Impact] = field(default_factory=dict)
    not_in_force: int = 0  # cases on a day when no version of this (including) ruleset is in force
    derived: Counter = field(default_factory=Counter)  # derived fact -> cases whose value changed

    @property
    def changed_outcomes(self) -> int:
        return sum(n for (a, b), n in self.outcomes.items() if a != b)

    def score_summary(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, values in sorted(self.shifts.items()):
            moved = [v for v in values if v]
            out[name] = {
                "cases": len(values), "changed": len(moved),
                "up": sum(v > 0 for v in values), "down": sum(v < 0 for v in values),
                "min": min(values, default=0), "median": statistics.median(values) if values
                else 0, "max": max(values, default=0),
                "median_of_changed": statistics.median(moved) if moved else 0}
        return out

    def absorb(self, later: Impact) -> None:
        """Add the tally of the cases that come after this one's (a chunk decided on another
        machine): absorbing the chunks in order gives what one run over every case gives, to
        the order of the examples and of every count."""
        self.cases += later.cases
        self.errors.update(later.errors)
        self.outcomes.update(later.outcomes)
        for name, values in later.shifts.items():
            self.shifts.setdefault(name, []).extend(values)
        for kind, examples in later.examples.items():
            kept = self.examples.setdefault(kind, [])
            kept.extend(examples[:EXAMPLES_PER_KIND - len(kept)])
        self.not_in_force += later.not_in_force
        self.derived.update(later.derived)
        for top, tally in later.includers.items():
            if top in self.includers:
                self.includers[top].absorb(tally)
            else:
                self.includers[top] = tally

    def as_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "from": self.from_version, "to": self.to_version,
                "cases": self.cases, "errors": dict(self.errors),
                "changed_outcomes": self.changed_outcomes,
                "outcomes": [{"from": a, "to": b, "count": n}
                             for (a, b), n in sorted(self.outcomes.items())],
                "scores": self.score_summary(), "examples": self.examples,
                "not_in_force": self.not_in_force, "derived": dict(self.derived),
                "includers": {k: v.as_dict() for k, v in self.includers.items()}}


def read_cases(path: str | Path) -> Iterator[Case]:
    """JSON Lines: each line a facts object, or {"facts": {...}, "as_of": "YYYY-MM-DD"}."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if isinstance(item, dict) and isinstance(item.get("facts"), dict):
                as_of = item.get("as_of")
                yield Case(item["facts"], dt.date.fromisoformat(as_of) if as_of else None,
                           f"{path}:{number}")
            elif isinstance(item, dict):
                yield Case(item, None, f"{path}:{number}")
            else:
                raise ValueError(f"{path}:{number}: each line is a JSON object")


def compare(decider, catalog, ruleset_id: str, from_version: str, to_version: str,
            cases: Iterable[Case], includers: bool = False) -> Impact:
    """Decide every case with both versions of ``ruleset_id`` and tally what changed.

    The changed version is pinned wherever it stands in a chain, so with ``includers`` every
    ruleset that includes it, directly or not, decides each case twice as well (its other
    rulesets picked by the day, the same on both sides), each tallied in ``Impact.includers``.

    A case without ``as_of`` is decided on the first day of the newer version, so that the
    rulesets it includes are those in force when the change goes live."""
    old = catalog.version(ruleset_id, from_version)
    new = catalog.version(ruleset_id, to_version)
    default_day = max(old.effective_from, new.effective_from)
    impact = Impact(ruleset_id, from_version, to_version)
    tops = {top: Impact(top, from_version, to_version)
            for top in (catalog.includers(ruleset_id) if includers else [])}
    for case in cases:
        impact.cases += 1
        day = case.as_of or default_day
        _tally(decider, ruleset_id, ruleset_id, from_version, to_version, case, day, impact)
        for top, top_impact in tops.items():
            top_impact.cases += 1
            if not any(v.in_force_on(day) for v in catalog.versions(top)):
                top_impact.not_in_force += 1  # a draw on another day, a program not yet begun
                continue
            _tally(decider, top, ruleset_id, from_version, to_version, case, day, top_impact)
    impact.includers = tops
    return impact


def _tally(decider, top: str, changed: str, from_version: str, to_version: str, case: Case,
           day: dt.date, impact: Impact) -> None:
    """Decide one case with ``top``, ``changed`` pinned to each version, and count the change."""
    try:
        before = decider.decide(top, case.facts, day, {changed: from_version})
        after = decider.decide(top, case.facts, day, {changed: to_version})
    except DecisionError as exc:
        impact.errors[f"{exc.title}: {exc.detail.splitlines()[0][:120]}"] += 1
        return
    impact.outcomes[(before["outcome"], after["outcome"])] += 1
    kinds = []
    if before["outcome"] != after["outcome"]:
        kinds.append(f"outcome {before['outcome']} -> {after['outcome']}")
    for score, parts in after["scores"].items():
        previous = before["scores"].get(score, {})
        for part, value in parts.items():
            shift = value - previous.get(part, 0)
            impact.shifts.setdefault(f"{score}.{part}", []).append(shift)
            if part == "total" and shift:
                kinds.append(f"{score} {'up' if shift > 0 else 'down'}")
    # A ruleset that only derives (a classification, a conversion table) changes nothing else.
    changed = sorted(k for k in {*before["derived"], *after["derived"]}
                     if before["derived"].get(k) != after["derived"].get(k))
    impact.derived.update(changed)
    if changed:
        kinds.append("derived " + ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else ""))
    for kind in kinds:
        examples = impact.examples.setdefault(kind, [])
        if len(examples) < EXAMPLES_PER_KIND:
            examples.append({"case": case.label, "from": before, "to": after})


def format_impact(impact: Impact) -> str:
    lines = [f"Impact of {impact.ruleset} {impact.from_version} -> {impact.to_version} "
             f"on {impact.cases} cases", ""]
    lines += _format_one(impact)
    idle = [top for top, t in impact.includers.items() if t.not_in_force == t.cases]
    for top, top_impact in impact.includers.items():
        if top in idle:
            continue
        lines += ["", f"== {top}, which includes {impact.ruleset} (the same cases, "
                      f"{impact.ruleset} {impact.from_version} -> {impact.to_version} in its "
                      "chain)"]
        if top_impact.not_in_force:
            lines.append(f"Not in force on the day of {top_impact.not_in_force} of "
                         f"{top_impact.cases} cases")
        lines += _format_one(top_impact, moved_only=True)
    if idle:
        lines += ["", f"Including {impact.ruleset} but in force on none of the cases' days: "
                      + ", ".join(idle)]
    return "\n".join(lines)


def _format_one(impact: Impact, moved_only: bool = False) -> list[str]:
    lines = []
    if impact.derived:
        lines.append("Derived facts changed: " + ", ".join(
            f"{name} in {n} cases" for name, n in impact.derived.most_common()))
    lines.append(f"Outcome changed: {impact.changed_outcomes} of "
                 f"{sum(impact.outcomes.values())} decided")
    for (a, b), n in sorted(impact.outcomes.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {a:>24} -> {b:<24} {n}")
    if impact.errors:
        lines.append(f"Not decided: {sum(impact.errors.values())}")
        for message, n in impact.errors.most_common():
            lines.append(f"  {n} x {message}")
    summary = impact.score_summary()
    if moved_only:  # an including ruleset: only the scores the change moved
        summary = {name: s for name, s in summary.items() if s["changed"]}
    if summary:
        lines += ["", "Score shifts (new - old):",
                  f"  {'score':<28}{'changed':>8}{'up':>6}{'down':>6}{'min':>7}{'median':>8}"
                  f"{'max':>7}"]
        for name, s in summary.items():
            lines.append(f"  {name:<28}{s['changed']:>8}{s['up']:>6}{s['down']:>6}{s['min']:>7}"
                         f"{s['median_of_changed']:>8}{s['max']:>7}")
    for kind, examples in impact.examples.items():
        lines += ["", f"Examples: {kind}"]
        for ex in examples:
            before, after = ex["from"], ex["to"]
            lines.append(f"  {name_in(ex['case'], 'en')}: {before['outcome']} -> "
                         f"{after['outcome']}; "
                         + "; ".join(f"{s} {before['scores'].get(s, {}).get('total')} -> "
                                     f"{v['total']}" for s, v in after["scores"].items()))
            was, now = _rule_keys(before), _rule_keys(after)
            shown = _shown_keys(was | now)
            lost = sorted(shown[k] for k in was - now)
            gained = sorted(shown[k] for k in now - was)
            if lost:
                lines.append(f"      no longer fires: {', '.join(lost)}")
            if gained:
                lines.append(f"      now fires: {', '.join(gained)}")
    return lines


def _rule_keys(decision: dict) -> set[tuple[str, str]]:
    return {(f["ruleset"], f"{f.get('row', f['rule'])} ({_effect(f['effect'])})")
            for f in decision["fired"]}


def _shown_keys(keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Each fired rule as a line shows it: its key alone, or ``RULESET:key`` when rulesets of
    the decision share that rule id (rule ids are unique within a ruleset only)."""
    owners: dict[str, set[str]] = {}
    for ruleset, key in keys:
        owners.setdefault(key.split(" (", 1)[0], set()).add(ruleset)
    return {(ruleset, key): key if len(owners[key.split(" (", 1)[0]]) == 1
            else f"{ruleset}:{key}" for ruleset, key in keys}


def _effect(effect: dict) -> str:
    if "award" in effect:
        return f"+{effect['points']} {effect['award']}"
    if "derive" in effect:
        return f"{effect['derive']}={effect['value']}"
    return "met"


def log_cases(store: Store, ruleset_id: str, limit: int = LOG_CASES,
              scan: int = LOG_SCAN) -> tuple[list[Case], int]:
    """The facts of the latest ``limit`` logged decisions that used a ruleset (alone or in a
    chain, as `decisions diff --log` reads them), among the newest ``scan`` records, each on its
    own date; and the seq of the newest record (a cached impact is redone when the log grows).
    The impact page and the workbench's review read the log through here."""
    found: list[Record] = []
    after, head, seen = None, 0, 0
    while len(found) < limit and seen < scan:
        records, after = store.page(Filters(), after, 500, newest_first=True)
        if records and not head:
            head = records[0].seq
        seen += len(records)
        found.extend(r for r in records
                     if any(ref["id"] == ruleset_id for ref in orjson.loads(r.rulesets)))
        if after is None:
            break
    cases = [Case(orjson.loads(r.facts), dt.date.fromisoformat(r.as_of),
                  f"decision:{r.decision_id}") for r in reversed(found[:limit])]
    return cases, head
