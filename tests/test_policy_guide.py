"""docs/policy-guide.md, step by step, on a copy of the bundled rulesets: the commands it shows
must work as shown."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, RULESETS

GUIDE = (ROOT / "docs" / "policy-guide.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S)


def sh(script: str, cwd: Path) -> subprocess.CompletedProcess:
    # The code of this checkout, not whichever one the venv's `decisions` was installed from
    # (a git worktree shares the venv of the main checkout).
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def add_2027_cases(cases: Path, changes: dict[str, tuple[int, int]]) -> None:
    """Step 3's edit: each case that moved keeps its old date, and a new case states the 2027
    figures worked from the grid (sibling 15 -> 20: total and additional points up by 5), named
    in English and French (a case named in English only, ``name: ...``, is read too)."""
    text = cases.read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=  - name:)", text)
    out = []
    named = re.compile(r"^  - name:(?: (?P<plain>.*)|\n      en: (?P<en>.*)\n"
                       r"      fr: (?P<fr>.*))$", re.M)
    for block in blocks:
        found = named.match(block)
        english = found and (found["plain"] or found["en"]).strip('"')
        name = next((n for n in changes if english and english.startswith(n)), None)
        if name is None:
            out.append(block)
            continue
        old = block.replace(", 2027-01-01]", "]")
        total, additional = changes[name]
        french = (found["fr"] or name).strip('"')
        names = {"en": f"From 2027-01-01 the same candidate scores {total}, the sibling now "
                       f"worth 20 points ({name[:40]})",
                 "fr": f"À partir du 1er janvier 2027, le même candidat obtient {total} points, "
                       f"le frère ou la sœur valant désormais 20 points ({french[:40]})"}
        lines = "  - name:\n" + "".join(f"      {lang}: {json.dumps(text, ensure_ascii=False)}\n"
                                        for lang, text in names.items())
        new = named.sub(lambda _, lines=lines: lines.rstrip("\n"), old, count=1)
        new = re.sub(r"(?m)^    as_of: .*$", "    as_of: 2027-01-01", new, count=1)
        new = re.sub(r"total: \d+", f"total: {total}", new, count=1)
        new = re.sub(r"additional: \d+", f"additional: {additional}", new, count=1)
        out += [old, new if new.endswith("\n") else new + "\n"]
    cases.write_text("".join(out), encoding="utf-8")


@pytest.mark.slow
def test_the_policy_guide_works_as_written(tmp_path):
    shutil.copytree(RULESETS, tmp_path / "rulesets")
    blocks = shell_blocks()
    assert len(blocks) == 6

    # 1. the new version beside the one in force, and the three lines the guide shows
    assert sh(blocks[0], tmp_path).returncode == 0
    new = tmp_path / "rulesets" / "express-entry" / "crs-2027-01-01.yaml"
    text = new.read_text(encoding="utf-8")
    for old_line, new_line in (('version: "2025-03-25"', 'version: "2027-01-01"'),
                               ("effective: {from: 2025-03-25}", "effective: {from: 2027-01-01}"),
                               ("award: {to: crs.additional.sibling, points: 15}",
                                "award: {to: crs.additional.sibling, points: 20}")):
        assert old_line in text and old_line in GUIDE and new_line in GUIDE
        text = text.replace(old_line, new_line)
    new.write_text(text, encoding="utf-8")

    # 2. check
    check = sh(blocks[1], tmp_path)
    assert check.returncode == 0 and check.stdout.strip() in GUIDE

    # 3. test: the version is not covered; deciding the current cases on 2027-01-01 too shows
    # exactly the three sibling cases moving by 5
    first = sh(blocks[2], tmp_path)
    assert first.returncode == 1
    assert "UNCOVERED express-entry.crs 2027-01-01: no case fires any rule" in first.stdout
    second = sh(blocks[3], tmp_path)
    assert second.returncode == 1
    failed = re.findall(r"FAIL rulesets/express-entry/crs.cases.yaml:\d+: (.*) \(as of 2027",
                        second.stdout)
    closing = second.stdout.strip().splitlines()[-1]
    assert len(failed) == 3 and closing.endswith("passed, 3 failed") and closing in GUIDE
    shifts = re.findall(r"scores.crs.total: expected (\d+), got (\d+)", second.stdout)
    assert [int(b) - int(a) for a, b in shifts] == [5, 5, 5]
    changes = {}
    for name, (total, _) in zip(failed, shifts, strict=True):
        additional = int(re.search(rf"{re.escape(name)}.*?additional: expected (\d+)",
                                   second.stdout, flags=re.S).group(1))
        changes[name] = (int(total) + 5, additional + 5)
    add_2027_cases(tmp_path / "rulesets" / "express-entry" / "crs.cases.yaml", changes)
    third = sh(blocks[4], tmp_path)
    assert third.returncode == 0, third.stdout[-3000:]
    assert third.stdout.strip().splitlines()[-1] in GUIDE

    # 4. impact on a synthetic pool, as shown
    impact = sh(blocks[5], tmp_path)
    assert impact.returncode == 0, impact.stderr
    for line in impact.stdout.splitlines()[:12]:
        assert line in GUIDE, line
