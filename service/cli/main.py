"""The ``decisions`` command: check, test and explain rulesets (and serve them, see api)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import DecisionError, FactsError, RulesetError
from .cluster import add_scheduler_option, cluster_for
from .draws import add_commands as add_draw_commands
from .ops import add_commands as add_ops_commands

DEFAULT_RULESETS = "rulesets"


def _load(directory: str):
    from ..engine import load_compiled

    return load_compiled(directory)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        catalog, _ = _load(args.directory)
    except RulesetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    count = sum(len(v) for v in catalog.by_id.values())
    if not args.no_trial:
        # durable-rules can crash the process on some rule shapes: run every case once in a
        # child process, so that a crashing ruleset is found here and not in production.
        from ..checks import cases_in_child

        try:
            report = cases_in_child(args.directory)
        except RulesetError as exc:
            print(exc, file=sys.stderr)
            return 1
        if report.problems:  # a case file that cannot be read: its cases never ran
            for problem in report.problems:
                print(problem, file=sys.stderr)
            print(f"{len(report.problems)} problem(s) found", file=sys.stderr)
            return 1
    print(f"ok: {len(catalog.by_id)} rulesets, {count} versions in {args.directory}"
          + ("" if args.no_trial else "; every case ran in the engine without a crash"))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from ..checks.cases import case_files, format_report, run_cases

    path = Path(args.path)
    directory = args.rulesets or (str(path) if path.is_dir() else DEFAULT_RULESETS)
    try:
        catalog, engine = _load(directory)
    except RulesetError as exc:
        print(exc, file=sys.stderr)
        return 1
    report = run_cases(catalog, engine, case_files(path), check_coverage=path.is_dir()
                       or args.coverage)
    print(format_report(report))
    return 0 if report.passed else 1


def cmd_explain(args: argparse.Namespace) -> int:
    from ..decisions import catalog_texts, decide, localized, with_texts
    from ..i18n import localize

    try:
        facts = json.loads(Path(args.facts).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read facts from {args.facts}: {exc}", file=sys.stderr)
        return 2
    try:
        catalog, engine = _load(args.rulesets)
        decision = with_texts(decide(catalog, engine, args.ruleset, facts, args.as_of),
                              catalog_texts(catalog))
        changes = _what_would_change(catalog, engine, args, facts) \
            if args.what_would_change else None
    except FactsError as exc:
        for path, messages in exc.extra.get("errors", {}).items():
            print(f"{path}: {' '.join(messages)}", file=sys.stderr)
        return 1
    except DecisionError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    if changes is not None and args.json:  # the answer of POST /v1/decisions/what-would-change
        print(json.dumps(localize(changes, args.lang) if args.lang else changes, indent=2,
                         ensure_ascii=False))
    elif args.json:
        print(json.dumps(localized(decision, args.lang) if args.lang else decision, indent=2,
                         ensure_ascii=False))
    else:
        lang = args.lang or "en"
        top = catalog.version(decision["ruleset"], next(
            r["version"] for r in decision["rulesets"] if r["id"] == decision["ruleset"]))
        sent = catalog.validate(top, facts, dt.date.fromisoformat(decision["as_of"]))  # defaults
        print(render_text(localized(decision, lang), lang, catalog.fact_words(top, sent, lang)))
        if changes is not None:
            print()
            print(render_what_would_change(localize(changes, lang), lang))
    return 0


def _what_would_change(catalog, engine, args: argparse.Namespace, facts: Any) -> dict:
    """The smallest declared changes of the facts that change the outcome, within the limits
    the service would use (DECISIONS_WHAT_WOULD_CHANGE_DECISIONS, _MS)."""
    from ..config import Config
    from ..decisions import InlineDecider, Limits, what_would_change

    config = Config.from_env()
    return what_would_change(catalog, InlineDecider(catalog, engine), args.ruleset, facts,
                             args.as_of, Limits(config.what_would_change_decisions,
                                                config.what_would_change_ms))


def render_what_would_change(w: dict[str, Any], lang: str) -> str:
    """A "what would change the outcome" answer (already in one language) on a terminal."""
    fr = lang == "fr"
    out = ["Ce qui changerait le résultat :" if fr else "What would change the outcome:"]
    for number, change in enumerate(w["changes"], 1):
        out.append(f"  {number}. {change['text']}")
        moved = ", ".join(f"{f['fact']} {json.dumps(f['from'], ensure_ascii=False)} -> "
                          f"{json.dumps(f['to'], ensure_ascii=False)}" for f in change["facts"])
        steps = "étapes" if fr else "steps"
        out.append(f"     [{moved}; {steps}: {change['steps']}]")
    out.append(f"  {w['summary']}")
    search = w["search"]
    out.append(("  Recherche : {n} décisions du moteur, {ms} ms" if fr else
                "  Search: {n} engine decisions, {ms} ms").format(
        n=search["decisions"], ms=round(search["elapsed_ms"])))
    return "\n".join(out)


def cmd_diff(args: argparse.Namespace) -> int:
    from ..checks.impact import compare, format_impact, read_cases

    try:
        if args.log:
            cases = _cases_from_log(args)
        else:
            cases = read_cases(args.cases)
        if args.scheduler:
            impact = _diff_on_cluster(args, cases)
        else:
            from ..decisions import InlineDecider

            catalog, engine = _load(args.rulesets)
            impact = compare(InlineDecider(catalog, engine), catalog, args.ruleset,
                             args.from_version, args.to_version, cases,
                             includers=not args.no_includers)
    except (OSError, ValueError, DecisionError, KeyboardInterrupt) as exc:
        return _stopped(exc)
    if args.json:
        print(json.dumps(impact.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(format_impact(impact))
    return 0


def _stopped(exc: BaseException) -> int:
    """What a command that may run on a cluster says and returns when it stops early: 130 on
    Ctrl-C (the chunks in flight are dropped by then), 1 for a refused decision or cluster, 2
    for a file or an argument that cannot be read."""
    if isinstance(exc, KeyboardInterrupt):
        print("\ncancelled: the chunks in flight were dropped", file=sys.stderr)
        return 130
    if isinstance(exc, DecisionError):
        print(exc.detail, file=sys.stderr)
        return 1
    print(exc, file=sys.stderr)
    return 2


def _diff_on_cluster(args: argparse.Namespace, cases):
    """The impact computed chunk by chunk on the cluster's workers, joined in case order: the
    same tally as one run (``Impact.absorb``)."""
    from ..checks.impact import Impact
    from ..distributed import chunked, impact_chunk
    from ..rulesets import load_catalog

    catalog = load_catalog(args.rulesets)
    for version in (args.from_version, args.to_version):
        catalog.version(args.ruleset, version)  # unknown here: said before the cluster starts
    impact = Impact(args.ruleset, args.from_version, args.to_version)
    with cluster_for(args, catalog) as cluster:
        chunks = ((args.ruleset, args.from_version, args.to_version, chunk,
                   not args.no_includers) for chunk in chunked(cases, args.chunk_size))
        for tally in cluster.map(impact_chunk, chunks, progress=_chunk_progress("cases",
                                                                                args.chunk_size)):
            impact.absorb(tally)
    return impact


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a range of the decision log: every record decided again with the versions it
    names; one line per record that is not identical, a count of each result."""
    import orjson

    from ..config import Config
    from ..store import Filters, Store

    store = Store(args.database_url or Config.from_env().database_url)
    counts = {"identical": 0, "different": 0, "failed": 0}
    try:
        records = store.scan(Filters(ruleset=args.ruleset, decided_from=args.decided_from,
                                     decided_to=args.decided_to))
        for outcome in _replays(args, records):
            counts[outcome["result"]] += 1
            if args.json:
                print(orjson.dumps(outcome).decode())
            elif outcome["result"] != "identical":
                why = outcome.get("problem", {}).get("detail") or "; ".join(
                    d["path"] for d in outcome["differences"][:5])
                print(f"{outcome['result']}: {outcome['decision_id']}: {why}")
    except (OSError, ValueError, DecisionError, KeyboardInterrupt) as exc:
        return _stopped(exc)
    finally:
        store.close()
    print(f"replayed {sum(counts.values())}: " + ", ".join(f"{k} {v}" for k, v in
                                                          counts.items()), file=sys.stderr)
    return 0 if counts["different"] == counts["failed"] == 0 else 1


