"""Distributed: past one machine, draws, impact runs and replays of the decision log on a Dask
cluster (``cluster``; what a chunk does on a worker: ``work``). Each worker loads and trials the
ruleset folder once, pinned by its sha256, and decides through its own supervised engine
process; the work goes out in chunks, comes back in order, and a chunk lost with a worker is run
again. The only package that imports Dask."""

from .cluster import (
    SCHEDULER_ENV,
    Cluster,
    ClusterError,
    DaskDecider,
    chunked,
    connect,
    folder_sha256,
)
from .work import decide_batch, impact_chunk, replay_chunk

__all__ = ["SCHEDULER_ENV", "Cluster", "ClusterError", "DaskDecider", "chunked", "connect",
           "decide_batch", "folder_sha256", "impact_chunk", "replay_chunk"]
