"""A local cTrader Open API proxy for tests (TLS on 127.0.0.1, the adapter's protobuf codec).

See ``README.md``. :func:`adapter_settings` gives the ``[broker.settings]`` of a ``ctrader``
adapter pointed at a running server, with the credentials in environment variables the
caller sets from :data:`CREDENTIALS` (``credentials_env`` does it for a block).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .model import ACCOUNT_ID, DEFAULT_SYMBOLS, Account, Refused, SymbolSpec
from .server import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, FAULTS, REFRESH_TOKEN, CtraderServer
from .tls import ca_file

#: Environment variable -> value the adapter settings of :func:`adapter_settings` read.
CREDENTIALS = {"TL_CTRADER_CLIENT_ID": CLIENT_ID, "TL_CTRADER_CLIENT_SECRET": CLIENT_SECRET,
               "TL_CTRADER_ACCESS_TOKEN": ACCESS_TOKEN,
               "TL_CTRADER_REFRESH_TOKEN": REFRESH_TOKEN}


@contextlib.contextmanager
def credentials_env(**overrides: str) -> Iterator[None]:
    """Set the credential variables (``overrides`` replace values by variable name) for the
    duration of the block."""
    values = {**CREDENTIALS, **overrides}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def adapter_settings(server: CtraderServer, *, refresh: bool = False,
                     **extra: Any) -> dict[str, Any]:
    """``[broker.settings]`` of a ``ctrader`` adapter on ``server`` (short timeouts)."""
    settings: dict[str, Any] = {
        "host": "127.0.0.1", "port": server.port, "ca_file": ca_file(),
        "client_id_env": "TL_CTRADER_CLIENT_ID", "client_secret_env": "TL_CTRADER_CLIENT_SECRET",
        "access_token_env": "TL_CTRADER_ACCESS_TOKEN", "account_id": ACCOUNT_ID,
        "connect_timeout_s": 5.0, "request_timeout_s": 5.0, "ack_timeout_s": 1.0,
        "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5,
    }
    if refresh:
        settings["refresh_token_env"] = "TL_CTRADER_REFRESH_TOKEN"
    settings.update(extra)
    return settings


__all__ = ["ACCESS_TOKEN", "ACCOUNT_ID", "CLIENT_ID", "CLIENT_SECRET", "CREDENTIALS",
           "DEFAULT_SYMBOLS", "FAULTS", "REFRESH_TOKEN", "Account", "CtraderServer", "Refused",
           "SymbolSpec", "adapter_settings", "ca_file", "credentials_env"]
