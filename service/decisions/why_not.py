"""Why a requirement was not met, as one sentence a candidate can read, in each official language.

Two ways, both from the why-not tree the condition language gives (``conditions.why_not``):
- the rule's own ``because:`` text, a template over the facts, derived facts and constants the
  rule can see (``{primary_noc}``), filled in with the candidate's values, formatted for the
  language (numbers, dates, lists, enum values as words);
- otherwise a generated sentence that names each fact by its declared title and shows the
  candidate's value and what is needed, never an identifier. A derived fact is traced to the
  facts the candidate gave (NOC 6311 -> not a tech occupation); another ruleset's outcome
  (``hcp.met``) lists the requirements of that ruleset that failed; an ``or`` shows only the
  alternatives that apply to the candidate (those that do not fail on a classification such as
  the occupation's TEER).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..i18n import LANGUAGES, day_words, gettext
from ..rulesets import PLACEHOLDER

MAX_SOURCES = 6  # input facts named for one derived fact: more reads as noise
GUARD_OPS = ("==", "!=", "in", "not in")


@dataclass(frozen=True)
class Words:
    """What the sentences of one decision name things by (see ``Catalog.words``)."""

    titles: Mapping[str, dict] = field(default_factory=dict)  # fact path -> {en, fr}
    values: Mapping[str, Mapping[Any, dict]] = field(default_factory=dict)  # path -> enum words
    # A derived fact -> the facts the rule that derived it read, with their values.
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # An include's alias -> its outcome title and the sentences of its failed requirements.
    outcomes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    coded: frozenset = frozenset()  # facts that hold occupation codes
    code_title: Callable[[str, str], str | None] = lambda code, lang: None


NO_WORDS = Words()


def fill(text: Mapping[str, str], values: Mapping[str, Any], words: Words = NO_WORDS,
         langs: tuple[str, ...] = LANGUAGES) -> dict[str, str]:
    """A ``because:`` template in each language of ``langs``, with each ``{name}`` replaced by
    the value."""
    def filled(lang: str) -> str:
        return PLACEHOLDER.sub(lambda m: show(values.get(m.group(1)), lang, words, m.group(1)),
                               text[lang])

    return {lang: filled(lang) for lang in langs}


def because_text(reason: Mapping[str, Any], words: Words = NO_WORDS,
                 langs: tuple[str, ...] = LANGUAGES) -> dict[str, str]:
    """The generated why-not of a requirement as one sentence in each language of ``langs``
    (both official languages unless asked for one)."""
    applicable = _applicable(reason)
    return {lang: _sentence(_because(applicable, lang, words), lang) for lang in langs}


# ------------------------------------------------------------------------------------- values
def show(value: Any, lang: str, words: Words = NO_WORDS, path: str | None = None,
         code_titles: bool = True) -> str:
    """A value as a person reads it in ``lang``: an occupation code with its title (unless
    ``code_titles`` is off: a list of what is needed reads better as codes alone)."""
    if code_titles and path in words.coded and isinstance(value, str):
        title = words.code_title(value, lang)
        return f"{value} ({title})" if title else value
    if value is None:
        return gettext(lang, "not given")
    if isinstance(value, bool):
        return gettext(lang, "yes" if value else "no")
    if isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
        return gettext(lang, "{count} listed", count=len(value))  # a work history, say
    if isinstance(value, list | tuple):
        return _list([show(v, lang, words, path) for v in value], lang) \
            if value else gettext(lang, "none")
    if isinstance(value, Mapping):
        return gettext(lang, "given")
    named = words.values.get(path or "", {}).get(str(value))  # titles are keyed as written
    if named:
        return named[lang]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        # One decimal, cut off: 779.96 hours never reads as the 780 it does not reach.
        value = math.floor(value * 10) / 10
    if isinstance(value, int | float):
        return _number(value, lang)
    if isinstance(value, dt.datetime):
        return f"{show(value.date(), lang)} {value.strftime('%H:%M')} UTC"
    if isinstance(value, dt.date):
        return day_words(value, lang)
    if isinstance(value, str):
        day = _as_day(value)
        if day is not None:
            return show(day, lang)
    return str(value)


def _number(value: float, lang: str) -> str:
    """12,669 / 12 669, 6.5 / 6,5: as each language writes numbers (Babel's format_decimal
    writes the same, at about twenty times the cost, and why-nots show many numbers)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "n" in text:  # 1e+300, inf, nan: as Python writes them
            return text
        whole, _, decimals = text.partition(".")
        text = f"{int(whole):,}" if whole not in ("-0",) else "-0"
        text = f"{text}.{decimals}"
    else:
        text = f"{value:,}"
    if lang == "fr":  # a non-breaking space between thousands, a comma before decimals
        text = text.replace(",", "\u00a0").replace(".", ",")
    return text


