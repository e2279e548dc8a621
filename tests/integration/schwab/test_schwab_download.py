"""``tradeloop data download --venue schwab`` against the local Schwab: Schwab's price history
into the data store (validated on write), resumable; and the whole way from the terminal:
``tradeloop broker login schwab``, then the download command with the same settings file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.schwab import SchwabServer, approve
from support.schwab.harness import (
    KEY_ENV,
    SECRET_ENV,
    TOKEN_KEY,
    TOKEN_KEY_ENV,
    adapter_settings,
    log_in,
)
from support.schwab.oauth import APP_KEY, APP_SECRET
from tradeloop.data.store import DataStore
from tradeloop.services.data import download_data


def _days_back(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d")


def test_download_stores_validated_bars_and_resumes(
        schwab: SchwabServer, environment: None, tradeloop_home: Path, tmp_path: Path) -> None:
    settings = adapter_settings(schwab)
    log_in(settings, tradeloop_home)  # `tradeloop broker login schwab` logs in under the home
    store = DataStore(tmp_path / "store")
    start, end = _days_back(6), _days_back(1)
    first = download_data("schwab", "AAPL", "5m", start, end, settings=settings, store=store)
    assert first.venue == "SCHWAB" and first.added > 0 and first.fetched == first.added
    bars = store.read_bars("AAPL", "5m", venue="SCHWAB")
    assert len(bars) == first.added
    assert (bars.ts % (300 * 10**9) == 0).all() and (bars.low <= bars.high).all()
    again = download_data("schwab", "AAPL", "5m", start, end, settings=settings, store=store)
    assert again.added == 0  # what is stored is not asked for again, or not added twice
    daily = download_data("schwab", "AAPL", "1d", "2025-01-01", _days_back(1),
                          settings=settings, store=store)
    days = store.read_bars("AAPL", "1d", venue="SCHWAB")
    assert daily.added == len(days) > 200
    assert (days.ts % (86_400 * 10**9) == 0).all()  # on the UTC date, not Chicago's midnight


def test_log_in_and_download_from_the_terminal(schwab: SchwabServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = tmp_path / "schwab.toml"
    settings.write_text(
        f'api_url = "{schwab.base_url}"\ncallback_url = "https://127.0.0.1:8182"\n'
        f'app_key_env = "{KEY_ENV}"\napp_secret_env = "{SECRET_ENV}"\n'
        f'token_key_env = "{TOKEN_KEY_ENV}"\n', encoding="utf-8")
    env = dict(os.environ, TRADELOOP_HOME=str(home), COLUMNS="400")
    env.update({KEY_ENV: APP_KEY, SECRET_ENV: APP_SECRET, TOKEN_KEY_ENV: TOKEN_KEY})
    login = subprocess.Popen(
        [sys.executable, "-m", "tradeloop", "broker", "login", "schwab", "--settings",
         str(settings)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env)
    assert login.stderr is not None and login.stdin is not None
    address = ""
    deadline = time.monotonic() + 60
    while not address and time.monotonic() < deadline:
        line = login.stderr.readline()
        if not line:
            break
        if "/v1/oauth/authorize?" in line:
            address = line.strip()
    assert address, "the login showed no address to open"
    _out, err = login.communicate(approve(address) + "\n", timeout=60)
    assert login.returncode == 0, err
    assert "schwab: logged in" in err and "Traceback" not in err
    assert schwab.oauth.grants_of("authorization_code") == 1

    download = subprocess.run(
        [sys.executable, "-m", "tradeloop", "data", "download", "--venue", "schwab", "--symbol",
         "AAPL", "--timeframe", "15m", "--from", _days_back(4), "--to", _days_back(1),
         "--settings", str(settings)], capture_output=True, text=True, env=env, timeout=120,
        check=False)
    assert download.returncode == 0, download.stderr
    stored = DataStore(home / "store").read_bars("AAPL", "15m", venue="SCHWAB")
    assert len(stored) > 0
    assert schwab.oauth.grants_of("refresh_token") == 0  # the saved access token was used
