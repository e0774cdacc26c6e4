"""The values policy staff change most, as form fields, written back into the draft's YAML text.

A form edit changes the value where it is written and nothing else: the file keeps its layout,
comments and every other line, so the text diff a reviewer reads shows exactly the edit. Each
edit is then proven: the edited text is read again and must equal the old data with that one
value changed. A value the form cannot change that way (a text over several lines, a list
written one item a line) is refused with a sentence that says to edit it in the text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import RulesetError
from ..rulesets import parse_yaml

LANGUAGES = ("en", "fr")


@dataclass(frozen=True)
class FormField:
    """One value of the draft as a form field: ``key`` names it (``rules[sibling].award.points``)
    and is the form's field name; ``path`` is where it is in the data."""

    key: str
    path: tuple
    group: str  # effective, constants, points, texts
    kind: str  # date, number, text, list
    value: str  # as the form shows it
    line: int
    label: str


class EditError(ValueError):
    """A form value that cannot be written back (``key``: the field)."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def _named(items: list, index: int, kind: str) -> str:
    item = items[index]
    name = item.get("id") if isinstance(item, Mapping) else None
    return f"{kind}[{name}]" if name else f"{kind}[{index}]"


def form_fields(text: str) -> list[FormField]:
    """The draft's values that the form shows (none when the text does not read as YAML)."""
    try:
        data, lines = parse_yaml(text, "draft")
    except RulesetError:
        return []
    if not isinstance(data, Mapping):
        return []
    out: list[FormField] = []

    def add(path: tuple, key: str, group: str, kind: str, value: Any, label: str) -> None:
        shown = ", ".join(str(v) for v in value) if kind == "list" else \
            ("" if value is None else str(value))
        out.append(FormField(key, path, group, kind, shown, lines.get(path, 0), label))

    if isinstance(data.get("version"), str):
        add(("version",), "version", "effective", "text", data["version"], "version")
    effective = data.get("effective")
    if isinstance(effective, Mapping):
        for end in ("from", "to"):
            if end in effective:
                add(("effective", end), f"effective.{end}", "effective", "date",
                    effective[end], end)
    for name, spec in (data.get("constants") or {}).items():
        if isinstance(spec, Mapping) and "value" in spec:
            path, value = ("constants", name, "value"), spec["value"]
        else:
            path, value = ("constants", name), spec
        kind = _kind_of(value)
        if kind:
            add(path, f"constants.{name}", "constants", kind, value, name)
    for kind_name in ("title",):
        for lang in LANGUAGES:
            if isinstance(data.get(kind_name), Mapping) and lang in data[kind_name]:
                add((kind_name, lang), f"{kind_name}.{lang}", "texts", "text",
                    data[kind_name][lang], "title")
    rules = data.get("rules") or []
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        name = _named(rules, i, "rules")
        award = rule.get("award")
        if isinstance(award, Mapping) and isinstance(award.get("points"), int | float):
            add(("rules", i, "award", "points"), f"{name}.award.points", "points", "number",
                award["points"], f"{rule.get('id', i)} → {award.get('to', '')}")
            if isinstance(rule.get("reference"), str):  # every points value cites its source
                add(("rules", i, "reference"), f"{name}.reference", "points", "text",
                    rule["reference"], f"{rule.get('id', i)}: reference")
        _texts(add, rule, ("rules", i), name, rule.get("id", str(i)))
    tables = data.get("tables") or []
    for i, table in enumerate(tables):
        if not isinstance(table, Mapping):
            continue
        name = _named(tables, i, "tables")
        _texts(add, table, ("tables", i), name, table.get("id", str(i)))
        for j, row in enumerate(table.get("rows") or []):
            if isinstance(row, Mapping) and isinstance(row.get("points"), int | float):
                match = ", ".join(f"{k} {json.dumps(v, ensure_ascii=False)}"
                                  for k, v in row.items() if k not in ("points", "reference"))
                add(("tables", i, "rows", j, "points"), f"{name}.rows[{j}].points", "points",
                    "number", row["points"], f"{table.get('id', i)} #{j}: {match}")
    return out


def _texts(add, item: Mapping, path: tuple, name: str, label: str) -> None:
    for part in ("title", "because"):
        texts = item.get(part)
        if isinstance(texts, Mapping):
            for lang in LANGUAGES:
                if isinstance(texts.get(lang), str):
                    add(path + (part, lang), f"{name}.{part}.{lang}", "texts", "text",
                        texts[lang], f"{label} ({part})")


def _kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return None  # a yes/no is rare and reads best in the text
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list) and value and all(isinstance(v, str | int | float)
                                                 and not isinstance(v, bool) for v in value):
        return "list"
    return None


