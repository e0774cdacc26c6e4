"""Load a ruleset folder into a Catalog: every file read, validated, hashed and built, or one
RulesetError listing every problem found (a broken file never yields a half-loaded catalog)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from .. import conditions as cond
from ..errors import ConditionError, Problem, RulesetError, did_you_mean
from .build import build_rules, check_includes
from .facts import facts_schema
from .model import (
    ASSESSED_OUTCOME,
    DEFAULT_OUTCOME,
    REVOKED_OUTCOME,
    Catalog,
    Change,
    Check,
    RulesetVersion,
    default_alias,
    flatten_facts,
    list_facts,
)
from .names import CLASSIFICATIONS_DIR, Classification, classification, spec_at
from .schemas import ClassificationSchema, ContractSchema, RulesetSchema, schema_problems
from .yamlfile import dotted, line_of, load_yaml

CASES_SUFFIX = ".cases.yaml"
CONTRACTS_DIR = "contracts"


def load_catalog(root: str | Path) -> Catalog:
    """Load and check every ruleset under ``root``. Raises RulesetError with every problem."""
    root = Path(root)
    if not root.is_dir():
        raise RulesetError([Problem(str(root), None, "", "no such ruleset folder")])
    problems: list[Problem] = []
    classifications = _load_classifications(root, problems)
    contracts: dict[str, tuple[dict, str]] = {}
    checks: dict[str, tuple[Check, ...]] = {}
    changes: dict[str, tuple[Change, ...]] = {}
    for path in sorted((root / CONTRACTS_DIR).glob("*.yaml")):
        try:
            data, lines = load_yaml(path, _display(path, root))
            contract = ContractSchema().load(data if isinstance(data, dict) else {})
            contracts[contract["id"]] = (contract, _display(path, root))
            checks[contract["id"]] = _contract_checks(contract, _display(path, root), lines)
            changes[contract["id"]] = _contract_changes(contract, _display(path, root), lines)
            problems.extend(_codes_problems(contract["facts"], ("facts",), classifications,
                                            _display(path, root), lines, contract))
        except RulesetError as exc:
            problems.extend(exc.problems)
        except ValidationError as exc:
            problems.extend(schema_problems(exc, ContractSchema(), _display(path, root), lines,
                                           data))

    parsed: list[tuple[dict, dict, str, str]] = []
    for path in sorted(root.rglob("*.yaml")):
        if path.name.endswith(CASES_SUFFIX) or path.parent in (root / CONTRACTS_DIR,
                                                                root / CLASSIFICATIONS_DIR):
            continue
        read = _read(path, root, problems)
        if read is None:
            continue
        data, lines, display = read
        if not isinstance(data, dict):
            problems.append(Problem(display, 1, "", "a ruleset file is a mapping of keys"))
            continue
        try:
            loaded = RulesetSchema().load(data)
        except ValidationError as exc:
            problems.extend(schema_problems(exc, RulesetSchema(), display, lines, data))
            continue
        parsed.append((loaded, lines, display, _canonical(data, contracts, loaded)))

    # Versions of one id must not overlap in their `from` dates, and versions are unique.
    seen: dict[tuple[str, str], str] = {}
    for loaded, lines, display, _ in parsed:
        key = (loaded["id"], loaded["version"])
        if key in seen:
            problems.append(Problem(display, lines.get(("version",)), "version",
                                    f"{key[0]} version {key[1]} is also defined in {seen[key]}"))
        seen[key] = display
    problems.extend(_correction_problems(parsed))

    shells = []
    for loaded, lines, display, canonical in parsed:
        try:
            shells.append(_shell(loaded, lines, display, canonical, contracts, checks,
                                 changes, classifications))
        except RulesetError as exc:
            problems.extend(exc.problems)
    by_id: dict[str, list[RulesetVersion]] = {}
    for v in shells:
        by_id.setdefault(v.id, []).append(v)

    versions = []
    for v in shells:
        try:
            check_includes(v, by_id)
            build_rules(v, by_id)
            versions.append(v)
        except RulesetError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RulesetError(sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.key)))
    return Catalog(versions, root, classifications)


def _read(path: Path, root: Path, problems: list[Problem]) -> tuple[Any, dict, str] | None:
    """A file's data, the line of each key and its name as problems show it; None (its
    problems added to ``problems``) when it is not YAML."""
    display = _display(path, root)
    try:
        data, lines = load_yaml(path, display)
    except RulesetError as exc:
        problems.extend(exc.problems)
        return None
    return data, lines, display


def _load_classifications(root: Path, problems: list[Problem]) -> dict[str, Classification]:
    """The classifications' titles (``classifications/*.yaml``), by id; problems go to
    ``problems``."""
    out: dict[str, Classification] = {}
    for path in sorted((root / CLASSIFICATIONS_DIR).glob("*.yaml")):
        read = _read(path, root, problems)
        if read is None:
            continue
        data, lines, display = read
        try:
            loaded = ClassificationSchema().load(data if isinstance(data, dict) else {})
        except ValidationError as exc:
            problems.extend(schema_problems(exc, ClassificationSchema(), display, lines, data))
            continue
        if loaded["id"] in out:
            problems.append(Problem(display, lines.get(("id",)), "id",
                                    f"classification {loaded['id']} is also defined in "
                                    f"{out[loaded['id']].path}"))
            continue
        out[loaded["id"]] = classification(loaded, display)
    return out


def _codes_problems(specs: Mapping[str, dict], where: tuple,
                    classifications: Mapping[str, Classification], display: str, lines: dict,
                    data: dict) -> list[Problem]:
    """A fact that declares ``codes:`` names a fact beside it with an enum and, for each of its
    values, a loaded classification."""
    out = []
    for name, spec in specs.items():
        here = (*where, name)
        if spec.get("fields"):
            out.extend(_codes_problems(spec["fields"], (*here, "fields"), classifications,
                                       display, lines, data))
        codes = spec.get("codes")
        if not codes:
            continue
        if "classification" in codes:
            if codes["classification"] not in classifications:
                key = (*here, "codes", "classification")
                out.append(Problem(display, line_of(lines, key), dotted(key, data),
                                   f"no classification '{codes['classification']}' in "
                                   f"{CLASSIFICATIONS_DIR}/"
                                   f"{did_you_mean(codes['classification'], classifications)}"))
            continue
        by = specs.get(codes["by"])
        if by is None or not by.get("enum"):
            out.append(Problem(display, line_of(lines, (*here, "codes", "by")),
                               dotted((*here, "codes", "by"), data),
                               f"'{codes['by']}' is not a fact with an enum beside "
                               f"'{name}'{did_you_mean(codes['by'], specs)}"))
            continue
        values = [str(v) for v in by["enum"]]
        for value in values:
            if value not in codes["classifications"]:
                out.append(Problem(display, line_of(lines, (*here, "codes", "classifications")),
                                   dotted((*here, "codes", "classifications"), data),
                                   f"no classification for {codes['by']} = '{value}'"))
        for value, cid in codes["classifications"].items():
            key = (*here, "codes", "classifications", value)
            if value not in values:
                out.append(Problem(display, line_of(lines, key), dotted(key, data),
                                   f"'{value}' is not a value of {codes['by']}"
                                   f"{did_you_mean(value, values)}"))
            elif cid not in classifications:
                out.append(Problem(display, line_of(lines, key), dotted(key, data),
                                   f"no classification '{cid}' in {CLASSIFICATIONS_DIR}/"
                                   f"{did_you_mean(cid, classifications)}"))
    return out


def _items_problems(name: str, raw: dict, classifications: Mapping[str, Classification],
                    display: str, lines: dict) -> list[Problem]:
    """A constant declared to hold codes of a classification (``items: noc-2021``) is a list
    of codes that each have a title there."""
    cid = raw["items"]
    where = ("constants", name)
    found = classifications.get(cid) if isinstance(cid, str) else None
    if found is None:
        return [Problem(display, line_of(lines, (*where, "items")), f"constants.{name}.items",
                        f"no classification '{cid}' in {CLASSIFICATIONS_DIR}/"
                        f"{did_you_mean(str(cid), classifications)}")]
    values = raw["value"] if isinstance(raw["value"], list) else [raw["value"]]
    out = []
    for i, code in enumerate(values):
        if not isinstance(code, str) or code not in found.codes:
            key = (*where, "value", i) if isinstance(raw["value"], list) else (*where, "value")
            out.append(Problem(display, line_of(lines, key),
                               f"constants.{name}.value[{i}]",
                               f"'{code}' has no title in {cid} ({found.path}): add the code "
                               "with its English and French titles there"))
    return out


def _correction_problems(parsed: list[tuple[dict, dict, str, str]]) -> list[Problem]:
    """Versions of one id may start on the same day only as a version and its corrections, one
    after the other; a correction names a loaded version of its id, covers exactly its period,
    and is the only correction of it."""
    problems = []
    by_version = {(loaded["id"], loaded["version"]): (loaded, display)
                  for loaded, _, display, _ in parsed}
    corrected: dict[tuple[str, str], str] = {}
    for loaded, lines, display, _ in parsed:
        if "corrects" not in loaded:
            continue
        ruleset_id, target = loaded["id"], loaded["corrects"]["version"]
        where = lines.get(("corrects", "version"))
        found = by_version.get((ruleset_id, target))
        if found is None or target == loaded["version"]:
            others = [v for i, v in by_version if i == ruleset_id and v != loaded["version"]]
            problems.append(Problem(display, where, "corrects.version",
                                    f"no other version '{target}' of {ruleset_id} to correct"
                                    f"{did_you_mean(target, others)}"))
            continue
        if (ruleset_id, target) in corrected:
            problems.append(Problem(display, where, "corrects.version",
                                    f"{ruleset_id} version {target} is already corrected by "
                                    f"{corrected[(ruleset_id, target)]}"))
        corrected.setdefault((ruleset_id, target), display)
        period, own = found[0]["effective"], loaded["effective"]
        if (period["from_"], period.get("to")) != (own["from_"], own.get("to")):
            problems.append(Problem(display, lines.get(("effective",)), "effective",
                                    f"a correction covers the period of the version it corrects"
                                    f" ({found[1]}: from {period['from_']}"
                                    f"{' to ' + str(period['to']) if period.get('to') else ''})"))
    starts: dict[tuple[str, dt.date], list[tuple[dict, dict, str]]] = {}
    for loaded, lines, display, _ in parsed:
        starts.setdefault((loaded["id"], loaded["effective"]["from_"]), []).append(
            (loaded, lines, display))
    for (ruleset_id, _), group in starts.items():
        originals = [item for item in group if "corrects" not in item[0]]
        for _loaded, lines, display in originals[1:]:
            problems.append(Problem(display, lines.get(("effective", "from")), "effective.from",
                                    f"another version of {ruleset_id} ({originals[0][2]}) "
                                    "starts on the same day (a version that replaces it over "
                                    "its whole period says so with `corrects:`)"))
    return problems


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _canonical(data: dict, contracts: Mapping[str, tuple[dict, str]], loaded: dict) -> str:
    """The canonical JSON of the file's content (and of the contract it names): comments and
    formatting do not change it, any change of meaning does. Its sha256 identifies the version;
    the decision log keeps it (``RulesetVersion.canonical``)."""
    content = {"ruleset": data}
    if loaded.get("contract") in contracts:
        # Without its `changes:`: they say what may be suggested, never what is decided, so a
        # change to them is not a new version of every ruleset (docs/what-would-change.md).
        content["contract"] = {k: v for k, v in contracts[loaded["contract"]][0].items()
                               if k != "changes"}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def kept_version(canonical: str) -> RulesetVersion:
    """A version from the content the decision log keeps of it (``RulesetVersion.kept``): what
    its texts need (titles, facts and their words, constants, outcomes, ``because:`` texts),
    without rules, so a logged decision reads in words with exactly the version it used, even
    after the ruleset files changed. Its sha256 is that of ``canonical``."""
    content = json.loads(canonical)
    loaded = RulesetSchema().load(content["ruleset"])
    contracts = {loaded["contract"]: (content["contract"], CONTRACTS_DIR)} \
        if "contract" in content else {}
    constants = {name: {k: v for k, v in raw.items() if k != "items"}
                 if isinstance(raw, dict) else raw  # codes were checked when it was loaded
                 for name, raw in loaded["constants"].items()}
    return _shell({**loaded, "constants": constants}, {}, f"kept {loaded['id']}", canonical,
                  contracts, {})


def _contract_checks(contract: dict, display: str, lines: dict) -> tuple[Check, ...]:
    """A contract's checks with their conditions parsed against its own facts and constants;
    RulesetError names each one that does not parse."""
    # A check may read the decision's date too: some facts mean different things over time.
    constants = {n: c["value"] if isinstance(c, dict) and "value" in c else c
                 for n, c in contract["constants"].items()}
    top = cond.Names({**flatten_facts(contract["facts"]), "as_of": cond.Field("date")},
                     constants)
    lists = list_facts(contract["facts"])
    out, problems = [], []
    for i, raw in enumerate(contract["checks"]):
        where = ("checks", i)
        names = top
        if "each" in raw:  # the fields of one item, which may be compared with each other
            if raw["each"] not in lists:
                problems.append(Problem(display, line_of(lines, where + ("each",)),
                                        dotted(where + ("each",), contract),
                                        f"no list fact '{raw['each']}'"
                                        f"{did_you_mean(raw['each'], lists)}"))
                continue
            names = cond.Names({**flatten_facts(lists[raw["each"]]),
                                "as_of": cond.Field("date")}, constants, fact_pairs=True)
        if raw["field"] not in names.facts:
            problems.append(Problem(display, line_of(lines, where + ("field",)),
                                    dotted(where + ("field",), contract),
                                    f"unknown fact '{raw['field']}'{names.suggest(raw['field'])}"))
            continue
        try:
            tree = cond.nnf(cond.parse(raw["require"], names))
        except ConditionError as exc:
            problems.append(Problem(display, line_of(lines, where + ("require",)),
                                    dotted(where + ("require",), contract), exc.detail))
            continue
        out.append(Check(raw["id"], raw["field"], tree, raw["message"], raw["reference"],
                         raw.get("each")))
    if problems:
        raise RulesetError(problems)
    return tuple(out)


def _codes(outcome: dict | None) -> dict | None:
    """The met and not-met outcomes (code and title), without ``met_when``."""
    return outcome and {k: outcome[k] for k in ("met", "not_met")}


def _contract_changes(contract: dict, display: str, lines: dict) -> tuple[Change, ...]:
    """A contract's declared changes (``changes:``), each checked against the fact it names:
    a known fact, a move that fits its type and limits, a ``when`` that parses. RulesetError
    names each problem with its line and key."""
    flat = flatten_facts(contract["facts"])
    names = cond.Names({**flat, "as_of": cond.Field("date")},
                       {n: c["value"] if isinstance(c, dict) and "value" in c else c
                        for n, c in contract["constants"].items()})
    out, problems = [], []
    seen_ids: set[str] = set()

    def problem(i: int, key: str, message: str) -> None:
        where = ("changes", i, key)
        problems.append(Problem(display, line_of(lines, where), dotted(where, contract), message))

    for i, raw in enumerate(contract["changes"]):
        if raw["id"] in seen_ids:
            problem(i, "id", f"another change is also called '{raw['id']}'")
            continue
        seen_ids.add(raw["id"])
        spec = spec_at(contract["facts"], raw["fact"])
        if spec is None:
            problem(i, "fact", f"unknown fact '{raw['fact']}'{names.suggest(raw['fact'])}")
            continue
        kind = next(k for k in ("step", "values", "set", "by") if k in raw)
        numeric = spec["type"] in ("integer", "number")
        if spec["type"] in ("date", "datetime"):
            problem(i, "fact", f"'{raw['fact']}' is a {spec['type']}: a date is never "
                               "suggested (it cannot be moved to another day on request)")
            continue
        if kind in ("step", "by") and not numeric:
            problem(i, kind, f"'{raw['fact']}' is a {spec['type']}: only a number moves "
                             + ("by a step" if kind == "step" else "up by a derived fact"))
            continue
        high = spec.get("max")
        if kind == "step":
            if spec["type"] == "integer" and float(raw["step"]) != int(raw["step"]):
                problem(i, "step", f"'{raw['fact']}' is a whole number: the step is one too")
                continue
            if "max" in raw and high is not None and raw["max"] > high:
                problem(i, "max", f"above the fact's own max ({high:g})")
                continue
        if kind == "values":
            values = raw["values"]
            bad = [v for v in values if not _fits(spec, v)]
            if bad:
                problem(i, "values", f"{bad[0]!r} is not a value of '{raw['fact']}' "
                                     f"({_describe(spec)})")
                continue
            if numeric and any(b <= a for a, b in zip(values, values[1:], strict=False)):
                problem(i, "values", "the values go up, each above the one before")
                continue
            if len(set(map(repr, values))) != len(values):
                problem(i, "values", "a value is listed twice")
                continue
        if kind == "set" and not _fits(spec, raw["set"]):
            problem(i, "set", f"{raw['set']!r} is not a value of '{raw['fact']}' "
                              f"({_describe(spec)})")
            continue
        when = None
        if "when" in raw:
            try:
                when = cond.nnf(cond.parse(raw["when"], names))
            except ConditionError as exc:
                problem(i, "when", exc.detail)
                continue
        out.append(Change(raw["id"], raw["fact"], raw["title"], when, kind,
                          step=raw.get("step"),
                          max=raw.get("max", high if kind == "step" else None),
                          values=tuple(raw.get("values", ())), value=raw.get("set"),
                          by=raw.get("by"), integer=spec["type"] == "integer"))
    if problems:
        raise RulesetError(problems)
    return tuple(out)


def _fits(spec: dict, value) -> bool:
    """Whether the contract takes ``value`` for a fact with ``spec``."""
    try:
        facts_schema({"v": {**spec, "required": True}}).load({"v": value})
    except Exception:  # marshmallow's ValidationError, or a value of the wrong shape
        return False
    return True


def _describe(spec: dict) -> str:
    if spec.get("enum"):
        return "one of " + ", ".join(map(str, spec["enum"]))
    limits = [f"{k} {spec[k]:g}" for k in ("min", "max") if k in spec]
    return spec["type"] + (f", {', '.join(limits)}" if limits else "")


def _shell(loaded: dict, lines: dict, display: str, canonical: str,
           contracts: Mapping[str, tuple[dict, str]],
           checks: Mapping[str, tuple[Check, ...]],
           changes: Mapping[str, tuple[Change, ...]] | None = None,
           classifications: Mapping[str, Classification] | None = None) -> RulesetVersion:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    facts: dict = {}
    contract_checks: tuple[Check, ...] = ()
    contract_changes: tuple[Change, ...] = ()
    if "contract" in loaded:
        name = loaded["contract"]
        if name not in contracts:
            raise RulesetError([Problem(display, lines.get(("contract",)), "contract",
                                        f"no contract '{name}' in {CONTRACTS_DIR}/"
                                        f"{did_you_mean(name, contracts)}")])
        facts.update(contracts[name][0]["facts"])
        contract_checks = checks.get(name, ())
        contract_changes = (changes or {}).get(name, ())
    for name, spec in loaded["facts"].items():
        if name in facts:
            raise RulesetError([Problem(display, lines.get(("facts", name)), f"facts.{name}",
                                        "already declared by the contract")])
        facts[name] = spec
    constants = {}
    item_problems: list[Problem] = []
    for name, raw in loaded["constants"].items():
        if isinstance(raw, dict) and "value" in raw:
            extra = set(raw) - {"value", "reference", "title", "note", "items"}
            if extra:
                raise RulesetError([Problem(display, lines.get(("constants", name)),
                                            f"constants.{name}",
                                            f"unknown key '{sorted(extra)[0]}' (value, reference,"
                                            " title, note, items)")])
            if "items" in raw:
                item_problems.extend(_items_problems(name, raw, classifications or {}, display,
                                                     lines))
            constants[name] = dict(raw)
        else:
            constants[name] = {"value": raw}
    if item_problems:
        raise RulesetError(item_problems)
    return RulesetVersion(
        id=loaded["id"], version=loaded["version"],
        effective_from=loaded["effective"]["from_"], effective_to=loaded["effective"].get("to"),
        title=loaded["title"], description=loaded.get("description"),
        reference=loaded["reference"], path=display, sha256=digest, facts=facts,
        derives=loaded["derives"],
        includes=[(i["ruleset"], i.get("as_") or default_alias(i["ruleset"]))
                  for i in loaded["includes"]],
        constants=constants, scores=loaded["scores"], rules=[],
        outcome=REVOKED_OUTCOME if "revoked" in loaded else _codes(loaded.get("outcome")) or (
            DEFAULT_OUTCOME if any("require" in r for r in loaded["rules"])
            else ASSESSED_OUTCOME),
        cases=loaded.get("cases"), draw=loaded.get("draw"),
        corrects=(loaded.get("corrects") or {}).get("version"), checks=contract_checks,
        outcome_when=(loaded.get("outcome") or {}).get("met_when", "all"),
        changes=contract_changes, raw=loaded, lines=lines, canonical=canonical)
