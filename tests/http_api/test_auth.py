"""Bearer tokens: kept hashed, compared in constant time, one role per kind of work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service.auth import (
    TokensFileError,
    TokenStore,
    create_local_tokens_file,
    hash_token,
    parse_tokens,
    token_line,
)
from tests.apps import TOKENS, bearer

REQUEST = {"ruleset": "oinp.hcp.tech-draw", "facts": {}}

ROUTES = [  # (method, path, roles that may call it)
    ("post", "/v1/decisions", {"decide"}),
    ("post", "/v1/decisions/batch", {"decide"}),
    ("get", "/v1/decisions", {"audit"}),
    ("get", "/v1/decisions/export", {"audit"}),
    ("get", "/v1/decisions/abc", {"audit"}),
    ("post", "/v1/decisions/abc/replay", {"audit"}),
    ("post", "/v1/admin/reload", {"admin"}),
    ("get", "/v1/rulesets", {"decide", "audit", "admin"}),
]


@pytest.mark.parametrize("method, path, allowed", ROUTES)
def test_each_route_needs_a_valid_token_with_its_role(client, method, path, allowed):
    call = getattr(client, method)
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": f"Basic {TOKENS['everything'][1]}"},
                    {"Authorization": "Bearer "}):
        response = call(path, headers=headers)
        assert response.status_code == 401, (headers, response.get_json())
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.mimetype == "application/problem+json"
    for name in ("decider", "auditor", "admin"):
        [role] = TOKENS[name][0]
        status = call(path, headers=bearer(name), json={}).status_code
        if role in allowed:
            assert status != 403 and status != 401, (name, path)
        else:
            assert status == 403, (name, path)


def test_operations_endpoints_need_no_token(client):
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_the_tokens_file_holds_only_hashes():
    line = token_line("svc-a", ["decide"], "secret-value")
    assert "secret-value" not in line
    assert line == f"svc-a decide {hash_token('secret-value')}"
    [(name, roles, digest)] = parse_tokens(line, "t")
    assert (name, roles, digest) == ("svc-a", frozenset({"decide"}), hash_token("secret-value"))


@pytest.mark.parametrize("text, message", [
    ("svc decide", "expected 'NAME ROLE[,ROLE] SHA256HEX'"),
    (f"svc superuser {'a' * 64}", "unknown: superuser"),
    ("svc decide abc", "64 lowercase hex"),
    (f"bad/name decide {'a' * 64}", "token name"),
    (f"svc decide {'a' * 64}\nsvc audit {'b' * 64}", "used twice"),
])
def test_a_bad_tokens_file_is_refused_with_its_line(text, message):
    with pytest.raises(TokensFileError, match="t:") as err:
        parse_tokens("# comment\n\n" + text, "t")
    assert message in err.value.detail


def test_token_changes_on_disk_apply_without_restart(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(token_line("one", ["decide"], "t1") + "\n")
    tokens = TokenStore(path)
    assert tokens.authenticate("t1").name == "one" and tokens.authenticate("t2") is None

    path.write_text(token_line("two", ["audit"], "t2") + "\n")  # t1 revoked, t2 added
    assert tokens.authenticate("t1") is None and tokens.authenticate("t2").name == "two"

    path.write_text("garbage line\n")  # a broken edit keeps the last good tokens
    assert tokens.authenticate("t2").name == "two"
    assert "not reloaded" in tokens.state()

    path.unlink()  # no file: nobody gets in
    assert tokens.authenticate("t2") is None and "revoked" in tokens.state()


def test_a_missing_or_bad_tokens_file_stops_the_start(tmp_path):
    with pytest.raises(TokensFileError, match="no tokens file"):
        TokenStore(tmp_path / "absent")
    (tmp_path / "bad").write_text("x y z\n")
    with pytest.raises(TokensFileError):
        TokenStore(tmp_path / "bad")


def test_the_first_local_token_is_made_once(tmp_path):
    path = tmp_path / "var" / "tokens"
    token = create_local_tokens_file(path)
    assert token and token.startswith("dcs_") and len(token) > 40
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert create_local_tokens_file(path) is None  # never replaced
    caller = TokenStore(path).authenticate(token)
    assert caller.name == "local" and caller.roles == {"decide", "audit", "admin", "author",
                                                       "review"}
    assert token not in path.read_text()


def test_token_create_prints_a_new_token_once_and_can_append_it(tmp_path):
    path = tmp_path / "tokens"
    run = [sys.executable, "-m", "service.cli", "token", "create"]
    shown = subprocess.run(run + ["svc-b", "decide,audit"], capture_output=True, text=True,
                           check=True).stdout
    token = shown.split("keep no copy): ")[1].split()[0]
    assert f"svc-b decide,audit {hash_token(token)}" in shown

    added = subprocess.run(run + ["svc-c", "audit", "--append", "--tokens-file", str(path)],
                           capture_output=True, text=True, check=True).stdout
    token_c = added.split("keep no copy): ")[1].split()[0]
    assert TokenStore(path).authenticate(token_c).name == "svc-c"
    again = subprocess.run(run + ["svc-c", "audit", "--append", "--tokens-file", str(path)],
                           capture_output=True, text=True)
    assert again.returncode == 1 and "already has" in again.stderr
    bad = subprocess.run(run + ["svc-d", "root"], capture_output=True, text=True)
    assert bad.returncode == 2 and "roles must be" in bad.stderr
    assert os.stat(path).st_mode & 0o077 == 0
