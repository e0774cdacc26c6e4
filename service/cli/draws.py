"""The `decisions` subcommands for draws and pools (registered by service.cli):

    decisions draw RULESET_ID --pool FILE.jsonl [--draw-id ID] [--json]
    decisions pool generate --size N --seed S [--as-of DATE] [--out FILE]
    decisions pool import FILE.jsonl --pool-id ID
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from ..config import Config
from .cluster import add_scheduler_option, cluster_for

AUTO_PROCESSES_FROM_BYTES = 4 * 1024 * 1024  # about 5,000 profiles: below, decide in process


def add_commands(sub: argparse._SubParsersAction) -> None:
    defaults = Config.from_env()

    draw = sub.add_parser("draw", help="hold a draw: assess a pool with a draw ruleset, rank the "
                                       "eligible candidates, invite the first N")
    draw.add_argument("ruleset", help="a draw ruleset id, e.g. oinp.hcp.draw.tech-2019-07-12")
    source = draw.add_mutually_exclusive_group(required=True)
    source.add_argument("--pool", help="JSON Lines file: one candidate profile per line")
    source.add_argument("--stored-pool", metavar="POOL_ID",
                        help="a pool stored with `decisions pool import`")
    draw.add_argument("--draw-id", help="idempotency key: a draw id is held once; running it "
                                        "again returns the first result (default: derived from "
                                        "the ruleset and the pool's sha256)")
    draw.add_argument("--version", help="the draw ruleset version (default: its latest)")
    draw.add_argument("--json", action="store_true", help="print the draw as JSON")
    draw.add_argument("--lang", choices=["en", "fr"], default=None,
                      help="texts in one language (default: both in --json, en otherwise)")
    draw.add_argument("--outcomes", metavar="FILE",
                      help="also write every candidate's outcome (status, score, rank, why) "
                           "as JSON Lines")
    draw.add_argument("--workers", type=int, default=None,
                      help="engine processes (0: decide in this process; default: 0 for a "
                           "small pool, else up to 2)")
    draw.add_argument("--batch-size", type=int, default=100,
                      help="candidates per batch (per chunk on a Dask cluster)")
    add_scheduler_option(draw)
    draw.add_argument("--no-record", action="store_true",
                      help="do not record the draw (nor check its id) in the decision log")
    draw.add_argument("--quiet", action="store_true", help="no progress on standard error")
    draw.add_argument("--rulesets", default=defaults.rulesets_dir)
    draw.add_argument("--database-url", default=defaults.database_url,
                      help="sqlite:///path or postgresql://... (DATABASE_URL)")
    draw.set_defaults(func=cmd_draw)

    pool = sub.add_parser("pool", help="synthetic and stored pools of candidate profiles")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True)
    generate = pool_sub.add_parser(
        "generate", help="write a reproducible synthetic pool whose CRS scores follow a "
                         "published distribution of the Express Entry pool")
    generate.add_argument("--size", type=int, required=True)
    generate.add_argument("--seed", type=int, required=True)
    generate.add_argument("--out", help="JSON Lines file (default: standard output)")
    generate.add_argument("--as-of", type=_date, default=None,
                          help="pool date: profiles are submitted in the 12 months before it; "
                               "from 2022-11-16 (NOC 2021) they carry NOC 2021 codes and work "
                               "histories; the published distribution nearest it is followed "
                               "(default: the distribution's date)")
    generate.add_argument("--distribution", default=None,
                          help="published distribution to follow, by its date: 2019-04-12 "
                               "(the default without --as-of), 2020-02-14, 2022-01-17, "
                               "2025-03-16, 2025-08-05, 2025-12-14, 2026-08-03 (default with "
                               "--as-of: the nearest)")
    generate.add_argument("--verify", type=int, default=0, metavar="K",
                          help="score K profiles of the pool with the CRS ruleset (the engine) "
                               "and report the histogram and any disagreement")
    generate.add_argument("--rulesets", default=defaults.rulesets_dir)
    generate.set_defaults(func=cmd_pool_generate)

    store_pool = pool_sub.add_parser("import", help="store a JSON Lines pool in the database, "
                                                    "for POST /v1/draws with pool_id")
    store_pool.add_argument("file")
    store_pool.add_argument("--pool-id", required=True)
    store_pool.add_argument("--database-url", default=defaults.database_url)
    store_pool.set_defaults(func=cmd_pool_import)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


# ------------------------------------------------------------------------------------------ draw
def cmd_draw(args: argparse.Namespace) -> int:
    from ..decisions import InlineDecider, ProcessDecider
    from ..draws import Pool, run_draw
    from ..engine import compiled
    from ..errors import DecisionError, RulesetError
    from ..rulesets import load_catalog
    from ..store import Store

    try:
        catalog = load_catalog(args.rulesets)
    except RulesetError as exc:
        print(exc, file=sys.stderr)
        return 1
    store = None
    deciders: list[Any] = []
    outcomes = None
    cluster = contextlib.ExitStack()
    try:
        if not args.no_record:
            # The invited candidates' decisions go to the log: signed like the service's own
            # (the key of DECISIONS_LOG_KEY_FILE, or beside the tokens file).
            store = Store(args.database_url, key_file=Config.from_env().log_key_path)
            store.upgrade()
        if args.pool:
            if not Path(args.pool).is_file():
                print(f"no pool file {args.pool}", file=sys.stderr)
                return 2
            pool = Pool.from_file(args.pool)
            size = Path(args.pool).stat().st_size
        else:
            if store is None:
                print("--stored-pool needs the database (leave out --no-record)", file=sys.stderr)
                return 2
            pool = Pool.from_store(store, args.stored_pool)
            size = AUTO_PROCESSES_FROM_BYTES
        workers = args.workers
        if workers is None:
            workers = 0 if size < AUTO_PROCESSES_FROM_BYTES else min(2, os.cpu_count() or 1)
        on_cluster = cluster.enter_context(cluster_for(args, catalog))
        if on_cluster is not None:
            deciders = on_cluster.slots()
        elif workers <= 0:
            deciders = [InlineDecider(catalog, compiled(catalog))]  # the catalog loaded above
        else:
            deciders = [ProcessDecider(catalog, args.rulesets) for _ in range(workers)]
        if args.outcomes:
            outcomes = open(args.outcomes, "wb")  # noqa: SIM115 (closed below)
        started = time.monotonic()
        result = run_draw(
            catalog, deciders, args.ruleset, pool, draw_id=args.draw_id, version=args.version,
            store=store, caller=os.environ.get("USER") or "cli", batch_size=args.batch_size,
            progress=None if args.quiet else _progress(started, deciders),
            on_candidate=(lambda row: outcomes.write(orjson.dumps(row) + b"\n"))
            if outcomes else None)
    except DecisionError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # run_draw has cancelled the batches in flight (on the cluster too); the draw row, its
        # invitations and outcomes are written in one transaction, so none of it is there.
        print("\ncancelled: the batches in flight were dropped; the draw was not recorded",
              file=sys.stderr)
        return 130
    finally:
        for decider in deciders:
            decider.close()
        cluster.close()
        if outcomes:
            outcomes.close()
        if store is not None:
            store.close()
    if args.outcomes and result["replayed"]:
        print(f"draw {result['draw_id']} was held before: {args.outcomes} holds nothing; read "
              "the outcomes with GET /v1/draws/<id>/candidates/<candidate_id>", file=sys.stderr)
    if args.json:
        from ..i18n import localize

        print(orjson.dumps(localize(result, args.lang) if args.lang else result,
                           option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_draw(result, args.lang or "en"))
    return 0


def _progress(started: float, deciders: list[Any]):
    """A line every 25,000 candidates, with the chunks run again so far on a cluster."""
    state = {"next": 25_000}

    def report(done: int) -> None:
        if done >= state["next"]:
            rate = done / max(time.monotonic() - started, 1e-9)
            retried = deciders[0].retried_chunks if deciders else 0
            print(f"decided {done} candidates ({rate:.0f}/s)"
                  + (f", {retried} chunks retried" if retried else ""),
                  file=sys.stderr, flush=True)
            state["next"] = done + 25_000

    return report


def render_draw(d: dict, lang: str = "en") -> str:
    from ..i18n import localize

    d = localize(d, lang)
    c = d["counts"]
    out = [f"{d['title']}",
           f"draw {d['draw_id']}: {d['ruleset']['id']} version {d['ruleset']['version']} "
           f"({d['ruleset']['sha256'][:12]}), draw date {d['draw_date']}",
           f"pool {d['pool']['source']}: {d['pool']['size']} candidates "
           f"(sha256 {d['pool']['sha256'][:12]})"
           + ("; held before, this is the first result" if d.get("replayed") else "")
           + ("" if d.get("recorded") else "; not recorded"),
           ""]
    cutoff = d["cutoff"]
    if cutoff:
        applied = "applied" if cutoff["tie_break_applied"] else "not needed"
        out.append(f"invited {c['invited']} of {d['invitations_planned']} planned; cutoff "
                   f"{cutoff['score']} {d['score'].upper()} points; tie-break time "
                   f"{cutoff['tie_break_at']} ({applied}); notifications valid until "
                   f"{d['expires_on']}")
    else:
        out.append(f"no candidate is eligible: no invitation ({d['invitations_planned']} planned)")
    published = d.get("published")
    if published:  # the round as the government published it, over its own pool
        out.append(f"published: round #{published['round']} of {published['time']} "
                   f"({published['type']}): {published['invitations']} invitations, lowest "
                   f"{d['score'].upper()} score invited {published['lowest_score']}, tie-break "
                   f"time {published['tie_break']}")
    out.append(f"pool {c['pool']}: assessed {c['assessed']}, eligible {c['eligible']}, invited "
               f"{c['invited']}, below cutoff {c['below_cutoff']}, lost the tie-break "
               f"{c['tie_break']}, ineligible {c['ineligible']}, invalid {c['invalid']}, "
               f"duplicate {c['duplicate']}, engine errors {c['error']}")
    if d.get("retried_chunks"):
        out.append(f"chunks decided again after a lost worker or engine: {d['retried_chunks']}")
    if c["ineligible_by_requirement"]:
        out.append("ineligible by requirement of the draw: " + ", ".join(
            f"{k} {v}" for k, v in c["ineligible_by_requirement"].items()))
        out.append("ineligible by reason (the requirements that fail on the facts):")
        out.extend(f"  {v:>8}  {k}" for k, v in list(c["ineligible_by_reason"].items())[:12])
    invitations = d.get("invitations") or []
    if invitations:
        out.append("")
        out.append("rank  candidate        score  profile submitted        expires     "
                   "decision (explanation)")
        shown = invitations if len(invitations) <= 10 else invitations[:5] + invitations[-5:]
        for i, inv in enumerate(shown):
            if len(invitations) > 10 and i == 5:
                out.append("  ...")
            out.append(f"{inv['rank']:>4}  {inv['candidate_id']:<15} {inv['score']:>6}  "
                       f"{inv['profile_submitted_at'] or '-':<24} {inv['expires_on']}  "
                       f"{inv['decision_id']}")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ pool
def cmd_pool_generate(args: argparse.Namespace) -> int:
    from ..draws.pool import DISTRIBUTIONS, PoolError, generate

    try:
        profiles, report = generate(args.size, args.seed, args.as_of, args.distribution)
        out = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
        sample: list[tuple[int, dict]] = []
        step = max(1, args.size // args.verify) if args.verify else 0
        try:
            for i, profile in enumerate(profiles):
                out.write(orjson.dumps(profile) + b"\n")
                if step and i % step == 0 and len(sample) < args.verify:
                    sample.append((i, profile))
        finally:
            if args.out:
                out.close()
    except PoolError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    for line in report.lines():
        print(line, file=sys.stderr)
    print(f"target: {DISTRIBUTIONS[report.distribution].source}", file=sys.stderr)
    if sample:
        return _verify(sample, report, args.rulesets, report.distribution)
    return 0


def _verify(sample: list[tuple[int, dict]], report, rulesets: str, distribution: str) -> int:
    """Score a sample with the CRS ruleset through the engine: each score must be the plain
    CRS the generator placed the profile with; show the sample's histogram by the target's."""
    from ..decisions import decide
    from ..draws.pool import histogram
    from ..engine import load_compiled

    catalog, engine = load_compiled(rulesets)
    scores = [decide(catalog, engine, "express-entry.crs", p, report.as_of)["scores"]["crs"]
              ["total"] for _, p in sample]
    disagree = [(p["candidate_id"], report.scores[i], score)
                for (i, p), score in zip(sample, scores, strict=True) if report.scores[i] != score]
    counts = histogram(scores, distribution)
    print(f"engine check: {len(sample)} profiles scored with express-entry.crs; "
          f"{len(sample) - len(disagree)} agree with the generator's plain CRS", file=sys.stderr)
    for candidate_id, plain, engine_score in disagree[:10]:
        print(f"  {candidate_id}: plain CRS {plain}, ruleset {engine_score}", file=sys.stderr)
    print(f"{'CRS range':>11} {'target %':>8} {'engine %':>8}", file=sys.stderr)
    for (low, high), target, got in zip(report.bins, report.target, counts, strict=True):
        print(f"{low:>5}-{high:<5} {100 * target / max(report.size, 1):>8.2f} "
              f"{100 * got / len(sample):>8.2f}", file=sys.stderr)
    return 1 if disagree else 0


def cmd_pool_import(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from ..errors import DecisionError
    from ..store import Store
    from ..store.draws import save_pool

    path = Path(args.file)
    if not path.is_file():
        print(f"no pool file {args.file}", file=sys.stderr)
        return 2
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        store = Store(args.database_url, key_file=Config.from_env().log_key_path)
        store.upgrade()
        with path.open("rb") as fh:
            size = save_pool(store, args.pool_id, (line.rstrip(b"\r\n") for line in fh
                                                   if line.strip()), digest, path.name)
    except sa.exc.IntegrityError:
        print(f"a pool '{args.pool_id}' is already stored", file=sys.stderr)
        return 1
    except DecisionError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    print(f"stored pool {args.pool_id}: {size} candidates (sha256 {digest[:12]})")
    return 0
