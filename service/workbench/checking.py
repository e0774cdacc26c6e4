"""A draft checked as `decisions check` and `decisions test` check a folder: the live ruleset
folder copied into a temporary folder with the draft's version file and case file written in
it, loaded (every problem as file:line: key: message, with did-you-mean), then the draft's
case file run in a child process with rule coverage, so that a draft that crashes the engine
costs a child, not the worker. Deciding a profile with the draft and with the version in force
(the try panel) runs in a child on the same kind of copy. No Flask here.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..checks import Report, cases_in_child
from ..child import ChildStopped, run_in_child
from ..decisions import catalog_texts, decide, with_texts
from ..engine import load_compiled
from ..errors import DecisionError, Problem, RulesetError
from ..rulesets import CASES_SUFFIX, parse_yaml

TRY_TIMEOUT = 120.0


@contextmanager
def staged(live: str | Path, files: Mapping[str, str | None]) -> Iterator[Path]:
    """A temporary copy of the live folder (same folder name, so problems read as they would
    there) with ``files`` (path relative to the folder -> text; None: removed) written in."""
    live = Path(live).resolve()
    with tempfile.TemporaryDirectory(prefix="decisions-draft-") as tmp:
        folder = Path(tmp) / live.name
        shutil.copytree(live, folder, ignore=shutil.ignore_patterns(".git"))
        for relative, text in files.items():
            target = folder / relative
            if text is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        yield folder


def draft_files(draft: Mapping[str, Any]) -> dict[str, str | None]:
    files: dict[str, str | None] = {draft["path"]: draft["content"]}
    if draft.get("cases_path") and draft.get("cases_content") is not None:
        files[draft["cases_path"]] = draft["cases_content"]
    return files


def check_draft(live: str | Path, draft: Mapping[str, Any]) -> dict:
    """The check of a draft as plain data (stored with the draft, shown beside its lines):
    ``ok`` when every file loads and the draft's cases all pass, every rule of its ruleset's
    versions fired by some case.

    The folder is loaded once, in the child that runs the cases (loading the bundled rulesets
    is most of a check's time): a folder that does not load raises there, with every problem."""
    checked_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with staged(live, draft_files(draft)) as folder:
        display = f"{folder.name}/{draft['path']}"
        cases_display = f"{folder.name}/{draft['cases_path']}" if draft.get("cases_path") \
            else None

        def failed(problems: list[Problem], loads: bool) -> dict:
            return {"ok": False, "loads": loads, "checked_at": checked_at,
                    "problems": _problems(problems, display, cases_display), "cases": None}

        named = _names_problem(draft, display)
        if named is not None:
            return failed([named], True)
        # The draft's own case file runs on every save, and those of the rulesets that include
        # its ruleset (a round ranked by the CRS, an assessment), which the change can make
        # fail: seen here, not first when the publication's reload refuses it. The cases of
        # every ruleset run when the service reloads to publish it.
        only = [draft["cases_path"]] if draft.get("cases_content") else []
        try:
            report = cases_in_child(str(folder), only=only, including=draft["ruleset_id"])
        except RulesetError as exc:
            # loads: it was the engine that crashed or hung on a case, not the files
            return failed(exc.problems, all(p.message.startswith("the engine")
                                            for p in exc.problems))
        # Coverage of the draft's ruleset only: the versions of rulesets it includes are
        # covered by their own case files, which this check does not run.
        mine = draft["ruleset_id"]
        report.uncovered = {k: v for k, v in report.uncovered.items()
                            if k.split(" ", 1)[0] == mine}
        report.never_failed = {k: v for k, v in report.never_failed.items()
                               if k.split(" ", 1)[0] == mine}
        cases = report_data(report, f"{mine} {draft['version']}")
        problems = _problems(report.problems, display, cases_display)
        return {"ok": report.passed and not problems, "loads": True, "checked_at": checked_at,
                "problems": problems, "cases": cases}


def _names_problem(draft: Mapping[str, Any], display: str) -> Problem | None:
    """The draft's file must be the version of the ruleset the draft is of."""
    try:
        data, lines = parse_yaml(draft["content"], display)
    except RulesetError:
        return None  # the load reports it, with its line
    if not isinstance(data, Mapping):
        return None
    for key, wanted in (("id", draft["ruleset_id"]), ("version", draft["version"])):
        if data.get(key) != wanted:
            return Problem(display, lines.get((key,)), key, f"this draft is of "
                           f"{draft['ruleset_id']} version {draft['version']}: the file says "
                           f"{data.get(key)!r}")
    return None


def _problems(problems: list[Problem], display: str, cases_display: str | None) -> list[dict]:
    """Each problem, with ``in_draft`` (``file``/``cases``) when it points into the draft's own
    files, so that the page shows it beside the line."""
    out = []
    for p in problems:
        where = "file" if p.file == display else "cases" if p.file == cases_display else None
        out.append({**p.as_dict(), "text": str(p), "in_draft": where})
    return out


def report_data(report: Report, mine: str) -> dict:
    """A case report as plain data: every case (expected against actual), coverage."""
    results = [{"file": r.file, "line": r.line, "name": r.name, "names": r.names,
                "as_of": r.as_of, "passed": r.passed,
                "error": r.error, "mismatches": [{"field": m.field, "expected": m.expected,
                                                  "actual": m.actual} for m in r.mismatches]}
               for r in report.results]
    return {"passed": sum(r["passed"] for r in results),
            "failed": sum(not r["passed"] for r in results) + len(report.problems),
            "results": results, "uncovered": report.uncovered,
            "never_failed": report.never_failed, "mine": mine,
            "mine_covered": mine not in report.uncovered}


# ---------------------------------------------------------------------------------- the try
def _try_setup(folder: str):
    catalog, engine = load_compiled(folder)
    texts_of = catalog_texts(catalog)

    def handle(request, _progress) -> dict:
        ruleset_id, facts, day, sides = request
        out = {}
        for name, version in sides:
            try:
                pinned = {ruleset_id: version} if version else None
                out[name] = {"decision": with_texts(decide(catalog, engine, ruleset_id, facts,
                                                           day, pinned), texts_of)}
            except DecisionError as exc:
                out[name] = {"problem": exc.problem()}
        return out

    return handle


def try_profile(live: str | Path, draft: Mapping[str, Any], facts: Any,
                day: dt.date) -> dict:
    """Decide ``facts`` on ``day`` with the draft and with the version in force that day (the
    draft's version left out), side by side: {"draft": ..., "in_force": ...}, each a decision
    with its rule texts or the problem that stopped it."""
    # One child decides both sides on the copy with the draft: the version in force that day is
    # the same there as in the live folder, unless it is the draft (then: its base version).
    in_force = draft.get("base_version") if day >= dt.date.fromisoformat(
        draft["effective_from"]) else None
    with staged(live, draft_files(draft)) as with_draft:
        try:
            return _ask(with_draft, (draft["ruleset_id"], facts, day,
                                     [("draft", draft["version"]), ("in_force", in_force)]))
        except RulesetError as exc:
            mine = {"draft": {"problem": exc.problem()}}
    with staged(live, {}) as as_is:  # the draft does not load: the version in force alone
        try:
            return {**mine, **_ask(as_is, (draft["ruleset_id"], facts, day,
                                           [("in_force", None)]))}
        except RulesetError as exc:
            return {**mine, "in_force": {"problem": exc.problem()}}


def _ask(folder: Path, request: tuple) -> dict:
    try:
        return run_in_child(_try_setup, (str(folder),), request, name="decisions-try",
                            timeout=TRY_TIMEOUT)
    except ChildStopped as exc:
        what = "hung" if exc.hung else f"crashed (exit code {exc.exit_code})"
        raise RulesetError([Problem(str(folder.name), None, "", f"the engine {what} while "
                                                               "deciding this profile")]) from None


def is_case_file(path: str) -> bool:
    return path.endswith(CASES_SUFFIX)
