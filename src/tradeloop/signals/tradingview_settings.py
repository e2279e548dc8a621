"""Settings of the TradingView webhook: the passphrase, the allowed source addresses and the
limits on body size and alert age."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
from dataclasses import dataclass, field

from pydantic import SecretStr

from tradeloop.core.errors import ConfigError
from tradeloop.signals.tradingview_parse import show

#: The addresses TradingView sends webhooks from (IPv4 only), per its support pages.
TRADINGVIEW_IPS: tuple[str, ...] = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")

#: What a strategy name may be.
STRATEGY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")

_MIN_PASSPHRASE_CHARS = 16
_MIN_DISTINCT_CHARS = 6
_EXAMPLE_WORDS = (
    "changeme", "passphrase", "password", "secret", "example", "yourpass", "replaceme",
    "placeholder", "letmein", "qwerty",
)
_NETWORK = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Settings of the TradingView webhook.

    Parameters
    ----------
    passphrase : SecretStr
        The shared secret every alert must carry. At least 16 characters, no whitespace (text
        alerts split on it), not an example value such as ``changeme``; a plain ``str`` is
        wrapped.
    check_ip : bool
        Refuse requests whose source address is not in ``allowed_ips`` (default True).
    allowed_ips : tuple of str
        Addresses or CIDR networks (IPv4 or IPv6) allowed to post; TradingView's by default.
    max_body_bytes : int
        Larger bodies are refused with 413 (default 16 KiB).
    max_age_s : float
        Alerts whose ``timenow`` is older than this when received are refused (default 120 s).
    max_clock_skew_s : float
        Alerts whose ``timenow`` is ahead of the receive time by more than this are refused
        (default 30 s).
    default_strategy : str or None
        The strategy of alerts that do not name one.

    Raises
    ------
    ConfigError
        A setting is out of range; the message names it and never shows the passphrase.
    """

    passphrase: SecretStr
    check_ip: bool = True
    allowed_ips: tuple[str, ...] = TRADINGVIEW_IPS
    max_body_bytes: int = 16_384
    max_age_s: float = 120.0
    max_clock_skew_s: float = 30.0
    default_strategy: str | None = None
    _networks: tuple[_NETWORK, ...] = field(init=False, repr=False, compare=False)
    _digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        secret = self.passphrase
        if isinstance(secret, str):
            secret = SecretStr(secret)
            object.__setattr__(self, "passphrase", secret)
        if not isinstance(secret, SecretStr):
            raise ConfigError("webhook setting passphrase must be a string")
        text = secret.get_secret_value()
        _check_passphrase(text)
        object.__setattr__(self, "_digest", hashlib.sha256(text.encode()).digest())
        entries = self.allowed_ips
        object.__setattr__(self, "allowed_ips",
                           (entries,) if isinstance(entries, str) else tuple(entries))
        object.__setattr__(self, "_networks", _networks(self.allowed_ips))
        if self.check_ip and not self._networks:
            raise ConfigError("webhook setting allowed_ips is empty while check_ip is on: "
                              "every alert would be refused")
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) \
                or self.max_body_bytes <= 0:
            raise ConfigError(f"webhook setting max_body_bytes must be a positive integer, "
                              f"got {self.max_body_bytes!r}")
        _check_seconds("max_age_s", self.max_age_s, allow_zero=False)
        _check_seconds("max_clock_skew_s", self.max_clock_skew_s, allow_zero=True)
        if self.default_strategy is not None and not STRATEGY_NAME.fullmatch(self.default_strategy):
            raise ConfigError(f"webhook setting default_strategy {self.default_strategy!r}: use "
                              "1-64 letters, digits, '-', '_' or '.'")

    def allows(self, source_ip: str | None) -> bool:
        """Tell whether requests from ``source_ip`` pass the address check."""
        return source_refusal(self, source_ip) is None

    def passphrase_matches(self, given: str | None) -> bool:
        """Compare ``given`` with the passphrase in constant time (fixed-length digests, so
        neither the content nor the length leaks through timing)."""
        given_bytes = given.encode() if isinstance(given, str) else b""
        matches = hmac.compare_digest(hashlib.sha256(given_bytes).digest(), self._digest)
        return matches and isinstance(given, str)


def _check_passphrase(text: str) -> None:
    what = "webhook setting passphrase"
    if not text:
        raise ConfigError(f"{what} is empty: set a random secret of at least "
                          f"{_MIN_PASSPHRASE_CHARS} characters")
    if len(text) < _MIN_PASSPHRASE_CHARS:
        raise ConfigError(f"{what} is shorter than {_MIN_PASSPHRASE_CHARS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ConfigError(f"{what} contains whitespace or control characters (text alerts "
                          "split on whitespace)")
    folded = "".join(ch for ch in text.lower() if ch.isalnum())
    if len(set(text)) < _MIN_DISTINCT_CHARS or any(word in folded for word in _EXAMPLE_WORDS):
        raise ConfigError(f"{what} looks like an example value: generate a random one, "
                          "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")


def _networks(entries: tuple[str, ...]) -> tuple[_NETWORK, ...]:
    networks: list[_NETWORK] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip()))
        except ValueError as exc:
            raise ConfigError(f"webhook setting allowed_ips: {entry!r} is not an IP address or "
                              f"CIDR network ({exc})") from None
    return tuple(networks)


def _check_seconds(name: str, value: object, *, allow_zero: bool) -> None:
    number = (float(value) if isinstance(value, int | float) and not isinstance(value, bool)
              else math.nan)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "positive"
        raise ConfigError(f"webhook setting {name} must be a {bound} number of seconds, "
                          f"got {value!r}")


def source_refusal(settings: WebhookSettings, source_ip: str | None) -> str | None:
    """Why ``source_ip`` may not post (a reason for a 403), or None when it may."""
    if source_ip is None or not source_ip.strip():
        return "the source address is unknown"
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return f"the source address {show(source_ip)} is not an IP address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in settings._networks):
        return None
    if settings.allowed_ips == TRADINGVIEW_IPS:
        return (f"the source address {address} is not one of TradingView's "
                f"({', '.join(TRADINGVIEW_IPS)})")
    return f"the source address {address} is not in the allowed_ips setting"


__all__ = ["STRATEGY_NAME", "TRADINGVIEW_IPS", "WebhookSettings", "source_refusal"]
