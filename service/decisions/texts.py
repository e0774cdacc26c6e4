"""The texts of a decision a person reads, written where the decision is read (the API, the
pages, the CLI): each rule's title, reference and condition, and each unmet requirement's
why-not in words, from the ruleset versions the decision names (by sha256); then the decision
put in one language.

A decision, as made and as logged, keeps ids and values only: which rules fired with which
facts, and for each unmet requirement its why-not tree and the facts it read. What a person
reads is written from those and the pinned versions (their titles, the words of facts and enum
values, constants, ``because:`` texts), in the language asked for; the decision log keeps every
version its decisions used, so a logged decision reads in words as it did the day it was made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..i18n import LANGUAGES
from ..rulesets import Catalog, RulesetVersion, default_alias
from ..rulesets.model import chain_words
from .why_not import Words, because_text, fill

RULE_TEXTS = {"fired": ("title", "reference"), "requirements": ("title", "reference",
                                                                  "condition")}
WRITTEN = {**RULE_TEXTS, "requirements": (*RULE_TEXTS["requirements"], "because")}


class TextSource:
    """Where the texts of a decision come from: the ruleset versions it names and the titles of
    occupation codes, from the loaded rulesets (``catalog``, None: from nowhere), and for a
    version they no longer have, from ``kept`` (sha256 -> the version as the decision log keeps
    it, or None)."""

    def __init__(self, catalog: Catalog | None,
                 kept: Callable[[str], RulesetVersion | None] | None = None):
        self.catalog, self.kept = catalog, kept

    def version(self, ref: Mapping[str, str]) -> RulesetVersion | None:
        """The version a decision names ({"id", "version", "sha256"}): loaded, if its sha256 is
        the one the decision names (a version edited in place says something else), else
        kept; None when neither has it."""
        found = self.catalog.by_sha256(ref["sha256"]) if self.catalog is not None else None
        if found is None or (found.id, found.version) != (ref["id"], ref["version"]):
            found = self.kept(ref["sha256"]) if self.kept is not None else None
        if found is None or (found.id, found.version) != (ref["id"], ref["version"]):
            return None
        return found

    def words(self, versions: list[RulesetVersion]) -> tuple[dict, dict, frozenset]:
        """Fact titles, enum words and coded facts of the versions (``Catalog.words``)."""
        return self.catalog.words(versions) if self.catalog is not None \
            else chain_words(versions)

    def code_title(self, code: str, lang: str) -> str | None:
        return self.catalog.code_title(code, lang) if self.catalog is not None else None


NO_TEXTS = TextSource(None)


def catalog_texts(catalog: Catalog) -> TextSource:
    """Texts from the loaded rulesets only."""
    return TextSource(catalog)


def with_texts(decision: Mapping[str, Any], texts: TextSource,
               langs: tuple[str, ...] = LANGUAGES) -> dict:
    """The decision with each rule's title, reference (and for a requirement, its condition)
    filled in from the ruleset version it names, in both languages, and each unmet
    requirement's why-not in words (``because``) in the languages ``langs``.

    An entry that already has a title or a why-not in words (logged before decisions left
    them to the version) keeps it. A rule whose version cannot be found gets its key as title
    and no reference, and a why-not without the version's words: the rest of the explanation
    still stands."""
    versions = {r["id"]: r for r in decision["rulesets"]}
    found: dict[str, Mapping[str, Mapping[str, Any]]] = {}

    def texts_of(ruleset_id: str) -> Mapping[str, Mapping[str, Any]]:
        if ruleset_id not in found:
            ref = versions.get(ruleset_id)
            version = texts.version(ref) if ref else None
            found[ruleset_id] = version.texts if version is not None else {}
        return found[ruleset_id]

    because = why_nots(decision, texts, langs)
    out = dict(decision)
    for part, keys in RULE_TEXTS.items():
        entries = []
        for entry in decision[part]:
            if part == "requirements" and not entry["met"] and "because" not in entry:
                # Where the decision held it before it was left to the version: key order is
                # the answer's, byte for byte.
                entry = {**entry, "because": because[(entry["ruleset"], entry["rule"])]}
            if "title" not in entry:
                key = entry.get("row") or entry["rule"]
                text = texts_of(entry["ruleset"]).get(key) or {
                    "title": {"en": key, "fr": key}, "reference": None, "condition": None}
                entry = {**entry, **{k: text[k] for k in keys}}
            entries.append(entry)
        out[part] = entries
    return out


def why_nots(decision: Mapping[str, Any], texts: TextSource,
             langs: tuple[str, ...] = LANGUAGES) -> dict[tuple[str, str], dict[str, str]]:
    """The why-not in words of each unmet requirement, by (ruleset id, rule key), in the
    languages ``langs``: the rule's ``because:`` text filled in, or the generated sentence
    (decisions.why_not) over its why-not tree, with the words of the versions the decision
    names.

    Written stage by stage in the order the decision ran its rulesets, as a sentence can read
    what came before it: a derived fact is traced to the facts its rule matched, and a
    requirement on an included ruleset's outcome lists that ruleset's failed requirements with
    their own why-not."""
    if all(r["met"] or "because" in r for r in decision["requirements"]):
        return {}
    chain = [(ref.get("as") or default_alias(ref["id"]), ref, texts.version(ref))
             for ref in decision["rulesets"]]
    titles, values, coded = texts.words([v for _, _, v in chain if v is not None])
    words = Words(titles, values, sources={}, outcomes={}, coded=coded,
                  code_title=texts.code_title)
    fired: dict[str, list] = {}
    for entry in decision["fired"]:
        fired.setdefault(entry["ruleset"], []).append(entry)
    unmet: dict[str, list] = {}
    for entry in decision["requirements"]:
        if not entry["met"]:
            unmet.setdefault(entry["ruleset"], []).append(entry)
    out: dict[tuple[str, str], dict[str, str]] = {}
    for alias, ref, version in chain:
        for entry in fired.get(ref["id"], ()):
            if "derive" in entry["effect"]:  # a why-not over this fact names what it came from
                words.sources[entry["effect"]["derive"]] = entry["matched"]
        failed = []
        for entry in unmet.get(ref["id"], ()):
            because = entry.get("because") or _why_not(version, entry, words, langs)
            out[(ref["id"], entry["rule"])] = because
            rule = version.texts.get(entry["rule"]) if version is not None else None
            # What an includer's why-not says of this stage: each failed requirement with its
            # why-not, or only its title when that why-not is itself another stage's.
            failed.append((rule["title"] if rule else {lang: entry["rule"] for lang in langs},
                           None if _reads_an_outcome(entry, words) else because))
        met = ref.get("met", True)
        outcome = version.outcome["met" if met else "not_met"]["title"] if version is not None \
            else {lang: ref.get("outcome", "") for lang in langs}
        words.outcomes[alias] = {"title": outcome, "failed": failed}
    return out


def _why_not(version: RulesetVersion | None, entry: Mapping[str, Any], words: Words,
             langs: tuple[str, ...]) -> dict[str, str]:
    template = version.because_texts.get(entry["rule"]) if version is not None else None
    if template:
        constants = {name: c["value"] for name, c in version.constants.items()}
        return fill(template, {**constants, **entry["matched"]}, words, langs)
    return because_text(entry["why_not"], words, langs)


def _reads_an_outcome(entry: Mapping[str, Any], words: Words) -> bool:
    """Whether a requirement reads another stage's outcome (``hcp.met``): the facts it read are
    those it matched."""
    return any(path.rpartition(".")[0] in words.outcomes for path in entry.get("matched") or ())


def without_texts(decision: Mapping[str, Any]) -> dict:
    """The decision as logged today: rule texts and why-nots in words left to the ruleset
    version (see with_texts); replay compares decisions in this form, whichever form the logged
    one has."""
    out = dict(decision)
    for part, keys in WRITTEN.items():
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
