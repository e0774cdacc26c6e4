"""What only a real gunicorn shows (issue 17, item 17): bodies sent chunked, what gunicorn
itself answers and logs. One served instance (`decisions serve`, one worker) for the module;
all traffic on 127.0.0.1."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.http_api.test_serve import REQUEST, TOKEN, Server

MAX_BODY = 2 * 1024 * 1024  # the default DECISIONS_MAX_BODY_BYTES


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    server = Server(tmp, f"sqlite:///{tmp / 'decisions.db'}", workers=1)
    yield server
    server.stop()


def post_chunked(server: Server, body: bytes, chunk: int = 64 * 1024) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        pieces = (body[i:i + chunk] for i in range(0, len(body), chunk))
        conn.request("POST", "/v1/decisions", body=pieces, encode_chunked=True, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
            "Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_gets_413_problem_json(server):
    # 17a: it was cut at 2 MiB and the prefix (valid JSON: a request, then spaces) decided.
    status, media, body = post_chunked(server, REQUEST + b" " * (MAX_BODY + 512 * 1024))
    assert status == 413, body[:300]
    assert media == "application/problem+json" and json.loads(body)["status"] == 413
    status, _, body = post_chunked(server, REQUEST.ljust(MAX_BODY))  # at the limit: decided
    assert status == 201, body[:300]
