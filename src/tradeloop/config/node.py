"""The settings of a trading node: one TOML file, overridden by the environment.

Example ``node.toml`` (every table but ``[data]`` and ``[[strategies]]`` may be left out)::

    mode = "paper"                 # paper | live
    name = "eurusd-paper"          # stable across restarts: used in run ids and log names
    cancel_open_orders_on_stop = false

    [account]                      # paper only: the simulated account
    cash = "100000"                # exact decimal
    currency = "USD"
    type = "margin"                # margin | cash
    leverage = "1"

    [data]                         # where market data comes from
    source = "replay"              # replay | synthetic | venue | broker
    files = ["EURUSD.csv"]         # replay: files (relative to this file), and/or
    symbols = ["EURUSD@1h"]        # replay: stored data (SYMBOL, SYMBOL@1h, SYMBOL@quotes)
    speed = 0                      # replay: 0 = as fast as possible, 1 = real time, N = N x
    max_gap_s = 5                  # replay: never wait longer than this between two items
    [data.synthetic]               # synthetic: seeded made-up quotes
    symbols = ["EURUSD"]
    seed = 7
    rate_per_s = 10
    start_prices = { EURUSD = 1.085 }

    [venue]                        # paper: in-process (default) or an out-of-process venue
    url = ""                       # e.g. "http://127.0.0.1:8801"; empty = in-process
    token_env = "TRADELOOP_VENUE_TOKEN"   # the variable holding its bearer token, if any

    [broker]                       # live only (or data.source = "broker"); a live node's data
                                   # is its broker's (source = "broker") or another feed
    name = "paper"                 # the adapter; [broker.settings] is checked by it
    [broker.settings]
    login = 1234567
    password_env = "MT5_PASSWORD"  # secrets: the NAME of an environment variable

    [database]
    url = ""                       # empty = SQLite under the tradeloop home
    url_env = "TRADELOOP_DATABASE_URL"   # variable holding a URL with a password
    durability = "full"            # or "intents": only order intents wait for the disk

    [logging]
    level = "INFO"
    json = true
    file = "logs/{name}.log"       # relative to the tradeloop home
    rotate_mb = 50
    keep = 10

    [risk]                         # limits and breakers: see tradeloop.config.risk
    daily_loss_limit = "500"
    kill_file = "~/tradeloop.KILL"

    [[notify.channels]]            # alerts: see tradeloop.config.notify
    name = "phone"
    type = "telegram"
    token_env = "TRADELOOP_TELEGRAM_TOKEN"
    chat_ids = [123456789]

    [[strategies]]
    strategy = "sma_cross"         # module:Class, a .py path, or a bundled example name
    id = "sma-eurusd"              # optional stable id (default: the class name)
    symbols = ["EURUSD"]
    params = { fast = 10, slow = 30 }

Environment. ``TRADELOOP_<KEY>`` overrides a top-level key and ``TRADELOOP_<TABLE>__<KEY>`` a
nested one (``TRADELOOP_DATA__SPEED=100``, ``TRADELOOP_DATABASE__URL=postgresql+psycopg://...``,
``TRADELOOP_STRATEGIES__0__PARAMS__FAST=5``), before validation; values are text converted
to the key's type, and a value starting with ``[`` or ``{`` is read as JSON. Other
``TRADELOOP_`` variables (``TRADELOOP_HOME``...) are left alone.

Secrets come only from the environment (see :mod:`tradeloop.core.secrets`): a secret-named
key (password, token, secret, api_key...) holding a value in the file, or a URL with a
password in it, is an error telling where to put it instead. Secrets are ``SecretStr`` and
never appear in ``repr``, errors, logs or :meth:`NodeConfig.redacted`.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tradeloop.config.api import ApiConfig, WebhookConfig
from tradeloop.config.models import model_at
from tradeloop.config.notify import NotifyConfig, resolve_notify_secrets
from tradeloop.config.risk import RiskConfig
from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import MASK, is_secret_key, redact, redact_text, register_secret
from tradeloop.core.secrets import is_env_name, lookup_secret, resolve_secret

ENV_PREFIX = "TRADELOOP_"
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_SECRET_PATHS = {("database", "url"), ("venue", "token")}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


class AccountConfig(_Section):
    """The account: a paper node's simulated one. A live node takes its balance and currency
    from the broker, and from here only ``type`` and ``leverage`` (which set what the risk
    gate's buying power allows); without ``leverage`` it takes the broker's where the broker
    reports one (MT5, cTrader), else 1."""

    cash: Decimal = Field(default=Decimal(100_000), gt=0, allow_inf_nan=False)
    currency: str = Field(default="USD", pattern=r"^[A-Za-z]{3,5}$")
    type: Literal["margin", "cash"] = "margin"
    leverage: Decimal = Field(default=Decimal(1), ge=1, allow_inf_nan=False)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _cash_account_has_no_leverage(self) -> AccountConfig:
        if self.type == "cash" and self.leverage != 1:
            raise ValueError("a cash account has no leverage: set leverage = \"1\" or "
                             "type = \"margin\"")
        return self


class SyntheticDataConfig(_Section):
    """Seeded made-up quotes (see :class:`tradeloop.data.feeds.SyntheticQuotes`)."""

    symbols: list[str] = Field(min_length=1)
    seed: int = 0
    rate_per_s: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    start_prices: dict[str, float] = Field(default_factory=dict)
    tick_sizes: dict[str, float] = Field(default_factory=dict)
    spread_ticks: int = Field(default=2, ge=1)
    volatility: float = Field(default=0.0001, ge=0, lt=0.5)
    realtime: bool = True


class DataConfig(_Section):
    """Where the node's market data comes from."""

    source: Literal["replay", "synthetic", "venue", "broker"] = "replay"
    files: list[str] = Field(default_factory=list)
    symbols: list[str] = Field(default_factory=list)
    speed: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    max_gap_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    synthetic: SyntheticDataConfig | None = None

    @model_validator(mode="after")
    def _source_has_what_it_needs(self) -> DataConfig:
        if self.source == "replay" and not (self.files or self.symbols):
            raise ValueError("source = \"replay\" needs files = [...] or symbols = [...] "
                             "(stored data such as \"EURUSD@1h\")")
        if self.source == "synthetic" and self.synthetic is None:
            raise ValueError("source = \"synthetic\" needs a [data.synthetic] table with "
                             "symbols = [...]")
        return self


class VenueConfig(_Section):
    """The paper venue: in-process, or out-of-process at ``url``."""

    url: str = ""
    token_env: str = "TRADELOOP_VENUE_TOKEN"
    token: SecretStr | None = None  # from the environment only

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not (urlsplit(value).scheme in ("http", "https") and urlsplit(value).netloc):
            raise ValueError("must be empty (in-process) or an http(s) URL such as "
                             "\"http://127.0.0.1:8801\"")
        return value


class BrokerConfig(_Section):
    """The broker adapter of a live node; ``settings`` are checked by the adapter."""

    name: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)


