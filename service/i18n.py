"""Texts the code writes (why-not sentences, outcomes of the code itself) in English and French.

The catalogues are gettext .po files under ``service/translations``, read with Babel. The core
uses them directly (it imports no Flask); the web pages use the same catalogues via Flask-Babel.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "fr")
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


@functools.cache
def translations(lang: str) -> NullTranslations:
    po = TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(lang: str, message: str, **values: Any) -> str:
    text = translations(lang).gettext(message)
    return text.format(**values) if values else text


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
