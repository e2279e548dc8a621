"""The server binds 127.0.0.1 unless told otherwise, and refuses another address without TLS
(or a TLS proxy in front) and a token; the webhook refuses weak passphrases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from api_harness import node_config

from tradeloop.api.server import check_exposure, is_loopback
from tradeloop.cli.api_commands import webhook_settings
from tradeloop.config.api import ApiConfig
from tradeloop.core.errors import ConfigError


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.internal", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_needs_nothing() -> None:
    check_exposure(ApiConfig(), active_tokens=0)
    check_exposure(ApiConfig(host="::1"), active_tokens=0)


def test_another_address_needs_tls_or_a_proxy_and_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--host 0\.0\.0\.0 would expose the API beyond this "
                                          r"machine in clear text"):
        check_exposure(ApiConfig(host="0.0.0.0"), active_tokens=5)
    with pytest.raises(ConfigError, match="with no token to log in with"):
        check_exposure(ApiConfig(host="0.0.0.0", behind_proxy=True), active_tokens=0)
    check_exposure(ApiConfig(host="0.0.0.0", behind_proxy=True), active_tokens=1)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    check_exposure(ApiConfig(host="10.0.0.5", tls_cert=str(cert), tls_key=str(key)),
                   active_tokens=1)
    with pytest.raises(ConfigError, match=r"tls_cert and api\.tls_key go together"):
        check_exposure(ApiConfig(host="10.0.0.5", tls_cert=str(cert)), active_tokens=1)
    with pytest.raises(ConfigError, match=r"api.tls_key .*nope.pem does not exist"):
        check_exposure(ApiConfig(tls_cert=str(cert), tls_key=str(tmp_path / "nope.pem")),
                       active_tokens=1)


def test_the_cli_refuses_to_expose_a_node_without_a_token(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    node_config(tmp_path)  # writes node.toml
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELOOP_DATABASE")}
    env["TRADELOOP_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-m", "tradeloop", "serve", str(config), "--host",
                           "0.0.0.0", "--behind-proxy"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # the node's own log lines come before it
    assert last.startswith("error: ") and "no token to log in with" in last
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("passphrase", "message"), [
    (None, "passphrase"), ("changeme-changeme-1", "passphrase"), ("Xy7-q", "passphrase"),
])
def test_the_webhook_refuses_missing_or_weak_passphrases(tmp_path: Path, passphrase: str | None,
                                                         message: str) -> None:
    environ = {} if passphrase is None else {"TRADELOOP_WEBHOOK_PASSPHRASE": passphrase}
    path = tmp_path / "node.toml"
    node_config(tmp_path)
    path.write_text(path.read_text() + "\n[api.webhook]\nenabled = true\n", encoding="utf-8")
    from tradeloop.config.node import load_node_config

    settings = load_node_config(path, environ=environ)
    with pytest.raises(ConfigError, match=message) as refused:
        webhook_settings(settings)
    if passphrase:
        assert passphrase not in str(refused.value)


def test_a_strong_passphrase_is_taken_from_the_environment_and_masked(tmp_path: Path) -> None:
    from tradeloop.config.node import load_node_config

    path = tmp_path / "node.toml"
    node_config(tmp_path)
    path.write_text(path.read_text() + "\n[api.webhook]\nenabled = true\n", encoding="utf-8")
    secret = "Zq8-vL3mR7xT2wK9"
    settings = load_node_config(path, environ={"TRADELOOP_WEBHOOK_PASSPHRASE": secret})
    assert webhook_settings(settings) is not None
    assert secret not in str(settings.redacted())
    assert settings.redacted()["api"]["webhook"]["passphrase"] == "***"
