"""Crash fuzzing of the ruleset compiler: random valid rulesets and facts, run in a child process
so that a crash of durable-rules is observed, not suffered.

Used by tests/test_crash_fuzz.py (a bounded run on every `make test`) and by bench/crash_fuzz.py
(a longer run that reports statistics). Each example is a random ruleset version (requirements,
awards and derivations with random conditions, derived facts read by later rules, and a range
table of up to 64 rows) and a few random fact sets. The engine's answer is checked against a
plain Python forward-chaining oracle built on the condition evaluator, so a wrong answer is
caught as well as a crash.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from dataclasses import dataclass, field

from hypothesis import strategies as st

from service import conditions as cond
from service.rulesets import Rule, RulesetVersion

CRASHED = "crashed"

# The facts a random ruleset may read, and their types.
INPUT_FACTS = {
    "age": cond.Field("integer"),
    "score": cond.Field("number"),
    "noc": cond.Field("string"),
    "flag": cond.Field("boolean"),
    "lang.reading": cond.Field("number"),
}
DERIVED = ("d1", "d2", "d3")
INTS = st.integers(17, 21)
NUMS = st.sampled_from([6, 6.5, 7, 7.5])
STRINGS = st.sampled_from(["2173", "2174", "0213", "1111", "x-y_z"])


def _atom(paths: tuple[str, ...]):
    ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    options = [
        st.builds(cond.Atom, st.just("age"), ops, INTS),
        st.builds(cond.Atom, st.just("score"), ops, NUMS),
        st.builds(cond.Atom, st.just("lang.reading"), ops, NUMS),
        st.builds(cond.Atom, st.just("noc"), st.sampled_from(["==", "!="]), STRINGS),
        st.builds(cond.Atom, st.just("noc"), st.sampled_from(["in", "not in"]),
                  st.lists(STRINGS, min_size=1, max_size=4).map(tuple)),
        st.builds(cond.Atom, st.just("age"), st.sampled_from(["in", "not in"]),
                  st.lists(INTS, min_size=1, max_size=3).map(tuple)),
        st.builds(cond.Atom, st.just("flag"), st.sampled_from(["==", "!="]), st.booleans()),
        st.builds(cond.Atom, st.sampled_from(["score", "lang.reading"]),
                  st.sampled_from(["==", "!="]), st.none()),
    ]
    if paths:
        options.append(st.builds(cond.Atom, st.sampled_from(paths), ops, st.integers(0, 3)))
    return st.one_of(options)


def condition(paths: tuple[str, ...] = ()):
    return st.recursive(
        _atom(paths),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: cond.All(tuple(xs))),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: cond.Any_(tuple(xs))),
            inner.map(cond.Not)),
        max_leaves=5).map(cond.nnf)


@st.composite
def rulesets(draw) -> RulesetVersion:
    """A random ruleset version: derive rules feeding later rules, requirements, awards, a table."""
    rules: list[Rule] = []
    available: tuple[str, ...] = ()
    for name in DERIVED[:draw(st.integers(0, len(DERIVED)))]:
        # Every derived fact gets one rule per value band, bands disjoint so that it is derived
        # once at most.
        when = draw(condition(available))
        for value in range(draw(st.integers(1, 3))):
            band = cond.Atom("age", "==", 17 + value) if value < 4 else cond.TRUE
            rules.append(_rule(f"{name}-{value}", "derive", cond.nnf(cond.All((when, band))),
                               fact=name, value=value))
        available += (name,)
    for i in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["require", "award"]))
        rules.append(_rule(f"r{i}", kind, draw(condition(available)),
                           points=draw(st.integers(0, 50)) if kind == "award" else None))
    rows = draw(st.integers(0, 64))
    width = draw(st.sampled_from([1, 5]))
    for r in range(rows):  # a range table of `rows` rows on one fact
        lo = r * width
        rules.append(_rule("table", "award", cond.All((cond.Atom("score", ">=", lo),
                                                       cond.Atom("score", "<=", lo + width - 1))),
                           points=r, table=f"table#{r + 1}"))
    return _version(rules, available)


def _rule(rule_id: str, kind: str, condition, **extra) -> Rule:
    if kind == "award":
        extra.setdefault("bucket", "s.main")
    return Rule(id=rule_id, kind=kind, title={"en": rule_id, "fr": rule_id}, reference="fuzz",
                condition=condition, source=cond.render(condition), **extra)


def _version(rules: list[Rule], derived: tuple[str, ...]) -> RulesetVersion:
    return RulesetVersion(
        id="fuzz", version="1", effective_from=dt.date(2019, 1, 1), effective_to=None,
        title={"en": "fuzz", "fr": "fuzz"}, description=None, reference="fuzz",
        path="fuzz.yaml", sha256="0" * 64, facts={},
        derives={name: {"type": "integer", "title": {"en": name, "fr": name}} for name in derived},
        includes=[], constants={},
        scores={"s": {"title": {"en": "s", "fr": "s"}, "buckets": {"main": {"title": "m"}}}},
        rules=rules, outcome={}, cases=None)


facts = st.fixed_dictionaries({}, optional={
    "age": INTS,
    "score": st.one_of(NUMS, st.integers(0, 330)),
    "noc": STRINGS,
    "flag": st.booleans(),
    "lang": st.fixed_dictionaries({}, optional={"reading": NUMS}),
})


def expected_firings(version: RulesetVersion, one: dict) -> set[int]:
    """Which rules should fire: forward chaining to a fixpoint with the Python evaluator."""
    working = dict(one)
    fired: set[int] = set()
    changed = True
    while changed:
        changed = False
        for index, rule in enumerate(version.rules):
            if index in fired or not cond.evaluate(rule.condition, working):
                continue
            fired.add(index)
            changed = True
            if rule.kind == "derive":
                working[rule.fact] = rule.value
    return fired


# ------------------------------------------------------------------------------- engine worker
def _worker_main(conn, session_reuse: int | None) -> None:
    from service.engine import CompiledRuleset
    from service.engine import session as engine
    from service.errors import DecisionError

    if session_reuse is not None:
        engine.SESSION_REUSE = session_reuse

    while True:
        try:
            version, fact_sets = conn.recv()
        except EOFError:
            return
        try:
            compiled = CompiledRuleset(version)
            answer = [sorted(f.index for f in compiled.evaluate(one).fired) for one in fact_sets]
        except DecisionError as exc:
            answer = f"error: {exc.detail}"
        conn.send(answer)


@dataclass
class EngineWorker:
    """A child process that compiles and runs rulesets; restarted after every crash."""

    session_reuse: int | None = None  # None: the engine's own setting; 1: a session per run
    crashes: int = 0
    runs: int = 0
    shapes: list = field(default_factory=list)

    def __post_init__(self):
        self._context = multiprocessing.get_context("spawn")
        self._process = None

    def _start(self) -> None:
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(target=_worker_main,
                                              args=(child, self.session_reuse), daemon=True)
        self._process.start()
        child.close()

    def run(self, version: RulesetVersion, fact_sets: list[dict]):
        if self._process is None or not self._process.is_alive():
            self._start()
        self.runs += 1
        try:
            self._conn.send((version, fact_sets))
            return self._conn.recv()
        except (EOFError, OSError):
            self._process.join(5)
            self.crashes += 1
            self.shapes.append((self._process.exitcode, [r.source for r in version.rules]))
            self._process = None
            return CRASHED

    def close(self) -> None:
        if self._process is not None:
            self._conn.close()
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