def _replays(args: argparse.Namespace, records):
    if not args.scheduler:
        from ..decisions import InlineDecider
        from ..live.decision_service import replay_record

        decider = InlineDecider(*_load(args.rulesets))
        for record in records:
            yield replay_record(decider, record)
        return
    from ..distributed import chunked, replay_chunk
    from ..rulesets import load_catalog

    with cluster_for(args, load_catalog(args.rulesets)) as cluster:
        progress = _chunk_progress("records", args.chunk_size)
        for outcomes in cluster.map(replay_chunk, ((chunk,) for chunk in
                                                   chunked(records, args.chunk_size)),
                                    progress=progress):
            yield from outcomes


def _chunk_progress(what: str, chunk_size: int):
    """A progress line on standard error every 50 chunks."""
    def report(done: int) -> None:
        if done % 50 == 0:
            print(f"{done * chunk_size} {what} done", file=sys.stderr, flush=True)

    return report


def _cases_from_log(args: argparse.Namespace):
    """The facts of every logged decision that used this ruleset (alone or in a chain)."""
    import orjson

    from ..checks.impact import Case
    from ..config import Config
    from ..store import Store

    store = Store(args.database_url or Config.from_env().database_url)
    try:
        for record in store.scan():
            if any(r["id"] == args.ruleset for r in orjson.loads(record.rulesets)):
                yield Case(orjson.loads(record.facts), dt.date.fromisoformat(record.as_of),
                           f"decision {record.decision_id}")
    finally:
        store.close()


