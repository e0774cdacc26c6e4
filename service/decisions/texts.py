"""The texts of a decision a person reads: each rule's title, reference and condition filled in
from the ruleset version the decision names (a logged decision leaves them to the version), and a
decision put in one language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..rulesets import Catalog

# The texts of a rule the decision names: from a ruleset reference ({"id", "version", "sha256"})
# to that version's texts by rule key (RulesetVersion.texts), or None when it is not known.
TextsOf = Callable[[Mapping[str, str]], "Mapping[str, Mapping[str, Any]] | None"]
RULE_TEXTS = {"fired": ("title", "reference"), "requirements": ("title", "reference",
                                                                  "condition")}


def catalog_texts(catalog: Catalog) -> TextsOf:
    """Texts from the loaded rulesets: the version of that id and number, if its sha256 is the
    one the decision names (a version edited in place says something else)."""
    def texts_of(ref: Mapping[str, str]) -> Mapping[str, Mapping[str, Any]] | None:
        version = catalog.by_sha256(ref["sha256"])
        if version is None or (version.id, version.version) != (ref["id"], ref["version"]):
            return None
        return version.texts
    return texts_of


def with_texts(decision: Mapping[str, Any], texts_of: TextsOf) -> dict:
    """The decision with each rule's title, reference (and for a requirement, its condition)
    filled in from the ruleset version it names, in both languages.

    An entry that already has a title (logged before decisions left texts out) stays as it is.
    A rule whose version cannot be found gets its key as title and no reference: the rest of
    the explanation still stands."""
    versions = {r["id"]: r for r in decision["rulesets"]}
    found: dict[str, Mapping[str, Mapping[str, Any]]] = {}

    def texts(ruleset_id: str) -> Mapping[str, Mapping[str, Any]]:
        if ruleset_id not in found:
            ref = versions.get(ruleset_id)
            found[ruleset_id] = (texts_of(ref) if ref else None) or {}
        return found[ruleset_id]

    out = dict(decision)
    for part, keys in RULE_TEXTS.items():
        entries = []
        for entry in decision[part]:
            if "title" not in entry:
                key = entry.get("row") or entry["rule"]
                text = texts(entry["ruleset"]).get(key) or {
                    "title": {"en": key, "fr": key}, "reference": None, "condition": None}
                entry = {**entry, **{k: text[k] for k in keys}}
            entries.append(entry)
        out[part] = entries
    return out


def without_texts(decision: Mapping[str, Any]) -> dict:
    """The decision as logged today: rule texts left to the ruleset version (see with_texts);
    replay compares decisions in this form, whichever form the logged one has."""
    out = dict(decision)
    for part, keys in RULE_TEXTS.items():
        out[part] = [{k: v for k, v in entry.items() if k not in keys}
                     for entry in decision[part]]
    return out


def localized(decision: Mapping[str, Any], lang: str) -> dict:
    """The decision with every text a person reads in ``lang`` only.

    Texts sit in known places (titles, why-not sentences); facts, matched values and why-not
    trees are never touched, even where a fact happens to look like ``{"en": ..., "fr": ...}``.
    About ten times faster than walking the whole tree with ``i18n.localize``."""
    out = dict(decision)
    for key in ("title", "outcome_title"):
        if key in out:
            out[key] = _text(out[key], lang)
    out["fired"] = [_localized_entry(entry, lang) for entry in out["fired"]]
    out["requirements"] = [_localized_entry(entry, lang) for entry in out["requirements"]]
    out["score_details"] = {name: [{**b, "title": _text(b["title"], lang)} for b in buckets]
                            for name, buckets in out["score_details"].items()}
    return out


def _localized_entry(entry: Mapping[str, Any], lang: str) -> dict:
    entry = dict(entry)
    for key in ("title", "because"):  # no title: a decision as logged (see with_texts)
        if key in entry:
            entry[key] = _text(entry[key], lang)
    return entry


def _text(value: Any, lang: str) -> Any:
    return value[lang] if isinstance(value, dict) else value
