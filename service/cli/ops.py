"""The `decisions` subcommands that run the service and look after its decision log:
serve, db upgrade, verify-log, export-log, token create. (Registered by service.cli.)"""

from __future__ import annotations

import argparse
import os
import sys

from ..config import Config


def add_commands(sub: argparse._SubParsersAction) -> None:
    defaults = Config.from_env()

    serve = sub.add_parser("serve", help="serve the HTTP API with gunicorn (several workers)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=min(2 * (os.cpu_count() or 1) + 1, 8),
                       help="worker processes (default: 2 per core + 1, at most 8)")
    serve.add_argument("--timeout", type=int, default=60,
                       help="seconds a worker may spend on one request before it is replaced")
    _common(serve, defaults, tokens=True, key=True)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="the decision log's database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply every pending migration")
    _common(upgrade, defaults, rulesets=False, key=True)
    upgrade.set_defaults(func=cmd_db_upgrade)

    verify = sub.add_parser("verify-log", help="walk the decision log's hash chain; exit 1 at "
                                               "the first altered, removed or reordered record")
    verify.add_argument("--anchor", metavar="SEQ:HASH",
                        help="a record's hash noted earlier: also catches records removed from "
                             "the end with their checkpoints, or a chain rewritten by someone "
                             "who holds the key")
    _common(verify, defaults, rulesets=False, key=True)
    verify.set_defaults(func=cmd_verify_log)

    export = sub.add_parser("export-log", help="write every logged decision as JSON Lines")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    _common(export, defaults, rulesets=False)
    export.set_defaults(func=cmd_export_log)

    token = sub.add_parser("token", help="bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="make a new random token; print it once, with "
                                                 "the line for the tokens file")
    create.add_argument("name", help="who holds it (recorded with each decision it makes)")
    create.add_argument("roles", help="comma-separated: decide, audit, admin, author, "
                                               "review")
    create.add_argument("--append", action="store_true",
                        help="also add the line to the tokens file (DECISIONS_TOKENS_FILE)")
    create.add_argument("--tokens-file", default=defaults.tokens_file)
    create.set_defaults(func=cmd_token_create)


def _common(parser: argparse.ArgumentParser, defaults: Config, rulesets: bool = True,
            tokens: bool = False, key: bool = False) -> None:
    if rulesets:
        parser.add_argument("--rulesets", default=defaults.rulesets_dir,
                            help="ruleset folder (DECISIONS_RULESETS)")
    parser.add_argument("--database-url", default=defaults.database_url,
                        help="sqlite:///path or postgresql://... (DATABASE_URL)")
    if tokens:
        parser.add_argument("--tokens-file", default=defaults.tokens_file,
                            help="tokens file (DECISIONS_TOKENS_FILE)")
    if key:
        parser.add_argument("--log-key", default=None, metavar="FILE",
                            help="the key that signs the log's checkpoints (DECISIONS_LOG_KEY_FILE;"
                                 " default: log-key beside the tokens file)")


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..auth import TokenStore, create_local_tokens_file
    from ..checks import check_rulesets
    from ..errors import DecisionError, RulesetError
    from ..rulesets.snapshots import RulesetSnapshots
    from ..serve import prepare_state, run
    from ..store import Store

    config = Config.from_env(rulesets_dir=args.rulesets, database_url=args.database_url,
                             tokens_file=args.tokens_file, log_key_file=args.log_key)
    if config.engine_timeout >= args.timeout:
        # A hung engine must cost its request a 503 before gunicorn kills the whole worker.
        print(f"cannot serve: the engine's deadline (DECISIONS_ENGINE_TIMEOUT, "
              f"{config.engine_timeout:g} s) must be below the worker timeout (--timeout, "
              f"{args.timeout} s)", file=sys.stderr)
        return 2
    # A request may wait for the database twice over (a connection, then the log's lock): both
    # must be over before gunicorn kills the worker, or the client gets no problem+json at all.
    if 2 * config.database_timeout >= args.timeout:
        print(f"cannot serve: DECISIONS_DATABASE_TIMEOUT ({config.database_timeout} s) must be "
              f"under half of --timeout ({args.timeout} s)", file=sys.stderr)
        return 2
    state = prepare_state(args.host, args.port)
    snapshots = RulesetSnapshots(state / "rulesets")
    staged = snapshots.stage(config.rulesets_dir)
    try:
        # Load every ruleset and run every case in a child process: a broken ruleset, a failing
        # case, or a ruleset that crashes the engine stops the start here, not in each worker.
        check_rulesets(str(staged))
    except RulesetError as exc:
        print(f"cannot serve: the rulesets in {config.rulesets_dir} have problems:\n{exc}",
              file=sys.stderr)
        return 1
    snapshots.publish(staged)
    try:
        store = Store(config.database_url, config.database_timeout, config.log_key_path)
        store.upgrade()
        store.close()
        token = create_local_tokens_file(config.tokens_file)
        TokenStore(config.tokens_file)
    except DecisionError as exc:
        print(f"cannot serve: {exc.detail}", file=sys.stderr)
        return 1
    if token:
        _print_first_token(token, config.tokens_file, args.host, args.port)
    else:
        print(f"\nPages for people: http://{args.host}:{args.port}/ (sign in with an API token; "
              f"lost it? see that page)\n", file=sys.stderr, flush=True)
    return run(replace(config, rulesets_snapshots=str(snapshots.root)), args.host, args.port,
               args.workers, state, args.timeout)


