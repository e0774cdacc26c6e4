"""What a chunk does on a worker, given the worker's decider and catalog (``Cluster.submit``
calls these there): module-level functions, so that only their names cross the network."""

from __future__ import annotations

from typing import Any

from ..checks.impact import Case, Impact, compare
from ..live.decision_service import replay_record
from ..store import Record


def decide_batch(decider, _catalog, requests: list, reduce) -> tuple[list, int]:
    """A draw's batch: the decider's ``decide_many``, ``reduce`` applied in the engine
    process, as on one machine; and how many times the worker's engine process was replaced
    meanwhile (a crash: the candidate that caused it has its error, the rest of the chunk was
    decided again by a fresh engine process). One thread per worker: nothing else ran on it."""
    restarts = decider.restarts
    return decider.decide_many(requests, reduce), decider.restarts - restarts


def impact_chunk(decider, catalog, ruleset_id: str, from_version: str, to_version: str,
                 cases: list[Case], includers: bool) -> Impact:
    """The impact of a change on a chunk of the cases; ``Impact.absorb`` joins the chunks."""
    return compare(decider, catalog, ruleset_id, from_version, to_version, cases,
                   includers=includers)


def replay_chunk(decider, _catalog, records: list[Record]) -> list[dict[str, Any]]:
    """Replays of a chunk of log records, in their order."""
    return [replay_record(decider, record) for record in records]
