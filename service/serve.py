"""Run the app under gunicorn: several worker processes, each with its own rules and database
pool, sharing the decision log (SQLite file or PostgreSQL) and the metrics directory.

Workers are gunicorn's sync kind, one request at a time each: the rules engine is C code that
holds the GIL (threads would add no throughput) and can crash on some rule shapes, and a crash
must cost one request, not every request a threaded worker was serving.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from pathlib import Path
from ssl import SSLError
from typing import Any

import orjson
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.http import errors as http_errors
from gunicorn.workers.sync import SyncWorker

from .config import Config
from .live import MASTER_PID_ENV


def _post_fork(server: Any, worker: Any) -> None:
    """In each new worker: leave when the master dies. gunicorn's sync worker looks at its
    parent only when no connection is waiting, so under load the workers of a SIGKILLed master
    went on serving, holding the port, and a new `decisions serve` could not bind it. The kernel
    sends SIGTERM, gunicorn's graceful stop: the request in hand is finished (the engine's
    deadline bounds it), then the worker exits. The master forks from its one thread, which
    lives as long as it does (see service.child.die_with_parent)."""
    from .child import die_with_parent

    die_with_parent(server.pid, signal.SIGTERM)


def _child_exit(server: Any, worker: Any) -> None:
    # A dead worker's gauges must not be summed any more (counters and histograms keep their
    # totals, as Prometheus expects).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _on_reload(arbiter: Any) -> None:
    """SIGHUP to the master: check the ruleset folder afresh and publish it for the workers
    gunicorn is about to start, only if it passes; otherwise they start on the rules in use.
    A reload asked through the API has published the folder already: nothing to do then.

    A signal carries no parameter, so a folder that no longer has a ruleset in use (or has
    none) is refused here: removing rulesets is asked by name, POST /v1/admin/reload?remove=
    (issue 17, item 1)."""
    from .checks import check_rulesets
    from .errors import RulesetError
    from .live import ReloadRemovesError, removal_refused
    from .rulesets import load_catalog
    from .rulesets.snapshots import RulesetSnapshots, folder_digest

    source = os.environ["DECISIONS_RULESETS"]
    snapshots = RulesetSnapshots(os.environ["DECISIONS_RULESETS_SNAPSHOTS"])
    if folder_digest(source) == snapshots.current_digest():
        return
    staged = snapshots.stage(source)
    try:
        refused = removal_refused(load_catalog(snapshots.current()).ids(),
                                  load_catalog(staged).ids(), None)
        if refused:
            raise refused
        check_rulesets(str(staged))
    except (RulesetError, ReloadRemovesError) as exc:
        snapshots.discard(staged)
        how = " (a reload that removes rulesets is asked through POST /v1/admin/reload?remove=" \
            "...; a signal cannot name them)" if isinstance(exc, ReloadRemovesError) else ""
        arbiter.log.error("reload refused, the rules in use stay: %s%s", exc.detail, how)
        return
    snapshots.publish(staged)
    arbiter.log.info("reload: rulesets checked and published from %s", source)


# What gunicorn answers itself, before the app sees the request: (status, title, detail) by
# the error it raised; any other client error is a 400.
GUNICORN_PROBLEMS: list[tuple[type | tuple[type, ...], int, str, str]] = [
    (http_errors.LimitRequestLine, 414, "URI Too Long",
     "the request line is longer than this server reads"),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large",
     "the request's headers are more or larger than this server reads"),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented",
     "this server does not take that Transfer-Encoding"),
    (http_errors.ExpectationFailed, 417, "Expectation Failed",
     "this server cannot meet the request's Expect header"),
    ((http_errors.ForbiddenProxyRequest, SSLError), 403, "Forbidden",
     "this server does not take the request from there"),
    ((http_errors.ConfigurationProblem, http_errors.InvalidResponseHeader,
      http_errors.InvalidResponseHeaderName), 500, "Internal error",
     "the server failed; the request id identifies its log lines"),
]
CLIENT_ERRORS = (
    http_errors.InvalidRequestLine, http_errors.InvalidRequestMethod,
    http_errors.InvalidHTTPVersion, http_errors.InvalidHeader, http_errors.InvalidHeaderName,
    http_errors.InvalidProxyLine, http_errors.InvalidSchemeHeaders, http_errors.ObsoleteFolding,
    http_errors.InvalidH2CPreface, http_errors.InvalidChunkSize,
    http_errors.ChunkMissingTerminator, http_errors.InvalidChunkExtension)


class ProblemWorker(SyncWorker):
    """gunicorn's sync worker, but what gunicorn answers itself is problem+json like every
    other error of the API, not an HTML page (issue 17, 17d): a request line or headers it
    cannot read (400, 414, 431...), a worker timeout (503: the request took longer than
    ``--timeout``) and a failure outside the app (500). It logs them without the request line
    or URI, which can hold a candidate id (17c), under a request id the answer carries too."""

    timed_out = False

    def handle_abort(self, sig: int, frame: Any) -> None:
        self.timed_out = True  # the master sends SIGABRT to a worker past its timeout
        super().handle_abort(sig, frame)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        request_id = uuid.uuid4().hex
        status, title, detail = self.problem_for(exc)
        extra = {"request_id": request_id, "status": status, "error": type(exc).__name__}
        if status >= 500:
            self.log.error("request failed outside the app: %s", title, extra=extra,
                           exc_info=(type(exc), exc, exc.__traceback__))
        else:
            self.log.warning("request refused before the app: %s", title, extra=extra)
        slug = "".join(title.lower().split())
        body = orjson.dumps({"type": f"urn:decisions:problem:{slug}", "title": title,
                             "status": status, "detail": detail, "request_id": request_id})
        head = (f"HTTP/1.1 {status} {title}\r\nConnection: close\r\n"
                "Content-Type: application/problem+json\r\n"
                f"Content-Length: {len(body)}\r\nX-Request-ID: {request_id}\r\n\r\n")
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except Exception:  # the client may be gone; nothing more to tell it
            self.log.debug("failed to send an error answer")

    def problem_for(self, exc: BaseException) -> tuple[int, str, str]:
        if isinstance(exc, SystemExit) and self.timed_out:
            return 503, "Timed out", (f"the request took longer than this server allows "
                                      f"({self.cfg.timeout} s); it was stopped")
        for kinds, status, title, detail in GUNICORN_PROBLEMS:
            if isinstance(exc, kinds):
                return status, title, detail
        if isinstance(exc, CLIENT_ERRORS):
            return 400, "Bad Request", "this server cannot read the request line or headers"
        return 500, "Internal error", "the server failed; the request id identifies its log lines"


class QuietLogger(Logger):
    """gunicorn's logger without its access log: the app writes one JSON line per request, which
    names the route template and never the path or query (a candidate id can be in either);
    gunicorn's would write the request line (17c)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.jsonlog.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": "INFO",
                                   "propagate": False}},
    "root": {"level": "INFO", "handlers": []},  # each worker's app adds its own (jsonlog)
}


