"""Before and after: the key figures of this run beside those of an earlier run (a baseline).

Issue 12 asks to profile each hot path, fix what dominates, and record the before and after. The
baseline is `bench/baseline.json`: the key figures of the run before a round of changes, with the
commit it measured. `python -m bench --save-baseline` writes this run's key figures there, to be
committed as the next round's "before".

Figures from two runs are taken at different times on a shared machine: ratios measured within
one run (x the plain function, x Zen) compare across runs far better than absolute times, and a
change under about 10% in an absolute figure is within the noise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).resolve().parent / "baseline.json"


def _alone(name: str, key: str) -> Callable[[dict], float | None]:
    return lambda r: r["engine"]["per_decision"]["alone"][name][key]


def _zen_over(name: str) -> Callable[[dict], float | None]:
    def get(r: dict) -> float | None:
        alone = r["engine"]["per_decision"]["alone"]
        if "zen_trace" not in alone:
            return None
        return alone["zen_trace"]["median_us"] / alone[name]["median_us"]
    return get


def _decider(decider: str, batch: int) -> Callable[[dict], float | None]:
    return lambda r: r["engine"]["batches"][decider]["batches"][str(batch)]["decisions_per_s"]


def _api(database: str, kind: str, key: str) -> Callable[[dict], float | None]:
    """The best level (most logged decisions per second) of one kind of call."""
    def get(r: dict) -> float | None:
        for db in r["api"]["result"]["databases"]:
            if db["database"] == database:
                rows = [row for row in db["rows"] if row["kind"] == kind]
                if rows:
                    return max(rows, key=lambda row: row["decisions_per_s"])[key]
        return None
    return get


def _api_profile(isolated: bool, key: str) -> Callable[[dict], float | None]:
    return lambda r: r["api"]["result"]["profile"]["isolated" if isolated else "inline"][key]


def _draw(size: int, key: str) -> Callable[[dict], float | None]:
    def get(r: dict) -> float | None:
        for row in r["draws"]["result"]["rows"]:
            if row["size"] == size and row["workers"] > 0:
                return 1e6 * row[key] / size if key == "cpu_seconds" else row[key]
        return None
    return get


def _log(database: str, key: str) -> Callable[[dict], float | None]:
    def get(r: dict) -> float | None:
        for db in r["log"]["result"]["databases"]:
            if db["database"] == database:
                return key_path(db, key)
        return None
    return get


def key_path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


# (key, what, unit, better, extractor). "better" is "lower" or "higher".
FIGURES: list[tuple[str, str, str, str, Callable[[dict], float | None]]] = [
    ("engine.assessment_x_plain", "assessment (11 rulesets), median, x the plain function",
     "x", "lower", _alone("assessment", "ratio_median")),
    ("engine.crs_x_plain", "explained CRS decision, median, x the plain function", "x", "lower",
     _alone("crs", "ratio_median")),
    ("engine.assessment_us", "assessment, median", "us", "lower",
     _alone("assessment", "median_us")),
    ("engine.crs_us", "explained CRS decision, median", "us", "lower", _alone("crs", "median_us")),
    ("engine.zen_trace_over_crs", "Zen with trace / explained CRS decision (4 wanted)", "x",
     "higher", _zen_over("crs")),
    ("engine.process_decider_1", "ProcessDecider, one decision per call", "decisions/s",
     "higher", _decider("ProcessDecider", 1)),
    ("engine.process_decider_100", "ProcessDecider, batches of 100", "decisions/s", "higher",
     _decider("ProcessDecider", 100)),
    ("api.request_ms_inline", "POST /v1/decisions in process (test client), median", "ms",
     "lower", _api_profile(False, "median_ms")),
    ("api.request_ms_isolated", "POST /v1/decisions as served (engine process), median", "ms",
     "lower", _api_profile(True, "median_ms")),
    ("api.sqlite_single", "API, SQLite log, single calls, best level", "decisions/s", "higher",
     _api("SQLite", "single", "decisions_per_s")),
    ("api.sqlite_single_p99", "API, SQLite log, single calls, p99 at that level", "ms", "lower",
     _api("SQLite", "single", "p99_ms")),
    ("api.sqlite_batch", "API, SQLite log, batches of 100, best level", "decisions/s", "higher",
     _api("SQLite", "batch", "decisions_per_s")),
    ("api.postgresql_single", "API, PostgreSQL log, single calls, best level", "decisions/s",
     "higher", _api("PostgreSQL", "single", "decisions_per_s")),
    ("api.postgresql_batch", "API, PostgreSQL log, batches of 100, best level", "decisions/s",
     "higher", _api("PostgreSQL", "batch", "decisions_per_s")),
    ("draws.250k_seconds", "draw over 250,000 candidates, total", "s", "lower",
     _draw(250_000, "total_seconds")),
    ("draws.250k_cpu_us", "draw over 250,000 candidates, CPU per candidate", "us", "lower",
     _draw(250_000, "cpu_seconds")),
    ("log.sqlite_verify_s", "verify-log over 100,000 records, SQLite", "s", "lower",
     _log("SQLite", "verify.seconds")),
    ("log.postgresql_verify_s", "verify-log over 100,000 records, PostgreSQL", "s", "lower",
     _log("PostgreSQL", "verify.seconds")),
    ("log.sqlite_replay_ms", "replay of one logged decision, SQLite", "ms", "lower",
     _log("SQLite", "replay.ms_per_record")),
    ("log.postgresql_replay_ms", "replay of one logged decision, PostgreSQL", "ms", "lower",
     _log("PostgreSQL", "replay.ms_per_record")),
]


def key_figures(results: dict) -> dict[str, float]:
    """This run's key figures; a figure whose section did not run (or failed) is left out."""
    out: dict[str, float] = {}
    for key, _what, _unit, _better, get in FIGURES:
        try:
            value = get(results)
        except (KeyError, TypeError, IndexError, ZeroDivisionError):
            continue
        if value is not None:
            out[key] = round(float(value), 3)
    return out