def _print_first_token(token: str, path: str, host: str, port: int) -> None:
    url = f"http://{host}:{port}"
    print(f"""
A token with every role (decide, audit, admin, author, review) was created for this server;
only its hash is kept, in {path}. It is shown this once:

    export DECISIONS_TOKEN={token}

Pages for people: open {url}/ in a browser and sign in with this token.
Try:
    curl -s -H "Authorization: Bearer $DECISIONS_TOKEN" {url}/v1/rulesets
API documentation: {url}/docs
""", file=sys.stderr, flush=True)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ..errors import DecisionError
    from ..store import Store

    try:
        store = Store(args.database_url, key_file=Config.from_env(
            log_key_file=args.log_key).log_key_path)
        store.upgrade()
        print(f"decision log schema at revision {store.revision()}")
    except DecisionError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    return 0


def cmd_verify_log(args: argparse.Namespace) -> int:
    from ..errors import DecisionError
    from ..store import Store
    from ..store.workbench import verify_trail

    anchor = None
    if args.anchor:
        seq, _, digest = args.anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            print("--anchor takes SEQ:HASH, e.g. 1200:9f86d0...", file=sys.stderr)
            return 2
        anchor = (int(seq), digest)
    key = Config.from_env(log_key_file=args.log_key).log_key_path
    try:
        store = Store(args.database_url, key_file=key)
        result = store.verify(anchor)
        trail = verify_trail(store)
    except DecisionError as exc:
        print(exc.detail, file=sys.stderr)
        return 2
    # The workbench's trail (drafts, reviews, publications) is chained like the log.
    trail_line = (f"workbench trail: {trail.checked} records, chain intact" if trail.intact
                  else f"BROKEN workbench trail: {trail.problem}; {trail.checked} records "
                       "before it hold")
    signed = (f"{result.checkpoints} signed checkpoints hold" if result.unchecked is None
              else f"CHECKPOINTS NOT CHECKED: {result.unchecked}")
    if result.unsigned_before:
        signed += (f"; records 1 to {result.unsigned_before} were logged before checkpoints "
                   "were kept: the chain covers them, no signature")
    if result.finding:
        f = result.finding
        if f.seq is None:  # a kept ruleset version, not a record
            print(f"BROKEN: a kept ruleset version: {f.kind}: {f.detail}")
            print(f"the chain of {result.checked} records holds.")
        else:
            print(f"BROKEN at record {f.seq} ({f.decision_id or 'no id'}): {f.kind}: {f.detail}")
            print(f"{result.checked} records before it hold.")
        print(signed)
        print(trail_line)
        return 1
    head = f"head: record {result.head_seq} {result.head_hash}" if result.head_seq else \
        "the log is empty"
    print(f"ok: {result.checked} records, chain intact; {result.versions} ruleset versions "
          f"kept intact; {head}")
    print(signed)
    print(trail_line)
    if not trail.intact:
        return 1
    if result.head_seq:
        print(f"note the head elsewhere; later, `decisions verify-log --anchor "
              f"{result.head_seq}:{result.head_hash}` proves nothing before it changed")
    return 0


def cmd_export_log(args: argparse.Namespace) -> int:
    from ..errors import DecisionError
    from ..store import Store

    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    count = 0
    try:
        for line in Store(args.database_url).export():
            out.write(line)
            count += 1
    except DecisionError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    finally:
        if args.output:
            out.close()
    print(f"{count} records exported", file=sys.stderr)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from ..auth import new_token, token_line

    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    token = new_token()
    try:
        line = token_line(args.name, roles, token)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"token (shown once; give it to {args.name}, keep no copy): {token}")
    if args.append:
        from ..auth import TokensFileError, TokenStore

        path = args.tokens_file
        try:
            existing = TokenStore(path) if os.path.exists(path) else None
        except TokensFileError as exc:
            print(f"not added: {exc.detail}", file=sys.stderr)
            return 1
        if existing and args.name in existing.names():
            print(f"not added: {path} already has a token named {args.name}", file=sys.stderr)
            return 1
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        print(f"added to {path}: {line}")
    else:
        print(f"line for the tokens file: {line}")
    return 0
