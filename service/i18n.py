"""Texts the code writes (why-not sentences, outcomes of the code itself) in English and French.

The catalogues are gettext .po files under ``service/translations``, read with Babel. The core
uses them directly (it imports no Flask); the web pages use the same catalogues via Flask-Babel.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "fr")
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
# The context (msgctxt) of the messages a 422 gives about one field of a request: marshmallow's
# own ("Missing data for required field.", "Must be greater than or equal to {min}."), the
# service's, each translated where the problem is answered (``field_message``).
FIELD = "field"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@functools.cache
def _catalog(lang: str) -> Catalog | None:
    po = TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return None
    with po.open("rb") as fh:
        return read_po(fh, locale=lang)


@functools.cache
def translations(lang: str) -> NullTranslations:
    catalog = _catalog(lang)
    if catalog is None:
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(lang: str, message: str, **values: Any) -> str:
    text = translations(lang).gettext(message)
    return text.format(**values) if values else text


def detail_in(error: Any, lang: str) -> str:
    """A DecisionError's detail in ``lang``: written from its template's translation when it was
    ``said`` from one, else as it is."""
    words = getattr(error, "words", None)
    return gettext(lang, words[0], **words[1]) if words else error.detail


@functools.cache
def _field_patterns(lang: str) -> tuple[tuple[re.Pattern, str], ...]:
    """Each field message of the catalogue that holds values (``{min}``), as the pattern of the
    English text it stands for and its translation."""
    catalog = _catalog(lang)
    out = []
    for message in catalog or ():
        if message.context != FIELD or not message.string or "{" not in message.id:
            continue
        parts = _PLACEHOLDER.split(message.id)  # text, name, text, name, ..., text
        pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)"
                          for i, part in enumerate(parts))
        literal = sum(len(part) for part in parts[::2])
        out.append((literal, re.compile(pattern, re.DOTALL), message.string))
    # The most said first: "greater than or equal to {min}" before "greater than {min}".
    return tuple((pattern, string) for _, pattern, string in
                 sorted(out, key=lambda found: -found[0]))


def field_message(lang: str, message: str) -> str:
    """A message about one field of a request (marshmallow's, the service's) in ``lang``: as
    the catalogue translates it in the context ``field``, the values it holds kept as they are
    (``Must be greater than or equal to 0.`` -> ``Doit être supérieur ou égal à 0.``); a
    message the catalogue does not know stays as it is."""
    if lang == "en":
        return message
    found = translations(lang).pgettext(FIELD, message)
    if found != message:
        return found
    for pattern, translated in _field_patterns(lang):
        match = pattern.fullmatch(message)
        if match:
            return translated.format(**{name: _number(value, lang)
                                        for name, value in match.groupdict().items()})
    return message


def _number(text: str, lang: str) -> str:
    """A bound as the language writes it: 120.0 -> 120, 6.5 -> 6,5 in French; other values
    (a list of choices, a code) as they are."""
    if re.fullmatch(r"-?\d+\.0", text):
        return text[:-2]
    if lang == "fr" and re.fullmatch(r"-?\d+\.\d+", text):
        return text.replace(".", ",")
    return text


def both(message: str, **values: Any) -> dict[str, str]:
    """The message in every official language: ``{"en": ..., "fr": ...}``."""
    return {lang: gettext(lang, message, **{k: (v(lang) if callable(v) else v)
                                            for k, v in values.items()}) for lang in LANGUAGES}


def localize(data: Any, lang: str) -> Any:
    """Replace every ``{"en": ..., "fr": ...}`` text in a decision by the text in ``lang``."""
    if isinstance(data, dict):
        if data and set(data) == set(LANGUAGES) and all(isinstance(v, str) for v in data.values()):
            return data[lang]
        return {k: localize(v, lang) for k, v in data.items()}
    if isinstance(data, list):
        return [localize(v, lang) for v in data]
    return data


def negotiate(accept_language: str | None) -> str:
    """Pick en or fr from an Accept-Language header value (English when nothing matches)."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower()[:2]
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


def day_words(day: dt.date, lang: str) -> str:
    """A day as people write it: January 1, 2026 / 1er janvier 2026, 15 juillet 2019."""
    text = format_date(day, format="long", locale=lang)
    if lang == "fr" and day.day == 1:
        text = "1er" + text[1:]
    return text


def moment_words(moment: dt.datetime, lang: str) -> str:
    """A time, in UTC, with its day in words: February 1, 2019 at 10:00:00 UTC / 1er février
    2019 à 10:00:00 UTC. Seconds (and a fraction, when there is one) are kept: a draw's
    tie-break can turn on them."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    time = moment.strftime("%H:%M:%S") + (("," if lang == "fr" else ".") + fraction
                                           if fraction else "")
    return gettext(lang, "{day} at {time} UTC", day=day_words(moment.date(), lang), time=time)
