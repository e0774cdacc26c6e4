"""Names of things, for the texts a person reads: the title of an occupation code in its
classification (``rulesets/classifications/*.yaml``) and the words for an enum value of a fact
(``titles:`` beside ``enum:`` in a contract). Data only, from the ruleset folder; no rule reads
them, so they never change a decision.

The why-not sentences, the pages, the CLI and the API call these:

* ``of_value(spec, value, lang)``: the words for ``value`` of the fact ``spec`` (a fact spec as
  a contract declares it, or None), or None when it has none.
* ``spec_at(facts, path)``: the spec of the fact at a dotted path (``first_language.test``) in a
  contract's facts (``Catalog.facts_for``), or None.
* ``Catalog.occupation_title(code, noc_version, lang)``, ``Catalog.value_title(path, value,
  lang)`` and ``Catalog.fact_words(version, facts, lang)``: the same, looked up in the loaded
  folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

CLASSIFICATIONS_DIR = "classifications"


@dataclass(frozen=True)
class Classification:
    """One classification's titles: code -> {"en", "fr"?, ...} as the file gives them."""

    id: str
    version: str
    title: dict
    reference: str
    path: str
    digits: int
    codes: dict = field(repr=False)
    sha256: str = ""

    def title_of(self, code: str, lang: str) -> str | None:
        """The title of ``code`` in ``lang``; None when the code, or its title in that language
        (a French title no source gave), is not known."""
        entry = self.codes.get(code)
        return entry.get(lang) if entry else None


def classification(loaded: Mapping[str, Any], path: str) -> Classification:
    canonical = json.dumps(loaded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Classification(loaded["id"], loaded["version"], loaded["title"], loaded["reference"],
                          path, loaded["digits"], dict(loaded["codes"]),
                          hashlib.sha256(canonical.encode("utf-8")).hexdigest())


def spec_at(facts: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The spec of the fact at ``path`` (``spouse.first_language.test``), or None."""
    specs: Mapping[str, Any] | None = facts
    spec = None
    for part in path.split("."):
        if not specs or part not in specs:
            return None
        spec = specs[part]
        specs = spec.get("fields")
    return spec


def of_value(spec: Mapping[str, Any] | None, value: Any, lang: str) -> str | None:
    """The words for ``value`` of a fact with ``titles`` (``bachelors`` -> "bachelor's degree
    or a program of three years or more"), in ``lang``; None when there are none."""
    if not spec or value is None or isinstance(value, dict | list):
        return None
    text = (spec.get("titles") or {}).get(str(value))
    return text[lang] if text else None


def walk_facts(specs: Mapping[str, Any], facts: Mapping[str, Any],
               prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any], Any]]:
    """Every (dotted path, spec, value) of the facts a contract declares, objects opened."""
    for name, value in facts.items():
        spec = specs.get(name)
        if spec is None:
            continue
        path = f"{prefix}{name}"
        if isinstance(value, dict) and spec.get("fields"):
            yield from walk_facts(spec["fields"], value, path + ".")
        else:
            yield path, spec, value


def fact_words(specs: Mapping[str, Any], facts: Mapping[str, Any], lang: str,
               occupation: Callable[[str, str, str], str | None]) -> dict[str, str]:
    """What each fact value means in words, by dotted path: the title of an enum value
    (``bachelor's degree or a program of three years or more``), or for a fact that declares
    ``codes:`` the code and its title (``2173 Software engineers and designers``, as codes are
    named; ``occupation(code, classification_id, lang)`` gives the title). Facts without words
    (or a code without a title in ``lang``) are left out."""
    out: dict[str, str] = {}
    for path, spec, value in walk_facts(specs, facts):
        words = of_value(spec, value, lang)
        codes = spec.get("codes")
        if words is None and codes and isinstance(value, str):
            classification_id = codes.get("classification")
            if classification_id is None:
                parent = path.rsplit(".", 1)[0] + "." if "." in path else ""
                by = _value_at(facts, parent + codes["by"])
                classification_id = codes["classifications"].get(str(by))
            title = occupation(value, classification_id, lang) if classification_id else None
            words = f"{value} {title}" if title else None
        if words is not None:
            out[path] = words
    return out


def _value_at(facts: Mapping[str, Any], path: str) -> Any:
    node: Any = facts
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def titled_values(specs: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, dict]]:
    """Every (dotted path, titles) of the facts that give their enum values words."""
    for name, spec in specs.items():
        path = f"{prefix}{name}"
        if spec.get("titles"):
            yield path, spec["titles"]
        if spec.get("fields"):
            yield from titled_values(spec["fields"], path + ".")