class DatabaseConfig(_Section):
    """The audit database."""

    url: SecretStr = SecretStr("")
    url_env: str = "TRADELOOP_DATABASE_URL"
    #: "full": every write waits for the disk; "intents": only order intents do (events and
    #: fills survive a crash of the process, and reconciliation recovers them after a power cut)
    durability: Literal["full", "intents"] = "full"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if value.get_secret_value() and not (scheme == "sqlite" or scheme.startswith(
                "postgresql")):
            raise ValueError("must be empty (SQLite under the tradeloop home), a sqlite:/// "
                             "URL or a postgresql+psycopg:// URL")
        return value


class LoggingConfig(_Section):
    """What the node logs, and where."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    json_lines: bool = Field(default=True, alias="json")
    file: str = "logs/{name}.log"
    rotate_mb: float = Field(default=50.0, ge=0, allow_inf_nan=False)
    keep: int = Field(default=10, ge=1)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("file")
    @classmethod
    def _only_name_placeholder(cls, value: str) -> str:
        try:
            value.format(name="node")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {name} may appear in braces, as in \"logs/{name}.log\""
                             ) from None
        return value

    def path(self, home: Path, name: str) -> Path | None:
        """The log file of node ``name`` (relative paths are under ``home``); None for none."""
        if not self.file:
            return None
        path = Path(self.file.format(name=name)).expanduser()
        return path if path.is_absolute() else home / path


class StrategyConfig(_Section):
    """One strategy the node runs."""

    strategy: str = Field(min_length=1)
    id: str | None = Field(default=None, pattern=_NAME_PATTERN)
    symbols: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


class NodeConfig(_Section):
    """A trading node's settings (see the module notes for the file)."""

    mode: Literal["paper", "live"] = "paper"
    name: str = Field(pattern=_NAME_PATTERN)
    cancel_open_orders_on_stop: bool = False
    account: AccountConfig = Field(default_factory=AccountConfig)
    data: DataConfig
    venue: VenueConfig = Field(default_factory=VenueConfig)
    broker: BrokerConfig | None = None
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    strategies: list[StrategyConfig] = Field(min_length=1)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _consistent(self) -> NodeConfig:
        problems = []
        if self.mode == "live":
            if self.broker is None:
                problems.append("broker: a live node needs a [broker] table with the "
                                "adapter's name")
            if self.data.source == "synthetic":
                problems.append("data.source: a live node trades real orders, so it needs "
                                "real prices: \"broker\" (its broker's data), \"venue\" or "
                                "\"replay\", not made-up ones")
            given = self.account.model_fields_set - {"type", "leverage"}
            if "account" in self.model_fields_set and given:
                problems.append(f"account.{', account.'.join(sorted(given))}: a live node's "
                                "balance and currency are the broker's; for a live node "
                                "[account] takes only type and leverage")
            if self.venue.url:
                problems.append("venue.url: the paper venue is for paper mode; a live node "
                                "trades through [broker]")
        elif self.data.source == "broker" and self.broker is None:
            problems.append("broker: data.source = \"broker\" needs a [broker] table")
        if self.data.source == "venue" and not self.venue.url:
            problems.append("venue.url: data.source = \"venue\" needs the venue's url")
        seen: dict[str, int] = {}
        for k, strategy in enumerate(self.strategies):
            ident = strategy.id or f"{strategy.strategy} (no id)"
            if ident in seen:
                problems.append(f"strategies[{k}]: same id as strategies[{seen[ident]}]: "
                                "give each strategy its own id = \"...\"")
            seen.setdefault(ident, k)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def data_files(self) -> list[Path]:
        """``data.files`` as paths, relative ones taken from the config file's directory."""
        return [p if p.is_absolute() else self._base_dir / p
                for p in (Path(f).expanduser() for f in self.data.files)]

    def log_path(self, home: Path) -> Path | None:
        """The node's log file (relative paths are under ``home``); None when logging.file
        is empty."""
        return self.logging.path(home, self.name)

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data, safe to print, log or serve: every secret is ``***``,
        and the database URL shows everything but its password."""
        data = self.model_dump(mode="python", by_alias=True)
        data["database"]["url"] = redact_text(self.database.url.get_secret_value())
        data["venue"]["token"] = None if self.venue.token is None else MASK
        webhook = data["api"]["webhook"]
        webhook["passphrase"] = None if self.api.webhook.passphrase is None else MASK
        for channel, shown in zip(self.notify.channels, data["notify"]["channels"],
                                  strict=True):
            for key in ("url", "secret", "token"):
                shown[key] = None if getattr(channel, key) is None else MASK
        return dict(redact(data))


# -- loading ------------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"node config {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"node config {path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read node config {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _literal_secrets(value: Any, loc: tuple[str | int, ...], where: str) -> list[str]:
    problems: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            here = (*loc, str(key))
            if str(key).lower().endswith("_env"):
                if inner != "" and not is_env_name(inner):
                    problems.append(f"{where}: {_dotted(here)}: must name an environment "
                                    "variable (letters, digits and _), such as \"MT5_PASSWORD\"")
            elif is_secret_key(str(key)) and inner not in (None, "", [], {}):
                problems.append(
                    f"{where}: {_dotted(here)}: secrets must not be written in the file: put it "
                    f"in an environment variable and name that instead: "
                    f"{key}_env = \"MY_{str(key).upper()}\"")
            else:
                problems += _literal_secrets(inner, here, where)
    elif isinstance(value, list):
        for k, inner in enumerate(value):
            problems += _literal_secrets(inner, (*loc, k), where)
    elif isinstance(value, str) and "://" in value and redact_text(value) != value:
        instead = ("the environment variable named by database.url_env"
                   if loc == ("database", "url") else "an environment variable")
        problems.append(f"{where}: {_dotted(loc)}: this URL carries a password or token: keep "
                        f"it out of the file and put the whole URL in {instead}")
    return problems


def _env_value(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]
                       ) -> dict[tuple[str | int, ...], str]:
    # writes the TRADELOOP_... overrides into raw; returns the variable behind each key path
    origins: dict[tuple[str | int, ...], str] = {}
    top = {name.lower() for name in (*_field_names(NodeConfig), *NodeConfig.model_fields)}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        parts = variable[len(ENV_PREFIX):].lower().split("__")
        if parts[0] not in top:
            if len(parts) > 1:
                hint = difflib.get_close_matches(parts[0], sorted(top), n=1)
                also = f"; did you mean {ENV_PREFIX}{hint[0].upper()}__...?" if hint else ""
                raise ConfigError(f"environment variable {variable}: no table "
                                  f"{parts[0]!r} in a node config{also}")
            continue
        if not all(parts):
            raise ConfigError(f"environment variable {variable}: empty key between '__'")
        loc: tuple[str | int, ...] = ()
        container: Any = raw
        for part in parts[:-1]:
            if isinstance(container, list) and part.isdigit() and int(part) < len(container):
                loc, container = (*loc, int(part)), container[int(part)]
            elif isinstance(container, dict):
                loc, container = (*loc, part), container.setdefault(part, {})
            else:
                raise ConfigError(f"environment variable {variable}: {_dotted(loc)} is not a "
                                  "table it can go into")
        if not isinstance(container, dict):
            raise ConfigError(f"environment variable {variable}: {_dotted(loc)} is not a "
                              "table it can go into")
        value = _env_value(environ[variable])
        if is_secret_key(parts[-1]) and isinstance(value, str):
            register_secret(value)
            value = SecretStr(value)
        container[parts[-1]] = value
        origins[(*loc, parts[-1])] = variable
    return origins


def _resolve_secrets(raw: dict[str, Any], environ: Mapping[str, str],
                     origins: Mapping[tuple[str | int, ...], str]) -> None:
    venue = raw.get("venue")
    venue = venue if isinstance(venue, dict) else {}
    token_env = venue.get("token_env", VenueConfig.model_fields["token_env"].default)
    if not venue.get("token") and is_env_name(token_env):
        token = lookup_secret(token_env, environ)
        if token is not None and token.get_secret_value():
            raw.setdefault("venue", {})["token"] = token
    api = raw.get("api")
    webhook = api.get("webhook") if isinstance(api, dict) else None
    if isinstance(webhook, dict) and not webhook.get("passphrase"):
        passphrase_env = webhook.get("passphrase_env",
                                     WebhookConfig.model_fields["passphrase_env"].default)
        if is_env_name(passphrase_env):
            passphrase = lookup_secret(passphrase_env, environ)
            if passphrase is not None and passphrase.get_secret_value():
                webhook["passphrase"] = passphrase
    resolve_notify_secrets(raw, environ, origins)
    database = raw.get("database")
    database = database if isinstance(database, dict) else {}
    url_env = database.get("url_env", DatabaseConfig.model_fields["url_env"].default)
    if ("database", "url") not in origins and is_env_name(url_env):
        url = lookup_secret(url_env, environ, register=False)  # its password is, once valid
        if url is not None and url.get_secret_value():
            raw.setdefault("database", {})["url"] = url


def _explain(error: Mapping[str, Any], where: str,
             origins: Mapping[tuple[str | int, ...], str]) -> list[str]:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        model = model_at(NodeConfig, loc[:-1])
        allowed = _field_names(model) if model is not None else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        message = f"unknown key {loc[-1]!r}" + (
            f"; did you mean {hint[0]!r}?" if hint else
            f" (known keys: {', '.join(allowed)})" if allowed else "")
    elif kind == "missing":
        message = "required, but missing"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        secret = loc[:2] in _SECRET_PATHS or any(is_secret_key(str(p)) for p in loc)
        if not secret and isinstance(value, str | int | float) and kind != "value_error":
            message += f", got {value!r}"
    source = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins),
                  None)
    if source is not None:
        where = f"environment variable {source}"
    lines = message.splitlines() if loc == () else [f"{_dotted(loc)}: {message}"]
    return [redact_text(f"{where}: {line}") for line in lines]


def load_node_config(path: str | os.PathLike[str],
                     environ: Mapping[str, str] = os.environ) -> NodeConfig:
    """Read a node's TOML file, apply the environment's overrides and secrets, and check it.

    Parameters
    ----------
    path : str or path-like
        The TOML file.
    environ : mapping, default os.environ
        Where ``TRADELOOP_...`` overrides and secrets are read.

    Returns
    -------
    NodeConfig
        Secrets resolved (``venue.token`` from ``venue.token_env``, ``database.url`` from
        ``database.url_env`` when it is set, each notify channel's ``url``, ``secret`` and
        ``token`` from its ``*_env`` names) and registered for masking in logs.

    Raises
    ------
    ConfigError
        One line per problem, each naming the file (or the environment variable) and the key
        path, with a did-you-mean for unknown keys; never a secret's value.
    """
    file = Path(path).expanduser()
    raw = _read_toml(file)
    problems = _literal_secrets(raw, (), str(file))
    if problems:
        raise ConfigError("\n".join(problems))
    origins = _apply_environment(raw, environ)
    _resolve_secrets(raw, environ, origins)
    try:
        config = NodeConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [line for error in exc.errors(include_url=False)
                 for line in _explain(error, str(file), origins)]
        raise ConfigError("\n".join(lines)) from None
    config._base_dir = file.resolve().parent
    password = urlsplit(config.database.url.get_secret_value()).password
    if password:
        register_secret(password)
    return config


__all__ = [
    "AccountConfig",
    "BrokerConfig",
    "DataConfig",
    "DatabaseConfig",
    "LoggingConfig",
    "NodeConfig",
    "StrategyConfig",
    "SyntheticDataConfig",
    "VenueConfig",
    "load_node_config",
    "resolve_secret",
]
