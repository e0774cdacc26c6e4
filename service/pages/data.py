"""What the pages show, computed without Flask: a logged decision arranged for reading, the
rulesets' own test cases run on the loaded catalog (cached), the impact of a ruleset change
(cached), and the bins of a draw's chart. The views in ``pages.views`` only pick and render.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from babel.numbers import format_decimal

from ..checks.cases import CaseFileSchema, Report, case_files, deep_merge, run_cases
from ..checks.impact import Case, Impact, compare, log_cases
from ..checks.trial import cases_in_child
from ..decisions import InlineDecider, TextSource, localized, with_texts
from ..errors import DecisionError, RulesetError, UnknownRulesetError
from ..rulesets import Catalog, Rule, RulesetVersion, load_yaml
from ..rulesets.texts import table_keys
from ..store import GENESIS, Filters, Record, Store, record_hash

CASES_TIMEOUT = 300.0


# ------------------------------------------------------------------------------- decision page
def ruleset_title(catalog: Catalog, ruleset_id: str, version: str | None, lang: str) -> str:
    try:
        v = catalog.version(ruleset_id, version) if version else catalog.versions(ruleset_id)[-1]
    except UnknownRulesetError:
        return ruleset_id
    return v.title[lang]


def outcome_title(catalog: Catalog, ruleset_id: str, version: str, code: str, lang: str) -> str:
    """The title of an outcome code as the ruleset version names it (the code if unknown)."""
    try:
        v = catalog.version(ruleset_id, version)
    except UnknownRulesetError:
        return code
    for outcome in v.outcome.values():
        if outcome["code"] == code:
            return outcome["title"][lang]
    return code


def _score_spec(catalog: Catalog, refs: list[dict], name: str) -> dict:
    for ref in reversed(refs):
        try:
            v = catalog.version(ref["id"], ref["version"])
        except UnknownRulesetError:
            continue
        if name in v.scores:
            return v.scores[name]
    return {}


def _bucket_rows(name: str, details: list[dict]) -> list[tuple[int, dict]]:
    """Buckets parent first (the decision lists them children first), with their depth."""
    children: dict[str, list[dict]] = defaultdict(list)
    for entry in details:
        children[entry["bucket"].rsplit(".", 1)[0]].append(entry)
    out: list[tuple[int, dict]] = []

    def walk(path: str, depth: int) -> None:
        for entry in children.get(path, []):
            out.append((depth, entry))
            walk(entry["bucket"], depth + 1)

    walk(name, 0)
    return out


@dataclass
class ChainPlace:
    seq: int
    count: int
    hash_ok: bool  # the record's content still matches its hash
    link_ok: bool | None  # its prev_hash is the hash of the record before (None: none before)
    previous: Record | None
    following: Record | None


def chain_place(store: Store, record: Record) -> ChainPlace:
    before, _ = store.page(Filters(), after=record.seq, limit=1, newest_first=True)
    after, _ = store.page(Filters(), after=record.seq, limit=1)
    previous = before[0] if before else None
    if previous is not None:
        link_ok = previous.record_hash == record.prev_hash and previous.seq == record.seq - 1
    else:
        link_ok = record.prev_hash == GENESIS and record.seq == 1
    return ChainPlace(record.seq, store.count(), record_hash(vars(record)) == record.record_hash,
                      link_ok, previous, after[0] if after else None)


def decision_view(record: Record, catalog: Catalog, lang: str,
                  texts: TextSource) -> dict[str, Any]:
    """A logged decision arranged for its page, in one language, its rule texts filled in."""
    d = localized(with_texts(orjson.loads(record.decision), texts, (lang,)), lang)
    refs = d["rulesets"]
    top = d["ruleset"]
    groups = []
    for ref in refs:
        requirements = [r for r in d["requirements"] if r["ruleset"] == ref["id"]]
        groups.append({"ref": ref, "title": ruleset_title(catalog, ref["id"], ref["version"], lang),
                       "requirements": requirements})
    titles = {}
    scores = []
    for name, summary in d["scores"].items():
        details = d["score_details"].get(name, [])
        spec = _score_spec(catalog, refs, name)
        rows = _bucket_rows(name, details)
        for _, entry in rows:
            titles[entry["bucket"]] = entry["title"] or entry["bucket"]
        scores.append({
            "name": name, "title": (spec.get("title") or {}).get(lang, name.upper()),
            "total": summary["total"], "max": spec.get("max"), "rows": rows,
            "top": [(entry["title"] or entry["bucket"], entry["counted"])
                    for depth, entry in rows if depth == 0]})
    top_requirements = [r for r in d["requirements"] if r["ruleset"] == top]
    # A ruleset met when any of its requirements is (the Express Entry categories): the ones
    # met, by title, so the page says which categories the candidate is eligible for.
    met_by = [{"title": group["title"], "ref": group["ref"],
               "met": [r for r in group["requirements"]
                       if r["met"] and r["rule"] in group["ref"]["met_by"]]}
              for group in groups if "met_by" in group["ref"]]
    facts = orjson.loads(record.facts)
    top_version = next((r["version"] for r in refs if r["id"] == top), record.ruleset_version)
    # What the facts mean, shown beside each value: the words for an enum value, the title of
    # an occupation code (the code itself is the value shown).
    words = {path: w.removeprefix(f"{_at(facts, path)} ")
             for path, w in fact_words(catalog, top, top_version, facts, lang).items()}
    for entry in d["fired"]:  # what a fact a rule matched means, where it has words
        entry["words"] = {
            k: words[k] if k in words and _at(facts, k) == val
            else value_words(catalog, k, val, lang) for k, val in entry["matched"].items()}
    derived_words = {k: value_words(catalog, k, val, lang) for k, val in d["derived"].items()}
    return {
        "d": d, "record": record, "facts": facts, "groups": groups, "words": words,
        "derived_words": {k: w for k, w in derived_words.items() if w},
        "fact_rows": [(name, value, words.get(name),
                       [(path.removeprefix(name + "."), _at(facts, path), w)
                        for path, w in words.items() if path.startswith(name + ".")])
                      for name, value in facts.items()],
        "scores": scores, "bucket_titles": titles,
        "top_requirements": top_requirements,
        "met_by": met_by,
        "top_not_met": [r for r in top_requirements if not r["met"]],
        "not_met": [r for r in d["requirements"] if not r["met"]],
        "top_version": top_version,
    }


def fact_words(catalog: Catalog, ruleset_id: str, version: str, facts: dict,
               lang: str) -> dict[str, str]:
    """What the facts of a decision mean in words (``Catalog.fact_words``), with the contract
    of the version it used, or of every loaded version when that one is no longer loaded."""
    try:
        top = catalog.version(ruleset_id, version)
    except UnknownRulesetError:
        top = None
    return catalog.fact_words(top, facts, lang)


def _at(facts: dict, path: str) -> Any:
    node: Any = facts
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


# ------------------------------------------------------------------------------ ruleset page
NUMBER_LOCALES = {"en": "en_CA", "fr": "fr_CA"}  # fr_CA: 1 200,5 with a non-breaking space
MATCHES = ("range", "at_least", "at_most", "equals", "in_")


def shown_value(value: Any, lang: str, words: str | None = None) -> dict:
    """A value of a table as a page shows it: a number formatted for the language (every digit
    the policy wrote: 3.499 stays 3.499), a yes/no, a code (kept as written, with ``words``:
    what it means, when known), or nothing."""
    if value is None:
        return {"none": True}
    if isinstance(value, bool):
        return {"flag": value}
    if isinstance(value, int | float):
        return {"number": format_decimal(value, locale=NUMBER_LOCALES.get(lang, "en_CA"),
                                         decimal_quantization=False)}
    return {"code": str(value), "words": words}


def shown_match(row: dict, lang: str, words: Callable[[Any], str | None] = lambda _: None
                ) -> dict:
    """How a row of a table matches its key, as the published grid says it: ``range`` (low to
    high), ``at_least``, ``at_most``, ``equals`` or ``in``, with the values shown (``words``
    gives what a value of the key means)."""
    kind = next(k for k in MATCHES if k in row)
    if kind == "range":
        low, high = row["range"]
        return {"kind": "range", "low": shown_value(low, lang), "high": shown_value(high, lang)}
    if kind == "in_":
        return {"kind": "in", "values": [shown_value(v, lang, words(v)) for v in row["in_"]]}
    return {"kind": kind, "value": shown_value(row[kind], lang, words(row[kind]))}


def value_words(catalog: Catalog, fact: str, value: Any, lang: str) -> str | None:
    """What a value of ``fact`` means: the words for an enum value, or the title of a code
    (an occupation code a rule names, derives or compares)."""
    if not isinstance(value, str):
        return None
    words = catalog.value_title(fact, value, lang)
    if words == value:  # a code whose words are itself (``tech_2016: 2173``): say its title
        words = None
    return words or catalog.code_title(value, lang)


@dataclass
class GridColumn:
    table: str  # the table's id
    title: str  # the part of its title that differs from the other columns' (all of it alone)
    when: str | None  # its condition as written, for every row
    target: str  # the bucket it awards to, or the fact it derives
    target_title: str | None


@dataclass
class Grid:
    """One or more decision tables shown as one published grid: tables of a section that follow
    each other with the same keys and the same rows become columns of one grid (the age points
    with and without a spouse), each row a band of the key with a value in each column."""

    caption: str
    kind: str  # award or derive
    keys: list[str]
    key_title: str | None
    reference: str
    columns: list[GridColumn]
    rows: list[dict]  # {"match": shown_match, "cells": [{"value": shown_value, "reference"}]}

    @property
    def one_target(self) -> bool:
        return len({c.target for c in self.columns}) == 1


@dataclass
class RuleSection:
    """A part of a ruleset version as its own structure gives it: its requirements, each
    top-level bucket of a score (the rules and tables that award to it), each derived fact (the
    rules and tables that derive it)."""

    key: str
    kind: str  # require, award or derive
    title: str | None
    rules: list[Rule] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    tables: int = 0

    @property
    def count(self) -> int:
        return len(self.rules) + self.tables


def _words_apart(titles: list[str]) -> tuple[str, list[str]]:
    """A caption and what differs in each title: the words all titles start with ("Age,"), else
    those they all end with ("… with first-language levels"); the titles whole when they share
    neither, or when a title would be left with nothing."""
    split = [t.split() for t in titles]
    if len(titles) < 2:
        return titles[0], titles

    def common(lists: list[list[str]]) -> int:
        n = 0
        while all(len(w) > n for w in lists) and len({w[n] for w in lists}) == 1:
            n += 1
        return n

    def tidy(words: list[str]) -> str:
        text = " ".join(words).strip(" ,;:–—-")
        return text[:1].upper() + text[1:]

    head = common(split)
    if head and all(len(w) > head for w in split):
        return " ".join(split[0][:head]).rstrip(" ,;:–—-"), [tidy(w[head:]) for w in split]
    tail = common([w[::-1] for w in split])
    if tail and all(len(w) > tail for w in split):
        return "… " + " ".join(split[0][-tail:]), [tidy(w[:-tail]) for w in split]
    return "", titles


def _fact_titles(catalog: Catalog, version: RulesetVersion) -> dict[str, dict]:
    """The titles of the derived facts a version can read: its own and those of the rulesets it
    includes (their latest version), by fact name."""
    titles: dict[str, dict] = {}
    seen: set[str] = set()

    def visit(v: RulesetVersion) -> None:
        for name, spec in v.derives.items():
            if isinstance(spec, dict) and spec.get("title"):
                titles.setdefault(name, spec["title"])
        for included, _alias in v.includes:
            if included not in seen and included in catalog.by_id:
                seen.add(included)
                visit(catalog.versions(included)[-1])

    visit(version)
    return titles


def _bucket_title(scores: dict, path: str, lang: str) -> str | None:
    parts = path.split(".")
    spec: dict = {"buckets": scores}
    for part in parts:
        spec = (spec.get("buckets") or {}).get(part) or {}
    return (spec.get("title") or {}).get(lang)


def _section_of(kind: str, target: str | None, version: RulesetVersion) -> str:
    if kind == "award" and target:
        parts = target.split(".")
        return "award:" + ".".join(parts[:2]) if len(parts) > 1 and parts[0] in version.scores \
            else "award:" + parts[0]
    if kind == "derive" and target:
        return "derive:" + target
    return "require:"


def _matchers(rows: list[dict]) -> list[tuple]:
    return [tuple((k, str(row[k])) for k in MATCHES if k in row) for row in rows]


def _grids(raws: list[dict], version: RulesetVersion, titles: dict[str, dict],
           lang: str, catalog: Catalog) -> list[Grid]:
    runs: list[list[dict]] = []
    for raw in raws:  # tables that follow each other with the same keys and rows: one grid
        if runs and table_keys(runs[-1][0]) == table_keys(raw) \
                and _matchers(runs[-1][0]["rows"]) == _matchers(raw["rows"]):
            runs[-1].append(raw)
        else:
            runs.append([raw])
    grids = []
    for run in runs:
        first = run[0]
        kind = "award" if "award" in first else "derive"
        caption, parts = _words_apart([raw["title"][lang] for raw in run])
        columns = []
        for raw, part in zip(run, parts, strict=True):
            target = raw[kind]
            target_title = _bucket_title(version.scores, target, lang) if kind == "award" \
                else (titles.get(target) or {}).get(lang)
            columns.append(GridColumn(raw["id"], part, raw.get("when"), target, target_title))
        rows = []
        for r, row in enumerate(first["rows"]):
            cells = []
            for raw in run:
                this = raw["rows"][r]
                reference = this.get("reference")
                given = this["points" if kind == "award" else "value"]
                words = value_words(catalog, raw[kind], given, lang) if kind == "derive" \
                    else None
                cells.append({"value": shown_value(given, lang, words),
                              "reference": reference if reference != raw["reference"] else None})
            key = table_keys(first)[0]
            rows.append({"match": shown_match(
                row, lang, lambda v, key=key: value_words(catalog, key, v, lang)),
                "cells": cells})
        keys = table_keys(first)
        key_title = (titles.get(keys[0]) or {}).get(lang) if len(keys) == 1 else None
        grids.append(Grid(caption, kind, keys, key_title, first["reference"], columns, rows))
    return grids


def rule_sections(catalog: Catalog, version: RulesetVersion, lang: str) -> list[RuleSection]:
    """The rules and tables of a version in sections, as its own structure gives them:
    requirements first, then each top-level bucket of each score in the order the scores
    declare them, then each derived fact in the order ``derives`` declares them. Rules keep
    their form; tables become grids (``Grid``)."""
    titles = _fact_titles(catalog, version)
    sections: dict[str, RuleSection] = {"require:": RuleSection("require:", "require", None)}
    for score, spec in version.scores.items():
        buckets = spec.get("buckets") or {}
        for name, bucket in buckets.items():
            sections[f"award:{score}.{name}"] = RuleSection(
                f"award:{score}.{name}", "award", (bucket.get("title") or {}).get(lang))
        if not buckets:
            sections[f"award:{score}"] = RuleSection(f"award:{score}", "award",
                                                     (spec.get("title") or {}).get(lang))
    for fact, spec in version.derives.items():
        sections[f"derive:{fact}"] = RuleSection(f"derive:{fact}", "derive",
                                                 (spec.get("title") or {}).get(lang))

    def section(kind: str, target: str | None) -> RuleSection:
        key = _section_of(kind, target, version)
        if key not in sections:
            sections[key] = RuleSection(key, kind, target)
        return sections[key]

    for rule in version.rules:
        if rule.table is None:
            section(rule.kind, rule.bucket if rule.kind == "award" else rule.fact).rules.append(
                rule)
    by_section: dict[str, list[dict]] = defaultdict(list)
    for raw in version.raw.get("tables") or []:
        kind = "award" if "award" in raw else "derive"
        target = section(kind, raw[kind])
        target.tables += 1
        by_section[target.key].append(raw)
    for key, raws in by_section.items():
        sections[key].grids = _grids(raws, version, titles, lang, catalog)
    return [s for s in sections.values() if s.count]


# ------------------------------------------------------------------------------ decision log
def _some(titles: list[str], most: int = 2) -> str:
    """The titles an outcome code has in the rulesets, the first ``most`` of them."""
    return " / ".join(titles[:most]) + (" / …" if len(titles) > most else "")


def log_choices(catalog: Catalog, kept: list[tuple[str, str]], chosen: dict[str, str],
                lang: str) -> dict[str, list[tuple[str, str]]]:
    """The choices of the log's filters, as (value, label): every ruleset and version the
    loaded rulesets have or the log kept, every outcome code the loaded rulesets give (labelled
    with its titles). A value asked for in the address that none of these has is offered too,
    so that an old link still filters and shows what it filters on."""
    rulesets = set(catalog.ids()) | {ruleset_id for ruleset_id, _ in kept}
    versions = {v.version for v in catalog.all_versions()} | {version for _, version in kept}
    titles: dict[str, list[str]] = defaultdict(list)
    for v in catalog.all_versions():
        for outcome in v.outcome.values():
            title = outcome["title"][lang]
            if title not in titles[outcome["code"]]:
                titles[outcome["code"]].append(title)
    for name, known in (("ruleset", rulesets), ("version", versions), ("outcome", titles)):
        if chosen.get(name) and chosen[name] not in known:
            if isinstance(known, set):
                known.add(chosen[name])
            else:
                known[chosen[name]] = []
    return {
        "ruleset": [(i, i) for i in sorted(rulesets)],
        "version": [(i, i) for i in sorted(versions, reverse=True)],
        "outcome": [(code, f"{_some(titles[code])} ({code})" if titles[code] else code)
                    for code in sorted(titles)],
    }


# ---------------------------------------------------------------------------- rulesets' cases
@dataclass
class CaseRun:
    """The result of running every case file of the loaded rulesets once."""

    report: Report | None
    ruleset_of: dict[str, str]  # case file (as the report names it) -> the ruleset it tests
    ran_at: dt.datetime
    seconds: float
    error: str | None = None

    def results_for(self, ruleset_id: str) -> list:
        if self.report is None:
            return []
        return [r for r in self.report.results if self.ruleset_of.get(r.file) == ruleset_id]


def _case_file_rulesets(catalog: Catalog) -> dict[str, str]:
    out = {}
    for path in case_files(catalog.root):
        display = str(path.relative_to(catalog.root.parent)) if path.is_relative_to(
            catalog.root.parent) else str(path)
        try:
            data, _ = load_yaml(path, display)
        except RulesetError:
            continue
        if isinstance(data, dict) and isinstance(data.get("ruleset"), str):
            out[display] = data["ruleset"]
    return out


class CaseRuns:
    """Every case file run once per loaded catalog, then served from memory until the rulesets
    are reloaded (a reload builds a new catalog; the old one and its run are then forgotten).

    With the engine in this process (tools, tests) the cases run on it; with a supervised engine
    process they run in a child process of their own, on the same checked folder."""

    def __init__(self, timeout: float = CASES_TIMEOUT):
        self.timeout = timeout
        self._lock = threading.Lock()
        self._runs: weakref.WeakKeyDictionary[Catalog, CaseRun] = weakref.WeakKeyDictionary()

    def get(self, catalog: Catalog, decider: Any) -> CaseRun:
        with self._lock:  # one run at a time; the others wait for its result
            run = self._runs.get(catalog)
            if run is None:
                run = self._runs[catalog] = self._run(catalog, decider)
            return run

    def _run(self, catalog: Catalog, decider: Any) -> CaseRun:
        started = time.perf_counter()
        ran_at = dt.datetime.now(dt.UTC)
        ruleset_of = _case_file_rulesets(catalog)
        try:
            if isinstance(decider, InlineDecider):
                report = run_cases(catalog, decider.engine, case_files(catalog.root))
            else:
                report = cases_in_child(str(catalog.root), catalog.fingerprint(), self.timeout)
        except DecisionError as exc:
            return CaseRun(None, ruleset_of, ran_at, time.perf_counter() - started, exc.detail)
        return CaseRun(report, ruleset_of, ran_at, time.perf_counter() - started)


def coverage_for(run: CaseRun, catalog: Catalog, version: RulesetVersion) -> dict | None:
    """Coverage of a version, or None when no case file tests it or a ruleset including it."""
    if run.report is None:
        return None
    tested = set(run.ruleset_of.values())
    reached = False
    for ruleset_id in tested & set(catalog.by_id):
        for v in catalog.versions(ruleset_id):
            if version.id in catalog.chain_ids(v):
                reached = True
                break
        if reached:
            break
    if not reached:
        return None
    key = f"{version.id} {version.version}"
    rules = list(dict.fromkeys(r.table or r.id for r in version.rules))
    uncovered = run.report.uncovered.get(key, [])
    undecided = any(u.startswith("any rule:") for u in uncovered)  # no case decides with it
    if undecided:
        uncovered = rules
    return {"rules": len(rules), "fired": len(rules) - len(uncovered), "uncovered": uncovered,
            "undecided": undecided, "never_failed": run.report.never_failed.get(key, [])}


# ------------------------------------------------------------------------------------- impact
def ruleset_cases(catalog: Catalog, ruleset_id: str) -> list[Case]:
    """The cases of a ruleset's own case files, with no date: each is decided on the first day
    of the newer version, as `decisions diff` does with cases that carry none."""
    out = []
    for path in case_files(catalog.root):
        display = path.name
        try:
            data, _ = load_yaml(path, display)
        except RulesetError:
            continue
        if not isinstance(data, dict) or data.get("ruleset") != ruleset_id:
            continue
        try:
            loaded = CaseFileSchema().load(data)
        except Exception:  # a broken case file is reported by `decisions test`, not here
            continue
        for case in loaded["cases"]:
            out.append(Case(deep_merge(loaded["base"], case["facts"]), None, case["name"]))
    return out


@dataclass
class ImpactCache:
    """The latest impacts computed on each loaded catalog (forgotten with it on a reload)."""

    size: int = 8
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _items: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)

    def get(self, catalog: Catalog, key: tuple, make: Callable[[], Impact]) -> Impact:
        with self._lock:
            items = self._items.setdefault(catalog, OrderedDict())
            if key in items:
                items.move_to_end(key)
                return items[key]
        impact = make()
        with self._lock:
            items[key] = impact
            while len(items) > self.size:
                items.popitem(last=False)
        return impact


def impact(cache: ImpactCache, catalog: Catalog, decider: Any, store: Store, ruleset_id: str,
           from_version: str, to_version: str, source: str) -> tuple[Impact, int]:
    """The impact of moving ``ruleset_id`` from one version to another, on its own cases or on
    the latest logged decisions; and how many cases that was."""
    if source == "log":
        cases, head = log_cases(store, ruleset_id)
    else:
        cases, head = ruleset_cases(catalog, ruleset_id), 0
    key = (ruleset_id, from_version, to_version, source, head)
    result = cache.get(catalog, key, lambda: compare(decider, catalog, ruleset_id, from_version,
                                            to_version, cases))
    return result, len(cases)


def bucket_titles(decision: dict) -> dict[str, str]:
    """Score bucket path -> its title, from a (localized) decision."""
    return {entry["bucket"]: entry["title"] or entry["bucket"]
            for details in decision.get("score_details", {}).values() for entry in details}


def rule_changes(before: dict, after: dict) -> tuple[list[dict], list[dict]]:
    """The fired rules (with their effects) only the first decision has, and only the second."""
    def key(entry: dict) -> tuple:
        return (entry["ruleset"], entry.get("row", entry["rule"]),
                orjson.dumps(entry["effect"], option=orjson.OPT_SORT_KEYS))

    a = {key(f): f for f in before["fired"]}
    b = {key(f): f for f in after["fired"]}
    return [a[k] for k in a if k not in b], [b[k] for k in b if k not in a]


def requirement_changes(before: dict, after: dict) -> list[tuple[dict | None, dict | None]]:
    """Requirements met in one decision and not in the other (or present in one only)."""
    a = {(r["ruleset"], r["rule"]): r for r in before["requirements"]}
    b = {(r["ruleset"], r["rule"]): r for r in after["requirements"]}
    out = []
    for k in list(a) + [k for k in b if k not in a]:
        x, y = a.get(k), b.get(k)
        if x is None or y is None or x["met"] != y["met"]:
            out.append((x, y))
    return out


# --------------------------------------------------------------------------------------- draws
def pool_bins(counts: list[tuple[int, str, int]], cutoff: int | None = None, width: int = 10,
              tails: float = 0.005) -> list[tuple[int, int, int, int, str]]:
    """Bins of ``width`` points: (low, high, invited, others, label). The few scores far out on
    either side (``tails`` of the candidates, never the cutoff) share an open-ended bin, so that
    one outlier does not squeeze the chart."""
    if not counts:
        return []
    by_score = sorted(counts)
    total = sum(n for _, _, n in by_score)
    running, low, high = 0, by_score[0][0], by_score[-1][0]
    for score, _, n in by_score:
        running += n
        if running > total * tails:
            low = score
            break
    running = 0
    for score, _, n in reversed(by_score):
        running += n
        if running > total * tails:
            high = score
            break
    if cutoff is not None:
        low, high = min(low, cutoff), max(high, cutoff)
    first, last = low // width * width, high // width * width
    bins: dict[int, list] = {start: [start, start + width - 1, 0, 0, ""]
                             for start in range(first, last + 1, width)}
    below = [by_score[0][0], first - 1, 0, 0, f"< {first}"]
    above = [last + width, by_score[-1][0], 0, 0, f"≥ {last + width}"]
    for score, status, n in by_score:
        target = below if score < first else above if score > last + width - 1 else \
            bins[score // width * width]
        target[2 if status == "invited" else 3] += n
    out = [below] if below[2] or below[3] else []
    out += list(bins.values())
    out += [above] if above[2] or above[3] else []
    return [tuple(b) for b in out]