def render_text(d: dict[str, Any], lang: str, words: dict[str, str] | None = None) -> str:
    """A decision as a person reads it on a terminal; ``words``: what the candidate's facts
    mean, by path (``Catalog.fact_words``: an occupation code with its title, an enum value in
    words)."""
    fr = lang == "fr"
    out = [f"{d['title']}", f"{'Décision' if fr else 'Decision'} {d['decision_id']} "
           f"({'au' if fr else 'as of'} {d['as_of']})",
           f"{'Résultat' if fr else 'Outcome'}: {d['outcome_title']} [{d['outcome']}]", ""]
    if words:
        out.append("Faits du profil :" if fr else "Profile facts:")
        out.extend(f"  {path}: {text}" for path, text in words.items())
        out.append("")
    for name, score in d["scores"].items():
        parts = ", ".join(f"{k} {v}" for k, v in score.items() if k != "total")
        out.append(f"{name.upper()} {score['total']}" + (f" ({parts})" if parts else ""))
    if d["scores"]:
        out.append("")
    out.append("Exigences :" if fr else "Requirements:")
    for ruleset in d["rulesets"]:
        reqs = [r for r in d["requirements"] if r["ruleset"] == ruleset["id"]]
        if not reqs:
            continue
        out.append(f"  {ruleset['id']} {ruleset['version']}: {ruleset['outcome']}")
        for r in reqs:
            mark = ("satisf." if r["met"] else "NON    ") if fr else \
                ("met    " if r["met"] else "NOT MET")
            out.append(f"    [{mark}] {r['title']}")
            if not r["met"]:
                out.append(f"              {'parce que' if fr else 'because'}: {r['because']}")
                if r.get("reference"):  # the text a requirement rests on: the law that ended it
                    out.append(f"              source: {r['reference']}")
    out.append("")
    out.append("Règles appliquées :" if fr else "Rules fired:")
    for f in d["fired"]:
        effect = f["effect"]
        if "award" in effect:
            what = f"+{effect['points']} {effect['award']}"
        elif "derive" in effect:
            what = f"{effect['derive']} = {effect['value']}"
        else:
            what = "exigence satisfaite" if fr else "requirement met"
        matched = ", ".join(f"{k}={v}" for k, v in f["matched"].items())
        out.append(f"  {f.get('row', f['rule'])}: {what}  [{matched}]")
    out.append("")
    out.append(("Règles : " if fr else "Rulesets: ") + ", ".join(
        f"{r['id']} {r['version']} ({r['sha256'][:12]})" for r in d["rulesets"]))
    return "\n".join(out)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time (ISO 8601): {text}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="decisions", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="load and check every ruleset; exit 1 when any is broken")
    check.add_argument("directory", nargs="?", default=DEFAULT_RULESETS)
    check.add_argument("--no-trial", action="store_true",
                       help="skip running the cases in a child process to catch engine crashes")
    check.set_defaults(func=cmd_check)

    test = sub.add_parser("test", help="run the test cases beside the rulesets, with coverage")
    test.add_argument("path", nargs="?", default=DEFAULT_RULESETS,
                      help="a ruleset folder or one *.cases.yaml file")
    test.add_argument("--rulesets", help="ruleset folder (default: PATH when it is a folder)")
    test.add_argument("--coverage", action="store_true",
                      help="check rule coverage when PATH is a single file too")
    test.set_defaults(func=cmd_test)

    diff = sub.add_parser("diff", help="the impact of a ruleset change on a set of cases")
    diff.add_argument("ruleset")
    diff.add_argument("--from", dest="from_version", required=True, help="the version in use")
    diff.add_argument("--to", dest="to_version", required=True, help="the version to compare")
    source = diff.add_mutually_exclusive_group(required=True)
    source.add_argument("--cases", help="JSON Lines: facts, or {facts, as_of} per line")
    source.add_argument("--log", action="store_true",
                        help="use the facts of the decisions in the decision log")
    diff.add_argument("--database-url", default=None, help="decision log (with --log)")
    diff.add_argument("--json", action="store_true")
    diff.add_argument("--no-includers", action="store_true",
                      help="leave out the rulesets that include this one (by default each decides "
                           "the cases with the old and the new version in its chain)")
    diff.add_argument("--rulesets", default=DEFAULT_RULESETS)
    diff.add_argument("--chunk-size", type=int, default=100,
                      help="cases per chunk on a Dask cluster")
    add_scheduler_option(diff)
    diff.set_defaults(func=cmd_diff)

    replay = sub.add_parser("replay", help="decide a range of the decision log again with the "
                                           "versions each decision used; exit 1 when one "
                                           "differs")
    replay.add_argument("--ruleset", default=None, help="only decisions of this ruleset")
    replay.add_argument("--from", dest="decided_from", type=_moment, default=None,
                        help="decided at or after (YYYY-MM-DD or ISO 8601 time, UTC)")
    replay.add_argument("--to", dest="decided_to", type=_moment, default=None,
                        help="decided before (YYYY-MM-DD or ISO 8601 time, UTC)")
    replay.add_argument("--json", action="store_true",
                        help="every replay as JSON Lines, in log order")
    replay.add_argument("--database-url", default=None)
    replay.add_argument("--rulesets", default=DEFAULT_RULESETS)
    replay.add_argument("--chunk-size", type=int, default=100,
                        help="records per chunk on a Dask cluster")
    add_scheduler_option(replay)
    replay.set_defaults(func=cmd_replay)

    explain = sub.add_parser("explain", help="decide one set of facts and explain it")
    explain.add_argument("ruleset")
    explain.add_argument("facts", help="a JSON file with the candidate facts")
    explain.add_argument("--as-of", type=_date, default=None)
    explain.add_argument("--json", action="store_true", help="print the decision JSON")
    explain.add_argument("--lang", choices=["en", "fr"], default=None)
    explain.add_argument("--rulesets", default=DEFAULT_RULESETS)
    explain.add_argument("--what-would-change", action="store_true",
                         help="also the smallest declared changes of the facts that change the "
                              "outcome, each decided by the engine (with --json: only those)")
    explain.set_defaults(func=cmd_explain)

    add_ops_commands(sub)  # serve, db upgrade, verify-log, export-log, token create
    add_draw_commands(sub)  # draw, pool generate, pool import
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
