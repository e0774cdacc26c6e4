"""Compare bench/plain_crs.py with every hand-worked case in tests/cases/crs_worked.yaml.

Run: /work/main/.venv/bin/python bench/check_worked_cases.py   (exit 1 on any disagreement)
"""
import datetime
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from plain_crs import crs  # noqa: E402

CASES = os.path.join(HERE, "..", "tests", "cases", "crs_worked.yaml")
KEYS = ("total", "core", "spouse", "transferability", "additional")


def main():
    with open(CASES, encoding="utf-8") as f:
        cases = yaml.safe_load(f)
    failures = 0
    for case in cases:
        as_of = case["as_of"]
        if isinstance(as_of, str):
            as_of = datetime.date.fromisoformat(as_of)
        expected = case["expect"]["crs"]
        got = crs(case["facts"], as_of)
        diffs = [(k, expected[k], got[k]) for k in KEYS if expected[k] != got[k]]
        if diffs:
            failures += 1
            print("DISAGREE {}: {}".format(case["facts"]["candidate_id"], case["name"]))
            for key, want, have in diffs:
                print(f"    {key}: worked {want}, plain_crs {have}")
    print(f"{len(cases)} cases, {len(cases) - failures} agree, {failures} disagree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
