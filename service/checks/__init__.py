"""Checks: what policy staff run before a ruleset serves. The rulesets' own test cases with rule
coverage (``cases``), the impact of a change on a pool or the log (``impact``), and the trial of
a ruleset folder in a child process (``trial``)."""

from .cases import Report, case_files, format_report, name_in, run_cases
from .impact import Case, Impact, compare, format_impact, read_cases
from .trial import cases_in_child, check_rulesets

__all__ = ["Case", "Impact", "Report", "case_files", "cases_in_child", "check_rulesets",
           "compare", "format_impact", "format_report", "name_in", "read_cases", "run_cases"]
