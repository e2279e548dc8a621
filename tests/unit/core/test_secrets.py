"""Secrets from the environment or a secrets file named in it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradeloop.config.node import load_node_config
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import clear_registered_secrets, redact_text
from tradeloop.core.secrets import (
    SECRETS_FILE_ENV,
    lookup_secret,
    read_secrets_file,
    resolve_secret,
)


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    clear_registered_secrets()


def secrets_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secrets.env"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_the_secrets_file_is_read_when_the_environment_lacks_the_variable(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "# broker\n\nexport MT5_PASSWORD='from file'\n"
                                  'API_KEY = "k-123"\nPLAIN=a=b\n')
    assert read_secrets_file(path) == {"MT5_PASSWORD": "from file", "API_KEY": "k-123",
                                       "PLAIN": "a=b"}
    env = {SECRETS_FILE_ENV: str(path)}
    assert resolve_secret("MT5_PASSWORD", env).get_secret_value() == "from file"
    assert resolve_secret("MT5_PASSWORD", {**env, "MT5_PASSWORD": "from env"}
                          ).get_secret_value() == "from env"
    assert lookup_secret("OTHER", env) is None
    with pytest.raises(ConfigError, match=f"OTHER is not set: .*{SECRETS_FILE_ENV}"):
        resolve_secret("OTHER", env)


def test_a_read_secret_is_masked_in_log_text(tmp_path: Path) -> None:
    resolve_secret("MT5_PASSWORD", {"MT5_PASSWORD": "Zebra-Horse-91"})
    assert redact_text("login failed with Zebra-Horse-91") == "login failed with ***"
    lookup_secret("DB", {"DB": "db-secret-77"}, register=False)
    assert redact_text("db-secret-77") == "db-secret-77"


def test_secrets_file_errors_never_show_a_line(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "GOOD=1\nthis line holds hunter2\n")
    with pytest.raises(ConfigError) as caught:
        read_secrets_file(path)
    assert str(caught.value) == f"secrets file {path}: line 2 is not NAME=value"
    missing = tmp_path / "none.env"
    with pytest.raises(ConfigError, match=f"secrets file {missing} .* does not exist"):
        resolve_secret("X", {SECRETS_FILE_ENV: str(missing)})


def test_bad_variable_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="'not a name' is not an environment variable name"):
        resolve_secret("not a name", {})


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_secrets_file_others_can_read_is_warned_about(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "A=1\n")
    path.chmod(0o644)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    log = logging.getLogger("tradeloop.core.secrets")
    log.addHandler(handler)
    try:
        read_secrets_file(path)
    finally:
        log.removeHandler(handler)
    assert [r.getMessage() for r in seen] == [
        "the secrets file is readable by other users: chmod 600 it"]


def test_node_config_takes_its_secrets_from_the_file(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, "TRADELOOP_VENUE_TOKEN=tok-from-file\n"
                                  "TRADELOOP_DATABASE_URL=postgresql://u:pw-file@h/db\n")
    node = tmp_path / "node.toml"
    node.write_text('name = "n"\n[venue]\nurl = "http://127.0.0.1:8801"\n[data]\n'
                    'source = "venue"\n[[strategies]]\nstrategy = "s"\n')
    config = load_node_config(node, {SECRETS_FILE_ENV: str(path)})
    assert config.venue.token is not None
    assert config.venue.token.get_secret_value() == "tok-from-file"
    assert config.database.url.get_secret_value() == "postgresql://u:pw-file@h/db"
    assert config.redacted()["database"]["url"] == "postgresql://u:***@h/db"
