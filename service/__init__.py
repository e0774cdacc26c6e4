"""Explained rules-engine decisions for Express Entry and OINP selection.

The core (rulesets, conditions, engine, decisions) imports no Flask; the web layer is built by
``create_app`` on top of it.
"""


def create_app(config=None):
    """The WSGI app: config -> rulesets -> engine -> store -> api.

    Everything is loaded and checked here, at start: a broken ruleset, an invalid tokens file or
    (when it migrates) an unreachable database stops the start with its reason, never a later
    request."""
    from .api import build_app
    from .auth import TokenStore
    from .config import Config
    from .decision_service import DecisionService, Rules
    from .jsonlog import configure_logging
    from .pages_setup import install as install_pages
    from .ruleset_snapshots import RulesetSnapshots
    from .store import Store

    config = config or Config.from_env()
    configure_logging(config.log_level)
    snapshots = RulesetSnapshots(config.rulesets_snapshots) if config.rulesets_snapshots \
        else None
    rules = Rules.load(snapshots.current() if snapshots else config.rulesets_dir,
                       config.isolate_engine)
    store = Store(config.database_url)
    if config.migrate_on_start:
        store.upgrade()
    tokens = TokenStore(config.tokens_file)
    service = DecisionService(rules, store, config.rulesets_dir, config.isolate_engine,
                              snapshots)
    app = build_app(config, service, tokens)
    install_pages(app, config)  # the pages for auditors and policy staff (service/pages.py)
    return app