def load_baseline(path: Path = BASELINE) -> dict | None:
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def save_baseline(results: dict, commit: str, path: Path = BASELINE) -> dict:
    baseline = {"date": results["machine"]["date"], "commit": commit,
                "source": "written by python -m bench --save-baseline",
                "figures": key_figures(results),
                "changes": []}  # what the next round changes, to be listed by hand
    path.write_text(json.dumps(baseline, indent=1) + "\n", encoding="utf-8")
    return baseline


def _show(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"
    digits = 1 if abs(value) < 100 else 0
    return f"{value:,.{digits}f} {unit}"


def markdown(results: dict, baseline: dict | None) -> str:
    if baseline is None:
        return "No baseline (`bench/baseline.json`): nothing to compare with."
    now = key_figures(results)
    rows = []
    for key, what, unit, better, _get in FIGURES:
        before, after = baseline["figures"].get(key), now.get(key)
        if before is None or after is None:
            continue
        if before == 0:
            change = "-"
        else:
            # Always "how many times better" (or worse): >1 is better whichever way is better.
            gain = before / after if better == "lower" else after / before
            change = f"{gain:.2f}x {'better' if gain >= 1 else 'worse'}"
        rows.append(f"| {what} | {_show(before, unit)} | {_show(after, unit)} | {change} |")
    head = [f"Before: the run of {baseline['date']} (commit {baseline['commit']}; "
            f"{baseline['source']}). After: this run. Ratios measured within one run (x the "
            "plain function, x Zen) compare across runs; absolute figures carry the noise of a "
            "shared machine (read a change under about 10% as none).", "",
            "| figure | before | after | change |", "| --- | --- | --- | --- |"]
    changes = baseline.get("changes") or []
    tail = ["", "What changed since, each change made after profiling the path it speeds up:",
            "", *[f"- {change}" for change in changes]] if changes else []
    return "\n".join(head + rows + tail)
