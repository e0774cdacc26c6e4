"""What only a real gunicorn shows (issue 17, item 17): bodies sent chunked, what gunicorn
itself answers and logs. One served instance (`decisions serve`, one worker) for the module;
all traffic on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from tests.http_api.test_serve import REQUEST, TOKEN, Server

MAX_BODY = 2 * 1024 * 1024  # the default DECISIONS_MAX_BODY_BYTES


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    # --timeout 3: a batch of a thousand decisions outlasts it (the worker-timeout test).
    # The engine's deadline and the database's waits must end before the worker timeout
    # (`decisions serve` refuses to start otherwise): shortened with it.
    server = Server(tmp, f"sqlite:///{tmp / 'decisions.db'}", workers=1,
                    options=("--timeout", "3"),
                    environment={"DECISIONS_ENGINE_TIMEOUT": "2",
                                 "DECISIONS_DATABASE_TIMEOUT": "1"})
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


def raw(server: Server, data: bytes, timeout: float = 30) -> tuple[int, dict, bytes]:
    """Send bytes as they are (and no more: the connection stays open for writing); the
    status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as conn:
        conn.sendall(data)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def gunicorn_problem(answer: tuple[int, dict, bytes], status: int) -> dict:
    got, headers, body = answer
    assert got == status, (got, body[:300])
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"].startswith("urn:decisions:problem:")
    assert problem["title"] and problem["detail"] and len(problem["request_id"]) == 32
    assert headers["X-Request-ID"] == problem["request_id"]
    assert int(headers["Content-Length"]) == len(body)
    return problem


@pytest.mark.slow
def test_what_gunicorn_answers_itself_is_problem_json(server):
    # 17d: gunicorn's own 400, 414 and 431 were HTML pages.
    gunicorn_problem(raw(server, b"GET /v1/rulesets?x=" + b"a" * 9000 + b" HTTP/1.1\r\n"
                                 b"Host: x\r\n\r\n"), 414)
    gunicorn_problem(raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                 + b"X-Many: y\r\n" * 150 + b"\r\n"), 431)
    gunicorn_problem(raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                                 + b"y" * 9000 + b"\r\n\r\n"), 431)
    gunicorn_problem(raw(server, b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"), 400)
    gunicorn_problem(raw(server, b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 400)
    assert raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200


@pytest.mark.slow
def test_a_worker_timeout_is_a_503_problem(server):
    # 17d: the worker timeout's answer was gunicorn's HTML 500. A client that sends a tenth of
    # its body and waits holds the (sync) worker in the app past --timeout 3.
    started = time.monotonic()
    answer = raw(server, b"POST /v1/decisions/batch?candidate_id=C-SECRET-T HTTP/1.1\r\n"
                         b"Host: x\r\nContent-Type: application/json\r\n"
                         + f"Authorization: Bearer {TOKEN}\r\n".encode()
                         + b"Content-Length: 1000\r\n\r\n" + b'{"items": ' + b" " * 90,
                 timeout=60)
    problem = gunicorn_problem(answer, 503)
    assert "3 s" in problem["detail"] and time.monotonic() - started < 30
    server._wait_ready(timeout=60)  # gunicorn boots a new worker


@pytest.mark.slow
def test_candidate_ids_in_urls_never_reach_the_logs(server):
    # 17c: gunicorn's own messages quoted the request line or URI. The app's request lines name
    # the route template only; gunicorn's access log is off; what gunicorn refuses or stops is
    # logged by error name and request id.
    server.request("GET", "/v1/decisions?candidate_id=C-SECRET-1")
    server.request("GET", "/v1/draws/X/candidates/C-SECRET-2")
    raw(server, b"GET /v1/decisions?candidate_id=C-SECRET-3\r\n\r\n")  # no HTTP version
    raw(server, b"GET /v1/draws/X/candidates/C-SECRET 4 HTTP/1.1\r\nHost: x\r\n\r\n")
    raw(server, b"GET /v1/draws/X/candidates/C-SECRET-5 HTTP/1.1\r\nHost: x\r\n"
                + b"X-Many: y\r\n" * 150 + b"\r\n")
    raw(server, b"GET /v1/decisions?candidate_id=C-SECRET-6 HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
    time.sleep(0.5)
    output = server.output()
    assert "C-SECRET" not in output, [line for line in output.splitlines()
                                      if "C-SECRET" in line]
    assert '"route":"/v1/draws/<draw_id>/candidates/<candidate_id>"' in output
    assert "request refused before the app" in output
