"""Both official languages: every page text has its French translation in the compiled `pages`
catalogue, and `decisions check` names a ruleset text whose English or French is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from service.rulesets import load_catalog
from tests.conftest import ROOT

TRANSLATIONS = ROOT / "service" / "translations"


def page_messages() -> set:
    method_map = [("service/pages/*.py", "python"),
                  ("service/pages/templates/pages/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map={"service/pages/templates/pages/**.html": {}}):
        found.add(message)
    return found


def test_every_page_text_is_translated_into_french():
    messages = page_messages()
    assert len(messages) > 250
    with open(TRANSLATIONS / "fr" / "LC_MESSAGES" / "pages.po", "rb") as fh:
        catalog = read_po(fh, locale="fr")
    missing = []
    for message in messages:
        key = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(key)
        translated = entry is not None and (all(entry.string) if isinstance(entry.string, tuple)
                                            else bool(entry.string))
        if not translated or (entry is not None and entry.fuzzy):
            missing.append(key)
    assert not missing, f"run `make messages` and translate: {sorted(missing)}"


def test_the_catalogues_are_compiled_by_the_build():
    """`make setup` runs `pybabel compile`; the .mo files are not in git."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        assert mo.exists(), f"{mo} is missing: run `make setup`"
        assert mo.stat().st_mtime >= po.stat().st_mtime, f"{mo} is older than its .po"
        with open(po, "rb") as fh:
            source = read_po(fh)
        with open(mo, "rb") as fh:
            compiled = read_mo(fh)
        def key(message):
            return message.id if isinstance(message.id, str) else tuple(message.id)

        assert {key(m) for m in source if m.id and m.string} <= {key(m) for m in compiled}
    ignored = subprocess.run(["git", "check-ignore", "-q", "service/translations/fr/"
                              "LC_MESSAGES/pages.mo"], cwd=ROOT)
    assert ignored.returncode == 0, ".mo files are build products: keep them out of git"


RULESET = """\
    id: test.texts
    version: "2019-01-01"
    effective: {from: 2019-01-01}
    title: {en: Texts, fr: Textes}
    description: {en: A ruleset for the text checks, fr: Un ensemble pour les textes}
    reference: https://example.org/texts
    facts:
      age: {type: integer, min: 0, max: 120, title: {en: Age, fr: Âge}}
    derives:
      adult: {type: boolean, title: {en: Adult, fr: Majeur}}
    scores:
      points:
        title: {en: Points, fr: Points}
        buckets:
          base: {title: {en: Base, fr: Base}}
    rules:
      - id: is-adult
        title: {en: Is an adult, fr: Est majeur}
        reference: https://example.org/texts#adult
        require: age >= 18
        because: {en: Too young, fr: Trop jeune}
      - id: flag-adult
        title: {en: Adult flag, fr: Indicateur de majorité}
        reference: https://example.org/texts#flag
        when: age >= 18
        derive: {fact: adult, value: true}
    tables:
      - id: age-points
        title: {en: Points for age, fr: Points pour l'âge}
        reference: https://example.org/texts#table
        key: age
        award: points.base
        rows:
          - {at_most: 29, points: 10}
          - {at_least: 30, points: 5}
    outcome:
      met: {code: ok, title: {en: Fine, fr: Bien}}
      not_met: {code: not_ok, title: {en: Not fine, fr: Pas bien}}
"""

# (where the text is, as `decisions check` names it; the line of the ruleset to break)
TEXTS = [
    ("title", "title: {en: Texts, fr: Textes}"),
    ("description", "description: {en: A ruleset for the text checks, fr: Un ensemble pour les "
                    "textes}"),
    ("facts.age.title", "age: {type: integer, min: 0, max: 120, title: {en: Age, fr: Âge}}"),
    ("derives.adult.title", "adult: {type: boolean, title: {en: Adult, fr: Majeur}}"),
    ("scores.points.title", "title: {en: Points, fr: Points}"),
    ("scores.points.buckets.base.title", "base: {title: {en: Base, fr: Base}}"),
    ("rules[is-adult].title", "title: {en: Is an adult, fr: Est majeur}"),
    ("rules[is-adult].because", "because: {en: Too young, fr: Trop jeune}"),
    ("rules[flag-adult].title", "title: {en: Adult flag, fr: Indicateur de majorité}"),
    ("tables[age-points].title", "title: {en: Points for age, fr: Points pour l'âge}"),
    ("outcome.met.title", "met: {code: ok, title: {en: Fine, fr: Bien}}"),
    ("outcome.not_met.title", "not_met: {code: not_ok, title: {en: Not fine, fr: Pas bien}}"),
]


def _without(line: str, language: str, how: str) -> str:
    """The line with one language's text removed (or left empty)."""
    import re

    pattern = re.compile(rf"(, )?\b{language}: ([^,}}]+)(, )?")

    def replace(match: re.Match) -> str:
        if how == "empty":
            return f"{match.group(1) or ''}{language}: ''{match.group(3) or ''}"
        return ", " if match.group(1) and match.group(3) else ""

    return pattern.sub(replace, line, count=1)


def write(root: Path, text: str) -> Path:
    (root / "contracts").mkdir(parents=True, exist_ok=True)
    path = root / "test" / "texts-2019-01-01.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_text_ruleset_loads_as_written(tmp_path):
    write(tmp_path / "rulesets", RULESET)
    load_catalog(tmp_path / "rulesets")


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("where, line", TEXTS, ids=[t[0] for t in TEXTS])
def test_the_loader_refuses_a_text_missing_a_language(tmp_path, where, line, language):
    from service.errors import RulesetError

    for how in ("missing", "empty"):
        root = tmp_path / how / "rulesets"
        broken = RULESET.replace(line, _without(line, language, how))
        assert broken != RULESET
        write(root, broken)
        with pytest.raises(RulesetError) as caught:
            load_catalog(root)
        messages = [str(p) for p in caught.value.problems]
        assert any(f": {where}: missing the {language} text" in m for m in messages), messages


def test_decisions_check_names_the_rule_whose_french_or_english_is_missing(tmp_path):
    root = tmp_path / "rulesets"
    broken = RULESET.replace("title: {en: Is an adult, fr: Est majeur}", "title: {en: Is an adult}")
    broken = broken.replace("title: {en: Adult flag, fr: Indicateur de majorité}",
                            "title: {fr: Indicateur de majorité}")
    write(root, broken)
    result = subprocess.run([sys.executable, "-m", "service.cli", "check", str(root)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "rulesets/test/texts-2019-01-01.yaml:18: rules[is-adult].title: missing the fr text" \
        in result.stderr
    assert "rulesets/test/texts-2019-01-01.yaml:23: rules[flag-adult].title: missing the en text" \
        in result.stderr
    assert "2 problem(s) found" in result.stderr
