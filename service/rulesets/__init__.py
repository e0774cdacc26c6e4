"""Rulesets: policy files -> catalog. Read YAML with the line of every key, validate the format,
build each version's rules, check facts against a contract, and pick the version in force on a
date. Nothing here knows the engine or the web."""

from .facts import MAX_FACTS_DEPTH, check_depth, facts_schema, validate_facts
from .load import CASES_SUFFIX, CONTRACTS_DIR, kept_version, load_catalog
from .model import (
    Catalog,
    Rule,
    RulesetVersion,
    alternative,
    bucket_paths,
    default_alias,
    exported_names,
)
from .names import CLASSIFICATIONS_DIR, Classification, of_value, spec_at
from .schemas import ID_PATTERN, LANGUAGES, RulesetSchema, Text, schema_problems
from .texts import PLACEHOLDER, content_texts, rule_texts
from .yamlfile import dotted, load_yaml, parse_yaml

__all__ = [
    "CASES_SUFFIX", "CLASSIFICATIONS_DIR", "CONTRACTS_DIR", "ID_PATTERN", "LANGUAGES",
    "MAX_FACTS_DEPTH", "PLACEHOLDER", "Catalog", "Classification", "Rule", "RulesetSchema",
    "RulesetVersion", "Text", "alternative", "bucket_paths", "check_depth", "content_texts",
    "default_alias", "dotted", "exported_names", "facts_schema", "kept_version", "load_catalog",
    "load_yaml", "of_value", "parse_yaml", "rule_texts", "schema_problems", "spec_at",
    "validate_facts",
]
