"""The HTTP API as a Flask app: the views' blueprints, problem+json errors, metrics and the OpenAPI
document, over a DecisionService."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from flask import Flask

from ..auth import TokenStore
from ..config import Config
from ..live import DecisionService
from ..workbench import Workbench
from . import observability, problems
from .draw_views import blueprint as draws
from .openapi import build_spec
from .plumbing import LimitedRequest
from .views import ops, v1
from .workbench_views import blueprint as workbench_api

API_VERSION = "1"


def build_app(config: Config, decision_service: DecisionService, tokens: TokenStore) -> Flask:
    app = Flask(__name__, static_folder=None)  # templates/ beside this module; no assets
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.request_class = LimitedRequest  # the limit holds for chunked bodies too
    app.extensions["decisions"] = decision_service
    app.extensions["decisions.tokens"] = tokens
    app.extensions["decisions.workbench"] = Workbench(decision_service)  # the API and the pages
    observability.install(app)
    problems.register(app)
    app.register_blueprint(v1)
    app.register_blueprint(ops)
    app.register_blueprint(draws)
    app.register_blueprint(workbench_api)
    try:
        release = package_version("decisions")
    except PackageNotFoundError:
        release = "0"
    app.extensions["decisions.spec"] = build_spec(app, f"{API_VERSION} ({release})")
    return app
