"""`decisions pool generate` and `decisions draw`, end to end through the command line."""

from __future__ import annotations

import json

import orjson

from service.cli import main
from tests.conftest import RULESETS


def test_generate_a_pool_then_hold_a_draw_twice(tmp_path, capsys):
    pool = tmp_path / "pool.jsonl"
    database = f"sqlite:///{tmp_path / 'decisions.db'}"
    assert main(["pool", "generate", "--size", "300", "--seed", "9", "--as-of", "2019-07-12",
                 "--out", str(pool), "--verify", "30", "--rulesets", str(RULESETS)]) == 0
    report = capsys.readouterr().err
    assert "pool of 300 as of 2019-07-12, distribution 2019-04-12, seed 9" in report
    assert "30 agree with the generator's plain CRS" in report
    lines = pool.read_bytes().splitlines()
    assert len(lines) == 300 and orjson.loads(lines[0])["candidate_id"] == "C-0000001"

    outcomes = tmp_path / "outcomes.jsonl"
    args = ["draw", "oinp.hcp.draw.tech-2019-07-12", "--pool", str(pool), "--database-url",
            database, "--rulesets", str(RULESETS), "--workers", "0", "--quiet"]
    assert main([*args, "--json", "--outcomes", str(outcomes)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["replayed"] is False and first["recorded"] is True
    assert first["counts"]["pool"] == 300 and first["draw_date"] == "2019-07-12"
    assert first["counts"]["invited"] == len(first["invitations"]) > 0
    assert first["title"]["fr"].startswith("POCI")  # both languages unless --lang
    rows = [orjson.loads(line) for line in outcomes.read_bytes().splitlines()]
    assert len(rows) == 300 and [r["position"] for r in rows] == list(range(1, 301))
    assert {r["status"] for r in rows} <= {"invited", "ineligible", "below_cutoff",
                                           "tie_break"}

    assert main(args) == 0  # the same draw id (derived from the pool): the first result
    text = capsys.readouterr().out
    assert "held before, this is the first result" in text
    assert f"invited {first['counts']['invited']} of 1623 planned; cutoff " in text
    assert first["invitations"][0]["decision_id"] in text

    assert main([*args, "--json", "--lang", "fr"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["replayed"] is True and again["title"].startswith("POCI")
    assert [i["decision_id"] for i in again["invitations"]] == \
        [i["decision_id"] for i in first["invitations"]]


def test_a_stored_pool_and_an_explicit_draw_id(tmp_path, capsys):
    pool = tmp_path / "pool.jsonl"
    database = f"sqlite:///{tmp_path / 'decisions.db'}"
    assert main(["pool", "generate", "--size", "60", "--seed", "2", "--as-of", "2019-08-01",
                 "--out", str(pool)]) == 0
    assert main(["pool", "import", str(pool), "--pool-id", "aug", "--database-url",
                 database]) == 0
    assert "stored pool aug: 60 candidates" in capsys.readouterr().out
    assert main(["pool", "import", str(pool), "--pool-id", "aug", "--database-url",
                 database]) == 1
    assert main(["draw", "oinp.hcp.draw.tech-2019-08-01", "--stored-pool", "aug",
                 "--draw-id", "aug-1", "--database-url", database, "--rulesets",
                 str(RULESETS), "--workers", "0", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["draw_id"] == "aug-1" and result["pool"]["source"] == "pool:aug"
    assert all(i["score"] >= 435 for i in result["invitations"])
    assert all(i["expires_on"] == "2019-09-15" for i in result["invitations"])


def test_errors_are_reported_not_raised(tmp_path, capsys):
    database = f"sqlite:///{tmp_path / 'decisions.db'}"
    pool = tmp_path / "pool.jsonl"
    pool.write_text("{}\n")
    assert main(["draw", "oinp.hcp.tech-draw", "--pool", str(pool), "--database-url",
                 database, "--rulesets", str(RULESETS), "--workers", "0"]) == 1
    assert "is not a draw" in capsys.readouterr().err
    assert main(["draw", "oinp.hcp.draw.tech-2019-07-12", "--pool", str(tmp_path / "none"),
                 "--database-url", database, "--rulesets", str(RULESETS)]) == 2
    assert main(["pool", "generate", "--size", "5", "--seed", "1", "--distribution",
                 "1999"]) == 1
    assert "no distribution" in capsys.readouterr().err


def test_a_federal_round_prints_its_own_cutoff_and_the_published_one(tmp_path, capsys):
    from tests.pages.test_rounds_pages import ROUND, round_pool

    pool = tmp_path / "round.jsonl"
    pool.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in round_pool()))
    assert main(["draw", ROUND, "--pool", str(pool), "--no-record", "--rulesets",
                 str(RULESETS), "--workers", "0", "--quiet"]) == 0
    text = capsys.readouterr().out
    # Two of the three are eligible at 476 points: both invited, the later one is the cutoff.
    assert ("invited 2 of 500 planned; cutoff 476 CRS points; tie-break time "
            "2022-11-12T12:47:28Z (not needed)") in text
    assert ("published: round #252 of 2023-06-28T14:04:34Z (Healthcare occupations (Version "
            "1)): 500 invitations, lowest CRS score invited 476, tie-break time "
            "2022-11-12T12:47:27Z") in text


def test_a_pool_of_today_names_the_distribution_it_follows(tmp_path, capsys):
    pool = tmp_path / "pool.jsonl"
    assert main(["pool", "generate", "--size", "80", "--seed", "4", "--as-of", "2026-12-04",
                 "--out", str(pool), "--verify", "20", "--rulesets", str(RULESETS)]) == 0
    report = capsys.readouterr().err
    assert "pool of 80 as of 2026-12-04, distribution 2026-08-03, seed 4" in report
    assert "target: IRCC, CRS score distribution of candidates in the pool as of 2026-08-03" \
        in report
    assert "20 agree with the generator's plain CRS" in report
    assert "jobs in the work history: " in report and "a part-time job: " in report
    first = orjson.loads(pool.read_bytes().splitlines()[0])
    assert first["noc_version"] == "2021" and "work_history" in first
