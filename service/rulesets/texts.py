"""The texts of each rule as written (title, reference, condition), by rule key: what an
explanation shows of a rule, read from a version's canonical content."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .schemas import RulesetSchema

REVOKED_RULE = "in-force"  # the one requirement of a revoked version (never met)
# A name a ``because:`` text fills in with the candidate's value: ``{primary_noc}``.
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}")


def content_texts(canonical: str) -> dict[str, dict]:
    """The rule texts (``rule_texts``) of a version from its canonical JSON, the content the
    decision log keeps and hashes: so the texts shown with a logged decision are derived from
    verified content, never stored beside it."""
    return rule_texts(RulesetSchema().load(json.loads(canonical)["ruleset"]))


def rule_texts(ruleset: Mapping[str, Any]) -> dict[str, dict]:
    """Title, reference and condition as written of each rule of a ruleset file (as
    RulesetSchema loads it), by rule key: the rule id, or for a table row its key (the same
    helpers build ``Rule.table`` and ``Rule.source`` in build_rules)."""
    texts = {}
    if "revoked" in ruleset:
        revoked = ruleset["revoked"]
        texts[REVOKED_RULE] = {"title": revoked["title"], "reference": revoked["reference"],
                               "condition": "false"}
    for raw in ruleset["rules"]:
        condition = raw["require"] if "require" in raw else raw.get("when", "true")
        texts[raw["id"]] = {"title": raw["title"], "reference": raw["reference"],
                            "condition": condition}
    for raw in ruleset["tables"]:
        keys = table_keys(raw)
        for key in keys:
            for r, row in enumerate(raw["rows"]):
                texts[table_row_key(raw, r, key, keys)] = {
                    "title": raw["title"], "reference": row.get("reference", raw["reference"]),
                    "condition": table_row_source(raw, key, row)}
    return texts


def table_keys(raw: Mapping[str, Any]) -> list[str]:
    return [raw["key"]] if isinstance(raw["key"], str) else raw["key"]


def table_row_key(raw: Mapping[str, Any], r: int, key: str, keys: list[str]) -> str:
    return f"{raw['id']}#{r + 1}" + (f"@{key}" if len(keys) > 1 else "")


def table_row_source(raw: Mapping[str, Any], key: str, row: dict) -> str:
    source = row_source(key, row)
    return f"{raw['when']} and {source}" if "when" in raw else source


def row_source(key: str, row: dict) -> str:
    if "range" in row:
        return f"{row['range'][0]} <= {key} <= {row['range'][1]}"
    if "at_least" in row:
        return f"{key} >= {row['at_least']}"
    if "at_most" in row:
        return f"{key} <= {row['at_most']}"
    if "equals" in row:
        return f"{key} == {row['equals']!r}"
    return f"{key} in {row['in_']!r}"
