"""Web: the HTTP API. The Flask app (``app``), what every view shares (``plumbing``), the views,
their marshmallow schemas, the OpenAPI document, problem+json errors and metrics."""

from .app import build_app

__all__ = ["build_app"]
