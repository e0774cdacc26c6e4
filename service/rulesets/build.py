"""Build a version's rules from its file: parse every condition against the names it can see
(its facts, what it includes, its constants), expand decision tables into one rule per row, and
check ids, targets and overlapping rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import conditions as cond
from ..errors import ConditionError, Problem, RulesetError, did_you_mean
from .model import (
    Rule,
    RulesetVersion,
    alternative_names,
    bucket_paths,
    exported_names,
    flatten_facts,
    list_facts,
)
from .texts import PLACEHOLDER, REVOKED_RULE, table_keys, table_row_key, table_row_source
from .yamlfile import dotted, line_of


def check_includes(v: RulesetVersion, by_id: Mapping[str, list[RulesetVersion]]) -> None:
    problems = []
    for i, (inc_id, _alias) in enumerate(v.includes):
        if inc_id not in by_id:
            problems.append(Problem(v.path, v.lines.get(("includes", i)), f"includes[{i}].ruleset",
                                    f"no ruleset '{inc_id}'{did_you_mean(inc_id, by_id)}"))
    # A cycle through includes would make a decision chain without end.
    stack = [(inc, (v.id,)) for inc, _ in v.includes]
    while stack:
        inc, trail = stack.pop()
        if inc == v.id:
            problems.append(Problem(v.path, v.lines.get(("includes",)), "includes",
                                    "includes itself: " + " -> ".join(trail + (inc,))))
            break
        if inc in trail:
            continue
        for other in by_id.get(inc, []):
            stack.extend((n, trail + (inc,)) for n, _ in other.includes)
    if problems:
        raise RulesetError(problems)


def _names_for(v: RulesetVersion, by_id: Mapping[str, list[RulesetVersion]]) -> cond.Names:
    facts = flatten_facts(v.facts)
    seen, stack = set(), [v]
    while stack:  # everything included, directly or not, with its inputs and exports
        cur = stack.pop()
        for inc_id, alias in cur.includes:
            facts[f"{alias}.met"] = cond.Field("boolean")
            facts[f"{alias}.outcome"] = cond.Field("string")
            for other in by_id.get(inc_id, []):
                if (other.id, other.version) in seen:
                    continue
                seen.add((other.id, other.version))
                facts.update(flatten_facts(other.facts))
                facts.update(exported_names(other))
                facts.update({f"{alias}.{name}.met": cond.Field("boolean")
                              for name in alternative_names(other)})
                stack.append(other)
    facts.update({name: cond.Field(spec["type"], tuple(spec["enum"]) if spec.get("enum")
                                   else None) for name, spec in v.derives.items()})
    return cond.Names(facts, {n: c["value"] for n, c in v.constants.items()})


def _template_facts(text: Mapping[str, str] | None, names: cond.Names, path: tuple,
                    problem: Any) -> tuple:
    """The facts a ``because:`` text fills in; a name the rule cannot see is a problem."""
    shows: list[str] = []
    for lang, lang_text in (text or {}).items():
        for name in PLACEHOLDER.findall(lang_text):
            if name in names.facts:
                shows.append(name)
            elif name not in names.constants:
                problem(path + (lang,), f"unknown fact or constant '{{{name}}}'"
                                       f"{names.suggest(name)}")
    return tuple(dict.fromkeys(shows))


def build_rules(v: RulesetVersion, by_id: Mapping[str, list[RulesetVersion]]) -> None:
    """Parse every condition and expand tables into rules; collect every problem."""
    names = _names_for(v, by_id)
    targets = [p for score, spec in v.scores.items() for p in bucket_paths(score, spec)]
    leaf_targets = [t for t in targets if not any(o.startswith(t + ".") for o in targets)]
    problems: list[Problem] = []
    ids: dict[str, int | None] = {}

    def problem(path: tuple, message: str) -> None:
        problems.append(Problem(v.path, line_of(v.lines, path), dotted(path, v.raw), message))

    if "revoked" in v.raw:  # one requirement, never met: its why-not names the law that ended it
        revoked = v.raw["revoked"]
        v.rules.append(Rule(id=REVOKED_RULE, kind="require", title=revoked["title"],
                            reference=revoked["reference"], condition=cond.FALSE,
                            source="false", because=revoked["because"],
                            line=line_of(v.lines, ("revoked",))))

    def parse(text: str, path: tuple, value: bool = False) -> Any:
        try:
            tree = (cond.parse_value if value else cond.parse)(text, names)
            return tree if value else cond.nnf(tree)
        except ConditionError as exc:
            problem(path, exc.detail)
            return None

    def check_id(rule_id: str, path: tuple) -> None:
        if rule_id in ids:
            problem(path, f"rule id '{rule_id}' is used twice (also at line {ids[rule_id]})")
        ids[rule_id] = line_of(v.lines, path)

    def check_target(kind: str, target: str, path: tuple) -> bool:
        if kind == "award" and target not in leaf_targets:
            hint = did_you_mean(target, leaf_targets)
            problem(path, f"no score bucket '{target}' to award to{hint}" if hint else
                    f"no score bucket '{target}' to award to (buckets: "
                    f"{', '.join(leaf_targets) or 'none declared under scores'})")
            return False
        if kind == "derive" and target not in v.derives:
            problem(path, f"'{target}' is not declared under derives"
                          f"{did_you_mean(target, v.derives)}")
            return False
        return True

    for i, raw in enumerate(v.raw["rules"]):
        base = ("rules", i)
        check_id(raw["id"], base + ("id",))
        common = dict(id=raw["id"], title=raw["title"], reference=raw["reference"],
                      line=line_of(v.lines, base))
        if "require" in raw:
            tree = parse(raw["require"], base + ("require",))
            shows = _template_facts(raw.get("because"), names, base + ("because",), problem)
            if tree is not None:
                v.rules.append(Rule(kind="require", condition=tree, source=raw["require"],
                                    because=raw.get("because"), reads=tuple(cond.paths(tree)),
                                    shows=shows, **common))
            continue
        when = parse(raw["when"], base + ("when",)) if "when" in raw else cond.TRUE
        if when is None:
            continue
        reads = tuple(cond.paths(when))
        if "award" in raw:
            if check_target("award", raw["award"]["to"], base + ("award", "to")):
                v.rules.append(Rule(kind="award", condition=when, source=raw.get("when", "true"),
                                    points=raw["award"]["points"], bucket=raw["award"]["to"],
                                    reads=reads, **common))
            continue
        derive = raw["derive"]
        if not check_target("derive", derive["fact"], base + ("derive", "fact")):
            continue
        if "over" in derive:
            agg = _aggregate(derive, names, v, by_id, base + ("derive",), problem)
            if agg is not None:
                v.rules.append(Rule(kind="derive", condition=when,
                                    source=raw.get("when", "true"), fact=derive["fact"],
                                    aggregate=agg, reads=reads, **common))
            continue
        expr = None
        if "expr" in derive:
            expr = parse(derive["expr"], base + ("derive", "expr"), value=True)
            if expr is None:
                continue
            reads = tuple(dict.fromkeys(reads + tuple(cond.paths(expr))))
        v.rules.append(Rule(kind="derive", condition=when, source=raw.get("when", "true"),
                            fact=derive["fact"], value=derive.get("value"), expr=expr,
                            reads=reads, **common))

    for i, raw in enumerate(v.raw["tables"]):
        base = ("tables", i)
        check_id(raw["id"], base + ("id",))
        kind = "award" if "award" in raw else "derive"
        if not check_target(kind, raw[kind], base + (kind,)):
            continue
        when = parse(raw["when"], base + ("when",)) if "when" in raw else cond.TRUE
        keys = table_keys(raw)
        for k, key in enumerate(keys):
            key_path = base + ("key",) if isinstance(raw["key"], str) else base + ("key", k)
            if key not in names.facts:
                problem(key_path, f"unknown fact '{key}'{names.suggest(key)}")
                continue
            for r, row in enumerate(raw["rows"]):
                row_tree = _row_condition(key, row, names, v.path, line_of(
                    v.lines, base + ("rows", r)), dotted(base + ("rows", r), v.raw), problems)
                if row_tree is None or when is None:
                    continue
                v.rules.append(Rule(
                    id=raw["id"], kind=kind, title=raw["title"],
                    reference=row.get("reference", raw["reference"]),
                    condition=cond.nnf(cond.All((when, row_tree))),
                    source=table_row_source(raw, key, row),
                    points=row.get("points"), bucket=raw.get("award"), fact=raw.get("derive"),
                    value=row.get("value"), table=table_row_key(raw, r, key, keys),
                    line=line_of(v.lines, base + ("rows", r)),
                    reads=tuple(dict.fromkeys(cond.paths(when) + [key]))))
        _check_overlaps(raw, keys, v, base, problem)
    if problems:
        raise RulesetError(problems)


def _aggregate(derive: dict, names: cond.Names, v: RulesetVersion,
               by_id: Mapping[str, list[RulesetVersion]], path: tuple, problem) -> Any:
    """The aggregate of a derive over a list (``over``), its item expressions parsed against
    the item's fields (with ``days`` when it has a window) and the constants; None after a
    problem."""
    lists = list_facts(v.facts)
    seen, stack = set(), [v]
    while stack:  # and those of everything included, directly or not
        for inc_id, _alias in stack.pop().includes:
            for other in by_id.get(inc_id, []):
                if (other.id, other.version) not in seen:
                    seen.add((other.id, other.version))
                    lists.update(list_facts(other.facts))
                    stack.append(other)
    over = derive["over"]
    if over not in lists:
        problem(path + ("over",), f"no list fact '{over}'{did_you_mean(over, lists)}")
        return None
    item = flatten_facts(lists[over])
    window = None
    if "window" in derive:
        spec = derive["window"]
        for key in ("start", "end"):
            found = item.get(spec[key])
            if found is None or found.type != "date":
                problem(path + ("window", key), f"'{spec[key]}' is not a date field of the items "
                        f"of '{over}'{did_you_mean(spec[key], item)}")
                return None
        if "days" in item:
            problem(path + ("window",), f"the items of '{over}' have a field 'days': with a "
                    "window, 'days' is the counted days")
            return None
        window = cond.Window(spec["start"], spec["end"], spec["years"])
        item["days"] = cond.Field("integer")
    item_names = cond.Names(item, names.constants)
    if "by" in derive and derive["by"] not in item:
        problem(path + ("by",), f"no field '{derive['by']}' in the items of '{over}'"
                f"{did_you_mean(derive['by'], item)}")
        return None
    try:
        where = cond.nnf(cond.parse(derive["where"], item_names)) if "where" in derive \
            else cond.TRUE
    except ConditionError as exc:
        problem(path + ("where",), exc.detail)
        return None
    func = next(k for k in ("sum", "max", "count") if k in derive)
    expr = None
    if func != "count":
        try:
            expr = cond.parse_value(derive[func], item_names)
        except ConditionError as exc:
            problem(path + (func,), exc.detail)
            return None
    return cond.Aggregate(func, over, expr, where, window, derive.get("by"))


def _row_condition(key: str, row: dict, names: cond.Names, file: str, line: int | None,
                   where: str, problems: list[Problem]) -> Any:
    field_ = names.facts[key]
    if "range" in row:
        lo, hi = row["range"]
        atoms = (cond.Atom(key, ">=", lo), cond.Atom(key, "<=", hi))
    elif "at_least" in row:
        atoms = (cond.Atom(key, ">=", row["at_least"]),)
    elif "at_most" in row:
        atoms = (cond.Atom(key, "<=", row["at_most"]),)
    elif "equals" in row:
        atoms = (cond.Atom(key, "==", row["equals"]),)
    else:
        atoms = (cond.Atom(key, "in", tuple(row["in_"])),)
    for atom in atoms:
        message = cond.check_atom(atom, field_)
        if message:
            problems.append(Problem(file, line, where, message))
            return None
    return atoms[0] if len(atoms) == 1 else cond.All(atoms)


def _check_overlaps(raw: dict, keys: list, v: RulesetVersion, base: tuple, problem) -> None:
    """Two rows of one table that can match the same value would award or derive twice."""
    spans = []
    for r, row in enumerate(raw["rows"]):
        if "range" in row:
            spans.append((row["range"][0], row["range"][1], r))
        elif "at_least" in row:
            spans.append((row["at_least"], float("inf"), r))
        elif "at_most" in row:
            spans.append((float("-inf"), row["at_most"], r))
        elif "equals" in row and isinstance(row["equals"], int | float) \
                and not isinstance(row["equals"], bool):
            spans.append((row["equals"], row["equals"], r))
    spans.sort()
    for (_lo1, hi1, r1), (lo2, _hi2, r2) in zip(spans, spans[1:], strict=False):
        if lo2 <= hi1:
            # rows named as in the key path (rows[0] is the first), so both point alike
            problem(base + ("rows", r2), f"overlaps rows[{r1}]: one value would match both")
    seen: dict[Any, int] = {}
    for r, row in enumerate(raw["rows"]):
        for value in ([row["equals"]] if "equals" in row and not isinstance(
                row["equals"], int | float) else row.get("in_", [])):
            if value in seen:
                problem(base + ("rows", r), f"{value!r} is also matched by rows[{seen[value]}]")
            seen[value] = r
