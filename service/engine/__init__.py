"""Engine: the only package that knows durable-rules. Compile a ruleset version to durable JSON
with every capacity check, and run facts through it (sessions and the action loop)."""

from __future__ import annotations

from pathlib import Path

from ..errors import EngineUnavailableError
from ..rulesets import Catalog, load_catalog
from .compile import match_stack_bound
from .session import CRASH_ENV, HANG_ENV, CompiledRuleset, Engine, Firing, Run

__all__ = ["CRASH_ENV", "HANG_ENV", "CompiledRuleset", "Engine", "Firing", "Run", "compiled",
           "load_compiled", "match_stack_bound"]


def load_compiled(rulesets_dir: str | Path, expected: list | None = None) -> tuple[Catalog, Engine]:
    """Load a ruleset folder and compile every version: what every decider, the trial and the
    command line start from. RulesetError lists every problem. With ``expected`` (a
    ``Catalog.fingerprint``), a folder that changed since it was checked is refused."""
    catalog = load_catalog(rulesets_dir)
    if expected is not None and catalog.fingerprint() != expected:
        raise EngineUnavailableError("the ruleset folder changed since it was checked")
    return catalog, compiled(catalog)


def compiled(catalog: Catalog) -> Engine:
    """An engine with every version of a loaded catalog compiled (RulesetError lists every
    version the engine refuses)."""
    engine = Engine()
    engine.prepare_all(catalog.all_versions())
    return engine
