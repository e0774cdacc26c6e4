"""`python -m bench` (`make bench`): run every benchmark in bench/ and write docs/benchmarks.md.

    .venv/bin/python -m bench [--profiles N] [--fuzz-examples N]
                              [--skip engine,api,draws,scaling,log,fuzz,changes]
                              [--out docs/benchmarks.md] [--json var/bench/results.json]

Order: the engine benchmarks (bench/engine.py), the API, draw, scaling (Dask) and decision log
benchmarks when their modules exist (bench/api.py, bench/draws.py, bench/scaling.py,
bench/log.py, written separately), then the crash fuzz statistics (bench/crash_fuzz.py), then the
cost of "what would change the outcome" (bench/what_would_change.py). The machine is shared and
noisy: the report quotes
medians and p99 and compares implementations as ratios measured in the same run; no test asserts
a speed.

Contract for a benchmark module that adds a section (bench/api.py, bench/draws.py,
bench/log.py): it defines
``run(quick: bool = False)`` returning the section's Markdown (a str), or a dict with a
``"markdown"`` entry (the rest of the dict goes into the JSON results). A module that is missing
leaves its section saying so; a module that raises leaves the error in its section, and the other
benchmarks still run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench import compare
from bench import engine as engine_bench

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("engine", "api", "draws", "scaling", "log", "fuzz", "changes")
OPTIONAL_MODULES = {"api": "bench.api", "draws": "bench.draws", "scaling": "bench.scaling",
                    "log": "bench.log", "changes": "bench.what_would_change"}


def run_optional(section: str, quick: bool) -> dict:
    """The section of an optional benchmark module: {"status", "markdown", "result", ...}."""
    name = OPTIONAL_MODULES[section]
    if importlib.util.find_spec(name) is None:
        return {"status": "missing", "module": name}
    started = time.perf_counter()
    try:
        module = importlib.import_module(name)
        run = module.run
        kwargs = {"quick": quick} if "quick" in inspect.signature(run).parameters else {}
        result = run(**kwargs)
    except Exception:  # noqa: BLE001 - one benchmark's failure must not lose the others
        return {"status": "failed", "module": name, "error": traceback.format_exc(limit=8)}
    seconds = round(time.perf_counter() - started, 1)
    if isinstance(result, str):
        return {"status": "ok", "module": name, "markdown": result, "seconds": seconds}
    if isinstance(result, dict) and "markdown" in result:
        rest = {k: v for k, v in result.items() if k != "markdown"}
        return {"status": "ok", "module": name, "markdown": result["markdown"],
                "result": rest, "seconds": seconds}
    return {"status": "ok", "module": name, "result": result, "seconds": seconds}


def run_fuzz(examples: int) -> dict:
    from bench import crash_fuzz

    stats = crash_fuzz.run(examples)
    stats["examples"] = examples
    return stats


# ------------------------------------------------------------------------------------ the report
WHAT = {
    "plain": "service/draws/plain_crs.py: plain hand-written CRS function (the floor)",
    "crs": "decide(\"express-entry.crs\"): explained CRS decision (language + CRS rulesets)",
    "assessment": "decide(\"express-entry.assessment\"): complete explained assessment "
                  "(11 rulesets)",
    "zen": "Zen graph of the CRS grid (bench/zen_crs.py), no trace",
    "zen_trace": "Zen graph of the CRS grid, with trace (per-node inputs and outputs)",
}


def _f(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _timing_table(stats: dict) -> str:
    rows = [[f"`{name}`", WHAT.get(name, ""), _f(s["median_us"], 1), _f(s["p90_us"], 1),
             _f(s["p99_us"], 1), _f(s["mean_us"], 1), f"{s['ratio_median']:.1f}x",
             f"{s['ratio_p99']:.1f}x"] for name, s in stats.items()]
    return _table(["", "what", "median us", "p90 us", "p99 us", "mean us",
                   "median / plain", "p99 / plain"], rows)


def _share_table(rows: list[dict], label: str) -> str:
    return _table([label, "us per decision", "share of the decision"],
                  [[r["stage"], _f(r["us_per_decision"], 1), f"{r['share']:.0%}"]
                   for r in rows])


def render_engine(e: dict) -> str:
    pd = e["per_decision"]
    alone, inter = pd["alone"], pd["interleaved"]
    out = [f"{e['profiles']:,} profiles from `bench/profiles.py` (seed {e['seed']}), "
           f"decided on 2019-07-11 or 2026-11-25. Rulesets loaded and compiled in "
           f"{e['load_s']:.1f} s (not counted). Engine section: {e['seconds']:.0f} s.", ""]
    if e.get("zen_missing"):
        out += [f"**Zen not measured**: {e['zen_missing']}.", ""]
    cov = e["coverage"]
    out += ["<details><summary>What the profiles cover</summary>", "",
            _table(["field", "values (profiles)"],
                   [[k, ", ".join(f"{v} ({n:,})" for v, n in sorted(
                       vals.items(), key=lambda kv: -kv[1]))] for k, vals in cov.items()]),
            "", "</details>", ""]
    out += ["### Microseconds per decision", "",
            "**Each implementation alone** over all the profiles in turn (caches warm for it; "
            "the plain function runs first and last, pooled):", "", _timing_table(alone), "",
            "**Interleaved**: for each profile, every implementation in a rotating order "
            "(machine noise falls on all alike; each call finds caches the others left, which "
            "slows the small plain function most):", "", _timing_table(inter), ""]
    # agreement
    mism, errors = pd["mismatches"], pd["errors"]
    n_errors = sum(len(v) for v in errors.values())
    checked = [n for n in inter if n != "plain"]
    out += ["### Do all implementations give the same CRS?", ""]
    eca = pd["eca_mapping"]
    out += [f"Every profile's CRS (total, core, spouse, transferability, additional) from "
            f"{', '.join(f'`{n}`' for n in checked)} was compared with the plain function's: "
            f"**{len(mism)} mismatches, {n_errors} decision errors** over "
            f"{e['profiles']:,} profiles.", "",
            f"The plain function does not read `education_assessed`; it is given "
            f"`education: none` when that is false (the reading of docs/crs.md: foreign "
            f"education without an ECA earns no education points). "
            f"{eca['profiles_not_assessed']:,} profiles have no ECA; on the raw facts the "
            f"plain function differs from the engine on {eca['raw_plain_differs']:,} profiles"
            + (", every one of them a profile without an ECA (the ones that do not differ "
               "have education `none`)." if eca["all_explained_by_eca"] else
               ", **and not all of them lack an ECA: a bug to find**."), ""]
    if mism:
        out += ["First mismatches (all are in the JSON results):", "", "```json",
                json.dumps([{k: v for k, v in m.items() if k != "facts"} for m in mism[:10]],
                           indent=1), "```", ""]
    for name, errs in errors.items():
        if errs:
            out += [f"`{name}` raised {len(errs)} errors, first: `{errs[0]['error'][:300]}` "
                    f"({errs[0]['candidate_id']}, {errs[0]['as_of']})", ""]
    # batches
    out += ["### Decisions per second through the deciders", "",
            "Complete explained `express-entry.assessment` decisions, through "
            "`service.decisions.InlineDecider.decide_many` (in this process) and "
            "`ProcessDecider.decide_many` (the supervised engine process the web service uses:"
            " requests and decisions pickled over a pipe). The third row is a diagnostic: "
            "the inline decider with Python's cyclic garbage collector paused during each "
            "call.", ""]
    rows = []
    for label, d in e["batches"].items():
        for size, b in d["batches"].items():
            rows.append([label, f"{int(size):,}", f"{b['calls']:,}",
                         _f(b["decisions_per_s"]), _f(b["median_call_ms"], 2),
                         _f(b["p99_call_ms"], 2), b["failed"]])
    out += [_table(["decider", "batch", "calls", "decisions/s", "median ms per call",
                    "p99 ms per call", "failed"], rows), ""]
    starts = {k: v["start_s"] for k, v in e["batches"].items() if v["start_s"] > 0.01}
    if starts:
        out += ["Engine process start (spawn, load and compile the rulesets): "
                + ", ".join(f"{k} {v:.1f} s" for k, v in starts.items()) + ".", ""]
    # where the time goes
    out += ["### Where the time goes", ""]
    for rid, st in e["stages"].items():
        out += [f"**{rid}**, {st['profiles']:,} profiles, timers around each stage (no "
                f"profiler), {_f(st['wall_us_per_decision'])} us per decision:", "",
                _share_table(st["partition"], "stage"), "",
                "<details><summary>Engine time by ruleset, and by durable call</summary>", "",
                _share_table(st["by_ruleset"], "ruleset (engine run, durable + Python)"), "",
                _share_table(st["durable_calls"], "durable_rules_engine call"), "",
                f"({st['note']}.)", "", "</details>", ""]
    prof = e["profile"]
    out += [f"**Hottest path, cProfile** of `decide(\"express-entry.assessment\")` over "
            f"{prof['profiles']:,} profiles ({_f(prof['profiled_us_per_decision'])} us per "
            "decision under the profiler, which inflates Python calls against C calls): top "
            "entries by own time, per decision.", "",
            _table(["function", "calls per decision", "own us", "cumulative us", "own share"],
                   [[f"`{r['function']}`", _f(r["calls"] / prof["profiles"], 1),
                     _f(r["tottime_us"], 1), _f(r["cumtime_us"], 1),
                     f"{r['tottime_share']:.1%}"] for r in prof["by_tottime"][:20]]), "",
            "By cumulative time:", "",
            _table(["function", "calls per decision", "cumulative us", "own us"],
                   [[f"`{r['function']}`", _f(r["calls"] / prof["profiles"], 1),
                     _f(r["cumtime_us"], 1), _f(r["tottime_us"], 1)]
                    for r in prof["by_cumtime"][:15]]), ""]
    return "\n".join(out)


def summary(e: dict, extra: list[list[str]] | None = None) -> str:
    pd = e["per_decision"]
    alone, inter = pd["alone"], pd["interleaved"]
    rows = []

    def both(name: str) -> str:
        return (f"{alone[name]['ratio_median']:.0f}x alone, "
                f"{inter[name]['ratio_median']:.0f}x interleaved")

    a = "assessment"
    rows.append(["complete explained assessment at most 20x the plain function (median)",
                 both(a), "no" if min(alone[a]["ratio_median"], inter[a]["ratio_median"]) > 20
                 else ("yes" if max(alone[a]["ratio_median"], inter[a]["ratio_median"]) <= 20
                       else "only interleaved")])
    if "zen_trace" in alone:
        for name, label in ((a, "assessment (11 rulesets) at least 4x faster than Zen with "
                                "trace (CRS grid only)"),
                            ("crs", "like for like: explained CRS decision at least 4x faster "
                                    "than Zen with trace")):
            ra = alone["zen_trace"]["median_us"] / alone[name]["median_us"]
            ri = inter["zen_trace"]["median_us"] / inter[name]["median_us"]
            rows.append([label, f"{ra:.2f}x alone, {ri:.2f}x interleaved",
                         "yes" if min(ra, ri) >= 4 else "no"])
    n_bad = len(pd["mismatches"]) + sum(len(v) for v in pd["errors"].values())
    rows.append(["all implementations give the same CRS on every profile",
                 f"{n_bad} mismatches or errors over {e['profiles']:,} profiles",
                 "yes" if n_bad == 0 else "**no**"])
    return _table(["target (issues 10 and 12)", "measured", "met"], rows + (extra or []))


def targets_elsewhere(results: dict) -> list[list[str]]:
    """Rows of the summary for the API and draw targets, from their sections when they ran."""
    rows = []
    api = (results.get("api") or {}).get("result")
    if api:
        best = {}
        for db in api["databases"]:
            for kind in ("single", "batch"):
                found = [r for r in db["rows"] if r["kind"] == kind]
                if found:
                    best[(db["database"], kind)] = max(found, key=lambda r: r["decisions_per_s"])
        singles = [(db, r) for (db, kind), r in best.items() if kind == "single"]
        batches = [(db, r) for (db, kind), r in best.items() if kind == "batch"]
        if singles:
            rows.append(["API: at least 1,000 logged decisions/s in single calls, p99 at most "
                         "20 ms (gunicorn, 2 workers)", "; ".join(
                             f"{db} {r['decisions_per_s']:,.0f}/s, p99 {r['p99_ms']:.1f} ms"
                             for db, r in singles),
                         "yes" if all(r["decisions_per_s"] >= 1000 and r["p99_ms"] <= 20
                                      for _, r in singles) else
                         ("p99 only" if all(r["p99_ms"] <= 20 for _, r in singles) else "no")])
        if batches:
            rows.append(["API: at least 1,000 logged decisions/s (batches of 100)", "; ".join(
                f"{db} {r['decisions_per_s']:,.0f}/s" for db, r in batches),
                "yes" if all(r["decisions_per_s"] >= 1000 for _, r in batches) else "no"])
    draws = (results.get("draws") or {}).get("result")
    if draws:
        main = sorted((r for r in draws["rows"] if r["workers"] > 0), key=lambda r: r["size"])
        if main:
            big, small = main[-1], main[0]
            per_big = big["total_seconds"] / big["size"]
            per_small = small["total_seconds"] / small["size"]
            rows.append([f"draw over {big['size']:,} candidates in under 60 s, growing linearly",
                         f"{big['total_seconds']:.0f} s; per candidate {1e6 * per_small:,.0f} us "
                         f"at {small['size']:,}, {1e6 * per_big:,.0f} us at {big['size']:,}",
                         ("yes" if big["total_seconds"] < 60 else "no") + " / " +
                         ("linear" if per_big <= 1.5 * per_small else "not linear")])
    return rows


def findings(e: dict) -> str:
    """The reading of the figures, with this run's numbers."""
    pd = e["per_decision"]
    alone = pd["alone"]
    st = e["stages"]["express-entry.assessment"]
    part = {r["stage"].split(" (")[0]: r for r in st["partition"]}
    explain = part.get("explanation and scores")
    py = part.get("engine, Python side")
    c = part.get("durable-rules C calls")
    val = part.get("validate the facts")
    lines = ["### Reading", ""]
    lines.append(
        f"- **The floor is very low.** The plain function takes {alone['plain']['median_us']:.1f}"
        f" us alone: a few dict look-ups. At 20x it leaves "
        f"{20 * alone['plain']['median_us']:.0f} us for a decision that here runs 11 rulesets"
        " through durable-rules and builds an explanation of every fired rule and every "
        "requirement. The assessment is "
        f"{alone['assessment']['median_us']:,.0f} us alone; the CRS decision alone (2 rulesets)"
        f" {alone['crs']['median_us']:,.0f} us.")
    if explain and py and c and val:
        lines.append(
            f"- **Where an assessment's {st['wall_us_per_decision']:,.0f} us go** (stage "
            f"timers): the engine's Python side {py['us_per_decision']:,.0f} us "
            f"({py['share']:.0%}), the explanation and scores in decisions.py "
            f"{explain['us_per_decision']:,.0f} us ({explain['share']:.0%}), durable-rules' C "
            f"calls {c['us_per_decision']:,.0f} us ({c['share']:.0%}), fact validation "
            f"{val['us_per_decision']:,.0f} us ({val['share']:.0%}). Even with the C calls "
            f"alone the assessment would be "
            f"{c['us_per_decision'] / alone['plain']['median_us']:.0f}x the plain function: "
            "20x is out of reach for durable-rules behind an explained decision of this size.")
    w = e["profile"].get("watched", {})
    n = e["profile"]["profiles"]

    def cum(name: str) -> str:
        entry = w.get(name)
        if entry is None:
            return "?"
        calls = entry["calls"] / n
        return (f"{entry['cumtime_us']:,.0f} us, {calls:.0f} call{'s' if calls >= 1.5 else ''}"
                f", {entry['cumtime_us'] / e['profile']['profiled_us_per_decision']:.0%}")

    if w:
        lines.append(
            "- **Work done for every decision whether or not it is read** (cumulative time per "
            "assessment under cProfile, "
            f"{e['profile']['profiled_us_per_decision']:,.0f} us in all): the why-not tree of "
            "each unmet requirement (all of `_requirement`: "
            f"{cum('service/decisions/decide.py:_requirement')}; its sentences in words are no "
            "longer written here but where a decision is read, `decisions.with_texts`), the "
            "matched facts of every fired rule (`_fired_entry`: "
            f"{cum('service/decisions/decide.py:_fired_entry')}), the "
            f"chain of versions re-resolved per decision (`Catalog.chain`: "
            f"{cum('service/rulesets/model.py:chain')}), the facts validated by marshmallow "
            f"(`Catalog.validate`: {cum('service/rulesets/model.py:validate')}), and inside the "
            f"engine the facts projected per ruleset (`_project`: "
            f"{cum('service/engine/session.py:_project')}) and nested dicts copied on every "
            f"derived "
            f"value (`set_path`: {cum('service/conditions.py:set_path')}). These are in service/,"
            " outside this benchmark's remit: each is a candidate, to be measured with this "
            "suite before and after.")
    b = e["batches"]
    inline = b.get("InlineDecider", {}).get("batches", {})
    paused = b.get(engine_bench.GC_PAUSED, {}).get("batches", {})
    big = max(inline, key=int, default=None)
    if big is not None and big in paused and "1" in inline:
        lines.append(
            f"- **Batches share nothing in process; the garbage collector is kept out of "
            f"them.** Inline: {inline['1']['decisions_per_s']:,.0f}/s one at a time, "
            f"{inline[big]['decisions_per_s']:,.0f}/s in batches of {int(big):,}; the "
            f"diagnostic row, which pauses the collector around the whole call from outside, "
            f"{paused[big]['decisions_per_s']:,.0f}/s. Each decision is a tree of dicts kept "
            "until the batch returns, and every collection walked all of them: batches of "
            "1,000 ran at 687/s against 922/s with the collector paused (the first run of this "
            "suite). `decide_many` now pauses it itself (decisions hold no reference cycles), "
            "and `gc.freeze()` after loading keeps it off the loaded rulesets.")
    proc = b.get("ProcessDecider", {}).get("batches", {})
    if "1" in proc and "1" in inline:
        lines.append(
            f"- **The supervised engine process** costs a pipe round trip and pickling of each "
            f"decision: {proc['1']['decisions_per_s']:,.0f}/s one at a time against "
            f"{inline['1']['decisions_per_s']:,.0f}/s inline"
            + (f"; {proc[big]['decisions_per_s']:,.0f}/s in batches of {int(big):,}."
               if big in proc else "."))
    if "zen" in alone:
        lines.append(
            f"- **Zen** pays a fixed cost per `evaluate` from Python (the context and the "
            f"result cross the binding as Python objects): {alone['zen']['median_us']:,.0f} us "
            f"without trace, {alone['zen_trace']['median_us']:,.0f} us with it, for the CRS "
            f"grid alone, with long tails (p99 {alone['zen']['p99_us']:,.0f} / "
            f"{alone['zen_trace']['p99_us']:,.0f} us). Its trace records each node's input "
            "and output; the durable decision's explanation (matched facts per fired rule, "
            "why-not per requirement in both languages) says more, for a cost of the same order.")
    return "\n".join(lines)


