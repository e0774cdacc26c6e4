"""Explained rules-engine decisions for Express Entry and OINP selection.

One package per stage, in the order of the flow (README.md, "Layout"):

    rulesets -> conditions -> engine -> decisions -> store      the core: files to logged decisions
    checks, draws                                              built on the core
    live                                                       the running service: decide and log
    workbench, distributed                                     drafts of rulesets; a Dask cluster
    web, pages, cli                                            the doors: HTTP API, pages, command
    config, errors, i18n, auth, jsonlog, child, keyfile        the kernel, imported by every stage

The core imports no Flask. ``create_app`` (here) and ``serve`` (gunicorn) assemble the doors;
the dependency rules are import-linter contracts (pyproject.toml) that the tests run.
"""


def create_app(config=None):
    """The WSGI app: config -> rulesets -> engine -> store -> api.

    Everything is loaded and checked here, at start: a broken ruleset, an invalid tokens file or
    (when it migrates) an unreachable database stops the start with its reason, never a later
    request."""
    from .auth import TokenStore
    from .config import Config
    from .decisions import Limits
    from .jsonlog import configure_logging
    from .live import DecisionService, Rules
    from .pages import install as install_pages
    from .rulesets.snapshots import RulesetSnapshots
    from .store import Store
    from .web import build_app

    config = config or Config.from_env()
    configure_logging(config.log_level)
    snapshots = RulesetSnapshots(config.rulesets_snapshots) if config.rulesets_snapshots \
        else None
    rules = Rules.load(snapshots.current() if snapshots else config.rulesets_dir,
                       config.isolate_engine, config.engine_timeout)
    store = Store(config.database_url, config.database_timeout, config.log_key_path)
    if config.migrate_on_start:
        store.upgrade()
    tokens = TokenStore(config.tokens_file)
    service = DecisionService(rules, store, config.rulesets_dir, config.isolate_engine,
                              snapshots, config.engine_timeout,
                              Limits(config.what_would_change_decisions,
                                     config.what_would_change_ms))
    app = build_app(config, service, tokens)
    install_pages(app, config)  # the pages for auditors and policy staff (service/pages)
    return app
