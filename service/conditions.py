"""The condition language: parse, check, normalise, evaluate and explain (``engine.compile`` turns
it into durable-rules patterns).

A condition is a short expression such as ``crs >= 400 and primary_noc in tech_nocs``. It is parsed
with Python's ``ast`` module and only a whitelist of node kinds is accepted; nothing is ever
``eval``'d. The same normalised tree is used twice: compiled to durable-rules JSON patterns by
the engine (which decides) and evaluated here to render why a requirement was not met. A property
test keeps the two in agreement.

A derive over a list fact (``Aggregate``: sum, max or count of an item expression, with a
filter, a date window and a group-by) is evaluated here only, in the engine's action: the engine
compares the number it gives, never the list.

Semantics, shared by both: a fact that is absent or null makes every comparison on it false, except
``x == null`` (true) and ``x != null`` (false). ``not`` is pushed down to the comparisons before
anything is evaluated, so ``not age >= 20`` means ``age < 20`` and is false when ``age`` is absent.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConditionError, EvaluationError, did_you_mean

_NEGATE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "in": "not in",
           "not in": "in"}
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
_AST_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
            ast.In: "in", ast.NotIn: "not in", ast.Is: "==", ast.IsNot: "!="}
MISSING = object()


# --------------------------------------------------------------------------------------- the tree
@dataclass(frozen=True)
class Atom:
    """``path op value``; ``const`` names the constant the value came from, for explanations."""

    path: str
    op: str
    value: Any
    const: str | None = None


@dataclass(frozen=True)
class Ref:
    """The other side of a comparison of two facts (``end >= start``): only in contract checks,
    which are evaluated here and never compiled for the engine."""

    path: str


@dataclass(frozen=True)
class All:
    items: tuple


@dataclass(frozen=True)
class Any_:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class Path:
    """A fact read inside a value expression (``derive`` with ``expr``)."""

    path: str


@dataclass(frozen=True)
class Literal:
    value: Any
    const: str | None = None


@dataclass(frozen=True)
class Arith:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple


TRUE = All(())
FALSE = Any_(())  # no alternative holds: a requirement that is never met (a revoked program)
_KEYWORDS = {"null": None, "true": True, "false": False}  # as policy staff write them in YAML
_FUNCS: dict[str, Callable[..., Any]] = {"min": min, "max": max}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


# ------------------------------------------------------------------------------- names and types
@dataclass(frozen=True)
class Field:
    """What a condition may know about a fact: its type and allowed values."""

    type: str  # string, integer, number, boolean, date, datetime, object, list
    enum: tuple | None = None


class Names:
    """The names a condition may use: facts (dotted paths) and constants. ``fact_pairs``: two
    facts of one type may be compared (contract checks only: the engine cannot)."""

    def __init__(self, facts: Mapping[str, Field], constants: Mapping[str, Any],
                 fact_pairs: bool = False):
        self.facts = dict(facts)
        self.constants = dict(constants)
        self.fact_pairs = fact_pairs

    def suggest(self, name: str) -> str:
        return did_you_mean(name, list(self.facts) + list(self.constants))


def article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def check_atom(atom: Atom, field: Field) -> str | None:
    """Why ``atom`` cannot compare its fact with its value(s); None when it can."""
    listed = atom.op in ("in", "not in")
    if field.type == "list":
        return (f"'{atom.path}' is a list: a condition reads a number made of it by a derive "
                "with 'over' (docs/rulesets.md, \"Facts over lists\")")
    if listed and not isinstance(atom.value, tuple):
        return f"'{atom.op}' needs a list of values"
    if atom.op in ("<", "<=", ">", ">=") and atom.value is None:
        return "null can only be compared with == or !="
    for v in atom.value if listed else (atom.value,):
        if not _type_accepts(field.type, v):
            return f"'{atom.path}' is {article(field.type)}; {v!r} is not"
        if field.enum and v is not None and v not in field.enum:
            return (f"{v!r} is not an allowed value of '{atom.path}' "
                    f"({', '.join(map(str, field.enum))})")
    return None


def _type_accepts(ftype: str, value: Any) -> bool:
    if value is None:
        return True
    if ftype in ("integer", "number"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ftype == "boolean":
        return isinstance(value, bool)
    if ftype in ("string", "date", "datetime"):
        return isinstance(value, str)
    return False


# ---------------------------------------------------------------------------------------- parse
def parse(text: str, names: Names) -> Any:
    """Parse a condition into a tree of Atom/All/Any_/Not, checking every name and type."""
    return _Parser(text, names, value_mode=False).run()


def parse_value(text: str, names: Names) -> Any:
    """Parse a value expression (``derive`` ``expr``): arithmetic, min/max, paths, conditions."""
    return _Parser(text, names, value_mode=True).run()


class _Parser:
    def __init__(self, text: str, names: Names, value_mode: bool):
        self.text, self.names, self.value_mode = text, names, value_mode

    def fail(self, message: str, node: ast.AST | None = None) -> ConditionError:
        col = getattr(node, "col_offset", None)
        where = f" (at column {col + 1})" if col is not None else ""
        return ConditionError(f"{message}{where} in condition: {self.text}")

    def run(self) -> Any:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ConditionError("a condition must be a non-empty text")
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ConditionError(f"syntax error at column {exc.offset}: {self.text}") from None
        return self.node(tree.body)

    # A dotted name such as first_language.reading, or None when the node is not one.
    @staticmethod
    def dotted(node: ast.AST) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts))
        return None

    def node(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BoolOp):
            items = tuple(self.node(v) for v in node.values)
            return All(items) if isinstance(node.op, ast.And) else Any_(items)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Not(self.node(node.operand))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return TRUE if node.value else Any_(())
        name = self.dotted(node)
        if name in ("true", "false"):
            return TRUE if name == "true" else Any_(())
        if name is not None and name not in self.names.constants:
            field = self.fact(name, node)
            if self.value_mode:
                return Path(name)
            if field.type != "boolean":
                raise self.fail(f"'{name}' is {article(field.type)}, not a yes/no fact: "
                                "compare it", node)
            return Atom(name, "==", True)
        if self.value_mode:
            return self.value(node)
        raise self.fail(f"'{ast.unparse(node)}' is not a condition", node)

    def fact(self, name: str, node: ast.AST) -> Field:
        field = self.names.facts.get(name)
        if field is None:
            raise self.fail(f"unknown fact '{name}'{self.names.suggest(name)}", node)
        return field

    def literal(self, node: ast.AST) -> Literal:
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(
                node.value, str | int | float | bool)):
            return Literal(node.value)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return Literal(tuple(self.literal(e).value for e in node.elts))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self.literal(node.operand)
            if isinstance(inner.value, int | float) and not isinstance(inner.value, bool):
                return Literal(-inner.value)
        name = self.dotted(node)
        if name in _KEYWORDS:
            return Literal(_KEYWORDS[name])
        if name is not None:
            if name in self.names.constants:
                value = self.names.constants[name]
                return Literal(tuple(value) if isinstance(value, list) else value, const=name)
            if name in self.names.facts:
                raise self.fail(f"compare the fact '{name}' with a value, not with another fact",
                                node)
            raise self.fail(f"unknown name '{name}'{self.names.suggest(name)}", node)
        raise self.fail(f"'{ast.unparse(node)}' is not a value", node)

    def compare(self, node: ast.Compare) -> Any:
        operands = [node.left, *node.comparators]
        atoms = [self.comparison(a, _AST_OPS.get(type(op)), b, node)
                 for a, op, b in zip(operands, node.ops, operands[1:], strict=False)]
        return atoms[0] if len(atoms) == 1 else All(tuple(atoms))

    def comparison(self, left: ast.AST, op: str | None, right: ast.AST, node: ast.AST) -> Atom:
        if op is None:
            raise self.fail("unsupported comparison", node)
        lname, rname = self.dotted(left), self.dotted(right)
        if self.names.fact_pairs and lname in self.names.facts and rname in self.names.facts:
            lfield, rfield = self.names.facts[lname], self.names.facts[rname]
            if op in ("in", "not in") or lfield.type != rfield.type or lfield.type in (
                    "object", "list"):
                raise self.fail(f"'{lname}' ({lfield.type}) and '{rname}' ({rfield.type}) "
                                "cannot be compared", node)
            return Atom(lname, op, Ref(rname))
        if lname in self.names.facts:
            path, lit = lname, self.literal(right)
        elif rname in self.names.facts and op not in ("in", "not in"):
            path, lit, op = rname, self.literal(left), _FLIP[op]
        else:
            side = lname or rname
            if side and side not in self.names.constants:
                raise self.fail(f"unknown fact '{side}'{self.names.suggest(side)}", node)
            raise self.fail("a comparison needs a fact on one side", node)
        atom = Atom(path, op, lit.value, lit.const)
        problem = check_atom(atom, self.names.facts[path])
        if problem:
            raise self.fail(problem, node)
        return atom

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return Arith(_ARITH[type(node.op)], self.value(node.left), self.value(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id not in _FUNCS or node.keywords or not node.args:
                raise self.fail(f"unknown function '{node.func.id}' (min, max)", node)
            return Call(node.func.id, tuple(self.value(a) for a in node.args))
        name = self.dotted(node)
        if name is not None and name in self.names.facts:
            return Path(name)
        if isinstance(node, ast.BoolOp | ast.Compare | ast.UnaryOp) and not (
                isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)):
            return self.node(node)
        return self.literal(node)


# ------------------------------------------------------------------------------------ normalise
def nnf(node: Any, negate: bool = False) -> Any:
    """Negation normal form: ``not`` pushed into the comparisons; nested and/or flattened."""
    if isinstance(node, Not):
        return nnf(node.item, not negate)
    if isinstance(node, Atom):
        return Atom(node.path, _NEGATE[node.op], node.value, node.const) if negate else node
    if isinstance(node, All | Any_):
        kind = type(node)
        if negate:
            kind = Any_ if kind is All else All
        items: list[Any] = []
        for child in (nnf(i, negate) for i in node.items):
            items.extend(child.items if type(child) is kind else (child,))
        return kind(tuple(items))
    raise TypeError(f"not a condition node: {node!r}")


def paths(node: Any) -> list[str]:
    """Every fact path a tree reads, in order of first appearance."""
    seen: dict[str, None] = {}

    def walk(n: Any) -> None:
        if isinstance(n, Atom | Path):
            seen.setdefault(n.path)
            if isinstance(n, Atom) and type(n.value) is Ref:
                seen.setdefault(n.value.path)
        elif isinstance(n, All | Any_):
            for i in n.items:
                walk(i)
        elif isinstance(n, Not):
            walk(n.item)
        elif isinstance(n, Ref):
            seen.setdefault(n.path)
        elif isinstance(n, Arith):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Call):
            for a in n.args:
                walk(a)
    walk(node)
    return list(seen)


# ------------------------------------------------------------------------------------- evaluate
@functools.lru_cache(maxsize=8192)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def get_path(facts: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; MISSING when absent or null. Flat dotted keys win."""
    value = facts.get(path, MISSING)
    if value is MISSING:
        value = facts
        for part in _parts(path):
            if not isinstance(value, dict):  # facts are plain dicts: cheaper than Mapping
                return MISSING
            value = value.get(part, MISSING)
            if value is MISSING:
                return MISSING
    return MISSING if value is None else value