def render_optional(section: dict | None, what: str) -> str:
    if section is None:
        return "Not run (skipped with `--skip`)."
    status = section["status"]
    if status == "missing":
        return (f"Not measured in this run: `{section['module'].replace('.', '/')}.py` is not "
                f"present. {what}")
    if status == "failed":
        return (f"`{section['module']}` failed in this run:\n\n```\n{section['error']}```")
    if "markdown" in section:
        return section["markdown"].rstrip()
    return "```json\n" + json.dumps(section.get("result"), indent=1, default=str) + "\n```"


def render_fuzz(f: dict | None) -> str:
    if f is None:
        return "Not run (skipped with `--skip`)."
    lines = [f"`bench.crash_fuzz.run({f['examples']:,})`: random valid rulesets (requirements, "
             "awards, derivations, range tables of up to 64 rows) with random fact sets, each "
             "compiled and run in a child process so that a crash is observed, and each answer "
             "checked against a Python forward-chaining oracle.", "",
             _table(["rulesets tried", "fact sets", "crashes", "wrong answers",
                     "refused at compile time", "seconds"],
                    [[f"{f['rulesets']:,}", f"{f['fact_sets']:,}", f["crashes"], f["wrong"],
                      f["refused"], f["seconds"]]]), ""]
    if f["crash_shapes"]:
        lines += ["Crash shapes found (exit code, first rules):", "", "```json",
                  json.dumps(f["crash_shapes"][:5], indent=1, default=str), "```"]
    else:
        lines.append("No crash shape found in this run: the compiler refuses the shapes found "
                     "earlier (docs/engine.md) before they reach durable-rules.")
    return "\n".join(lines)


