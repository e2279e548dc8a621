"""``tradeloop token create|list|revoke``: the token is printed once, alone on stdout; the
list never shows a secret; errors are one line. On the home's SQLite file and, when
``TRADELOOP_TEST_PG_URL`` names a server, on PostgreSQL through ``TRADELOOP_DATABASE_URL``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeloop.cli.app import app
from tradeloop.services.tokens import AuthError, authenticate, hash_token, list_tokens

TOKEN_LINE = re.compile(r"^tl_[A-Za-z0-9_-]{43}$")
DATABASE_URL_VARIABLE = "TRADELOOP_DATABASE_URL"


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_token_once_alone_on_stdout(database: str) -> None:
    code, out, err = _invoke("token", "create", "dashboard", "--scope", "trade",
                             "--expires", "12h", "--by", "alice")
    assert code == 0, err
    assert TOKEN_LINE.fullmatch(out.strip()), out
    token = out.strip()
    assert "cannot be shown again" in err
    assert "token 'dashboard'" in err and "scopes trade" in err and "expires" in err
    assert token not in err
    assert authenticate(token, "trade").name == "dashboard"
    with pytest.raises(AuthError, match="lacks the 'admin' scope"):
        authenticate(token, "admin")


def test_list_shows_the_tokens_and_never_a_secret(database: str) -> None:
    _code, first, _ = _invoke("token", "create", "ci", "-s", "read", "--expires", "never")
    _code, second, _ = _invoke("token", "create", "bot", "--scope", "read",
                               "--scope", "admin", "--by", "bob")
    code, out, err = _invoke("token", "list")
    assert code == 0, err
    for token in (first.strip(), second.strip()):
        assert token not in out and token[3:15] not in out
        assert hash_token(token) not in out and hash_token(token)[:16] not in out
    lines = {line.split()[1]: line for line in out.splitlines()
             if line.strip()[:1].isdigit()}
    assert set(lines) == {"ci", "bot"}
    assert re.search(r"\bread\s+active\b", lines["ci"]) and "never" in lines["ci"]
    assert re.search(r"\bread,admin\s+active\b", lines["bot"]) and "bob" in lines["bot"]
    for header in ("name", "scopes", "created", "expires", "last used", "revoked"):
        assert header in out


def test_revoke_by_name_then_the_token_is_refused(database: str) -> None:
    _code, out, _ = _invoke("token", "create", "ci", "--scope", "read")
    token = out.strip()
    code, out, err = _invoke("token", "revoke", "ci")
    assert code == 0, err
    assert re.fullmatch(r"token 'ci' \(id 1\) is revoked since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                        r"UTC\n", out), out
    with pytest.raises(AuthError, match="token revoked"):
        authenticate(token, "read")
    _code, listed, _ = _invoke("token", "list")
    assert re.search(r"\bci\s+read\s+revoked\b", listed), listed


def test_an_empty_list_says_how_to_create_one(database: str) -> None:
    code, out, _ = _invoke("token", "list")
    assert code == 0
    assert "no API tokens yet" in out


def test_mistakes_are_one_line_errors_and_create_nothing(
    database: str, tradeloop_home: Path
) -> None:
    environ = {k: v for k, v in os.environ.items() if k != DATABASE_URL_VARIABLE}
    environ["TRADELOOP_HOME"] = str(tradeloop_home)
    if not database.startswith("sqlite"):
        environ[DATABASE_URL_VARIABLE] = database

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tradeloop", "token", *args],
                              capture_output=True, text=True, check=False, env=environ,
                              timeout=120)

    created = cli("create", "ci", "--scope", "read")
    assert created.returncode == 0, created.stderr
    assert TOKEN_LINE.fullmatch(created.stdout.strip())
    for args, message in [
        (("create", "ci", "--scope", "read"), "a token named 'ci' already exists"),
        (("create", "x", "--scope", "write"), "token scope 'write'"),
        (("create", "x", "--scope", "read", "--expires", "0d"), "token expiry '0d'"),
        (("create", "9x", "--scope", "read"), "token name '9x'"),
        (("revoke", "nope"), "no token 'nope'"),
    ]:
        done = cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        assert message in lines[0], done.stderr
    assert [t.name for t in list_tokens()] == ["ci"]


def test_config_puts_tokens_in_the_nodes_own_database(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    node_db = tmp_path / "node.db"
    monkeypatch.setenv("NODE_DB_URL", f"sqlite:///{node_db}")
    monkeypatch.delenv("TRADELOOP_DATABASE_URL", raising=False)
    config = tmp_path / "node.toml"
    config.write_text('''
mode = "paper"
name = "own-db"
[data]
source = "synthetic"
[data.synthetic]
symbols = ["EURUSD"]
[database]
url_env = "NODE_DB_URL"
[logging]
file = ""
[[strategies]]
strategy = "sma_cross"
''', encoding="utf-8")
    code, out, err = _invoke("token", "create", "desk", "-s", "read", "--config", str(config))
    assert code == 0, err
    token = out.strip()
    from tradeloop.persistence import AuditStore, open_database

    database = open_database(f"sqlite:///{node_db}", tmp_path)
    try:
        assert authenticate(token, "read", store=AuditStore(database)).name == "desk"
    finally:
        database.close()
    with pytest.raises(AuthError):  # not in the home's database
        authenticate(token, "read")
    code, out, _ = _invoke("token", "list", "--config", str(config))
    assert code == 0 and "desk" in out
    code, out, _ = _invoke("token", "revoke", "desk", "--config", str(config))
    assert code == 0 and "revoked" in out
