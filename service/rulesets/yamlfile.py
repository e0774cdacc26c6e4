"""Ruleset files as data: PyYAML's safe loader, duplicate keys refused, the line of every key
path kept so that every later problem can point at its file, line and key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, RulesetError

MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; the tree is walked by hand to keep lines and catch duplicate keys."""


# The same safe loader over libyaml (C), when PyYAML was built with it: it composes the same
# nodes, with the same lines, six times faster (2.0 s -> 0.35 s for the bundled folder, read on
# every start, reload and check). A text it refuses is read again by the Python loader, whose
# messages the plain words below are written for.
_FastLoader = type("_FastLoader", (yaml.CSafeLoader,), {}) if yaml.__with_libyaml__ else _Loader


def load_yaml(path: Path, display: str) -> tuple[Any, dict[tuple, int]]:
    """Parse one YAML file safely. Returns the data and the line of every key path.

    Dates and times become ISO 8601 strings so that the data is plain JSON."""
    return parse_yaml(path.read_text(encoding="utf-8"), display)


def parse_yaml(text: str, display: str) -> tuple[Any, dict[tuple, int]]:
    """``load_yaml`` of a text not (yet) in a file: a draft being edited in the workbench."""
    if _FastLoader is not _Loader:
        try:
            return _compose(_FastLoader, text, display)
        except (yaml.YAMLError, UnicodeError):
            pass  # said in the Python loader's words, below
    try:
        return _compose(_Loader, text, display)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raw = exc.problem or exc.context or str(exc)
        raise RulesetError([Problem(display, mark.line + 1 if mark else None, "",
                                    f"not valid YAML: {plain_yaml_message(raw)} (the YAML "
                                    f"reader says: {raw})")]) from None


def _compose(loader_class: type, text: str, display: str) -> tuple[Any, dict[tuple, int]]:
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        data = _convert(loader, root, (), lines, problems, display) if root is not None else None
    finally:
        loader.dispose()
    if problems:
        raise RulesetError(problems)
    return data, lines


def _convert(loader: Any, node: yaml.Node, path: tuple, lines: dict, problems: list,
             display: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        # `<<: *anchor` puts the anchor's keys first; a key written here replaces one of them
        # (YAML's merge), and is refused only when written twice here.
        merged_count = getattr(node, "merged_count", None)  # an alias reaches a node again
        if merged_count is None:
            written = sum(1 for key_node, _ in node.value if key_node.tag != MERGE_TAG)
            loader.flatten_mapping(node)
            merged_count = node.merged_count = len(node.value) - written
        merged: set[str] = set()
        result: dict[str, Any] = {}
        for i, (key_node, value_node) in enumerate(node.value):
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | bool):
                problems.append(Problem(display, line, dotted(path), "keys must be plain text"))
                continue
            key = str(key) if not isinstance(key, str) else key
            if i < merged_count:
                if key in result:
                    continue  # of two merged mappings, the first one's key holds
                merged.add(key)
            elif key in merged:
                merged.discard(key)  # written here: it replaces the merged one
            elif key in result:
                problems.append(Problem(display, line, dotted(path + (key,)),
                                        f"duplicate key '{key}' (first at line "
                                        f"{lines[path + (key,)]})"))
                continue
            lines[path + (key,)] = line
            result[key] = _convert(loader, value_node, path + (key,), lines, problems, display)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, path + (i,), lines, problems, display)
                for i, item in enumerate(node.value)]
    try:
        value = loader.construct_object(node, deep=True)
    except ValueError as exc:  # 2027-02-30 looks like a date to YAML, then is not one
        problems.append(Problem(display, node.start_mark.line + 1, dotted(path),
                                f"'{node.value}' is not a real date ({exc})"))
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


# What PyYAML's messages mean for someone editing a ruleset by hand, by the start of the message.
_PLAIN_YAML = (
    ("expected <block end>", "the indentation does not line up here: a key is indented more or "
     "less than the keys beside it"),
    ("mapping values are not allowed", "a ':' where a value was expected: put a text that "
     "holds ': ' in quotes, or check the indentation of this line"),
    ("found character '\\t'", "a tab: indent with spaces only"),
    ("found character '\t'", "a tab: indent with spaces only"),
    ("could not find expected ':'", "a key without ':' after it, or a quote opened on the line "
     "before and never closed"),
    ("found unexpected end of stream", "a quote or a bracket opened and never closed"),
    ("expected ',' or ']'", "a list [ ... ] not closed, or a comma missing between its items"),
    ("expected ',' or '}'", "a mapping { ... } not closed, or a comma missing between its keys"),
    ("expected a single document", "more than one document ('---') in one file"),
    ("found undefined alias", "a '*' starts an alias YAML does not know: put the text in quotes"),
    ("expected alphabetic or numeric character", "a '*' or '&' that YAML reads as an alias or "
     "an anchor: put the text in quotes"),
    ("found unknown escape character", "a '\\' in a double-quoted text: use single quotes"),
)


def plain_yaml_message(raw: str) -> str:
    """A plain sentence for a PyYAML error (the raw message is kept beside it)."""
    for start, plain in _PLAIN_YAML:
        if raw.startswith(start):
            return plain
    return "the file cannot be read as YAML here"


def dotted(path: Iterable, data: Any = None) -> str:
    """A key path as policy staff read it: ``rules[adult].require``. With the file's ``data``, an
    item of a list is named by its ``id`` when it has one that no other item has (rules,
    tables), else by its index: ``cases[3]``."""
    out = ""
    node = data
    for part in path:
        if isinstance(part, int):
            out += f"[{_item_name(node, part)}]"
        else:
            out += f".{part}" if out else str(part)
        node = _child(node, part)
    return out


def _item_name(items: Any, index: int) -> str:
    if isinstance(items, list) and 0 <= index < len(items) and isinstance(items[index], dict):
        name = items[index].get("id")
        if isinstance(name, str) and name and sum(
                isinstance(i, dict) and i.get("id") == name for i in items) == 1:
            return name
    return str(index)


def _child(node: Any, part: Any) -> Any:
    if isinstance(part, int):
        return node[part] if isinstance(node, list) and 0 <= part < len(node) else None
    return node.get(part) if isinstance(node, dict) else None


def line_of(lines: Mapping[tuple, int], path: tuple) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
