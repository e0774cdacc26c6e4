"""Engine benchmarks: one decision in process, against the floor (a plain Python CRS function) and
a peer (the same grid as a Zen decision graph), all measured in the same run.

    .venv/bin/python -m bench.engine [N]        # N profiles (default 10,000); prints JSON

What is measured, on N generated profiles (bench/profiles.py), one call at a time:

* ``plain``: service.draws.plain_crs.crs(facts, as_of), the floor;
* ``crs``: service.decisions.decide(..., "express-entry.crs", ...): the complete explained CRS
  decision (language levels, then the grid; every fired rule, its matched facts and effect);
* ``assessment``: decide(..., "express-entry.assessment", ...): the complete explained assessment
  (language, NOC, CRS, FSW, CEC, FST, OINP HCP and tech draw, each requirement with its why-not);
* ``zen`` and ``zen_trace``: bench/zen_crs.py, the CRS grid as a GoRules Zen graph, without and
  with Zen's per-node trace (its explanation).

The implementations run interleaved (for each profile, each implementation in a rotating order),
so that the machine's noise falls on all of them alike; each call is timed with
``time.perf_counter_ns``. Reported: median, p90, p99 and mean microseconds per decision, and the
ratio of each median and p99 to the plain function's.

Every implementation's CRS (total and the four parts) is compared on every profile with the plain
function's; a difference is reported with the profile, never smoothed over. The plain function
does not read ``education_assessed`` (docs/crs.md: foreign education without an ECA earns no
education points); as docs/crs.md does for the worked cases, it is given ``education: none`` when
``education_assessed`` is false. The report counts the profiles where that mapping matters.

Then: decisions per second through the deciders (``InlineDecider`` and ``ProcessDecider``) for
batches of 1, 100 and 1,000 assessments per call, where the time of a complete explained
assessment goes (stage timers around validation, each ruleset's engine run and the durable C
calls, with no profiler in the way), and a cProfile of the hottest path (the assessment).
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime as dt
import gc
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.profiles import coverage, generate
from service.decisions import InlineDecider, ProcessDecider, decide
from service.draws.plain_crs import crs as plain_crs
from service.engine import Engine, load_compiled
from service.engine import session as engine_module
from service.errors import DecisionError

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
CRS_KEYS = ("total", "core", "spouse", "transferability", "additional")
ASSESSMENT = "express-entry.assessment"
CRS = "express-entry.crs"


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def summary(ns: list[int]) -> dict[str, float]:
    us = sorted(v / 1000 for v in ns)
    return {"n": len(us), "median_us": statistics.median(us), "p90_us": percentile(us, 90),
            "p99_us": percentile(us, 99), "mean_us": statistics.fmean(us), "max_us": us[-1]}


def plain_facts(facts: dict) -> dict:
    """The facts as the plain function reads them (no ECA: education scores as none)."""
    if facts.get("education_assessed"):
        return facts
    return {**facts, "education": "none"}


def load() -> tuple[Any, Engine]:
    return load_compiled(RULESETS)


def zen_or_reason():
    """(ZenCrs, None), or (None, why not) when zen-engine is missing."""
    try:
        from bench.zen_crs import ZenCrs

        return ZenCrs(), None
    except ImportError as exc:
        return None, (f"zen-engine is not installed ({exc}); `make bench` installs it "
                      "(pip install -e '.[test,bench]')")


# ---------------------------------------------------------------------------------- per decision
def implementations(catalog, engine, zen) -> dict[str, Callable[[dict, dt.date], dict]]:
    """name -> function(facts, as_of) returning the CRS parts."""

    def crs_of(ruleset_id):
        def run(facts, as_of):
            return decide(catalog, engine, ruleset_id, facts, as_of)["scores"]["crs"]
        return run

    impls = {"plain": lambda f, d: plain_crs(plain_facts(f), d),
             "crs": crs_of(CRS), "assessment": crs_of(ASSESSMENT)}
    if zen is not None:
        impls["zen"] = lambda f, d: zen.crs(f, d)
        impls["zen_trace"] = lambda f, d: zen.crs(f, d, trace=True)
    return impls


def per_decision(profiles, impls, progress=print, warmup: int = 300) -> dict:
    names = list(impls)
    # The plain function gets its facts mapped before the clock starts (the mapping is the test
    # harness's, not the function's).
    prepared = [plain_facts(f) for f, _ in profiles]

    for facts, as_of in profiles[:warmup]:
        for name in names:
            with contextlib.suppress(DecisionError):
                impls[name](facts, as_of)

    times: dict[str, list[int]] = {n: [] for n in names}
    mismatches: list[dict] = []
    errors: dict[str, list] = {n: [] for n in names}
    raw_plain_differs = 0
    raw_plain_differs_all_eca = True
    clock = time.perf_counter_ns
    gc.collect()
    started = time.perf_counter()
    for i, (facts, as_of) in enumerate(profiles):
        order = names[i % len(names):] + names[:i % len(names)]
        results: dict[str, Any] = {}
        for name in order:
            if name == "plain":
                pf = prepared[i]
                t0 = clock()
                result = plain_crs(pf, as_of)
                times[name].append(clock() - t0)
            else:
                fn = impls[name]
                t0 = clock()
                try:
                    result = fn(facts, as_of)
                except DecisionError as exc:
                    times[name].append(clock() - t0)
                    errors[name].append({"candidate_id": facts["candidate_id"],
                                         "as_of": as_of.isoformat(), "error": str(exc)})
                    result = None
                else:
                    times[name].append(clock() - t0)
            results[name] = result
        floor = results["plain"]
        for name in names:
            got = results[name]
            if name == "plain" or got is None:
                continue
            got = {k: got.get(k) for k in CRS_KEYS}
            if got != floor:
                mismatches.append({"implementation": name, "candidate_id": facts["candidate_id"],
                                   "as_of": as_of.isoformat(), "plain": floor, "got": got,
                                   "facts": facts})
        engine_crs = results.get("crs")
        if engine_crs is not None:  # the plain function on the raw facts (no ECA mapping)
            if plain_crs(facts, as_of) != {k: engine_crs[k] for k in CRS_KEYS}:
                raw_plain_differs += 1
                raw_plain_differs_all_eca &= not facts["education_assessed"]
        if progress and (i + 1) % 2000 == 0:
            progress(f"  {i + 1:,} profiles, {time.perf_counter() - started:.0f} s")
    seconds = time.perf_counter() - started
    progress("  each implementation alone over all profiles (plain first and last)")
    alone = alone_pass(profiles, prepared, impls)
    return {"interleaved": with_ratios({n: summary(ns) for n, ns in times.items()}),
            "alone": with_ratios({n: summary(ns) for n, ns in alone.items()}),
            "mismatches": mismatches, "errors": errors,
            "eca_mapping": {"profiles_not_assessed": sum(
                1 for f, _ in profiles if not f["education_assessed"]),
                "raw_plain_differs": raw_plain_differs,
                "all_explained_by_eca": raw_plain_differs_all_eca},
            "seconds": round(seconds, 1)}


def alone_pass(profiles, prepared, impls) -> dict[str, list[int]]:
    """Each implementation over all the profiles in turn (caches warm for it alone); the plain
    function runs first and last, both runs pooled."""
    clock = time.perf_counter_ns
    times: dict[str, list[int]] = {n: [] for n in impls}
    order = ["plain", *[n for n in impls if n != "plain"], "plain"]
    for name in order:
        out = times[name]
        gc.collect()
        if name == "plain":
            for pf, (_facts, as_of) in zip(prepared, profiles, strict=True):
                t0 = clock()
                plain_crs(pf, as_of)
                out.append(clock() - t0)
            continue
        fn = impls[name]
        for facts, as_of in profiles:
            t0 = clock()
            try:
                fn(facts, as_of)
            except DecisionError:
                pass
            out.append(clock() - t0)
    return times


def with_ratios(stats: dict[str, dict]) -> dict[str, dict]:
    base = stats["plain"]
    for s in stats.values():
        s["ratio_median"] = s["median_us"] / base["median_us"]
        s["ratio_p99"] = s["p99_us"] / base["p99_us"]
    return stats


# ----------------------------------------------------------------------------------- batches
def batches(catalog, profiles, sizes=(1, 100, 1000), ruleset_id=ASSESSMENT,
            progress=print, engine=None) -> dict:
    """Decisions per second through each decider, for each batch size."""
    requests = [(ruleset_id, f, d, None) for f, d in profiles]
    out: dict[str, dict] = {}
    engine = engine or load()[1]
    deciders: list[tuple[str, Callable[[], Any]]] = [
        ("InlineDecider", lambda: InlineDecider(catalog, engine)),
        ("ProcessDecider", lambda: ProcessDecider(catalog, str(RULESETS))),
        (GC_PAUSED, lambda: _GcPaused(InlineDecider(catalog, engine))),
    ]
    for label, make in deciders:
        t0 = time.perf_counter()
        decider = make()
        start_s = time.perf_counter() - t0
        try:
            decider.decide_many(requests[:50])  # warm up (sessions, caches, the pipe)
            rows = {}
            for size in sizes:
                # enough calls for about 2,000 decisions (at least 2 calls, at most 300)
                calls = max(2, min(300, 2000 // size))
                per_call: list[float] = []
                failed = 0
                offset = 0
                gc.collect()
                for _ in range(calls):
                    chunk = [requests[(offset + j) % len(requests)] for j in range(size)]
                    offset += size
                    t = time.perf_counter()
                    results = decider.decide_many(chunk)
                    per_call.append(time.perf_counter() - t)
                    failed += sum(isinstance(r, DecisionError) for r in results)
                total = sum(per_call)
                rows[str(size)] = {"calls": calls, "decisions": calls * size,
                              "decisions_per_s": calls * size / total,
                              "median_call_ms": statistics.median(per_call) * 1000,
                              "p99_call_ms": percentile(sorted(per_call), 99) * 1000,
                              "failed": failed}
                if progress:
                    progress(f"  {label} batch {size}: "
                             f"{rows[str(size)]['decisions_per_s']:.0f}/s")
            out[label] = {"start_s": start_s, "batches": rows}
        finally:
            decider.close()
    return out


GC_PAUSED = "InlineDecider, gc paused during each call (diagnostic)"


class _GcPaused:
    """A diagnostic, not how the service runs: the cyclic garbage collector off during a batch,
    to show what its passes over the retained decisions cost."""

    def __init__(self, decider):
        self.decider = decider

    def decide_many(self, requests):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self.decider.decide_many(requests)
        finally:
            if enabled:
                gc.enable()

    def close(self):
        self.decider.close()


# ------------------------------------------------------------------------- where the time goes
class _Timed:
    """Wraps a callable and adds its wall time to a bucket."""

    calls = 0

    def __init__(self, fn, totals: dict, key):
        self.fn, self.totals, self.key = fn, totals, key

    def __call__(self, *args, **kwargs):
        _Timed.calls += 1
        t0 = time.perf_counter_ns()
        try:
            return self.fn(*args, **kwargs)
        finally:
            key = self.key(*args) if callable(self.key) else self.key
            self.totals[key] = self.totals.get(key, 0) + time.perf_counter_ns() - t0


class _DurableProxy:
    """Stands in for the durable_rules_engine module inside service.engine, timing each call."""

    def __init__(self, module, totals: dict):
        self._module, self._totals = module, totals

    def __getattr__(self, name):  # only on first use: the wrapper is kept as an attribute
        wrapper = _Timed(getattr(self._module, name), self._totals, f"durable.{name}")
        setattr(self, name, wrapper)
        return wrapper


VALIDATE, RUN = "validate", "run:"


def stages(catalog, engine, profiles, ruleset_id=ASSESSMENT) -> dict:
    """Wall time per stage of a decision, by timers around each stage (no profiler)."""
    totals: dict[str, int] = {}
    original_validate, original_evaluate = catalog.validate, engine.evaluate
    original_durable = engine_module._durable
    catalog.validate = _Timed(original_validate, totals, VALIDATE)
    engine.evaluate = _Timed(original_evaluate, totals,
                             lambda version, *_: f"{RUN}{version.id}")
    overhead = _timer_overhead_ns()
    engine_module._durable = _DurableProxy(original_durable, totals)
    _Timed.calls = 0
    try:
        gc.collect()
        t0 = time.perf_counter_ns()
        for facts, as_of in profiles:
            with contextlib.suppress(DecisionError):
                decide(catalog, engine, ruleset_id, facts, as_of)
        wall = time.perf_counter_ns() - t0
        calls = _Timed.calls
    finally:
        catalog.validate, engine.evaluate = original_validate, original_evaluate
        engine_module._durable = original_durable
    n = len(profiles)
    validate = totals.pop(VALIDATE, 0)
    durable = {k: v for k, v in totals.items() if k.startswith("durable.")}
    runs = {k[len(RUN):]: v for k, v in totals.items() if k.startswith(RUN)}
    c_calls, run_total = sum(durable.values()), sum(runs.values())
    timers = int(calls * overhead)

    def rows(items):
        return [{"stage": k, "us_per_decision": v / n / 1000, "share": v / wall}
                for k, v in sorted(items, key=lambda kv: -kv[1])]

    return {"profiles": n, "wall_us_per_decision": wall / n / 1000,
            "partition": rows([
                ("validate the facts (marshmallow schema of the contract)", validate),
                ("durable-rules C calls (assert, actions, retract)", c_calls),
                ("engine, Python side (lean loop, projections, orjson, derive values, "
                 "firings)", run_total - c_calls - timers),
                ("the stage timers themselves (measured per call)", timers),
                ("explanation and scores (decisions/decide.py: version choice, fired entries "
                 "with matched facts, requirements with their why-not trees, tallies, decision "
                 "dict; the why-nots in words are written where a decision is read)",
                 wall - run_total - validate)]),
            "by_ruleset": rows(runs.items()),
            "durable_calls": rows(durable.items()),
            "timed_calls_per_decision": calls / n,
            "note": f"{calls / n:.0f} timed calls per decision, {overhead:.0f} ns each, "
                    "subtracted from the engine's Python side"}


def _timer_overhead_ns(rounds: int = 200_000) -> float:
    """What one _Timed wrapper adds to a call, measured against the bare call."""
    def noop(*_args):
        return None

    wrapped = _Timed(noop, {}, "x")
    clock = time.perf_counter_ns
    best = float("inf")
    for _ in range(3):
        t0 = clock()
        for _ in range(rounds):
            noop(1)
        bare = clock() - t0
        t0 = clock()
        for _ in range(rounds):
            wrapped(1)
        best = min(best, (clock() - t0 - bare) / rounds)
    return best


def profile_hot_path(catalog, engine, profiles, ruleset_id=ASSESSMENT, top: int = 25) -> dict:
    """cProfile of ``decide`` over the profiles: the top functions by own time and by cumulative
    time (cProfile inflates Python-heavy code relative to C calls; read with the stage timers)."""
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    for facts, as_of in profiles:
        with contextlib.suppress(DecisionError):
            decide(catalog, engine, ruleset_id, facts, as_of)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = stats.total_tt
    root = str(ROOT) + os.sep
    site = os.sep + "site-packages" + os.sep

    def where(key) -> str:
        filename, line, func = key
        if filename == "~":
            return func  # a builtin or C function
        if site in filename:
            filename = filename.split(site, 1)[1]
        elif filename.startswith(root):
            filename = filename[len(root):]
        elif "/lib/python" in filename:
            filename = "stdlib/" + filename.rsplit("/lib/python", 1)[1].split("/", 1)[1]
        return f"{filename}:{line}({func})"

    entries = [{"function": where(k), "calls": nc, "tottime_us": tt / len(profiles) * 1e6,
                "cumtime_us": ct / len(profiles) * 1e6, "tottime_share": tt / total}
               for k, (_cc, nc, tt, ct, _callers) in stats.stats.items()]
    by_tottime = sorted(entries, key=lambda e: -e["tottime_us"])[:top]
    by_cumtime = sorted(entries, key=lambda e: -e["cumtime_us"])[:top]
    selected = {}
    for e in entries:
        for name in WATCHED:
            if e["function"].startswith(name.split(":")[0]) and e["function"].endswith(
                    f"({name.split(':')[1]})"):
                selected[name] = e
    return {"profiles": len(profiles), "profiled_us_per_decision": total / len(profiles) * 1e6,
            "by_tottime": by_tottime, "by_cumtime": by_cumtime, "watched": selected}


# Functions whose cumulative time the report quotes (file:function).
WATCHED = ("service/decisions/decide.py:_fired_entry",
           "service/decisions/decide.py:_requirement", "service/decisions/decide.py:tally",
           "service/rulesets/model.py:chain", "service/rulesets/model.py:validate",
           "service/engine/session.py:_project", "service/conditions.py:set_path",
           "service/engine/session.py:_assert_derived")


# ------------------------------------------------------------------------------------------ all
def run(n: int = 10_000, seed: int = 2019, batch_sizes=(1, 100, 1000), profile_n: int = 1000,
        progress: Callable[[str], None] | None = print) -> dict:
    progress = progress or (lambda _msg: None)
    t_all = time.perf_counter()
    progress(f"engine: generating {n:,} profiles (seed {seed})")
    profiles = generate(n, seed)
    progress("engine: loading and compiling the rulesets")
    t0 = time.perf_counter()
    catalog, engine = load()
    load_s = time.perf_counter() - t0
    zen, zen_missing = zen_or_reason()
    if zen_missing:
        progress(f"engine: {zen_missing}")
    impls = implementations(catalog, engine, zen)
    progress(f"engine: per decision, interleaved: {', '.join(impls)}")
    result: dict[str, Any] = {
        "profiles": n, "seed": seed, "load_s": load_s, "zen_missing": zen_missing,
        "coverage": coverage(profiles),
        "per_decision": per_decision(profiles, impls, progress)}
    progress("engine: batches through the deciders")
    result["batches"] = batches(catalog, profiles, batch_sizes, progress=progress, engine=engine)
    progress("engine: where the time goes (stage timers, then cProfile)")
    sample = profiles[:profile_n]
    result["stages"] = {rid: stages(catalog, engine, sample, rid) for rid in (ASSESSMENT, CRS)}
    result["profile"] = profile_hot_path(catalog, engine, sample)
    result["seconds"] = round(time.perf_counter() - t_all, 1)
    return result


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("durable-rules", "zen-engine", "orjson", "marshmallow"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[dist] = version(dist)
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": sys.version.split()[0],
            "platform": sys.platform, "packages": versions,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}


if __name__ == "__main__":
    import json

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(json.dumps(run(count), indent=1, default=str))
