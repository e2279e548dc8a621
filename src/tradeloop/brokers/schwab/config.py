"""Settings of the Schwab adapter (``[broker] name = "schwab"``, ``[broker.settings]``).

Schwab's Trader API is reached with an app registered on Schwab's developer portal: its key
and secret come from the environment variables named by ``app_key_env`` and
``app_secret_env``. A person logs in once (``tradeloop broker login schwab``); the tokens that
login yields are kept encrypted in ``login_file``, with a key read from the variable named by
``token_key_env``. Variables are read from the process environment, else from the secrets file
named by ``TRADELOOP_SECRETS_FILE`` (``NAME=value`` lines). Values are kept as ``SecretStr``,
registered to be masked in logs, and never put in an error message.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import register_secret
from tradeloop.core.secrets import lookup_secret

Session = Literal["NORMAL", "AM", "PM", "SEAMLESS"]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SchwabConfig(BaseModel):
    """How the adapter reaches Schwab, and the account it trades.

    Attributes
    ----------
    app_key_env, app_secret_env : str
        Environment variables holding the app's key (Schwab's client id) and secret.
    token_key_env : str
        The environment variable holding the key that encrypts the saved tokens (any text
        of 16 characters or more; keep it secret, losing it means logging in again).
    app_key, app_secret, token_key : SecretStr or None
        Read from those variables, never from the settings.
    callback_url : str
        The app's registered callback URL (where Schwab sends the browser after the login).
    api_url : str
        Where the Trader and Market Data APIs and OAuth answer.
    login_file : str
        Where the encrypted tokens are kept: an absolute path, or one relative to the tradeloop
        home; empty: ``<home>/schwab/tokens-<app>.enc``, shared by the login, every node and
        downloads that use the same app.
    account : str
        The account number to trade (Schwab's plain number, not its hash); empty: the only
        linked account.
    refresh_margin_s : float
        Renew the access token (good for 30 minutes) this long before it runs out.
    login_days : float
        How long a login lasts (Schwab: 7 days).
    timeout_s : float
        Longest wait for one HTTP answer; a state change that times out is outcome-unknown.
    poll_interval_s : float
        How often working orders are polled (Schwab pushes no order events here).
    match_window_s : float
        How far around the moment an unanswered order was sent Schwab's orders are searched
        for it (see ``docs/schwab.md``, "Idempotency").
    listing_delay_s : float
        An unanswered order Schwab does not list yet is looked for again (not resent) until
        this long after it was sent.
    fills_lookback_days : int
        Fills and reconciliation search orders entered this many days before the time asked.
    group_wait_s : float
        How long the first order of an OCO or TRIGGER group waits for the rest to arrive.
    session : {"NORMAL", "AM", "PM", "SEAMLESS"}
        The trading session of orders whose tags do not say (``"session=SEAMLESS"``).
    trailing_basis : str
        The price a trailing stop follows: ``""`` (sell stops the bid, buy stops the ask),
        ``"LAST"`` or ``"MARK"``.
    option_multiplier : int
        Shares per option contract, when Schwab's reference data does not say.
    symbols : list of str
        The instruments a node trades (Schwab's symbols: ``AAPL``, ``AAPL  261218C00200000``).
    history_chunk_days : int
        Days of minute candles asked for per history request.
    reconnect_initial_s, reconnect_max_s : float
        Backoff of streamer reconnections.
    venue : str
        The venue name on instruments and orders.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_key_env: str = "SCHWAB_APP_KEY"
    app_secret_env: str = "SCHWAB_APP_SECRET"
    token_key_env: str = "SCHWAB_TOKEN_KEY"
    app_key: SecretStr | None = None
    app_secret: SecretStr | None = None
    token_key: SecretStr | None = None
    callback_url: str = "https://127.0.0.1:8182"
    api_url: str = "https://api.schwabapi.com"
    login_file: str = ""
    account: str = ""
    refresh_margin_s: float = Field(300.0, ge=0, lt=1800)
    login_days: float = Field(7.0, gt=0, le=90)
    timeout_s: float = Field(10.0, gt=0)
    poll_interval_s: float = Field(1.0, gt=0)
    match_window_s: float = Field(120.0, gt=0)
    listing_delay_s: float = Field(2.0, ge=0)
    fills_lookback_days: int = Field(30, ge=1, le=365)
    group_wait_s: float = Field(5.0, gt=0)
    session: Session = "NORMAL"
    trailing_basis: Literal["", "LAST", "MARK"] = ""
    option_multiplier: int = Field(100, ge=1)
    symbols: list[str] = Field(default_factory=list)
    history_chunk_days: int = Field(10, ge=1, le=365)
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    venue: str = "SCHWAB"

    @field_validator("callback_url", "api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with https:// (or http:// for a local "
                             "server)")
        return value.rstrip("/")

    @field_validator("app_key_env", "app_secret_env", "token_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name (letters, digits "
                             "and _)")
        return value

    @property
    def streams(self) -> bool:
        """Always True: quotes come from Schwab's streamer."""
        return True

    def token_path(self, home: Path) -> Path:
        """Where the encrypted tokens are kept for an adapter whose home is ``home``."""
        if self.login_file:
            path = Path(self.login_file).expanduser()
            return path if path.is_absolute() else tradeloop_root(home) / path
        app = self.app_key.get_secret_value() if self.app_key is not None else "app"
        digest = hashlib.sha256(app.encode()).hexdigest()[:12]
        return tradeloop_root(home) / "schwab" / f"tokens-{digest}.enc"


def tradeloop_root(home: Path) -> Path:
    """The tradeloop home an adapter home belongs to: nodes get ``<home>/brokers/<node>`` and
    downloads ``<home>/brokers/download``, the login ``<home>`` itself."""
    return home.parent.parent if home.parent.name == "brokers" else home


_SECRETS = (("app_key_env", "app_key", "the app key of your Schwab developer app"),
            ("app_secret_env", "app_secret", "the app secret of your Schwab developer app"),
            ("token_key_env", "token_key", "the key that encrypts the saved Schwab login "
             "(any secret text of 16 characters or more)"))


def load_config(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
                ) -> SchwabConfig:
    """``[broker.settings]`` of a ``schwab`` broker as a :class:`SchwabConfig`.

    Parameters
    ----------
    settings : mapping
    environ : mapping, optional
        Where the variables are read (default: the process environment).

    Raises
    ------
    ConfigError
        An unknown key (with the closest known one), a wrong value, a literal secret in the
        settings, or a variable that is not set, each naming the setting.
    """
    values = dict(settings)
    for name_field, value_field, what in _SECRETS:
        if values.get(value_field) not in (None, ""):
            raise ConfigError(f"broker.settings.{value_field}: secrets must not be written in "
                              f"the settings: name an environment variable with "
                              f"{name_field} = \"MY_VARIABLE\"")
        variable = str(values.get(name_field) or SchwabConfig.model_fields[name_field].default)
        if not _ENV_NAME.match(variable):
            continue  # the model names the problem
        found = lookup_secret(variable, environ, register=False)
        secret = found.get_secret_value() if found is not None else ""
        if not secret:
            raise ConfigError(f"broker.settings.{name_field}: the environment variable "
                              f"{variable} is not set: it holds {what}")
        if value_field == "token_key" and len(secret) < 16:
            raise ConfigError(f"broker.settings.{name_field}: the key in {variable} is too "
                              "short: use 16 characters or more")
        register_secret(secret)
        values[value_field] = SecretStr(secret)
    try:
        return SchwabConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = "broker.settings." + ".".join(str(p) for p in loc) if loc \
            else "broker.settings"
        if first["type"] == "extra_forbidden":
            hint = difflib.get_close_matches(str(loc[-1]), sorted(SchwabConfig.model_fields),
                                             n=1, cutoff=0.6)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(f"{where}: unknown setting{also}") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}") from None


__all__ = ["SchwabConfig", "Session", "load_config",
           "tradeloop_root"]
