"""Alerts as HTTP POSTs: a generic JSON webhook, Slack and Discord incoming webhooks.

Generic JSON (``style="json"``). The body is one JSON object, UTF-8::

    {"kind": "fill", "severity": "info", "title": "Filled: BUY 1000 EURUSD @ 1.0998",
     "text": "...", "fields": {"qty": "1000", "price": "1.0998"},
     "created": "2024-01-02T09:00:00.123456Z"}

With a secret, two headers let the receiver check that the body comes from us, unchanged::

    X-Tradeloop-Timestamp: 1704186000
    X-Tradeloop-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

To verify, take the raw body bytes as received (before any JSON parsing), compute
``hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()``, compare
it with the header's hex part using a constant-time comparison (``hmac.compare_digest``), and
reject timestamps more than a few minutes from your clock, which stops replays.

Slack (``style="slack"``) posts a ``text`` fallback and blocks (a header, the text and up to 10
fields); Slack incoming webhooks cannot carry files, so charts are left out. Discord
(``style="discord"``) posts ``content`` and one embed coloured by severity; with a chart it
sends ``multipart/form-data`` holding ``payload_json`` and the PNG as ``files[0]``, shown as the
embed's image (``attachment://chart.png``).

Answers: 2xx is delivered; 429 raises :class:`~tradeloop.notify.base.RetryLater` with the
delay from ``Retry-After`` (or Discord's ``retry_after``); 5xx, timeouts and connection errors
raise ``RetryLater`` without a delay; any other status raises
:class:`~tradeloop.notify.base.NotifyError`. The URL is a secret (Slack and Discord URLs hold
a token): it never appears in an error or a log line (httpx's own request lines included).
A request that timed out may still have
been delivered, so an alert may (rarely) arrive twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import MASK, mask_secrets_in, redact_text, register_secret
from tradeloop.core.time import ns_to_iso
from tradeloop.notify.base import Alert, NotifyError, RetryLater, Severity

logger = logging.getLogger(__name__)

WebhookStyle = Literal["json", "slack", "discord"]

TIMESTAMP_HEADER = "X-Tradeloop-Timestamp"
SIGNATURE_HEADER = "X-Tradeloop-Signature"
CHART_FILENAME = "chart.png"

#: Discord embed colours by severity (RGB as an int).
DISCORD_COLORS = {
    Severity.INFO: 0x2E86DE,
    Severity.WARNING: 0xF39C12,
    Severity.ERROR: 0xE74C3C,
    Severity.CRITICAL: 0x8E0000,
}
_SLACK_ICONS = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.ERROR: ":x:",
    Severity.CRITICAL: ":rotating_light:",
}
_STYLES = ("json", "slack", "discord")
_BODY_SNIPPET = 200
_TOKEN_LIKE = 16  # URL path parts this long are masked in error messages




def _protect_url(url: str) -> None:
    register_secret(url)
    with contextlib.suppress(httpx.InvalidURL):
        register_secret(str(httpx.URL(url)))  # as httpx writes it in its log lines
    mask_secrets_in("httpx")  # it logs every request's URL at INFO level


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Tradeloop-Signature`` value of a body.

    Parameters
    ----------
    secret : bytes
        The shared secret.
    timestamp : str
        The ``X-Tradeloop-Timestamp`` value (Unix seconds).
    body : bytes
        The raw request body.

    Returns
    -------
    str
        ``"sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>"``.
    """
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def json_body(alert: Alert) -> dict[str, Any]:
    """The generic webhook body of ``alert`` (see the module notes)."""
    return {
        "kind": alert.kind,
        "severity": alert.severity.name.lower(),
        "title": alert.title,
        "text": alert.text,
        "fields": dict(alert.fields),
        "created": ns_to_iso(alert.created_ns),
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body: a ``text`` fallback and Block Kit blocks."""
    label = f"{alert.severity.name.lower()} · {alert.kind}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(alert.title, 150),
                                    "emoji": True}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"{_SLACK_ICONS[alert.severity]} {label}"}]},
    ]
    section: dict[str, Any] = {"type": "section"}
    if alert.text:
        section["text"] = {"type": "mrkdwn", "text": _clip(_slack_escape(alert.text), 3000)}
    if alert.fields:
        section["fields"] = [
            {"type": "mrkdwn",
             "text": _clip(f"*{_slack_escape(name)}*\n{_slack_escape(value)}", 2000)}
            for name, value in list(alert.fields.items())[:10]]
    if len(section) > 1:
        blocks.append(section)
    fallback = f"{alert.title}\n{alert.text}" if alert.text else alert.title
    return {"text": _clip(_slack_escape(fallback), 3000), "blocks": blocks}


def discord_body(alert: Alert) -> dict[str, Any]:
    """A Discord webhook body: ``content`` and one embed (its image the attached chart, if
    the alert has one)."""
    embed: dict[str, Any] = {
        "title": _clip(alert.title, 256),
        "color": DISCORD_COLORS[alert.severity],
        "timestamp": ns_to_iso(alert.created_ns),
        "footer": {"text": f"{alert.severity.name.lower()} · {alert.kind}"},
    }
    if alert.text:
        embed["description"] = _clip(alert.text, 4096)
    if alert.fields:
        embed["fields"] = [{"name": _clip(name, 256) or "-", "value": _clip(value, 1024) or "-",
                            "inline": True}
                           for name, value in list(alert.fields.items())[:25]]
    body: dict[str, Any] = {"content": _clip(alert.title, 2000), "embeds": [embed],
                            "allowed_mentions": {"parse": []}}
    if alert.image is not None:
        embed["image"] = {"url": f"attachment://{CHART_FILENAME}"}
        body["attachments"] = [{"id": 0, "filename": CHART_FILENAME}]
    return body


def _retry_after(response: httpx.Response) -> float | None:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("retry_after"), int | float):
        return max(float(payload["retry_after"]), 0.0)
    header = response.headers.get("Retry-After", "").strip()
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(header).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, IndexError):
        return None


class WebhookNotifier:
    """Posts alerts to a URL: generic JSON (optionally signed), Slack or Discord.

    Parameters
    ----------
    name : str
        The channel's name, for logs and stats.
    url : SecretStr
        Where to POST (http or https). Treated as a secret.
    secret : SecretStr, optional
        Signs JSON-style bodies (see the module notes); JSON style only.
    style : {"json", "slack", "discord"}, default "json"
    client : httpx.AsyncClient, optional
        Shared client; by default the notifier opens its own and :meth:`close` closes it.
    timeout_s : float, default 10
        Per request.

    Raises
    ------
    ConfigError
        An unknown style, a URL that is not http(s), or a secret with a style other than json.
    """

    def __init__(self, name: str, url: SecretStr, *, secret: SecretStr | None = None,
                 style: WebhookStyle = "json", client: httpx.AsyncClient | None = None,
                 timeout_s: float = 10.0) -> None:
        if style not in _STYLES:
            raise ConfigError(f"notify channel {name!r}: unknown webhook style {style!r} "
                              f"(use {', '.join(_STYLES)})")
        parts = urlsplit(url.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"notify channel {name!r}: the webhook URL must be an http:// "
                              "or https:// URL")
        if secret is not None and style != "json":
            raise ConfigError(f"notify channel {name!r}: a signing secret is for style "
                              f"\"json\" only ({style} checks its own URL token)")
        _protect_url(url.get_secret_value())
        if secret is not None:
            register_secret(secret)
        self.name = name
        self.style: WebhookStyle = style
        self._url = url
        self._secret = secret
        # what an error message must not show: the URL, the secret, and the long parts of the
        # URL's path and query (where Slack and Discord keep their tokens), longest first
        pieces = [p for p in re.split(r"[/?&=]", f"{parts.path}?{parts.query}")
                  if len(p) >= _TOKEN_LIKE]
        hidden = [url.get_secret_value(), *pieces]
        if secret is not None and secret.get_secret_value():
            hidden.append(secret.get_secret_value())
        self._hidden = sorted(set(hidden), key=len, reverse=True)
        self._timeout = httpx.Timeout(timeout_s)
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(
            timeout=self._timeout, follow_redirects=False)

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, style={self.style!r}, url={MASK})"

    def _clean(self, text: str) -> str:
        for value in self._hidden:
            text = text.replace(value, MASK)
        return redact_text(text)

    def _request(self, alert: Alert) -> dict[str, Any]:
        if self.style == "discord":
            payload = json.dumps(discord_body(alert), ensure_ascii=False)
            if alert.image is not None:
                return {"data": {"payload_json": payload},
                        "files": {"files[0]": (CHART_FILENAME, alert.image, "image/png")}}
            return {"content": payload.encode("utf-8"),
                    "headers": {"Content-Type": "application/json"}}
        body_dict = slack_body(alert) if self.style == "slack" else json_body(alert)
        body = json.dumps(body_dict, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self._secret.get_secret_value().encode("utf-8"),
                                             timestamp, body)
        return {"content": body, "headers": headers}

    async def send(self, alert: Alert) -> None:
        """POST ``alert``.

        Raises
        ------
        RetryLater
            429 (with the delay asked for), 5xx, a timeout or a connection error.
        NotifyError
            Any other non-2xx answer, or a request that cannot be built.
        """
        try:
            response = await self._client.post(self._url.get_secret_value(),
                                               timeout=self._timeout, **self._request(alert))
        except httpx.TimeoutException:
            raise RetryLater(f"{self.name}: no answer from the webhook in time") from None
        except httpx.TransportError as exc:
            raise RetryLater(f"{self.name}: cannot reach the webhook: "
                             f"{type(exc).__name__}: {self._clean(str(exc))}") from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
            raise NotifyError(f"{self.name}: cannot send to the webhook: "
                              f"{type(exc).__name__}: {self._clean(str(exc))}") from None
        status = response.status_code
        if 200 <= status < 300:
            logger.debug("webhook alert delivered",
                         extra={"fields": {"channel": self.name, "status": status}})
            return
        # masked before it is cut, so a cut cannot leave part of the URL unmasked
        snippet = " ".join(self._clean(response.text[:20 * _BODY_SNIPPET]).split())
        snippet = _clip(snippet, _BODY_SNIPPET)
        answer = f"HTTP {status}" + (f" ({snippet})" if snippet else "")
        if status == 429:
            after_s = _retry_after(response)
            raise RetryLater(f"{self.name}: rate limited by the webhook: {answer}", after_s)
        if status >= 500:
            raise RetryLater(f"{self.name}: the webhook failed: {answer}")
        raise NotifyError(f"{self.name}: the webhook refused the alert: {answer}")

    async def close(self) -> None:
        """Close the HTTP client, if the notifier opened it."""
        if self._own_client:
            await self._client.aclose()


__all__ = [
    "DISCORD_COLORS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookNotifier",
    "WebhookStyle",
    "discord_body",
    "json_body",
    "sign",
    "slack_body",
]
