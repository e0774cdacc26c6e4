"""The ``--scheduler`` option of ``decisions draw``, ``diff`` and ``replay``: run on a Dask
cluster (service.distributed) instead of this machine's engine processes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from ..config import DASK_SCHEDULER_ENV as SCHEDULER_ENV


def add_scheduler_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler", default=os.environ.get(SCHEDULER_ENV) or None, metavar="ADDRESS",
        help="decide on a Dask cluster: tcp://HOST:PORT of its scheduler, or 'local' for a "
             f"scheduler and workers on this machine (default: ${SCHEDULER_ENV}; unset: this "
             "machine's engine processes, no Dask)")
    parser.add_argument("--cluster-workers", type=int, default=None, metavar="N",
                        help="with --scheduler local: worker processes (default: one per CPU)")


@contextlib.contextmanager
def cluster_for(args: argparse.Namespace, catalog: Any) -> Iterator[Any]:
    """The cluster ``--scheduler`` names, its workers holding ``catalog``'s folder, or None
    without the option. Says on standard error how many workers it has and where its
    dashboard is."""
    if not args.scheduler:
        yield None
        return
    from ..distributed import connect

    print(f"connecting to the Dask cluster {args.scheduler} (each worker loads and trials "
          f"{args.rulesets})...", file=sys.stderr, flush=True)
    with connect(args.scheduler, args.rulesets, catalog,
                 workers=getattr(args, "cluster_workers", None)) as cluster:
        link = cluster.dashboard_link
        print(f"Dask cluster: {cluster.workers} workers, rulesets sha256 "
              f"{cluster.sha256[:16]}..." + (f"; dashboard {link}" if link else ""),
              file=sys.stderr, flush=True)
        yield cluster
