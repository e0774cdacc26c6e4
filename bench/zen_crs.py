"""The CRS grid as a GoRules Zen decision graph (JSON Decision Model), the peer in bench/engine.py.

    from bench.zen_crs import ZenCrs
    zen = ZenCrs()
    zen.crs(facts, as_of)          # {"total", "core", "spouse", "transferability", "additional"}
    zen.evaluate(facts, as_of, trace=True)   # the raw Zen response, with its per-node trace

The graph is built here from the published grid (shared/reference/express-entry.md, "CRS (in force
2019-07-11)" and "Dated changes"), written below as plain row lists, not from the project's
rulesets, so it is an independent third implementation next to service/draws/plain_crs.py and
rulesets/express-entry/crs-*.yaml. Its shape is what a policy team would draw in the Zen editor:

    request -> "derived facts" (expression node) -> one decision table per grid factor
            -> "subtotals" (expression node) -> "crs" (expression node) -> response

Decision tables use the "first" hit policy and end with a catch-all row worth 0; every node passes
its input through, so later nodes see earlier results. One graph per grid version (2019-07-11,
2020-10-27 French 25/50, 2025-03-25 no job-offer points); ``crs`` picks the version in force on the
decision date, as the catalog does for the durable rulesets.

Reading of the grid (as in docs/crs.md): "with spouse" = married or common-law, accompanying, not a
Canadian citizen or PR; foreign education without an ECA (``education_assessed`` false) scores as
"none"; language levels are given directly (test ``clb`` for English, ``nclc`` for French).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

ABILITIES = ("reading", "writing", "listening", "speaking")

# (in force from, French points (weak English, CLB 5+ English), job offer points (00, other 0/A/B))
VERSIONS = (
    (dt.date(2019, 7, 11), (15, 30), (200, 50)),
    (dt.date(2020, 10, 27), (25, 50), (200, 50)),
    (dt.date(2025, 3, 25), (25, 50), (0, 0)),
)

# --------------------------------------------------------------------------- the grid, as rows
# Rows are (unary test, with spouse, without spouse) or (unary test, points); tests use Zen's
# unary syntax ("18", "[20..29]", "<= 17", '"bachelors"').
AGE = [("<= 17", 0, 0), ("18", 90, 99), ("19", 95, 105), ("[20..29]", 100, 110),
       ("30", 95, 105), ("31", 90, 99), ("32", 85, 94), ("33", 80, 88), ("34", 75, 83),
       ("35", 70, 77), ("36", 65, 72), ("37", 60, 66), ("38", 55, 61), ("39", 50, 55),
       ("40", 45, 50), ("41", 35, 39), ("42", 25, 28), ("43", 15, 17), ("44", 5, 6),
       (">= 45", 0, 0)]
EDUCATION = [('"none"', 0, 0), ('"secondary"', 28, 30), ('"one_year_post_secondary"', 84, 90),
             ('"two_year_post_secondary"', 91, 98), ('"bachelors"', 112, 120),
             ('"two_or_more_credentials"', 119, 128), ('"masters"', 126, 135),
             ('"doctoral"', 140, 150)]
FIRST_LANGUAGE = [("< 4", 0, 0), ("[4..5]", 6, 6), ("6", 8, 9), ("7", 16, 17), ("8", 22, 23),
                  ("9", 29, 31), (">= 10", 32, 34)]
SECOND_LANGUAGE = [("<= 4", 0), ("[5..6]", 1), ("[7..8]", 3), (">= 9", 6)]  # max 22 / 24
CANADIAN_WORK = [("< 1", 0, 0), ("1", 35, 40), ("2", 46, 53), ("3", 56, 64), ("4", 63, 72),
                 (">= 5", 70, 80)]
SPOUSE_EDUCATION = [('"none"', 0), ('"secondary"', 2), ('"one_year_post_secondary"', 6),
                    ('"two_year_post_secondary"', 7), ('"bachelors"', 8),
                    ('"two_or_more_credentials"', 9), ('"masters"', 10), ('"doctoral"', 10)]
SPOUSE_LANGUAGE = [("<= 4", 0), ("[5..6]", 1), ("[7..8]", 3), (">= 9", 5)]
SPOUSE_CANADIAN_WORK = [("< 1", 0), ("1", 5), ("2", 7), ("3", 8), ("4", 9), (">= 5", 10)]
# Skill transferability: (education band or foreign-work band, lowest first-language CLB) and
# (band, Canadian work years).
EDUCATION_BAND = ('"one_year_post_secondary", "two_year_post_secondary", "bachelors"',
                  '"two_or_more_credentials", "masters", "doctoral"')
TRANSFER_LANGUAGE = [("[7..8]", 13, 25), (">= 9", 25, 50)]  # (test, lower band, upper band)
TRANSFER_CANADIAN_WORK = [("1", 13, 25), (">= 2", 25, 50)]
FOREIGN_BAND = ("[1..2]", ">= 3")
CERTIFICATE = [("[5..6]", 25), (">= 7", 50)]
CANADIAN_EDUCATION = [('"one_or_two_year"', 15), ('"three_year_or_more"', 30)]
NOMINATION, SIBLING = 600, 15


# ------------------------------------------------------------------------------- graph building
class _Graph:
    def __init__(self) -> None:
        self.nodes: list[dict] = [{"id": "request", "type": "inputNode", "name": "request",
                                   "position": {"x": 0, "y": 0}}]
        self.edges: list[dict] = []

    def _add(self, node: dict) -> None:
        previous = self.nodes[-1]["id"]
        node["position"] = {"x": 250 * len(self.nodes), "y": 0}
        self.nodes.append(node)
        self.edges.append({"id": f"e{len(self.edges)}", "type": "edge",
                           "sourceId": previous, "targetId": node["id"]})

    def expressions(self, node_id: str, pairs: list[tuple[str, str]],
                    pass_through: bool = True) -> None:
        self._add({"id": node_id, "type": "expressionNode", "name": node_id, "content": {
            "passThrough": pass_through,
            "expressions": [{"id": f"{node_id}-{i}", "key": k, "value": v}
                            for i, (k, v) in enumerate(pairs)]}})

    def table(self, node_id: str, inputs: list[tuple[str, str]], output: str,
              rows: list[tuple]) -> None:
        """A first-hit table: ``inputs`` are (column name, field), each row is its tests then the
        points; a catch-all row worth 0 ends it, so the output is always set."""
        cols = [f"{node_id}-in{i}" for i in range(len(inputs))]
        rules = []
        for r, row in enumerate([*rows, (*[""] * len(inputs), 0)]):
            rule = {"_id": f"{node_id}-r{r}", f"{node_id}-out": str(row[-1])}
            rule.update({c: test for c, test in zip(cols, row[:-1], strict=True)})
            rules.append(rule)
        self._add({"id": node_id, "type": "decisionTableNode", "name": node_id, "content": {
            "hitPolicy": "first", "passThrough": True,
            "inputs": [{"id": c, "name": name, "field": field}
                       for c, (name, field) in zip(cols, inputs, strict=True)],
            "outputs": [{"id": f"{node_id}-out", "name": output, "field": f"points.{output}"}],
            "rules": rules}})

    def finish(self) -> dict:
        self.nodes.append({"id": "response", "type": "outputNode", "name": "response",
                           "position": {"x": 250 * len(self.nodes), "y": 0}})
        self.edges.append({"id": f"e{len(self.edges)}", "type": "edge",
                           "sourceId": self.nodes[-2]["id"], "targetId": "response"})
        return {"contentType": "application/vnd.gorules.decision",
                "nodes": self.nodes, "edges": self.edges}


def _spouse_cols(rows):
    """Rows (test, with, without) -> two rows keyed on the with-spouse column."""
    return ([("true", test, w) for test, w, _ in rows]
            + [("false", test, wo) for test, _, wo in rows])


def build_graph(french: tuple[int, int], arranged: tuple[int, int]) -> dict:
    """The CRS graph of one grid version: French points (CLB 4 or less / no English, CLB 5+
    English) and job-offer points (NOC 00, other NOC 0/A/B)."""
    g = _Graph()

    def lowest(lang: str) -> str:
        return f"min([{', '.join(f'{lang}.{a}' for a in ABILITIES)}])"

    g.expressions("derived", [
        ("d.with_spouse", "marital_status in ['married', 'common_law'] and "
                          "spouse_accompanying == true and spouse_is_citizen_or_pr != true"),
        ("d.education", "education_assessed == true ? education : 'none'"),
        ("d.first_min", lowest("first_language")),
        ("d.english_min", f"first_language.test == 'clb' ? {lowest('first_language')} : "
                          f"(second_language.test == 'clb' ? {lowest('second_language')} : 0)"),
        ("d.french_min", f"first_language.test == 'nclc' ? {lowest('first_language')} : "
                         f"(second_language.test == 'nclc' ? {lowest('second_language')} : 0)"),
    ])
    ws = ("with spouse", "d.with_spouse")
    # A. core
    g.table("age", [ws, ("age", "age")], "age", _spouse_cols(AGE))
    g.table("education", [ws, ("education", "d.education")], "education",
            _spouse_cols(EDUCATION))
    for a in ABILITIES:
        g.table(f"first-{a}", [ws, (a, f"first_language.{a}")], f"first_{a}",
                _spouse_cols(FIRST_LANGUAGE))
    for a in ABILITIES:
        g.table(f"second-{a}", [("given", "second_language != null"),
                                (a, f"second_language.{a}")], f"second_{a}",
                [("true", test, p) for test, p in SECOND_LANGUAGE])
    g.table("canadian-work", [ws, ("years", "canadian_work_years")], "canadian_work",
            _spouse_cols(CANADIAN_WORK))
    # B. spouse (only when scored with a spouse)
    g.table("spouse-education", [ws, ("education", "spouse.education")], "spouse_education",
            [("true", test, p) for test, p in SPOUSE_EDUCATION])
    for a in ABILITIES:
        g.table(f"spouse-{a}", [ws, (a, f"spouse.first_language.{a}")], f"spouse_{a}",
                [("true", test, p) for test, p in SPOUSE_LANGUAGE])
    g.table("spouse-canadian-work", [ws, ("years", "spouse.canadian_work_years")],
            "spouse_canadian_work", [("true", test, p) for test, p in SPOUSE_CANADIAN_WORK])
    # C. skill transferability
    band = ("education", "d.education")
    g.table("transfer-education-language", [band, ("lowest CLB", "d.first_min")],
            "transfer_education_language",
            [(b, test, pts[i]) for i, b in enumerate(EDUCATION_BAND)
             for test, *pts in TRANSFER_LANGUAGE])
    g.table("transfer-education-canadian-work", [band, ("years", "canadian_work_years")],
            "transfer_education_canadian_work",
            [(b, test, pts[i]) for i, b in enumerate(EDUCATION_BAND)
             for test, *pts in TRANSFER_CANADIAN_WORK])
    foreign = ("foreign years", "foreign_work_years")
    g.table("transfer-foreign-language", [foreign, ("lowest CLB", "d.first_min")],
            "transfer_foreign_language",
            [(b, test, pts[i]) for i, b in enumerate(FOREIGN_BAND)
             for test, *pts in TRANSFER_LANGUAGE])
    g.table("transfer-foreign-canadian-work", [foreign, ("years", "canadian_work_years")],
            "transfer_foreign_canadian_work",
            [(b, test, pts[i]) for i, b in enumerate(FOREIGN_BAND)
             for test, *pts in TRANSFER_CANADIAN_WORK])
    g.table("transfer-certificate", [("certificate", "certificate_of_qualification"),
                                     ("lowest CLB", "d.first_min")], "transfer_certificate",
            [("true", test, p) for test, p in CERTIFICATE])
    # D. additional
    g.table("nomination", [("nominated", "provincial_nomination")], "nomination",
            [("true", NOMINATION)])
    g.table("arranged-employment", [("offer", "arranged_employment")], "arranged_employment",
            [('"noc_00"', arranged[0]), ('"noc_0ab"', arranged[1])])
    g.table("canadian-education", [("credential", "canadian_education")], "canadian_education",
            CANADIAN_EDUCATION)
    g.table("sibling", [("sibling", "sibling_in_canada")], "sibling", [("true", SIBLING)])
    g.table("french", [("lowest NCLC", "d.french_min"), ("lowest CLB", "d.english_min")],
            "french", [(">= 7", "<= 4", french[0]), (">= 7", ">= 5", french[1])])

    p = "points."
    second = " + ".join(f"{p}second_{a}" for a in ABILITIES)
    g.expressions("subtotals", [
        ("s.core", f"{p}age + {p}education + "
                   + " + ".join(f"{p}first_{a}" for a in ABILITIES)
                   + f" + min([{second}, d.with_spouse ? 22 : 24]) + {p}canadian_work"),
        ("s.spouse", f"d.with_spouse ? min([40, {p}spouse_education + "
                     + " + ".join(f"{p}spouse_{a}" for a in ABILITIES)
                     + f" + {p}spouse_canadian_work]) : 0"),
        ("s.transferability",
         f"min([100, min([50, {p}transfer_education_language + "
         f"{p}transfer_education_canadian_work]) + min([50, {p}transfer_foreign_language + "
         f"{p}transfer_foreign_canadian_work]) + min([50, {p}transfer_certificate])])"),
        ("s.additional", f"min([600, {p}nomination + {p}arranged_employment + "
                         f"{p}canadian_education + {p}sibling + {p}french])"),
    ])
    g.expressions("crs", [
        ("crs.core", "min([500, s.core])"),
        ("crs.spouse", "s.spouse"),
        ("crs.transferability", "s.transferability"),
        ("crs.additional", "s.additional"),
        ("crs.total", "min([1200, min([500, s.core + s.spouse]) + s.transferability"
                      " + s.additional])"),
    ], pass_through=False)
    return g.finish()


def graphs() -> list[tuple[dt.date, dict]]:
    """Every grid version's graph, by the date it comes into force."""
    return [(start, build_graph(french, arranged)) for start, french, arranged in VERSIONS]


class ZenCrs:
    """The CRS graphs loaded in one Zen engine."""

    def __init__(self) -> None:
        import zen  # the benchmark-only dependency (pyproject: optional group "bench")

        self.engine = zen.ZenEngine()
        self.decisions = [(start, self.engine.create_decision(json.dumps(graph)))
                          for start, graph in graphs()]

    def decision_for(self, as_of: dt.date):
        chosen = None
        for start, decision in self.decisions:
            if start <= as_of:
                chosen = decision
        if chosen is None:
            raise ValueError(f"no CRS grid in force on {as_of}")
        return chosen

    def evaluate(self, facts: dict, as_of: dt.date, trace: bool = False) -> dict[str, Any]:
        return self.decision_for(as_of).evaluate(facts, {"trace": trace})

    def crs(self, facts: dict, as_of: dt.date, trace: bool = False) -> dict[str, int]:
        result = self.evaluate(facts, as_of, trace)["result"]["crs"]
        return {k: int(v) for k, v in result.items()}


if __name__ == "__main__":
    print(json.dumps(build_graph(*VERSIONS[0][1:]), indent=1))