def render(results: dict) -> str:
    m = results["machine"]
    pk = m.get("packages", {})
    out = ["# Benchmarks", "",
           f"Written by `make bench` (`python -m bench`) on {m['date']}; every figure below "
           f"comes from that one run ({results['seconds']:.0f} s). Regenerate rather than edit "
           "by hand. The machine is shared and noisy: read medians and p99, and compare "
           "implementations only through the ratios measured in the same run.", "",
           "## The machine", "",
           _table(["nproc", "CPU", "Python", "durable-rules", "zen-engine", "orjson"],
                  [[m["nproc"], m["cpu"], m["python"], pk.get("durable-rules", "-"),
                    pk.get("zen-engine", "not installed"), pk.get("orjson", "-")]]), "",
           "## How to reproduce", "", "```sh",
           "make bench      # sets up .venv, installs '.[test,bench]' (zen-engine pinned), runs "
           "python -m bench",
           ".venv/bin/python -m bench --quick                    # smoke run: 1,000 profiles",
           ".venv/bin/python -m bench --skip api,draws,scaling,log,fuzz,changes  # engine only",
           ".venv/bin/python -m bench.what_would_change --sample 20  # one section, Markdown out",
           ".venv/bin/python -m bench.engine 2000                # engine only, JSON to stdout",
           ".venv/bin/python -m bench --save-baseline            # and make this run the next "
           "'before'",
           "```", "",
           "All figures also go to `var/bench/results.json` (mismatching profiles in full). "
           "Options: `--profiles N` (default 10,000), `--seed`, `--fuzz-examples N` (default "
           "1,000), `--skip engine,api,draws,scaling,log,fuzz,changes`.", ""]
    out += ["## Before and after", "", compare.markdown(results, results.get("baseline")), ""]
    e = results.get("engine")
    if e:
        out += ["## Summary", "", summary(e, targets_elsewhere(results)), "", findings(e), "",
                "## 1. Engine: one decision, in process", "", render_engine(e)]
    else:
        out += ["## 1. Engine", "", "Not run (skipped with `--skip`).", ""]
    out += ["## 2. API", "", "<!-- section api: written from bench/api.py run() -->",
            render_optional(results.get("api"), "It is to measure gunicorn with 2 workers on "
                            "loopback, decisions logged to SQLite and PostgreSQL (issue 12)."),
            "", "## 3. Draws", "", "<!-- section draws: written from bench/draws.py run() -->",
            render_optional(results.get("draws"), "It is to measure pools of 10,000, 50,000 "
                            "and 250,000 candidates: wall time, peak memory, growth (issue 12)."),
            "", "### Past one machine: the same draw on Dask", "",
            "<!-- section scaling: written from bench/scaling.py run() -->",
            render_optional(results.get("scaling"), "It is to measure a draw over 10,000, "
                            "50,000 and 250,000 candidates on this machine's engine processes "
                            "and on a local Dask cluster of 1 and 2 workers (issue 22)."),
            "", "## 4. Decision log", "", "<!-- section log: written from bench/log.py run() -->",
            render_optional(results.get("log"), "It is to measure verify-log and replay over "
                            "100,000 records: time and memory (issue 12)."),
            "", "## 5. Crash fuzzing", "", render_fuzz(results.get("fuzz")), "",
            "## 6. What would change the outcome", "",
            "<!-- section changes: written from bench/what_would_change.py run() -->",
            render_optional(results.get("changes"), "It is to measure the engine decisions and "
                            "milliseconds of one answer over not-met profiles (issue 19)."), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=10_000,
                        help="generated profiles for the engine benchmarks (default 10,000)")
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--fuzz-examples", type=int, default=1000,
                        help="crash fuzz examples (random rulesets; default 1,000)")
    parser.add_argument("--skip", default="", help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1,000 profiles, 100 fuzz examples, quick API/draws/log")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "results.json"),
                        help="all figures as JSON (var/ is not committed)")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: write the report again from the figures of the "
                             "last run (--json), after a change to the texts of the engine "
                             "section, the summary or the comparison; the API, draws and log "
                             "sections keep the text they were measured with")
    parser.add_argument("--save-baseline", action="store_true",
                        help="afterwards, write this run's key figures to bench/baseline.json "
                             "(the 'before' of the next round of changes)")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) to skip: {', '.join(sorted(unknown))}")
    if args.quick:
        args.profiles, args.fuzz_examples = min(args.profiles, 1000), min(args.fuzz_examples, 100)

    def say(message: str) -> None:
        print(message, flush=True)

    if args.render_only:
        results = json.loads(Path(args.json).read_text(encoding="utf-8"))
        results["baseline"] = compare.load_baseline()
        Path(args.out).write_text(render(results), encoding="utf-8")
        say(f"wrote {args.out} from {args.json} (figures of {results['machine']['date']})")
        return 0

    started = time.perf_counter()
    results: dict = {"machine": engine_bench.machine(), "argv": sys.argv[1:],
                     "profiles": args.profiles, "seed": args.seed}
    if "engine" not in skip:
        results["engine"] = engine_bench.run(args.profiles, args.seed, progress=say)
    for section in ("api", "draws", "scaling", "log"):
        if section not in skip:
            say(f"{section}: {OPTIONAL_MODULES[section]}")
            results[section] = run_optional(section, args.quick)
            say(f"{section}: {results[section]['status']}")
    if "fuzz" not in skip:
        say(f"fuzz: {args.fuzz_examples:,} random rulesets, each in a child process")
        results["fuzz"] = run_fuzz(args.fuzz_examples)
    if "changes" not in skip:
        say(f"changes: {OPTIONAL_MODULES['changes']}")
        results["changes"] = run_optional("changes", args.quick)
        say(f"changes: {results['changes']['status']}")
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["commit"] = _commit()
    results["baseline"] = compare.load_baseline()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results), encoding="utf-8")
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    say(f"wrote {out} and {json_path} ({results['seconds']:.0f} s)")
    if args.save_baseline:
        compare.save_baseline(results, results["commit"])
        say(f"wrote {compare.BASELINE}: commit it as the next round's 'before'")
    return 0


def _commit() -> str:
    """The commit measured, marked when the work tree had changes."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" with uncommitted changes" if git("status", "--porcelain") else "")


if __name__ == "__main__":
    sys.exit(main())
