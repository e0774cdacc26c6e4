"""Run facts through compiled rulesets: sessions and the action loop of durable-rules 2.0.28.

How a ruleset version runs (see docs/engine.md for the measurements behind each choice):

* Each ruleset version is compiled to its own small durable ruleset (``compile``).
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
import datetime as dt
import gc
import itertools
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _durable
import orjson

from .. import conditions as cond
from ..errors import EvaluationError, Problem, RulesetError
from ..rulesets import Rule, RulesetVersion
from .compile import INPUT_TYPE, atoms, compile_version, derived_reads
from .limits import SESSION_REUSE, explain_code

# Fault injection for the tests of crash isolation: when set, deciding the candidate with this
# candidate_id crashes the process for real (a segmentation fault, as durable-rules can cause).
CRASH_ENV = "DECISIONS_TEST_CRASH_CANDIDATE"
_CRASH_CANDIDATE = os.environ.get(CRASH_ENV)
# And for the tests of the engine's deadline: deciding this candidate hangs (sleeps for an hour),
# as an engine stuck in C code would.
HANG_ENV = "DECISIONS_TEST_HANG_CANDIDATE"
_HANG_CANDIDATE = os.environ.get(HANG_ENV)

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
        definition, self.actions = compile_version(version, self.derived_names)
        # Derived facts that some rule of this ruleset reads; the others are only passed on to
        # the rulesets after it, so asserting them would be work for nothing.
        self.consumed = {a.path for rule in version.rules for a in atoms(rule.condition)
                         if a.path in self.derived_names}
        self.consumed.update(p for rule in version.rules for p in
                             derived_reads(rule, self.derived_names))
        # The input facts this ruleset's conditions read. Only these are asserted: a smaller fact
        # is parsed faster and walks fewer nodes (a chain passes ever larger facts along).
        read = {a.path for rule in version.rules for a in atoms(rule.condition)
                if a.path not in self.derived_names}
        # A path under another read path is carried by it (second_language covers .reading).
        self.input_paths = tuple(tuple(p.split(".")) for p in sorted(
            p for p in read if not any(p.startswith(q + ".") for q in read)))
        self.name = f"{version.id}@{version.version}#{next(_names)}"
        try:
            self.handle = _durable.create_ruleset(self.name, orjson.dumps(
                _for_engine(definition)).decode())
        except Exception as exc:  # durable raises bare codes; say what they mean
            raise RulesetError([Problem(version.path, None, "",
                                        f"durable-rules refused the compiled ruleset "
                                        f"({explain_code(exc)})")]) from None
        self.lock = threading.Lock()
        self._sid: str | None = None
        self._uses = 0

    def evaluate(self, facts: Mapping[str, Any], day: dt.date | None = None) -> Run:
        """Run the facts through this ruleset's session; every rule that fires, in firing order.
        ``day`` is the decision date, which a derive over a list with a window counts up to.

        The session is reused: after each evaluation every fact it asserted (the input and each
        derived fact) is retracted, which leaves it empty. Creating a session costs about 100 us
        on a ruleset of a few hundred rules; reusing one costs a retraction of about 7 us. On any
        error the session is deleted and the next evaluation starts a new one, so no pending
        action or stray fact can reach another candidate; it is also replaced every
        SESSION_REUSE evaluations to bound what durable-rules keeps per session."""
        if _CRASH_CANDIDATE is not None and facts.get("candidate_id") == _CRASH_CANDIDATE:
            ctypes.string_at(0)
        if _HANG_CANDIDATE is not None and facts.get("candidate_id") == _HANG_CANDIDATE:
            time.sleep(3600)
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
                "sid": sid, "id": "$in", "t": INPUT_TYPE})).decode()
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
                                value = _derive(rule, working, derived, day)
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
                                      f"failed ({explain_code(exc)})") from exc
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
            fact["v"] = _for_engine(value, name)
        payload = orjson.dumps(fact).decode()
        # Code 1 (no rule here reads this fact) is fine: a later ruleset in the chain may. Only
        # a fact the engine kept is retracted afterwards.
        if _durable.assert_fact(self.handle, payload)[0] == 0:
            stored.append(payload)


def _project(facts: Mapping[str, Any], paths: tuple[tuple[str, ...], ...], into: dict) -> dict:
    """Copy the values at ``paths`` (split dotted paths) from nested ``facts`` into ``into``, each
    in a form durable-rules reads exactly (``_for_engine``)."""
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
        # Only numbers and objects can need rewriting: the type tests cost less than a call.
        kind = type(value)
        node[parts[-1]] = _for_engine(value, ".".join(parts)) \
            if kind is float or kind is int or kind is dict else value
    return into


# durable-rules reads integers with atoll: past the int64 range they saturate silently.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _for_engine(value: Any, path: str = "") -> Any:
    """``value`` with every number in a form durable-rules' JSON parser reads as that number.

    Its number scanner (``getNumber`` in json.c) takes an exponent only after a fraction:
    ``1e-7``, ``1e+16`` and ``1E5`` end the number at the ``e`` and the fact is refused with
    error 204, while ``1.0e-7`` and ``1.5e+16`` are read by ``atof`` exactly. orjson (like
    Python's repr) writes a float whose shortest form has one significant digit that way below
    1e-5 and from 1e16 up. Each float is therefore written out here from its repr, which reads
    back as the same double, with ``.0`` added to a bare mantissa. Integers are read with
    ``atoll``: one outside int64 would silently become another number, so it is refused (the
    facts contract keeps integers within 2**53 anyway; this guards derived values)."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # orjson would write null: a different fact
            raise EvaluationError(f"'{path}' is {value}: the engine takes finite numbers only")
        text = repr(value)
        mantissa, exp, power = text.partition("e")
        return orjson.Fragment(f"{mantissa}.0e{power}" if exp and "." not in mantissa
                               else text)
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise EvaluationError(f"'{path}' is {value}: past the engine's integer range "
                                  f"({_INT_MIN} to {_INT_MAX})")
        return value
    if kind is dict:
        return {k: _for_engine(v, f"{path}.{k}" if path else k) for k, v in value.items()}
    if kind is list:
        return [_for_engine(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _derive(rule: Rule, working: dict[str, Any], derived: dict[str, Any],
            day: dt.date | None = None) -> Any:
    # A derive over a list reads the whole facts here, in Python: the engine never sees a list,
    # only the number made of it (asserted as any derived fact).
    if rule.aggregate is not None:
        value = cond.aggregate(rule.aggregate, working, day)
    else:
        value = rule.value if rule.expr is None else cond.compute(rule.expr, working)
    if rule.fact in derived:
        if derived[rule.fact] == value:
            return value
        raise EvaluationError(f"'{rule.fact}' was derived twice with different values "
                              f"({derived[rule.fact]!r}, then {value!r} by rule {rule.id}): "
                              "the ruleset's derive rules overlap")
    derived[rule.fact] = value
    cond.set_path(working, rule.fact, value)
    return value


# Every version compiled in this process, by (id, version, sha256): shared by every Engine of the
# process. durable-rules keeps what a compiled ruleset holds until the process ends (deleting
# a ruleset frees next to nothing: about 80 MB per bundled catalog, measured), so an engine
# built again for the same content (a reload that changed one file, an app per test) reuses
# the compiled versions instead of growing the process. A version's content, which its sha256
# names, is all its compiled form depends on; each CompiledRuleset has its own session lock.
_COMPILED: dict[tuple[str, str, str], CompiledRuleset] = {}
_COMPILED_LOCK = threading.Lock()


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
                with _COMPILED_LOCK:
                    compiled = _COMPILED.get(key)
                    if compiled is None:
                        compiled = _COMPILED[key] = CompiledRuleset(version)
                self._compiled[key] = compiled
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

    def evaluate(self, version: RulesetVersion, facts: Mapping[str, Any],
                 day: dt.date | None = None) -> Run:
        return self.prepare(version).evaluate(facts, day)
