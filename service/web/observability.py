"""Request ids, JSON logs and Prometheus metrics for the web app.

Logs never carry candidate facts: the JSON formatter (service.jsonlog) writes only the fields
it allows, whatever a caller passes in ``extra``, and request lines name the route
template (``/v1/decisions/<decision_id>``), never the path or query string (a query may hold a
candidate id).

Metrics work under gunicorn's several worker processes: when PROMETHEUS_MULTIPROC_DIR is set
(``decisions serve`` sets it before any worker starts), every process writes its samples there
and /metrics adds them up.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

REQUESTS = Counter("decisions_http_requests_total", "HTTP requests answered",
                   ["method", "route", "status"])
LATENCY = Histogram("decisions_http_request_duration_seconds", "Time to answer a request",
                    ["method", "route"],
                    buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
DECISIONS = Counter("decisions_made_total", "Decisions made and logged",
                    ["ruleset", "outcome"])

log = logging.getLogger("decisions.http")


def count_decision(decision: dict) -> None:
    DECISIONS.labels(decision["ruleset"], decision["outcome"]).inc()


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


def install(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        method = request.method if request.method in METHODS else "OTHER"
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        LATENCY.labels(method, route).observe(elapsed)
        caller = g.get("caller")
        log.info("request", extra={
            "request_id": g.get("request_id"), "method": method, "route": route,
            "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
            "caller": caller.name if caller else None, "worker": os.getpid()})
        return response
