"""What would change the outcome: the smallest changes of a candidate's facts that turn a decision
that is not met into one that is (for a draw, that make a requirement it failed met), each found
by deciding the changed profile through the engine, never estimated.

Why here, in ``decisions``: it is made of decisions. It asks a decider (in process or the
supervised engine process, in batches) for the decisions of changed profiles and reads them as
``decide`` builds them, with the same texts (rule titles from the version, ``i18n`` messages);
it needs neither the log (``store``) nor the web, and ``live``, the CLI and the pages call it.

Which facts may change, how and when, is policy data: the ``changes:`` of the facts contract
(``rulesets.model.Change``, docs/what-would-change.md). A fact no change names is never
suggested; a changed profile that breaks a contract check, or a contract limit, is skipped.

The search, bounded by ``Limits`` (engine decisions and milliseconds; the answer says when it
stopped early):

1. every declared change that applies to the facts, one fact at a time, one step, then two...
   (batched); a fact that changes the outcome at k steps is not tried further (minimal, and at
   most one answer per fact: diverse);
2. only when no single fact does it, pairs of facts, by their total number of steps.

Answers are sorted by number of steps (then by the contract's order), each with the
requirements it makes met and the new scores.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

from .. import conditions as cond
from ..errors import DecisionError, EngineUnavailableError, FactsError
from ..i18n import LANGUAGES, gettext
from ..rulesets import Catalog
from ..rulesets.model import Change
from .texts import catalog_texts, with_texts

BATCH = 16  # profiles per call to the decider: one pipe round trip, time checked in between


@dataclass(frozen=True)
class Limits:
    """The bounds of one search: engine decisions (the first decision included), milliseconds,
    answers, and whether pairs of facts are tried when no single fact changes the outcome."""

    decisions: int = 200
    ms: int = 2000
    results: int = 5
    pairs: bool = True


@dataclass(frozen=True)
class _Move:
    change: Change
    order: int  # the change's place in the contract
    steps: int
    before: Any
    after: Any


def summary_of(decision: Mapping[str, Any], _catalog: Any = None) -> dict:
    """What the search reads of a decision (applied where it is made: a decision's whole
    explanation need not cross the pipe from the engine process)."""
    return {"outcome": decision["outcome"], "outcome_title": decision["outcome_title"],
            "requirements": [(r["ruleset"], r["rule"], r["met"])
                             for r in decision["requirements"]],
            "scores": {name: score["total"] for name, score in decision["scores"].items()}}


def what_would_change(catalog: Catalog, decider: Any, ruleset_id: str, facts: Any,
                      as_of: dt.date | None = None, limits: Limits = Limits()) -> dict:
    """The smallest declared changes of ``facts`` that change the outcome of ``ruleset_id`` on
    ``as_of``, in both languages. Raises what deciding ``facts`` raises (FactsError: 422)."""
    started = time.monotonic()
    day = as_of or dt.date.today()
    original = decider.decide(ruleset_id, facts, day)
    top = catalog.in_force(ruleset_id, day)
    clean = catalog.validate(top, facts, day)
    shown = with_texts(original, catalog_texts(catalog))
    titles = {(r["ruleset"], r["rule"]): r["title"] for r in shown["requirements"]}
    before = summary_of(original)
    top_requirements = [(rs, rule) for rs, rule, _ in before["requirements"] if rs == top.id]
    failing = [(rs, rule) for rs, rule, met in before["requirements"]
               if rs == top.id and not met]
    search = _Search(catalog, decider, top, day, clean, limits, started)
    answer = {
        "ruleset": top.id, "version": top.version, "as_of": day.isoformat(),
        "outcome": original["outcome"], "outcome_title": original["outcome_title"],
        "met": not failing, "draw": top.draw is not None,
        "not_met": [{"ruleset": rs, "rule": rule, "title": titles[(rs, rule)]}
                    for rs, rule in failing],
        "scores": before["scores"], "changes": []}
    if not top_requirements or not failing:
        answer.update(search=search.report(),
                      summary=_both("This ruleset has no requirements: there is no outcome to "
                                    "change." if not top_requirements else
                                    "Every requirement is met: there is nothing to change."))
        return answer

    score_titles = _score_titles(catalog, top, day)
    # Only a change of a fact that a failed requirement reads, directly or through what the
    # rulesets derive from it, can make it met: the others are not tried. A requirement that
    # no applicable change can reach makes the whole outcome unreachable (unless a draw, where
    # meeting another failed requirement counts).
    producers = _producers(catalog, top.id, top.version, day)
    reach = {key: _inputs(producers, _reads(top, key[1])) for key in failing}
    moves = [(i, change, list(_moves(change, i, clean, original, day)))
             for i, change in enumerate(top.changes)]
    moves = [(i, change, found) for i, change, found in moves if found]
    unreachable = [key for key in failing
                   if not any(_touches(change.fact, reach[key]) for _, change, _ in moves)]
    if unreachable and (top.draw is None or len(unreachable) == len(failing)):
        answer.update(search=search.report(), summary=_both(
            "No declared change can meet {requirements}: what it reads is not among the facts "
            "that may change." if len(unreachable) == 1 else
            "No declared change can meet {requirements}: what they read is not among the "
            "facts that may change.",
            requirements=lambda lang: _join([gettext(lang, "“{title}”", title=titles[k][lang])
                                             for k in unreachable], lang)))
        return answer
    wanted = set().union(*reach.values())
    moves = [(i, change, found) for i, change, found in moves
             if _touches(change.fact, wanted)]

    def judge(summary: dict) -> tuple[list, list] | None:
        met = {(rs, rule): ok for rs, rule, ok in summary["requirements"] if rs == top.id}
        fixes = [key for key in failing if met.get(key)]
        broken = [key for key in top_requirements if key not in failing and not met.get(key)]
        still = [key for key in failing if not met.get(key)]
        if not still and not broken:
            return fixes, still
        if top.draw is not None and fixes and not broken:
            return fixes, still
        return None

    results: list[dict] = []

    def found(combo: Sequence[_Move], summary: dict, judged: tuple[list, list]) -> None:
        fixes, still = judged
        results.append(_result(combo, summary, before, fixes, still, titles, score_titles,
                               (top.draw or {}).get("score", "crs") if top.draw else None))

    # 1. One fact at a time, one step, then two...: at most one answer per fact.
    done: set[str] = set()
    depth = max((len(found_) for _, _, found_ in moves), default=0)
    for k in range(1, depth + 1):
        wave = ((m[k - 1],) for _, change, m in moves if len(m) >= k and change.fact not in done)
        for combo, summary in search.decide(wave):
            if combo[0].change.fact in done or len(results) >= limits.results:
                continue
            judged = judge(summary)
            if judged is not None:
                done.add(combo[0].change.fact)
                found(combo, summary, judged)
        if search.stopped or len(results) >= limits.results:
            break

    # 2. Pairs of facts, by total steps, only when no single fact does it.
    if not results and limits.pairs and not search.stopped:
        pairs_done: set[frozenset] = set()
        for wave in _pair_waves(moves):
            # (lazily: a pair found in one batch is not decided again in the next)
            wave = (combo for combo in wave
                    if frozenset(m.change.fact for m in combo) not in pairs_done)
            for combo, summary in search.decide(wave):
                key = frozenset(m.change.fact for m in combo)
                if key in pairs_done or len(results) >= limits.results:
                    continue
                judged = judge(summary)
                if judged is not None:
                    pairs_done.add(key)
                    found(combo, summary, judged)
            if search.stopped or len(results) >= limits.results:
                break

    results.sort(key=lambda r: (r["steps"], len(r["facts"]), r["_order"]))
    for r in results:
        del r["_order"]
    answer.update(changes=results, search=search.report())
    answer["summary"] = _summary_text(results, search)
    return answer


class _Search:
    """Decides changed profiles within the limits, counting what it spent."""

    def __init__(self, catalog: Catalog, decider: Any, top, day: dt.date, clean: dict,
                 limits: Limits, started: float):
        self.catalog, self.decider, self.top, self.day = catalog, decider, top, day
        self.clean, self.limits, self.started = clean, limits, started
        self.decisions = 1  # the decision of the facts as given
        self.skipped = 0
        self.stopped: str | None = None

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def decide(self, combos: Iterable[Sequence[_Move]]) -> Iterator[tuple[Sequence[_Move], dict]]:
        """Each combination the contract accepts, with the summary of its decision, until a
        limit is reached (``stopped`` says which). Combinations are checked against the
        contract only as they are about to be decided, a batch at a time."""
        pending = iter(combos)
        while True:
            if self.elapsed_ms() >= self.limits.ms:
                if self._next_valid(pending) is not None:
                    self.stopped = "time"
                return
            room = self.limits.decisions - self.decisions
            if room <= 0:
                if self._next_valid(pending) is not None:
                    self.stopped = "decisions"
                return
            chunk = []
            while len(chunk) < min(BATCH, room):
                found = self._next_valid(pending)
                if found is None:
                    break
                chunk.append(found)
            if not chunk:
                return
            answers = self.decider.decide_many(
                [(self.top.id, profile, self.day, None) for _, profile in chunk], summary_of)
            self.decisions += len(chunk)
            for (combo, _), answer in zip(chunk, answers, strict=True):
                if isinstance(answer, EngineUnavailableError):
                    raise answer
                if isinstance(answer, DecisionError):
                    self.skipped += 1
                    continue
                yield combo, answer

    def _next_valid(self, pending: Iterator[Sequence[_Move]]
                    ) -> tuple[Sequence[_Move], dict] | None:
        """The next combination whose profile the contract accepts, with that profile; one that
        breaks a limit or a check of the contract is counted and never suggested."""
        for combo in pending:
            profile = _changed(self.clean, combo)
            try:
                self.catalog.validate(self.top, profile, self.day)
            except FactsError:
                self.skipped += 1
                continue
            return combo, profile
        return None

    def report(self) -> dict:
        return {"decisions": self.decisions, "elapsed_ms": round(self.elapsed_ms(), 1),
                "skipped_profiles": self.skipped, "complete": self.stopped is None,
                "stopped_by": self.stopped, "max_decisions": self.limits.decisions,
                "max_ms": self.limits.ms}


def _moves(change: Change, order: int, clean: Mapping[str, Any], original: Mapping[str, Any],
           day: dt.date) -> Iterator[_Move]:
    """The values ``change`` may give its fact, one step after another."""
    if change.when is not None and not cond.evaluate(change.when,
                                                     {**clean, "as_of": day.isoformat()}):
        return
    current = cond.get_path(clean, change.fact)
    current = None if current is cond.MISSING else current
    numeric = isinstance(current, int | float) and not isinstance(current, bool)
    if change.kind == "set":
        if current != change.value:
            yield _Move(change, order, 1, current, change.value)
    elif change.kind == "values":
        if numeric:
            later = [v for v in change.values if isinstance(v, int | float) and v > current]
        elif current in change.values:
            later = list(change.values[change.values.index(current) + 1:])
        else:
            later = list(change.values)
        for steps, value in enumerate(later, 1):
            yield _Move(change, order, steps, current, value)
    elif change.kind == "step" and numeric:
        steps = 1
        while True:
            value = current + steps * change.step
            value = int(round(value)) if change.integer else round(value, 6)
            if change.max is not None and value > change.max:
                return
            yield _Move(change, order, steps, current, value)
            steps += 1
    elif change.kind == "by" and numeric:
        delta = (original.get("derived") or {}).get(change.by)
        if isinstance(delta, int | float) and not isinstance(delta, bool) and delta > 0:
            value = current + delta
            yield _Move(change, order, 1, current, int(value) if change.integer else value)


def _pair_waves(moves: list) -> Iterator[list[tuple[_Move, _Move]]]:
    """Pairs of moves of two different facts, grouped by their total number of steps."""
    longest = max((len(m) for _, _, m in moves), default=0)
    for total in range(2, 2 * longest + 1):
        wave = []
        for (_, a, ma), (_, b, mb) in itertools.combinations(moves, 2):
            if a.fact == b.fact:
                continue
            for i in range(max(1, total - len(mb)), min(len(ma), total - 1) + 1):
                wave.append((ma[i - 1], mb[total - i - 1]))
        if wave:
            yield wave


@functools.lru_cache(maxsize=16)
def _producers(catalog: Catalog, ruleset_id: str, version: str, day: dt.date
               ) -> dict[str, tuple[str, ...]]:
    """What each fact the chain produces is made from: a derived fact from the facts its
    derive rules and table rows read, a score (``scores.crs.total``, ``scores.crs.core``) from
    what its awards read, an included ruleset's ``alias.met`` and ``alias.outcome`` from what
    its requirements read. A catalog never changes, so this is kept per version and day."""
    top = catalog.version(ruleset_id, version)
    made: dict[str, list[str]] = {}
    for alias, v in catalog.chain(top, day):
        for rule in v.rules:
            if rule.kind == "derive":
                made.setdefault(rule.fact, []).extend(rule.reads)
            elif rule.kind == "award":
                score = rule.bucket.split(".")[0]
                made.setdefault(f"scores.{score}", []).extend(rule.reads)
            else:
                for key in (f"{alias}.met", f"{alias}.outcome"):
                    made.setdefault(key, []).extend(rule.reads)
    return {fact: tuple(dict.fromkeys(reads)) for fact, reads in made.items()}


def _reads(top, rule_id: str) -> tuple[str, ...]:
    return next(r.reads for _, r in top.requirements if r.id == rule_id)


def _inputs(producers: Mapping[str, tuple[str, ...]], reads: Sequence[str]) -> set[str]:
    """The input facts (the caller's) that ``reads`` depends on, through everything derived."""
    seen: set[str] = set()
    inputs: set[str] = set()
    stack = list(reads)
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        source = producers.get(path)
        if source is None and path.startswith("scores."):  # scores.crs.total, scores.crs.core
            source = producers.get(".".join(path.split(".")[:2]))
        if source is None:
            inputs.add(path)
        else:
            stack.extend(source)
    return inputs


def _touches(fact: str, inputs: set[str]) -> bool:
    """Whether changing ``fact`` changes one of ``inputs`` (a field of it, or what holds it)."""
    return any(fact == p or p.startswith(fact + ".") or fact.startswith(p + ".")
               for p in inputs)


def _changed(clean: Mapping[str, Any], combo: Sequence[_Move]) -> dict:
    profile = dict(clean)
    for move in combo:
        cond.set_path(profile, move.change.fact, move.after)  # copies the dicts it goes into
    return profile


def _score_titles(catalog: Catalog, top, day: dt.date) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for _, version in catalog.chain(top, day):
        for name, spec in version.scores.items():
            out[name] = spec["title"]
    return out


# ------------------------------------------------------------------------------------ texts
def _both(message: str, **values: Any) -> dict[str, str]:
    return {lang: gettext(lang, message, **{k: v(lang) if callable(v) else v
                                            for k, v in values.items()}) for lang in LANGUAGES}


def _number(value: Any, lang: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format_decimal(value, locale="fr_CA" if lang == "fr" else "en_CA")


def _move_text(move: _Move, lang: str) -> str:
    title = move.change.title[lang]
    if move.change.kind == "set" or move.before is None:
        return title
    return gettext(lang, "{title} {after} instead of {before}", title=title,
                   after=_number(move.after, lang), before=_number(move.before, lang))


def _join(items: list[str], lang: str) -> str:
    """``a, b and c`` (``a, b et c``)."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + gettext(lang, " and ") + items[-1]


def _result(combo: Sequence[_Move], summary: dict, before: dict, fixes: list, still: list,
            titles: Mapping[tuple, dict], score_titles: Mapping[str, dict],
            ranked: str | None) -> dict:
    met = not still
    scores = {name: {"from": before["scores"].get(name), "to": total}
              for name, total in summary["scores"].items()}
    # The text names the score a draw ranks by, else every score that moved (the data has all).
    told = [name for name, s in scores.items() if s["from"] != s["to"]
            and (ranked is None or name == ranked)]
    text = {}
    for lang in LANGUAGES:
        what = _join([_move_text(m, lang) for m in combo], lang)
        parts = [gettext(lang, "the {score} would be {after} instead of {before}",
                         score=score_titles.get(name, {}).get(lang, name),
                         after=_number(scores[name]["to"], lang),
                         before=_number(scores[name]["from"], lang)) for name in told]
        if met:
            parts.append(gettext(lang, "the outcome would be “{outcome}”",
                                 outcome=summary["outcome_title"][lang]))
        else:
            named = _join([gettext(lang, "“{title}”", title=titles[key][lang])
                           for key in fixes], lang)
            parts.append(gettext(lang, "{requirements} would be met", requirements=named)
                         if len(fixes) == 1 else
                         gettext(lang, "{requirements} would all be met", requirements=named))
        effect = _join(parts, lang)
        text[lang] = gettext(lang, "With {changes}, {effect}.", changes=what, effect=effect)
    return {
        "facts": [{"change": m.change.id, "fact": m.change.fact, "title": m.change.title,
                   "from": m.before, "to": m.after, "steps": m.steps} for m in combo],
        "steps": sum(m.steps for m in combo),
        "outcome": summary["outcome"], "outcome_title": summary["outcome_title"], "met": met,
        "fixes": [{"ruleset": rs, "rule": rule, "title": titles[(rs, rule)]}
                  for rs, rule in fixes],
        "still_not_met": [{"ruleset": rs, "rule": rule, "title": titles[(rs, rule)]}
                          for rs, rule in still],
        "scores": scores, "text": text, "_order": tuple(m.order for m in combo)}


def _summary_text(results: list, search: _Search) -> dict[str, str]:
    if results:
        text = _both("Smallest changes found: {count}.", count=len(results))
    elif search.stopped:
        text = _both("No change found before the search stopped.")
    else:
        text = _both("No declared change of one fact, or of two facts together, changes this "
                     "outcome.")
    if search.stopped:
        spent = search.report()
        stop = _both("The search stopped early, after {decisions} decisions and {ms} ms "
                     "(limit: {limit}): changes it did not try may also change the outcome.",
                     decisions=search.decisions, ms=lambda lang: _number(
                         round(spent["elapsed_ms"]), lang),
                     limit=lambda lang: gettext(lang, "{count} decisions",
                                                count=search.limits.decisions)
                     if search.stopped == "decisions" else
                     gettext(lang, "{count} ms", count=search.limits.ms))
        text = {lang: f"{text[lang]} {stop[lang]}" for lang in LANGUAGES}
    return text
