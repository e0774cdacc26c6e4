"""Snapshots of the ruleset folder: staged copies that become current only when published."""

from __future__ import annotations

from service.rulesets.snapshots import KEEP, RulesetSnapshots


def test_a_staged_copy_is_current_only_once_published(tmp_path):
    source = tmp_path / "rulesets"
    (source / "oinp").mkdir(parents=True)
    (source / "oinp" / "a.yaml").write_text("v1")
    snapshots = RulesetSnapshots(tmp_path / "state")
    first = snapshots.stage(source)
    assert first.name == "rulesets" and (first / "oinp" / "a.yaml").read_text() == "v1"
    snapshots.publish(first)
    assert snapshots.current() == first

    (source / "oinp" / "a.yaml").write_text("v2")  # the folder changes; the snapshot does not
    assert (snapshots.current() / "oinp" / "a.yaml").read_text() == "v1"
    second = snapshots.stage(source)
    assert snapshots.current() == first  # staged is not published
    snapshots.discard(second)
    assert not second.exists() and snapshots.current() == first


def test_old_snapshots_are_dropped_but_the_current_one_and_a_few_before_it_stay(tmp_path):
    source = tmp_path / "rulesets"
    source.mkdir()
    snapshots = RulesetSnapshots(tmp_path / "state")
    published = []
    for _ in range(KEEP + 3):
        staged = snapshots.stage(source)
        snapshots.publish(staged)
        published.append(staged)
    assert snapshots.current() == published[-1]
    assert [p.exists() for p in published] == [False] * 2 + [True] * (KEEP + 1)
