"""What durable-rules 2.0.28 can take, and what its error codes mean: the one place that knows
(docs/engine.md has the measurements behind each number). Compilation checks every limit, so a
ruleset past one is refused at load with file, line and key, never crashed on later."""

from __future__ import annotations

MAX_DURABLE_RULES = 4000  # error 106 past 4,096 rules per ruleset
MAX_EXPRESSIONS_PER_PATTERN = 30  # 31 or more -> error 113 at registration
MAX_BRANCHES = 64  # one durable rule per branch of a condition's disjunctive normal form
# durable-rules fails with error 303 from about 70 range rows on one field: a decision table
# (one durable rule per row) stays below.
MAX_TABLE_ROWS = 64
# durable-rules walks the alpha network with a stack of 64 nodes (MAX_STACK_SIZE in events.c):
# when more tests match one fact at once, it fails with error 303 or corrupts the heap (found by
# bench/crash_fuzz.py: 65 `score >= k` rules crash, 64 do not). Compiled rulesets are checked
# against a bound of what can match at once, with a margin.
MATCH_STACK_SIZE = 64
MAX_MATCH_STACK = 60
SESSION_REUSE = 10_000  # evaluations per session before it is replaced

ERROR_CODES = {
    "101": "out of memory",
    "105": "unexpected action in the compiled rules",
    "106": "too many rules in one ruleset",
    "113": "too many comparisons in one pattern",
    "202": "a pattern the engine cannot parse",
    "303": "too many rows matching one fact (table too long)",
    "307": "internal state corrupted",
}


def explain_code(exc: BaseException) -> str:
    """durable-rules raises bare codes: say what they mean."""
    text = str(exc)
    for code, meaning in ERROR_CODES.items():
        if f"error code: {code}" in text or text.strip() == str(code):
            return f"{meaning}; durable error {code}"
    return text or type(exc).__name__