def set_path(facts: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in nested dicts (``first_clb.reading`` -> facts[first_clb][reading])."""
    node = facts
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else None
            if child is None:
                raise EvaluationError(f"cannot set '{path}': '{part}' already holds a value")
            node[part] = child
        else:
            child = node[part] = dict(child)  # copy: never change the caller's nested dicts
        node = child
    node[parts[-1]] = value


def holds(atom: Atom, facts: Mapping[str, Any]) -> bool:
    value = get_path(facts, atom.path)
    if atom.value is None:
        return (value is MISSING) == (atom.op == "==")
    if value is MISSING:
        return False
    expected = atom.value
    if type(expected) is Ref:  # a fact on both sides: absent on either makes it false
        expected = get_path(facts, expected.path)
        if expected is MISSING:
            return False
        atom = Atom(atom.path, atom.op, expected)
    op = atom.op
    try:
        if op == "==":
            return value == atom.value
        if op == "!=":
            return value != atom.value
        if op == "in":
            return value in atom.value
        if op == "not in":
            return value not in atom.value
        if op == "<":
            return value < atom.value
        if op == "<=":
            return value <= atom.value
        if op == ">":
            return value > atom.value
        return value >= atom.value
    except TypeError:  # a value of another type than declared never matches, as in durable
        return False


def evaluate(node: Any, facts: Mapping[str, Any]) -> bool:
    """Evaluate an NNF condition tree against facts."""
    if isinstance(node, Atom):
        return holds(node, facts)
    if isinstance(node, All):
        return all(evaluate(i, facts) for i in node.items)
    if isinstance(node, Any_):
        return any(evaluate(i, facts) for i in node.items)
    return evaluate(nnf(node), facts)


def evaluate_value(node: Any, facts: Mapping[str, Any]) -> Any:
    """Evaluate a value expression; a missing fact makes the whole value null."""
    if isinstance(node, Literal):
        return list(node.value) if isinstance(node.value, tuple) else node.value
    if isinstance(node, Path):
        value = get_path(facts, node.path)
        if value is MISSING:
            raise _Missing
        return value
    if isinstance(node, Arith):
        a, b = evaluate_value(node.left, facts), evaluate_value(node.right, facts)
        if node.op == "/":
            return a / b  # ZeroDivisionError: the decision fails, as any arithmetic error
        return a + b if node.op == "+" else a - b if node.op == "-" else a * b
    if isinstance(node, Call):
        return _FUNCS[node.func](*(evaluate_value(a, facts) for a in node.args))
    return evaluate(nnf(node), facts)


class _Missing(Exception):
    pass


def compute(node: Any, facts: Mapping[str, Any]) -> Any:
    try:
        return evaluate_value(node, facts)
    except _Missing:
        return None


# ------------------------------------------------------------------------------ facts over lists
@dataclass(frozen=True)
class Window:
    """Each item of a list is a period from its ``start`` to its ``end`` date field (an ``end``
    that is null: ongoing, to the decision date); only the part within the ``years`` years that
    end on the decision date counts: ``days`` is that part's length in days, both ends
    included."""

    start: str
    end: str
    years: int


@dataclass(frozen=True)
class Aggregate:
    """A number made of the items of a list fact (``derive`` with ``over``): ``func`` is
    ``sum``, ``max`` (0 over no item) or ``count``; ``expr`` a value expression over one item's
    fields (and ``days`` with a window); ``where`` an NNF condition an item must meet; ``by`` an
    item field: with ``sum``, the largest total of the items that share one value of it."""

    func: str
    over: str
    expr: Any
    where: Any
    window: Window | None = None
    by: str | None = None


def window_days(window: Window, item: Mapping[str, Any], day: dt.date) -> int:
    """The days of ``item``'s period within the ``window.years`` years that end on ``day``:
    from the day after the same date ``years`` earlier, to ``day``, both included (a 29 February
    goes back to the 28th)."""
    if day.year - window.years < 1:  # the window opens before the first day a date holds
        first = dt.date.min
    else:
        opens = day.replace(year=day.year - window.years, day=min(day.day, 28)
                            if (day.month, day.day) == (2, 29) else day.day)
        first = opens + dt.timedelta(days=1)
    first = max(dt.date.fromisoformat(item[window.start]), first)
    end = item.get(window.end)
    last = min(dt.date.fromisoformat(end), day) if end else day
    return max(0, (last - first).days + 1)


def aggregate(agg: Aggregate, facts: Mapping[str, Any], day: dt.date | None) -> int | float:
    """The value of ``agg`` over the list at ``agg.over`` in ``facts`` on the decision date
    ``day`` (needed by a window). An absent list has no items; over no item every function
    gives 0."""
    items = get_path(facts, agg.over)
    if items is MISSING:
        items = []
    if agg.window is not None and day is None:
        raise EvaluationError(f"'{agg.over}' is counted within {agg.window.years} years of the "
                              "decision date, and none was given")
    totals: dict[Any, int | float] = {}
    best: int | float = 0
    for item in items:
        seen = dict(item)
        if agg.window is not None:
            seen["days"] = window_days(agg.window, item, day)
        if not evaluate(agg.where, seen):
            continue
        value = 1 if agg.func == "count" else compute(agg.expr, seen)
        if value is None:  # an item field the expression reads is null: nothing to count
            continue
        if agg.func == "max":
            best = max(best, value)
        else:
            key = item.get(agg.by) if agg.by else None
            totals[key] = totals.get(key, 0) + value
    if agg.func == "max":
        return best
    return max(totals.values(), default=0)


# -------------------------------------------------------------------------------------- explain
def why_not(node: Any, facts: Mapping[str, Any]) -> dict | None:
    """The parts of an NNF condition that fail, as data; None when the condition holds.

    ``{"all": [...]}`` lists every failing conjunct; ``{"any": [...]}`` lists every alternative
    (all of them failed); an atom becomes ``{"fact", "value", "op", "expected", "constant"}``."""
    if isinstance(node, Atom):
        if holds(node, facts):
            return None
        value = get_path(facts, node.path)
        expected = list(node.value) if isinstance(node.value, tuple) else node.value
        const = node.const
        if type(expected) is Ref:  # "needs >= start (2021-01-01)"
            const, expected = expected.path, get_path(facts, expected.path)
            expected = None if expected is MISSING else expected
        return {"fact": node.path, "value": None if value is MISSING else value, "op": node.op,
                "expected": expected, "constant": const, "missing": value is MISSING}
    if isinstance(node, Not):
        return why_not(nnf(node), facts)
    failing = [f for f in (why_not(i, facts) for i in node.items) if f is not None]
    if isinstance(node, All):
        if not failing:
            return None
        return failing[0] if len(failing) == 1 else {"all": failing}
    if len(failing) < len(node.items):
        return None
    return failing[0] if len(failing) == 1 else {"any": failing}  # FALSE: {"any": []}


def render(node: Any) -> str:
    """A condition tree written back as text (for pages and the ruleset listing)."""
    if isinstance(node, Atom):
        if type(node.value) is Ref:
            return f"{node.path} {node.op} {node.value.path}"
        value = node.const or (list(node.value) if isinstance(node.value, tuple) else node.value)
        return f"{node.path} {node.op} {value!r}" if not node.const else \
            f"{node.path} {node.op} {value}"
    if isinstance(node, Not):
        return f"not ({render(node.item)})"
    if not node.items:
        return "true" if isinstance(node, All) else "false"
    joiner = " and " if isinstance(node, All) else " or "
    return joiner.join(f"({render(i)})" if isinstance(i, All | Any_) and len(i.items) > 1
                       else render(i) for i in node.items)
