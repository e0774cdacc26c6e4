"""The only module that imports durable-rules. It owns every quirk of durable-rules 2.0.28.

How a ruleset version runs (see docs/engine.md for the measurements behind each choice):

* Each ruleset version is compiled to its own small durable ruleset: one durable rule per branch
  of each condition's disjunctive normal form (``$or`` is never emitted: it fires once per
  satisfied branch and has corrupted the heap here), plus a catch-all rule on the input fact
  (a session whose first fact matches no rule segfaults in ``delete_state``).
* The caller's facts are asserted as one fact ``{"t": "$in", ...}``; a derived fact is asserted
  as ``{"t": NAME, "v": VALUE}`` from inside the action loop, so rules on it fire in the same
  session: forward chaining.
* The C module is driven directly with a lean loop (``assert_fact``, ``start_action_for_state``,
  ``complete_and_start_action``) instead of ``durable.engine.Host``: no timer threads (they race
  the caller and have returned a wrong total), no state JSON round trips, and exceptions in
  actions are ordinary Python exceptions instead of being hidden in the session state.
* Each compiled ruleset keeps one session and empties it after every evaluation (every fact
  asserted is retracted): a new session costs ~100 us, emptying one ~7 us. On any error the
  session is deleted and replaced, so nothing of one candidate can reach the next; the crash
  fuzz test and a property test check that reused and fresh sessions answer alike.
* One lock per compiled ruleset serialises its sessions. The C extension never releases the GIL,
  so threads gain no throughput from running it concurrently, and the lock rules out any
  interleaving of two sessions' pending actions. Throughput comes from processes (gunicorn).
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _durable
import orjson

from . import conditions as cond
from .errors import ConditionError, EvaluationError, Problem, RulesetError
from .rulesets import Rule, RulesetVersion

# Capacity limits of durable-rules 2.0.28, checked when a ruleset is compiled.
MAX_DURABLE_RULES = 4000  # error 106 past 4,096 rules per ruleset
SESSION_REUSE = 10_000  # evaluations per session before it is replaced
# durable-rules walks the alpha network with a stack of 64 nodes (MAX_STACK_SIZE in events.c):
# when more tests match one fact at once, it fails with error 303 or corrupts the heap (found by
# bench/crash_fuzz.py: 65 `score >= k` rules crash, 64 do not). Compiled rulesets are checked
# against a bound of what can match at once, with a margin.
MATCH_STACK_SIZE = 64
MAX_MATCH_STACK = 60
CATCH_ALL = "catch_all"

# Fault injection for the tests of crash isolation: when set, deciding the candidate with this
# candidate_id crashes the process for real (a segmentation fault, as durable-rules can cause).
CRASH_ENV = "DECISIONS_TEST_CRASH_CANDIDATE"
_CRASH_CANDIDATE = os.environ.get(CRASH_ENV)

_names = itertools.count(1)
_sessions = itertools.count(1)


@dataclass(frozen=True)
class Firing:
    """One rule that fired: its index in ``RulesetVersion.rules`` and, for a derive, the value."""

    index: int
    value: Any = None


@dataclass(frozen=True)
class Run:
    fired: tuple[Firing, ...]
    derived: dict[str, Any]
    # The facts given, with every derived value set at its path: a new dict (nested dicts on a
    # derived path copied, never changed in place), so chained rulesets need not set them again.
    facts: dict[str, Any]


class CompiledRuleset:
    """A ruleset version registered with durable-rules, ready to evaluate facts."""

    def __init__(self, version: RulesetVersion):
        self.version = version
        self.derived_names = set(version.derives)
        definition, self.actions = self._compile(version)
        # Derived facts that some rule of this ruleset reads; the others are only passed on to
        # the rulesets after it, so asserting them would be work for nothing.
        self.consumed = {a.path for rule in version.rules for a in _atoms(rule.condition)
                         if a.path in self.derived_names}
        self.consumed.update(p for rule in version.rules for p in
                             _derived_reads(rule, self.derived_names))
        # The input facts this ruleset's conditions read. Only these are asserted: a smaller fact
        # is parsed faster and walks fewer nodes (a chain passes ever larger facts along).
        read = {a.path for rule in version.rules for a in _atoms(rule.condition)
                if a.path not in self.derived_names}
        # A path under another read path is carried by it (second_language covers .reading).
        self.input_paths = tuple(tuple(p.split(".")) for p in sorted(
            p for p in read if not any(p.startswith(q + ".") for q in read)))
        self.name = f"{version.id}@{version.version}#{next(_names)}"
        try:
            self.handle = _durable.create_ruleset(self.name, orjson.dumps(definition).decode())
        except Exception as exc:  # durable raises bare codes; say what they mean
            raise RulesetError([Problem(version.path, None, "",
                                        f"durable-rules refused the compiled ruleset "
                                        f"({_explain_code(exc)})")]) from None
        self.lock = threading.Lock()
        self._sid: str | None = None
        self._uses = 0

    def _compile(self, version: RulesetVersion) -> tuple[dict, dict[str, int]]:
        definition: dict[str, Any] = {CATCH_ALL: {"all": [{"m": {"t": cond.INPUT_TYPE}}]}}
        actions: dict[str, int] = {}
        problems = []
        for index, rule in enumerate(version.rules):
            try:
                requires = _derived_reads(rule, self.derived_names)
                for b, branch in enumerate(cond.dnf(rule.condition)):
                    for atom in branch:
                        if atom.path in self.derived_names and atom.value is None:
                            raise ConditionError(f"'{atom.path}' is derived in this ruleset: "
                                                 "it cannot be compared with null")
                    name = f"r{index}b{b}"
                    definition[name] = {"all": cond.compile_branch(
                        branch, self.derived_names.__contains__, requires)}
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
        if problems:
            raise RulesetError(problems)
        return definition, actions

    def evaluate(self, facts: Mapping[str, Any]) -> Run:
        """Run the facts through this ruleset's session; every rule that fires, in firing order.

        The session is reused: after each evaluation every fact it asserted (the input and each
        derived fact) is retracted, which leaves it empty. Creating a session costs about 100 us
        on a ruleset of a few hundred rules; reusing one costs a retraction of about 7 us. On any
        error the session is deleted and the next evaluation starts a new one, so no pending
        action or stray fact can reach another candidate; it is also replaced every
        SESSION_REUSE evaluations to bound what durable-rules keeps per session."""
        if _CRASH_CANDIDATE is not None and facts.get("candidate_id") == _CRASH_CANDIDATE:
            ctypes.string_at(0)
        fired: list[Firing] = []
        done: set[int] = set()
        derived: dict[str, Any] = {}
        working = dict(facts)
        rules = self.version.rules
        handle = self.handle
        with self.lock:
            if self._sid is None:
                self._sid, self._uses = str(next(_sessions)), 0
            sid = self._sid
            payload = orjson.dumps(_project(facts, self.input_paths, {
                "sid": sid, "id": "$in", "t": cond.INPUT_TYPE})).decode()
            stored = [payload]  # what to retract afterwards, as JSON
            try:
                state = _durable.assert_fact(handle, payload)[1]
                started = _durable.start_action_for_state(handle, state)
                message = started[1] if started else None
                while message:
                    name = message[2:message.index('"', 2)]  # {"NAME":{...}}: no full parse
                    index = self.actions.get(name)
                    if index is not None and index not in done:  # one firing per rule
                        done.add(index)
                        rule = rules[index]
                        value = None
                        if rule.kind == "derive":
                            known = rule.fact in derived
                            try:
                                value = _derive(rule, working, derived)
                            except (TypeError, ValueError, ArithmeticError) as exc:
                                raise EvaluationError(
                                    f"{self.version.id} {self.version.version}: rule {rule.id} "
                                    f"could not compute {rule.fact}: {exc}") from exc
                            if not known and rule.fact in self.consumed:
                                self._assert_derived(sid, len(derived), rule.fact, value, stored)
                        fired.append(Firing(index, value))
                    message = _durable.complete_and_start_action(handle, state)
                _durable.retract_facts(handle, "[" + ",".join(stored) + "]")
                self._uses += 1
                if self._uses >= SESSION_REUSE:
                    self._drop_session()
            except BaseException as exc:
                self._drop_session()
                if isinstance(exc, EvaluationError | KeyboardInterrupt):
                    raise
                raise EvaluationError(f"{self.version.id} {self.version.version}: the engine "
                                      f"failed ({_explain_code(exc)})") from exc
        return Run(tuple(fired), derived, working)

    def _drop_session(self) -> None:
        sid, self._sid = self._sid, None
        if sid is not None:
            try:
                _durable.delete_state(self.handle, sid)
            except Exception:  # noqa: BLE001 - the session is abandoned either way
                pass

    def _assert_derived(self, sid: str, n: int, name: str, value: Any, stored: list) -> None:
        fact = {"sid": sid, "id": f"d{n}", "t": name}
        if value is not None:
            fact["v"] = value
        payload = orjson.dumps(fact).decode()
        # Code 1 (no rule here reads this fact) is fine: a later ruleset in the chain may. Only
        # a fact the engine kept is retracted afterwards.
        if _durable.assert_fact(self.handle, payload)[0] == 0:
            stored.append(payload)


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


def _project(facts: Mapping[str, Any], paths: tuple[tuple[str, ...], ...], into: dict) -> dict:
    """Copy the values at ``paths`` (split dotted paths) from nested ``facts`` into ``into``."""
    for parts in paths:
        value = facts
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                break
        if value is None:
            continue
        node = into
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return into


def _atoms(node: Any):
    if isinstance(node, cond.Atom):
        yield node
    elif isinstance(node, cond.All | cond.Any_):
        for item in node.items:
            yield from _atoms(item)


def _derived_reads(rule: Rule, derived_names: set[str]) -> tuple[str, ...]:
    """Derived facts a derive expression reads: the rule must wait until they exist."""
    if rule.expr is None:
        return ()
    return tuple(p for p in cond.paths(rule.expr) if p in derived_names)


def _derive(rule: Rule, working: dict[str, Any], derived: dict[str, Any]) -> Any:
    value = rule.value if rule.expr is None else cond.compute(rule.expr, working)
    if rule.fact in derived:
        if derived[rule.fact] == value:
            return value
        raise EvaluationError(f"'{rule.fact}' was derived twice with different values "
                              f"({derived[rule.fact]!r}, then {value!r} by rule {rule.id}): "
                              "the ruleset's derive rules overlap")
    derived[rule.fact] = value
    set_path(working, rule.fact, value)
    return value


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


def _explain_code(exc: BaseException) -> str:
    text = str(exc)
    for code, meaning in _CODES.items():
        if f"error code: {code}" in text or text.strip() == str(code):
            return f"{meaning}; durable error {code}"
    return text or type(exc).__name__


_CODES = {
    "101": "out of memory",
    "105": "unexpected action in the compiled rules",
    "106": "too many rules in one ruleset",
    "113": "too many comparisons in one pattern",
    "202": "a pattern the engine cannot parse",
    "303": "too many rows matching one fact (table too long)",
    "307": "internal state corrupted",
}


class Engine:
    """Compiled rulesets by (id, version, sha256). Compile everything at boot, never lazily."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str, str], CompiledRuleset] = {}
        self._lock = threading.Lock()

    def prepare(self, version: RulesetVersion) -> CompiledRuleset:
        key = (version.id, version.version, version.sha256)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = self._compiled[key] = CompiledRuleset(version)
            return compiled

    def prepare_all(self, versions) -> None:
        problems: list[Problem] = []
        for version in versions:
            try:
                self.prepare(version)
            except RulesetError as exc:
                problems.extend(exc.problems)
        if problems:
            raise RulesetError(problems)
        # The loaded rulesets live as long as the process: keep the cyclic garbage collector
        # from walking them again and again (it cost a quarter of a 1,000-decision batch).
        gc.freeze()

    def evaluate(self, version: RulesetVersion, facts: Mapping[str, Any]) -> Run:
        return self.prepare(version).evaluate(facts)
