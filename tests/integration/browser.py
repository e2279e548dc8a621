"""Debian's chromium through Playwright, for the browser tests (the HTML report, the dashboard).

Playwright's own browser download does not work here, so the tests launch the system chromium
with ``executable_path``: ``$TRADELOOP_TEST_CHROMIUM``, else ``chromium`` on the PATH. Without it
(or without Playwright) the tests skip, unless ``TRADELOOP_REQUIRE_BROWSER=1`` (CI), where they
fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REQUIRED = os.environ.get("TRADELOOP_REQUIRE_BROWSER") == "1"

try:
    from playwright import sync_api
except ImportError:  # pragma: no cover - depends on the environment
    if REQUIRED:
        raise
    pytest.skip("playwright is not installed", allow_module_level=True)

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    """The chromium to launch; skips the test (fails it in CI) when there is none."""
    path = os.environ.get("TRADELOOP_TEST_CHROMIUM") or shutil.which("chromium")
    if path and Path(path).exists():
        return path
    message = "chromium not found (set TRADELOOP_TEST_CHROMIUM or put chromium on the PATH)"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """A headless chromium (Playwright's Browser), closed on exit."""
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
