"""The impact of a draft before release: the draft against the version it started from, over
the draft's own cases, a pool generated as of its first day, and the latest logged decisions of
its ruleset or of any ruleset that includes it (``checks.impact.compare``, includers too).

A run can take minutes, so it runs in a thread of its own with its progress in the database
(``store.workbench``): the review page can be left and come back to, from any worker. A run
that the server stopped (a restart) is seen as stale: its progress stopped moving. No Flask.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from ..checks.cases import CaseFileSchema, deep_merge
from ..checks.impact import Case, Impact, compare, log_cases
from ..decisions import ProcessDecider, TextSource, catalog_texts, with_texts
from ..draws.pool import generate
from ..errors import DecisionError
from ..rulesets import load_catalog, parse_yaml
from ..store import draws as draw_store
from ..store import workbench as rows
from . import checking

log = logging.getLogger("decisions.workbench")
PROGRESS_EVERY = 20  # cases between two progress writes
STALE_SECONDS = 300  # a running run whose progress has not moved for this long was stopped
MAX_POOL = 20_000
MAX_LOG = 2000


def draft_cases(draft: Mapping[str, Any]) -> list[Case]:
    """The cases of the draft's case file, each on each of its days."""
    if not draft.get("cases_content"):
        return []
    try:
        data, _ = parse_yaml(draft["cases_content"], "cases")
        loaded = CaseFileSchema().load(data)
    except Exception:  # the draft's check reports a broken case file; here there are none
        return []
    return [Case(deep_merge(loaded["base"], case["facts"]), day, case["name"])
            for case in loaded["cases"] for day in case["as_of"]]


def start(store, live: str, draft: Mapping[str, Any], caller: str, pool: int, logged: int,
          seed: int = 7, stored_pool: str | None = None) -> str:
    """Start an impact run in a thread; its id (progress and report: ``rows.get_impact``)."""
    run_id = "i-" + secrets.token_hex(6)
    now = rows.now()
    rows.start_impact(store, {"run_id": run_id, "draft_id": draft["draft_id"],
                              "content_sha256": rows.text_sha256(draft["content"]),
                              "state": "running", "done": 0, "total": 0, "started_at": now,
                              "updated_at": now, "started_by": caller})
    pool = max(0, min(pool, MAX_POOL))
    logged = max(0, min(logged, MAX_LOG))
    threading.Thread(target=_run, args=(store, live, dict(draft), run_id, pool, logged, seed,
                                        stored_pool), name=f"impact-{run_id}",
                     daemon=True).start()
    return run_id


def _counted(cases: Iterable[Case], tick) -> Iterator[Case]:
    for case in cases:
        yield case
        tick()


def _run(store, live: str, draft: dict, run_id: str, pool_size: int, logged: int,
         seed: int, stored_pool: str | None) -> None:
    decider = None
    try:
        day = dt.date.fromisoformat(draft["effective_from"])
        sources: dict[str, list[Case]] = {"cases": draft_cases(draft)}
        if pool_size:
            profiles, _ = generate(pool_size, seed, as_of=day)
            sources["pool"] = [Case(p, day, f"pool #{i + 1}") for i, p in enumerate(profiles)]
        if stored_pool:
            sources["stored"] = [Case(orjson.loads(text), day, f"{stored_pool} #{position}")
                                 for position, text in draw_store.iter_pool(store, stored_pool)]
        if logged:
            catalog_now = load_catalog(live)
            found: dict[str, Case] = {}
            for rid in [draft["ruleset_id"], *catalog_now.includers(draft["ruleset_id"])]:
                for case in log_cases(store, rid, logged)[0]:
                    found.setdefault(case.label, case)
            sources["log"] = list(found.values())[-logged:]
        total = sum(len(c) for c in sources.values())
        done = 0
        rows.progress_impact(store, run_id, total=total)

        def tick() -> None:
            nonlocal done
            done += 1
            if done % PROGRESS_EVERY == 0:
                rows.progress_impact(store, run_id, done=done)

        report = {}
        with checking.staged(live, checking.draft_files(draft)) as folder:
            catalog = load_catalog(folder)
            decider = ProcessDecider(catalog, str(folder))
            for name, cases in sources.items():
                impact = compare(decider, catalog, draft["ruleset_id"], draft["base_version"],
                                 draft["version"], _counted(cases, tick), includers=True)
                _examples_with_texts(impact, catalog_texts(catalog))
                report[name] = impact.as_dict()
        rows.progress_impact(store, run_id, done=total, state="done",
                             report=orjson.dumps(report, default=str).decode())
    except Exception as exc:  # the run's failure is its report; the worker goes on
        log.exception("impact run failed", extra={"run": run_id})
        detail = exc.detail if isinstance(exc, DecisionError) else f"{type(exc).__name__}: {exc}"
        try:
            rows.progress_impact(store, run_id, state="failed", problem=detail[:4000])
        except Exception:
            log.exception("impact run: cannot record its failure", extra={"run": run_id})
    finally:
        if decider is not None:
            decider.close()


def _examples_with_texts(impact: Impact, texts: TextSource) -> None:
    """The examples' decisions with their texts, written here where the draft's version is
    loaded: the review page reads the report later, when no catalog has that version (it is not
    published, and may never be)."""
    for examples in impact.examples.values():
        for example in examples:
            example["from"] = with_texts(example["from"], texts)
            example["to"] = with_texts(example["to"], texts)
    for top in impact.includers.values():
        _examples_with_texts(top, texts)


def state_of(run: Mapping[str, Any]) -> str:
    """running, done, failed, or stopped (running, but its progress stopped moving)."""
    if run["state"] != "running":
        return run["state"]
    updated = dt.datetime.fromisoformat(run["updated_at"])
    if (dt.datetime.now(dt.UTC) - updated).total_seconds() > STALE_SECONDS:
        return "stopped"
    return "running"


def report_of(run: Mapping[str, Any]) -> dict | None:
    return orjson.loads(run["report"]) if run.get("report") else None
