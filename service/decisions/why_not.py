"""Why a requirement was not met, as one sentence in each official language, from the why-not tree
the condition language gives (``conditions.why_not``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .. import conditions as cond
from ..i18n import gettext
from ..rulesets import PLACEHOLDER


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


def filled(because: Mapping[str, str], facts: Mapping[str, Any]) -> dict[str, str]:
    """A rule's own ``because`` with each ``{fact}`` replaced by the candidate's value of it:
    a number written as people read it in that language (``775.7``, ``775,7``), never rounded up
    to a threshold it does not reach (one decimal, cut off); a fact not given as a dash."""
    def fill(text: str, lang: str) -> str:
        return PLACEHOLDER.sub(lambda m: _value(cond.get_path(facts, m.group(1)), lang), text)

    return {lang: fill(text, lang) for lang, text in because.items()}


def _value(value: Any, lang: str) -> str:
    if value is cond.MISSING:
        return "—"
    if isinstance(value, float) and math.isfinite(value):
        value = math.floor(value * 10) / 10
        text = str(int(value)) if value.is_integer() else f"{value:.1f}"
        return text.replace(".", ",") if lang == "fr" else text
    return _show(value, lang)
