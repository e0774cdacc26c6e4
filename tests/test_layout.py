"""The layout of service/: one package per stage with its job said in its __init__, the
dependency rules between stages (import-linter contracts in pyproject.toml), and no private name
imported across modules."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

from tests.apps import ROOT

SERVICE = ROOT / "service"
STAGES = ["rulesets", "engine", "decisions", "store", "checks", "draws", "live", "distributed",
          "web", "pages", "cli"]


def test_every_dependency_rule_between_the_stages_is_kept():
    # The command line is import-linter's public interface; `make lint` runs the same.
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--config",
                             str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout and "Contracts: 7 kept" in result.stdout, result.stdout


def test_each_stage_is_a_package_that_says_its_job():
    for stage in STAGES:
        module = importlib.import_module(f"service.{stage}")
        doc = (module.__doc__ or "").strip()
        assert doc.lower().startswith(stage.lower()), f"service/{stage}/__init__.py: {doc[:60]!r}"
        assert len(doc) > 60, f"service/{stage}/__init__.py says too little of its job"


def test_no_private_name_is_imported_from_another_module():
    found = []
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}"
                          for alias in node.names
                          if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not found, found


def test_no_flat_module_is_left_beside_the_packages():
    kernel = {"__init__.py", "config.py", "errors.py", "i18n.py", "auth.py", "jsonlog.py",
              "child.py", "keyfile.py", "conditions.py", "serve.py"}
    assert {p.name for p in SERVICE.glob("*.py")} == kernel
    assert [p for p in STAGES if not (SERVICE / p / "__init__.py").is_file()] == []
    assert Path(SERVICE / "store" / "migrations" / "env.py").is_file()
