"""One base exception and one error shape (RFC 9457 problem details) for the whole service."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class DecisionError(Exception):
    """Base of every error the service reports on purpose. ``status`` is the HTTP status."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        # (template, values) when the detail was written from a template (``said``).
        self.words: tuple[str, dict[str, Any]] | None = None

    @classmethod
    def said(cls, template: str, extra: Mapping[str, Any] | None = None,
             **values: Any) -> DecisionError:
        """The error whose detail is ``template`` filled with ``values``: an English text with
        ``{name}`` placeholders, and a message of the ``messages`` catalogue, so that a problem
        answered in another language is written from its translation with the same values
        (web.problems). Values are names, numbers and dates, never English sentences."""
        error = cls(template.format(**values), **dict(extra or {}))
        error.words = (template, values)
        return error

    def __reduce__(self):  # keep detail, extra and words when sent between processes
        return (_rebuild, (type(self), self.detail, self.extra, self.words))

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body: type, title, status, detail, plus any extra members."""
        slug = type(self).__name__.removesuffix("Error").lower() or "error"
        return {"type": f"urn:decisions:problem:{slug}", "title": self.title,
                "status": self.status, "detail": self.detail, **self.extra}


def _rebuild(cls: type, detail: str, extra: dict, words: tuple | None = None) -> DecisionError:
    error = cls.__new__(cls)
    DecisionError.__init__(error, detail, **extra)
    error.words = words
    return error


class ConditionError(DecisionError):
    """A condition that cannot be parsed or checked (always reported inside a RulesetError)."""

    status = 422
    title = "Invalid condition"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a ruleset file, pointed at by file, line and key path."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "key": self.key, "message": self.message}


@dataclass
class RulesetError(DecisionError):
    """One or more rulesets are broken; ``problems`` lists every one found."""

    problems: list[Problem] = field(default_factory=list)
    status = 422
    title = "Invalid ruleset"

    def __post_init__(self) -> None:
        DecisionError.__init__(self, "\n".join(map(str, self.problems)) or "invalid ruleset",
                               problems=[p.as_dict() for p in self.problems])

    def __str__(self) -> str:
        return self.detail

    def __reduce__(self):
        return (type(self), (self.problems,))


class UnknownRulesetError(DecisionError):
    status = 404
    title = "Unknown ruleset"


class FactsError(DecisionError):
    """Facts that break a ruleset's facts contract; ``errors`` maps field paths to messages."""

    status = 422
    title = "Invalid facts"


class EvaluationError(DecisionError):
    """The engine failed on a request (a broken action, a conflicting derived fact, a crash)."""

    status = 500
    title = "Evaluation failed"


class EngineUnavailableError(DecisionError):
    status = 503
    title = "Engine unavailable"


def flatten_messages(messages: Any, prefix: str = "", root: str = "body") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"facts.first_language.reading": [...]}; messages about
    the whole object go under ``prefix`` (or ``root`` at the top)."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, sub in messages.items():
            if key == "_schema":
                path = prefix or root
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for name, texts in flatten_messages(sub, path, root).items():
                out.setdefault(name, []).extend(texts)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or root] = list(messages)
    elif isinstance(messages, list):
        for i, sub in enumerate(messages):
            out.update(flatten_messages(sub, f"{prefix}[{i}]", root))
    else:
        out[prefix or root] = [str(messages)]
    return out


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """"; did you mean 'x'?" for the closest known name, or nothing: the one hint every message
    about an unknown name ends with."""
    close = closest(name, known)
    return f"; did you mean '{close}'?" if close else ""


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name``, if one is close enough to be a slip."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


# Control characters (C0, DEL, C1): no id, name, date or cursor holds one, PostgreSQL's text
# cannot hold NUL (a NUL in a query parameter was a 500 there), and logs and pages show them
# badly. PLAIN_TEXT is the same rule as a pattern, for schemas and the OpenAPI document.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PLAIN_TEXT = r"^[^\x00-\x1f\x7f-\x9f]*$"
CONTROL_MESSAGE = "must not hold a control character (U+0000-U+001F, U+007F-U+009F)"


def parameter_errors(parameters: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The request parameters (path or query, as name and value) that hold a control character,
    by name, as a 422 problem's ``errors``; a name that holds one itself is shown escaped."""
    errors: dict[str, list[str]] = {}
    for name, value in parameters:
        if CONTROL_CHARACTER.search(name) or CONTROL_CHARACTER.search(value):
            shown = CONTROL_CHARACTER.sub(lambda m: f"\\x{ord(m.group()):02x}", name)
            errors[shown] = [CONTROL_MESSAGE]
    return errors
