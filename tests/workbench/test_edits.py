"""Form values written back into a ruleset's YAML text: the value changes where it stands and
nothing else does (the edited text read again equals the old data with that one value
changed); a value that cannot be written that way is refused, never written wrong."""

from __future__ import annotations

import difflib

import pytest

from service.rulesets import parse_yaml
from service.workbench.edits import EditError, apply_edits, form_fields
from tests.apps import RULESETS

CRS = (RULESETS / "express-entry" / "crs-2025-03-25.yaml").read_text(encoding="utf-8")


def changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=0,
                                                  lineterm="")
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_the_crs_offers_its_points_constants_dates_and_texts():
    fields = {f.key: f for f in form_fields(CRS)}
    sibling = fields["rules[sibling-in-canada].award.points"]
    assert (sibling.value, sibling.line, sibling.kind) == ("15", 191, "number")
    assert fields["effective.from"].value == "2025-03-25"
    assert fields["constants.partnered"].value == "married, common_law"
    assert fields["tables[age-with-spouse].rows[0].points"].label == \
        "age-with-spouse #0: at_most 17"
    assert {"title.en", "title.fr", "rules[sibling-in-canada].title.fr"} <= set(fields)


def test_an_edit_changes_its_line_only():
    edited = apply_edits(CRS, {"rules[sibling-in-canada].award.points": "20",
                               "effective.from": "2027-01-01", "version": "2027-01-01"})
    assert changed_lines(CRS, edited) == [
        '-version: "2025-03-25"', '-effective: {from: 2025-03-25}',
        '+version: "2027-01-01"', '+effective: {from: 2027-01-01}',
        "-    award: {to: crs.additional.sibling, points: 15}",
        "+    award: {to: crs.additional.sibling, points: 20}"]


def test_texts_with_commas_colons_and_quotes_stay_texts():
    text = 'Système « SCG », d\'après: la "grille"'
    edited = apply_edits(CRS, {"title.fr": text, "rules[sibling-in-canada].title.en": text})
    data, _ = parse_yaml(edited, "crs")
    assert data["title"]["fr"] == text
    [sibling] = [r for r in data["rules"] if r["id"] == "sibling-in-canada"]
    assert sibling["title"]["en"] == text
    assert len(changed_lines(CRS, edited)) == 4


def test_a_code_list_keeps_its_items_as_text():
    edited = apply_edits(CRS, {"constants.partnered": "married, common_law, separated"})
    data, _ = parse_yaml(edited, "crs")
    assert data["constants"]["partnered"]["value"] == ["married", "common_law", "separated"]


@pytest.mark.parametrize("key, typed, says", [
    ("effective.from", "2027-02-30", "YYYY-MM-DD"),
    ("rules[sibling-in-canada].award.points", "twenty", "not a number"),
    ("description.en", "x", "no such value"),  # written over several lines: not a form field
    ("title.en", "  ", "cannot be empty"),
])
def test_what_cannot_be_written_is_refused(key, typed, says):
    with pytest.raises(EditError, match=says):
        apply_edits(CRS, {key: typed})


def test_a_value_sharing_its_line_with_a_longer_one_is_refused_not_written_wrong():
    text = "id: t.x\nconstants:\n  a: {value: 1, reference: 'value: 1 is from x'}\n"
    edited = apply_edits(text, {"constants.a": "2"})
    assert parse_yaml(edited, "t")[0]["constants"]["a"] == {"value": 2,
                                                           "reference": "value: 1 is from x"}
    odd = "id: t.x\nconstants:\n  a: {reference: 'the value: 3', value: 1}\n"
    with pytest.raises(EditError, match="edit it in the text"):
        apply_edits(odd, {"constants.a": "2"})