# ------------------------------------------------------------------------------- writing back
def apply_edits(text: str, edits: Mapping[str, str]) -> str:
    """The text with each changed field (form key -> the value as typed) written back where it
    stands. Raises EditError for the first value that is not valid or cannot be written so."""
    fields = {f.key: f for f in form_fields(text)}
    changes = []
    for key, typed in edits.items():
        field = fields.get(key)
        if field is None:
            raise EditError(key, "the draft has no such value (was the text changed meanwhile?)")
        if typed.strip() != field.value.strip():
            changes.append((field, parse_typed(field, typed)))
    if not changes:
        return text
    try:
        return set_values(text, changes)
    except EditError:
        if len(changes) == 1:
            raise
    for field, value in changes:  # name the one that cannot be written
        text = set_value(text, field, value)
    return text


def parse_typed(field: FormField, typed: str) -> Any:
    typed = typed.strip()
    if field.kind == "date":
        try:
            return dt.date.fromisoformat(typed).isoformat()
        except ValueError:
            raise EditError(field.key, "write a date as YYYY-MM-DD, for example 2027-01-01"
                            ) from None
    if field.kind == "number":
        return _number(field.key, typed)
    if field.kind == "list":
        items = [t.strip() for t in typed.split(",") if t.strip()]
        if not items:
            raise EditError(field.key, "give at least one value, separated by commas")
        return items
    if not typed:
        raise EditError(field.key, "a text cannot be empty")
    return typed


def _number(key: str, typed: str) -> int | float:
    try:
        return int(typed)
    except ValueError:
        try:
            return float(typed)
        except ValueError:
            raise EditError(key, f"'{typed}' is not a number") from None


def _render(value: Any, numbers: bool) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_render(v, numbers) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or (numbers and _is_number(value)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a double-quoted YAML text


def _is_number(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|\[[^\]\[]*\]')


def set_value(text: str, field: FormField, value: Any) -> str:
    """Write ``value`` at ``field`` on the line it stands, then prove the edit (module doc)."""
    return set_values(text, [(field, value)])


def set_values(text: str, edits: list[tuple[FormField, Any]],
               parsed: tuple[Any, dict] | None = None) -> str:
    """Write each value on its line, then prove the edits together: the text is read twice
    whatever their number (a case file of 3,000 lines takes seconds to read); ``parsed``: the
    text as ``parse_yaml`` read it, when the caller has."""
    data, lines = parsed or parse_yaml(text, "draft")
    rows = text.split("\n")
    expected = data
    for field, value in edits:
        old = _at(data, field.path)
        numbers = isinstance(old, list) and isinstance(value, list) and \
            all(isinstance(v, int | float) for v in old)
        if numbers:
            value = [_number(field.key, v) for v in value]
        index = lines.get(field.path, 0) - 1
        if index < 0:
            raise EditError(field.key, "its line is not known: edit it in the text")
        rows[index] = _written(rows[index], field, value, numbers)
        expected = _with(expected, field.path, value)
    edited = "\n".join(rows)
    try:
        again, _ = parse_yaml(edited, "draft")
    except RulesetError:
        again = None
    if again != expected:
        what = edits[0][0].key if len(edits) == 1 else ", ".join(f.key for f, _ in edits[:3])
        raise EditError(what, "it cannot be changed here without changing something else: "
                              "edit it in the text")
    return edited


def _written(row: str, field: FormField, value: Any, numbers: bool) -> str:
    """The line with the value after ``key:`` replaced by ``value``."""
    key = field.path[-1]
    found = re.search(rf"(?<![\w-]){re.escape(str(key))}:[ \t]+", row)
    if not found:
        raise EditError(field.key, "it is not written on one line with its name: edit it in "
                                   "the text")
    start = found.end()
    flow = row[:found.start()].count("{") > row[:found.start()].count("}")
    token = _VALUE.match(row, start)
    if token:
        end = token.end()
    elif row[start:start + 1] in ("|", ">"):
        raise EditError(field.key, "it is written over several lines: edit it in the text")
    else:  # a plain value: to the end of the line, a comment, or (in { }) the next , or }
        stop = re.compile(r"\s+#|[,}]\s*" if flow else r"\s+#")
        found_stop = stop.search(row, start)
        end = found_stop.start() if found_stop else len(row.rstrip())
    # dates plain, as the files write them (YAML reads them as dates); anything else rendered
    if field.kind == "date":
        rendered = value
    elif field.kind == "days":
        rendered = "[" + ", ".join(value) + "]"
    else:
        rendered = _render(value, numbers)
    return row[:start] + rendered + row[end:]


def _at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _with(data: Any, path: tuple, value: Any) -> Any:
    """A copy of ``data`` with the value at ``path`` replaced (as the YAML reader gives it)."""
    if not path:
        return value
    copy = list(data) if isinstance(data, list) else dict(data)
    copy[path[0]] = _with(data[path[0]], path[1:], value)
    return copy
