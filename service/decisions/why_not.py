"""Why a requirement was not met, as one sentence in each official language, from the why-not tree
the condition language gives (``conditions.why_not``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..i18n import gettext


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
