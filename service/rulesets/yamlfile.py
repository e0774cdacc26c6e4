"""Ruleset files as data: PyYAML's safe loader, duplicate keys refused, the line of every key
path kept so that every later problem can point at its file, line and key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, RulesetError


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; the tree is walked by hand to keep lines and catch duplicate keys."""


def load_yaml(path: Path, display: str) -> tuple[Any, dict[tuple, int]]:
    """Parse one YAML file safely. Returns the data and the line of every key path.

    Dates and times become ISO 8601 strings so that the data is plain JSON."""
    text = path.read_text(encoding="utf-8")
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = _convert(loader, root, (), lines, problems, display) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RulesetError([Problem(display, mark.line + 1 if mark else None, "",
                                    f"not valid YAML: {exc.problem or exc.context}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise RulesetError(problems)
    return data, lines


def _convert(loader: _Loader, node: yaml.Node, path: tuple, lines: dict, problems: list,
             display: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | bool):
                problems.append(Problem(display, line, dotted(path), "keys must be plain text"))
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in result:
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
    value = loader.construct_object(node, deep=True)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def dotted(path: Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: Mapping[tuple, int], path: tuple) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