class DecisionsServer(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import create_app

        # Each worker builds its own app after the fork (no preload): the engine's C state and
        # the database connections then belong to one process only.
        return create_app(Config.from_env())


def prepare_state(host: str, port: int) -> Path:
    """The server's own folder, one per listening address and emptied at start: ``metrics``
    (prometheus_client must not add up the samples of an earlier run, and a killed one left its
    files behind) and ``rulesets`` (the checked snapshots the workers load)."""
    state = Path(tempfile.gettempdir()) / f"decisions-{host}-{port}"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(mode=0o700)
    (state / "metrics").mkdir()
    return state


def run(config: Config, host: str, port: int, workers: int, state: Path,
        timeout: int = 60) -> int:
    """Serve until stopped. The caller has checked and published the rulesets snapshot
    (config.rulesets_snapshots), migrated the database and prepared ``state``."""
    master = os.getpid()
    os.environ.update({
        "DECISIONS_RULESETS": config.rulesets_dir,
        "DATABASE_URL": config.database_url,
        "DECISIONS_TOKENS_FILE": config.tokens_file,
        "DECISIONS_MAX_BODY_BYTES": str(config.max_body_bytes),
        "DECISIONS_LOG_LEVEL": config.log_level,
        "DECISIONS_DATABASE_TIMEOUT": str(config.database_timeout),
        "DECISIONS_LOG_KEY_FILE": config.log_key_path,
        "DECISIONS_ISOLATE_ENGINE": "true" if config.isolate_engine else "false",
        "DECISIONS_ENGINE_TIMEOUT": repr(config.engine_timeout),
        "DECISIONS_RULESETS_SNAPSHOTS": config.rulesets_snapshots or "",
        "DECISIONS_MIGRATE_ON_START": "false",  # done once, above, before any worker starts
        "PROMETHEUS_MULTIPROC_DIR": str(state / "metrics"),
        MASTER_PID_ENV: str(master),
    })
    try:
        DecisionsServer({
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "worker_class": ProblemWorker,  # gunicorn's sync worker, errors as problem+json
            "timeout": timeout,
            "graceful_timeout": 30,
            "accesslog": None,  # the app writes one JSON line per request itself
            "logger_class": QuietLogger,
            "logconfig_dict": LOGGING,
            "post_fork": _post_fork,
            "child_exit": _child_exit,
            "on_reload": _on_reload,
            "proc_name": "decisions",
            # gunicorn 27's control socket has one default path per user: two servers on one
            # machine (tests, blue/green) would fight over it, and nothing here uses it.
            "control_socket_disable": True,
        }).run()
    finally:
        # Workers are forks of this process and leave through this same frame when they exit:
        # only the master may remove the folder the others still use.
        if os.getpid() == master:
            shutil.rmtree(state, ignore_errors=True)
    return 0