def _list(items: list[str], lang: str, style: str = "and") -> str:
    """a, b, and c / a, b et c; a, b, or c / a, b ou c (the CLDR patterns Babel's format_list
    follows, without its cost)."""
    if len(items) < 2:
        return "".join(items)
    word = gettext(lang, "and" if style == "and" else "or")
    if len(items) == 2:
        return f"{items[0]} {word} {items[1]}"
    last = f", {word} " if lang == "en" else f" {word} "
    return ", ".join(items[:-1]) + last + items[-1]


def _as_day(text: str) -> dt.date | dt.datetime | None:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return dt.date.fromisoformat(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?", text):
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.astimezone(dt.UTC) if moment.tzinfo else moment
    return None


# -------------------------------------------------------------------------------- sentences
def _applicable(reason: Mapping[str, Any]) -> Mapping[str, Any]:
    """Of the alternatives of an ``or``, those that apply to the candidate: an alternative that
    fails on a classification (``==``, ``in``... on a category such as the TEER, not a number)
    is for other candidates, unless every alternative does."""
    if "all" in reason:
        return {"all": [_applicable(r) for r in reason["all"]]}
    if "any" not in reason:
        return reason
    branches = [_applicable(r) for r in reason["any"]]
    open_ = [b for b in branches if not _fails_on_guard(b)]
    if not open_:  # no alternative is for this candidate: say what would make one apply
        return _guards_only(branches)
    return open_[0] if len(open_) == 1 else {"any": open_}


def _guards_only(branches: list) -> Mapping[str, Any]:
    """The classification each alternative needs, once per fact: "TEER group: 4 or 5, needs
    0 or 1 or 2 or 3" rather than each alternative in full."""
    by_fact: dict[str, dict] = {}
    for leaf in _leaves(branches):
        if leaf["op"] not in ("==", "in") or not _fails_on_guard(leaf):
            continue
        expected = leaf["expected"] if isinstance(leaf["expected"], list) else [leaf["expected"]]
        found = by_fact.setdefault(leaf["fact"], {**leaf, "op": "in", "expected": []})
        found["expected"] += [v for v in expected if v not in found["expected"]]
    merged = list(by_fact.values())
    if not merged:
        return {"any": branches}
    return merged[0] if len(merged) == 1 else {"any": merged}


def _leaves(reasons: list) -> list:
    out = []
    for reason in reasons:
        if "all" in reason or "any" in reason:
            out += _leaves(reason.get("all") or reason.get("any"))
        else:
            out.append(reason)
    return out


def _fails_on_guard(reason: Mapping[str, Any]) -> bool:
    if "all" in reason:
        return any(_fails_on_guard(r) for r in reason["all"])
    if "any" in reason:
        return all(_fails_on_guard(r) for r in reason["any"])
    expected = reason["expected"]
    values = expected if isinstance(expected, list) else [expected]
    return reason["op"] in GUARD_OPS and not reason["missing"] and all(
        isinstance(v, str) for v in values) and bool(values)


def _sentence(text: str, lang: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _because(reason: Mapping[str, Any], lang: str, words: Words) -> str:
    if "all" in reason:  # two facts of one included ruleset (met, outcome) say it once
        return "; ".join(dict.fromkeys(_because(r, lang, words) for r in reason["all"]))
    if "any" in reason:
        if not reason["any"]:
            return gettext(lang, "this can never be met")
        items = gettext(lang, " or ").join(_because(r, lang, words) for r in reason["any"])
        return gettext(lang, "one of these is needed: {items}", items=items)
    fact = reason["fact"]
    alias, _, last = fact.rpartition(".")
    if last in ("met", "outcome") and alias in words.outcomes:
        return _included(words.outcomes[alias], lang)
    title = words.titles.get(fact, {}).get(lang, fact)
    value = gettext(lang, "not given") if reason["missing"] else show(reason["value"], lang,
                                                                     words, fact)
    text = gettext(lang, "{title}: {value}", title=title, value=value)
    traced = _traced(fact, lang, words)
    if traced:
        text += gettext(lang, " (from {inputs})", inputs=traced)
    return text + gettext(lang, ", {needed}", needed=_needed(reason, lang, words))


def _needed(reason: Mapping[str, Any], lang: str, words: Words) -> str:
    op, fact, expected = reason["op"], reason["fact"], reason["expected"]
    if expected is None:
        return gettext(lang, "needs to be empty") if op == "==" else \
            gettext(lang, "needs a value")
    shown = show(expected, lang, words, fact, code_titles=False) \
        if not isinstance(expected, list) else _list(
            [show(v, lang, words, fact, code_titles=False) for v in expected], lang, "or")
    message = {">=": "needs at least {expected}", ">": "needs more than {expected}",
               "<=": "needs at most {expected}", "<": "needs less than {expected}",
               "==": "needs {expected}", "!=": "needs anything but {expected}",
               "in": "needs {expected}", "not in": "needs anything but {expected}"}[op]
    return gettext(lang, message, expected=shown)


def _traced(fact: str, lang: str, words: Words, depth: int = 0) -> str:
    """The facts the candidate gave that a derived fact comes from, with their values."""
    inputs: dict[str, Any] = {}

    def walk(path: str, level: int) -> None:
        for source, value in (words.sources.get(path) or {}).items():
            if source in words.sources and level < 3:
                walk(source, level + 1)
            elif len(inputs) < MAX_SOURCES:
                inputs.setdefault(source, value)

    walk(fact, depth)
    # Facts of one object read as one group: "First official language: CLB, reading 9, ..."
    groups: dict[str, list[str]] = {}
    for path, value in inputs.items():
        parent, _, name = path.rpartition(".")
        if parent and parent in words.titles and path in words.titles:
            child = words.titles[path][lang]
            prefix = words.titles[parent][lang] + ", "
            child = child[len(prefix):] if child.startswith(prefix) else child
            shown = show(value, lang, words, path)
            # A value in words says what it is ("IELTS General Training"); a number needs its name.
            named = str(value) in words.values.get(path, {})
            groups.setdefault(words.titles[parent][lang], []).append(
                shown if named else f"{child} {shown}")
        else:
            groups.setdefault(words.titles.get(path, {}).get(lang, path), []).append(
                show(value, lang, words, path))
    return "; ".join(gettext(lang, "{title}: {value}", title=title, value=", ".join(parts))
                     for title, parts in groups.items())


def _included(outcome: Mapping[str, Any], lang: str) -> str:
    failed = outcome["failed"]
    title = outcome["title"][lang]
    if not failed:
        return title
    parts = "; ".join(gettext(lang, "{title}: {because}", title=t[lang],
                              because=b[lang].rstrip(".")) if b else t[lang]
                      for t, b in failed)
    return gettext(lang, "{outcome} ({parts})", outcome=title, parts=parts)
