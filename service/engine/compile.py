"""Compile a ruleset version to durable-rules JSON, checking every capacity limit of the engine.

* One durable rule per branch of each condition's disjunctive normal form (``$or`` is never
  emitted: it fires once per satisfied branch and has corrupted the heap here), plus a
  catch-all rule on the input fact (a session whose first fact matches no rule segfaults in
  ``delete_state``).
* Atoms on the caller's input go into one pattern on the input fact ``{"t": "$in", ...}``; atoms
  on a derived fact go into a pattern on that fact ``{"t": NAME, "v": VALUE}``.
* Lists of numbers in ``in`` are written out as one branch per value; lists of plain strings stay
  one regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from .. import conditions as cond
from ..errors import ConditionError, Problem, RulesetError
from ..rulesets import Rule, RulesetVersion, dotted
from .limits import (
    MATCH_STACK_SIZE,
    MAX_BRANCHES,
    MAX_DURABLE_RULES,
    MAX_EXPRESSIONS_PER_PATTERN,
    MAX_MATCH_STACK,
    MAX_TABLE_ROWS,
)

INPUT_TYPE = "$in"  # the ``t`` of the fact that carries the caller's input
CATCH_ALL = "catch_all"
_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_REGEX_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def compile_version(version: RulesetVersion,
                    derived_names: set[str]) -> tuple[dict, dict[str, int]]:
    """The durable-rules definition of a version and the rule index each durable rule fires:
    one durable rule per branch of each condition's disjunctive normal form, and a catch-all
    rule on the input fact. Every capacity limit (``limits``) is checked here; RulesetError
    lists every problem with file, line and key."""
    definition: dict[str, Any] = {CATCH_ALL: {"all": [{"m": {"t": INPUT_TYPE}}]}}
    actions: dict[str, int] = {}
    problems = []
    for index, rule in enumerate(version.rules):
        try:
            requires = derived_reads(rule, derived_names)
            for b, branch in enumerate(dnf(rule.condition)):
                for atom in branch:
                    if atom.path in derived_names and atom.value is None:
                        raise ConditionError(f"'{atom.path}' is derived in this ruleset: "
                                             "it cannot be compared with null")
                name = f"r{index}b{b}"
                definition[name] = {"all": compile_branch(
                    branch, derived_names.__contains__, requires)}
                actions[name] = index
        except ConditionError as exc:
            problems.append(Problem(version.path, rule.line, rule.table or rule.id,
                                    exc.detail))
    bound, busiest = match_stack_bound(definition)
    if bound > MAX_MATCH_STACK:
        problems.append(Problem(
            version.path, None, "", f"too many comparisons can hold at once for one fact: "
            f"up to {bound} (the engine has {MATCH_STACK_SIZE} slots and crashes past them;"
            f" this check allows {MAX_MATCH_STACK}); most come from "
            f"{', '.join(busiest)}: move some rules into an included ruleset, or put an "
            "equality test first in their conditions"))
    if len(definition) > MAX_DURABLE_RULES:
        problems.append(Problem(version.path, None, "", f"compiles to {len(definition)} "
                                f"durable rules; the engine takes at most {MAX_DURABLE_RULES}:"
                                " split the ruleset and include the parts"))
    problems.extend(_long_tables(version))
    if problems:
        raise RulesetError(problems)
    return definition, actions


def _long_tables(version: RulesetVersion) -> list[Problem]:
    """A decision table compiles to one durable rule per row and key: past MAX_TABLE_ROWS rows of
    ranges on one fact the engine fails (error 303)."""
    return [Problem(version.path, version.lines.get(("tables", i, "rows")),
                    dotted(("tables", i, "rows"), version.raw),
                    f"a table has 1 to {MAX_TABLE_ROWS} rows (durable-rules fails on longer "
                    "tables of ranges on one fact): split it with 'when'")
            for i, table in enumerate(version.raw.get("tables", []))
            if len(table["rows"]) > MAX_TABLE_ROWS]


def dnf(node: Any) -> list[tuple[cond.Atom, ...]]:
    """The branches of the disjunctive normal form of an NNF tree: each branch is a conjunction.

    Lists of numbers in ``in`` become one branch per value; lists of plain strings stay one atom
    (compiled to a regular expression). Raises ConditionError past MAX_BRANCHES."""
    if isinstance(node, cond.Atom):
        if node.op == "in" and not _regex_in(node):
            return [(cond.Atom(node.path, "==", v, node.const),) for v in node.value]
        return [(node,)]
    if isinstance(node, cond.Any_):
        branches = [b for item in node.items for b in dnf(item)]
    else:
        branches = [()]
        for item in node.items:
            branches = [b + c for b in branches for c in dnf(item)]
            if len(branches) > MAX_BRANCHES:
                break
    if len(branches) > MAX_BRANCHES:
        raise ConditionError(f"condition is too complex: more than {MAX_BRANCHES} alternatives "
                             "once written out; split it into several rules or use a constant list")
    return branches


def _regex_in(atom: cond.Atom) -> bool:
    return bool(atom.value) and all(isinstance(v, str) and _REGEX_SAFE.match(v)
                                    for v in atom.value)


INPUT_TYPE = "$in"  # the ``t`` of the fact that carries the caller's input


def _atom_expressions(atom: cond.Atom, field: str) -> list[dict]:
    if atom.value is None:
        return [{"$nex" if atom.op == "==" else "$ex": {field: 1}}]
    if atom.op == "==":
        return [{field: atom.value}]
    if atom.op == "in":  # only regex-safe strings reach here (see dnf)
        return [{"$mt": {field: "|".join(atom.value)}}]
    if atom.op == "not in":
        return [{"$neq": {field: v}} for v in atom.value] or [{"$ex": {field: 1}}]
    return [{_OPS[atom.op]: {field: atom.value}}]


def compile_branch(branch: Iterable[cond.Atom], is_derived: Callable[[str], bool],
                   requires: Iterable[str] = ()) -> list[dict]:
    """durable-rules patterns (the ``all`` list) for one conjunction.

    Atoms on the caller's input go into one pattern on the input fact; atoms on a derived fact go
    into a pattern on that fact (``{"t": name, "v": value}``), joined with the rest. ``requires``
    names derived facts that must exist before the rule fires (a derive expression reads them)."""
    groups: dict[str, list[dict]] = {}
    for atom in branch:
        derived = is_derived(atom.path)
        key = atom.path if derived else INPUT_TYPE
        groups.setdefault(key, []).extend(_atom_expressions(atom, "v" if derived else atom.path))
    for name in requires:
        groups.setdefault(name, [])
    if not groups:
        groups[INPUT_TYPE] = []
    patterns = []
    for i, (fact_type, exprs) in enumerate(groups.items()):
        if len(exprs) + 1 > MAX_EXPRESSIONS_PER_PATTERN:
            raise ConditionError(f"too many comparisons on one fact ({len(exprs)}); durable-rules "
                                 f"accepts at most {MAX_EXPRESSIONS_PER_PATTERN - 1}")
        body = {"t": fact_type} if not exprs else {"$and": [{"t": fact_type}, *exprs]}
        patterns.append({f"m{i}": body})
    return patterns


_TESTS = {"$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b, "$gt": lambda a, b: a > b,
          "$gte": lambda a, b: a >= b, "$neq": lambda a, b: a != b}


def match_stack_bound(definition: Mapping[str, Any]) -> tuple[int, list[str]]:
    """An upper bound of the nodes durable-rules may hold on its matching stack for one fact.

    The patterns form a tree (durable shares a node between patterns that start alike). At each
    node, every child whose test holds is pushed: equality tests on one property are hashed, so
    at most one of them holds; each other test on a property may hold together with the others,
    so the count is the most of them that one value satisfies. The bound adds, along the worst
    path, what each node pushes."""
    root: dict = {}
    for rule in definition.values():
        for pattern in rule["all"]:
            body = next(iter(pattern.values()))
            node = root
            for expression in body["$and"] if "$and" in body else [body]:
                key = orjson.dumps(expression, option=orjson.OPT_SORT_KEYS)
                node = node.setdefault(key, ({}, expression))[0]

    def pushed(children: dict) -> tuple[int, dict]:
        by_property: dict[str, list] = {}
        for _child, expression in children.values():
            (op, inner), = expression.items()
            if op.startswith("$"):
                (prop, value), = inner.items()
                by_property.setdefault(prop, []).append((op, value))
            else:
                by_property.setdefault(op, []).append(("==", None))
        counts = {p: _most_at_once(tests) for p, tests in by_property.items()}
        return sum(counts.values()), counts

    worst: list = [0, {}]

    def bound(children: dict) -> int:
        here, counts = pushed(children)
        if here > worst[0]:
            worst[:] = [here, counts]
        return here + max((bound(c) for c, _ in children.values()), default=0)

    total = bound(root)
    busiest = sorted(worst[1].items(), key=lambda kv: -kv[1])[:4]
    return total, [f"{p} ({n})" for p, n in busiest]


def _most_at_once(tests: list) -> int:
    equal = any(op == "==" for op, _ in tests)
    others = [(op, v) for op, v in tests if op != "=="]
    points: set = {""}
    for _op, v in others:
        if isinstance(v, int | float) and not isinstance(v, bool):
            points.update({v, v - 0.5, v + 0.5, v - 1e-6, v + 1e-6})
        elif isinstance(v, str | bool):
            points.add(v)
    best = 0
    for point in points:
        n = 0
        for op, v in others:
            test = _TESTS.get(op)
            if test is None:  # $mt, $ex, $nex: may hold for any value
                n += 1
                continue
            try:
                n += bool(test(point, v))
            except TypeError:
                pass
        best = max(best, n)
    return best + equal


def atoms(node: Any):
    if isinstance(node, cond.Atom):
        yield node
    elif isinstance(node, cond.All | cond.Any_):
        for item in node.items:
            yield from atoms(item)


def derived_reads(rule: Rule, derived_names: set[str]) -> tuple[str, ...]:
    """Derived facts a derive expression reads: the rule must wait until they exist."""
    if rule.expr is None:
        return ()
    return tuple(p for p in cond.paths(rule.expr) if p in derived_names)
