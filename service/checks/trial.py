"""The trial of a ruleset folder: load it and run all its cases in a child process
(``service.child``), so that a ruleset that crashes the engine is found without taking this
process down. `decisions check`, a reload and the pages' case run all go through here."""

from __future__ import annotations

from ..child import ChildStopped, run_in_child
from ..engine import load_compiled
from ..errors import Problem, RulesetError
from .cases import Report, case_file_ruleset, case_files, format_report, run_cases

TRIAL_TIMEOUT = 600.0


def _cases_setup(rulesets_dir: str, expected: list | None, only: list[str] | None = None,
                 including: str | None = None):
    catalog, engine = load_compiled(rulesets_dir, expected)
    files = case_files(catalog.root)
    if only is not None:  # the case files a change can affect (the workbench's draft check)
        wanted = set(only)
        if including is not None:  # and those of every ruleset that includes the changed one
            includers = set(catalog.includers(including))
            wanted |= {str(f.relative_to(catalog.root)) for f in files
                       if case_file_ruleset(f) in includers}
        files = [f for f in files if str(f.relative_to(catalog.root)) in wanted]

    def handle(_request, progress) -> Report:
        return run_cases(catalog, engine, files,
                         progress=lambda where, name: progress((where, name)))

    return handle


def cases_in_child(rulesets_dir: str, expected: list | None = None,
                   timeout: float = TRIAL_TIMEOUT, only: list[str] | None = None,
                   including: str | None = None) -> Report:
    """Every case of the folder run in a child process: the report, or RulesetError naming the
    case that was running when the engine crashed or hung (the folder's own RulesetError when it
    does not load). With ``expected`` (a ``Catalog.fingerprint``), the child refuses a folder
    that changed since it was loaded here. With ``only`` (paths relative to the folder), only
    those case files run, and with ``including`` (a ruleset id) the case files of every ruleset
    that includes it too."""
    current: list = []  # the case running now: [(file:line, name)]

    def running(case: tuple) -> None:
        current[:] = [case]

    try:
        return run_in_child(_cases_setup, (str(rulesets_dir), expected, only, including), None,
                            name="decisions-trial", timeout=timeout, on_progress=running)
    except ChildStopped as exc:
        where = f"case {current[0][0]} ({current[0][1]})" if current else "loading"
        file = current[0][0].rsplit(":", 1)[0] if current else str(rulesets_dir)
        what = f"hung for {timeout:.0f} s" if exc.hung else \
            f"crashed (exit code {exc.exit_code})"
        raise RulesetError([Problem(file, None, "", f"the engine {what} while running "
                                                    f"{where}")]) from None


def check_rulesets(rulesets_dir: str, isolated: bool = True) -> None:
    """What a ruleset folder must pass before it serves: every file loads and compiles, and its
    own test cases all pass with every rule covered (as `decisions test` reports). With
    ``isolated`` the cases run in a child process, so a ruleset that crashes the engine is
    refused too. Raises RulesetError listing what is wrong; returns when all is well."""
    if isolated:
        report = cases_in_child(rulesets_dir)
    else:
        catalog, engine = load_compiled(rulesets_dir)
        report = run_cases(catalog, engine, case_files(catalog.root))
    if not report.passed:
        lines = [line for line in format_report(report).splitlines()
                 if line.startswith(("FAIL", "ERROR", "UNCOVERED", "    "))]
        raise RulesetError([Problem(str(rulesets_dir), None, "cases", "its test cases do not "
                                    "pass:\n" + "\n".join(lines[:200]))])

