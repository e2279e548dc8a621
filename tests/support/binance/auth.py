"""Request parameters and the SIGNED / USER_STREAM security checks, as Binance does them.

A SIGNED request carries ``X-MBX-APIKEY``, a ``timestamp`` (ms) and a ``signature``: the hex
HMAC-SHA256, keyed with the secret, of the query string concatenated with the request body
(both exactly as sent, the ``signature`` parameter itself left out). The timestamp must not be
more than 1000 ms ahead of the server's clock nor older than ``recvWindow`` (default 5000 ms,
at most 60000).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from .errors import BinanceError, illegal, mandatory

API_KEY = "tradeloopLOCALbinanceKEY" + "0123456789" * 4
"""The API key the local exchange knows (64 alphanumerics, like Binance's)."""

API_SECRET = "tradeloopLOCALbinanceSECRET" + "9876543210" * 3 + "abcdefg"
"""The secret that goes with :data:`API_KEY`."""

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
MAX_AHEAD_MS = 1000
_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{64}")
_DIGITS = re.compile(r"[0-9]{1,20}")


def parse_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """The request's parameters: query string and form body (the query wins on a clash).

    Raises
    ------
    BinanceError
        -1101 when one source repeats a parameter.
    """
    merged: dict[str, str] = {}
    for raw in (raw_body, raw_query):
        seen: set[str] = set()
        for name, value in parse_qsl(raw, keep_blank_values=True):
            if name in seen:
                raise BinanceError(400, -1101, "Duplicate values for a parameter detected.")
            seen.add(name)
            merged[name] = value
    return merged


def check_api_key(headers: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """The secret of the request's ``X-MBX-APIKEY``.

    Raises
    ------
    BinanceError
        -2014 (missing or malformed key), -2015 (unknown key), both HTTP 401.
    """
    key = headers.get("x-mbx-apikey", "")
    if not _KEY_FORMAT.fullmatch(key):
        raise BinanceError(401, -2014, "API-key format invalid.")
    secret = keys.get(key)
    if secret is None:
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return secret


def check_signed(raw_query: str, raw_body: str, params: Mapping[str, str],
                 headers: Mapping[str, str], keys: Mapping[str, str], server_ms: int, *,
                 payload: str | None = None) -> None:
    """Check a SIGNED request: key, signature and timestamp window.

    Raises
    ------
    BinanceError
        -2014/-2015 (key), -1102/-1100 (missing or malformed ``signature``, ``timestamp``,
        ``recvWindow``), -1131 (recvWindow above 60000), -1022 (bad signature),
        -1021 (timestamp outside the window).
    """
    secret = check_api_key(headers, keys)
    signature = params.get("signature", "")
    if not signature:
        raise mandatory("signature")
    timestamp_text = params.get("timestamp", "")
    if not timestamp_text:
        raise mandatory("timestamp")
    if not _DIGITS.fullmatch(timestamp_text):
        raise illegal("timestamp", "^[0-9]{1,20}$")
    window_text = params.get("recvWindow", "")
    window = DEFAULT_RECV_WINDOW_MS
    if window_text:
        if not _DIGITS.fullmatch(window_text):
            raise illegal("recvWindow", "^[0-9]{1,20}$")
        window = int(window_text)
        if window > MAX_RECV_WINDOW_MS:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    if payload is None:
        payload = _without_signature(raw_query) + _without_signature(raw_body)
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(400, -1022, "Signature for this request is not valid.")
    timestamp = int(timestamp_text)
    if timestamp >= server_ms + MAX_AHEAD_MS:
        raise BinanceError(
            400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - timestamp > window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def signed_query(params: Mapping[str, object], secret: str = API_SECRET) -> str:
    """A query string with its ``signature`` appended, as a Binance client builds it.

    Parameters
    ----------
    params : mapping
        The parameters, ``timestamp`` included.
    secret : str
    """
    query = urlencode({k: str(v) for k, v in params.items()})
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


def _without_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


def check_ws_signed(params: Mapping[str, str], keys: Mapping[str, str], server_ms: int) -> None:
    """Check a signed WebSocket API request: ``apiKey``, ``timestamp`` and ``signature`` in
    ``params``, signed over the other parameters sorted by name (``k=v&...``, not encoded).

    Raises
    ------
    BinanceError
        As :func:`check_signed`.
    """
    secret = check_api_key({"x-mbx-apikey": params.get("apiKey", "")}, keys)
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    check_signed("", "", params, {"x-mbx-apikey": params.get("apiKey", "")},
                 {params.get("apiKey", ""): secret}, server_ms, payload=payload)
