"""Node configuration: the TOML file, environment overrides, teaching errors, and secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from tradeloop.config.node import NodeConfig, load_node_config, resolve_secret
from tradeloop.core.errors import ConfigError, UserError
from tradeloop.core.logging import JsonFormatter, clear_registered_secrets, get_logger

GOOD = """\
mode = "paper"
name = "eurusd-paper"
cancel_open_orders_on_stop = true

[account]
cash = "250000.50"
currency = "eur"
type = "margin"
leverage = "30"

[data]
source = "replay"
files = ["EURUSD.csv", "/abs/GBPUSD.parquet"]
symbols = ["EURUSD@1h"]
speed = 0
[data.synthetic]
symbols = ["EURUSD"]
seed = 7
rate_per_s = 10

[venue]
url = ""
token_env = "TRADELOOP_VENUE_TOKEN"

[broker]
name = "paper"
[broker.settings]
login = 1234
password_env = "MT5_PASSWORD"

[database]
url = ""
url_env = "TRADELOOP_DATABASE_URL"

[logging]
level = "debug"
json = false
file = "logs/{name}.log"
rotate_mb = 5
keep = 3

[[strategies]]
strategy = "sma_cross"
id = "sma-eurusd"
symbols = ["EURUSD"]
params = { fast = 10, slow = 30 }

[[strategies]]
strategy = "rsi_reversion"
params = { period = 14 }
"""

DB_PASSWORD = "pa55-w0rd-db"
DB_URL = f"postgresql+psycopg://bot:{DB_PASSWORD}@db.internal:5432/tradeloop"
TOKEN = "venue-token-0123456789"


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    clear_registered_secrets()


def write(tmp_path: Path, text: str, name: str = "node.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_node_config(path, environ or {})
    assert isinstance(caught.value, UserError)
    error = caught.value  # shown without a chained traceback
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return str(caught.value)


# -- a good file --------------------------------------------------------------------------------


def test_a_good_file_loads_with_types_and_defaults(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, GOOD), {})
    assert config.mode == "paper" and config.name == "eurusd-paper"
    assert config.cancel_open_orders_on_stop is True
    assert config.account.cash == Decimal("250000.50")
    assert config.account.currency == "EUR" and config.account.leverage == Decimal(30)
    assert config.data.files == ["EURUSD.csv", "/abs/GBPUSD.parquet"]
    assert config.data_files() == [tmp_path / "EURUSD.csv", Path("/abs/GBPUSD.parquet")]
    assert config.data.speed == 0 and config.data.synthetic is not None
    assert config.data.synthetic.seed == 7
    assert config.broker is not None and config.broker.settings == {
        "login": 1234, "password_env": "MT5_PASSWORD"}
    assert config.logging.level == "DEBUG" and config.logging.json_lines is False
    assert config.log_path(tmp_path / "home") == tmp_path / "home" / "logs" / "eurusd-paper.log"
    assert config.database.url.get_secret_value() == ""
    assert config.venue.token is None
    assert [s.id for s in config.strategies] == ["sma-eurusd", None]
    assert config.strategies[0].params == {"fast": 10, "slow": 30}


def test_a_minimal_file_takes_the_defaults(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, """
name = "n1"
[data]
source = "synthetic"
synthetic = { symbols = ["EURUSD"] }
[[strategies]]
strategy = "sma_cross"
"""), {})
    assert config.mode == "paper" and config.account.cash == Decimal(100_000)
    assert config.account.type == "margin" and config.venue.url == ""
    assert config.logging.rotate_mb == 50 and config.logging.keep == 10
    assert config.data.synthetic is not None and config.data.synthetic.realtime is True
    assert config.broker is None


def test_a_live_node(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, """
mode = "live"
name = "mt5-live"
[data]
source = "broker"
[broker]
name = "mt5"
settings = { server = "Demo", password_env = "MT5_PASSWORD" }
[[strategies]]
strategy = "sma_cross"
"""), {})
    assert config.mode == "live" and config.broker is not None and config.broker.name == "mt5"


# -- errors -------------------------------------------------------------------------------------


def test_unknown_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    bad = GOOD.replace("speed = 0", "sped = 0").replace("params = { fast", "paramz = { fast")
    bad = bad.replace("[logging]", "[loging]")
    path = write(tmp_path, bad)
    lines = error_of(path).splitlines()
    assert sorted(lines) == [
        f"{path}: data.sped: unknown key 'sped'; did you mean 'speed'?",
        f"{path}: loging: unknown key 'loging'; did you mean 'logging'?",
        f"{path}: strategies[0].paramz: unknown key 'paramz'; did you mean 'params'?",
    ]


def test_an_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("keep = 3", "keep = 3\nbananas = 1"))
    assert error_of(path) == (f"{path}: logging.bananas: unknown key 'bananas' (known keys: "
                              "level, json, file, rotate_mb, keep)")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('mode = "paper"', 'mode = "pape"', "mode: Input should be 'paper' or 'live', got 'pape'"),
        ('name = "eurusd-paper"', 'name = "has space"', "name: String should match pattern"),
        ('cash = "250000.50"', 'cash = "-5"', "account.cash: Input should be greater than 0"),
        ('type = "margin"', 'type = "cash"', "account: a cash account has no leverage"),
        ('rate_per_s = 10', 'rate_per_s = 0', "data.synthetic.rate_per_s: Input should be "
                                               "greater than 0"),
        ('level = "debug"', 'level = "loud"', "logging.level: Input should be 'DEBUG'"),
        ('file = "logs/{name}.log"', 'file = "logs/{node}.log"',
         "logging.file: Value error, only {name} may appear"),
        ('url = ""\ntoken_env', 'url = "ftp://venue"\ntoken_env',
         "venue.url: Value error, must be empty (in-process) or an http(s) URL"),
        ('source = "replay"', 'source = "venue"', "venue.url: data.source = \"venue\" needs"),
        ('symbols = ["EURUSD@1h"]\n', '', None),
    ],
)
def test_bad_values_name_the_key_and_the_reason(tmp_path: Path, old: str, new: str,
                                                 expected: str | None) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    if expected is None:  # removing one of two replay sources is fine
        load_node_config(path, {})
        return
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert expected.replace("Value error, ", "") in message


def test_cross_checks(tmp_path: Path) -> None:
    replay = write(tmp_path, GOOD.replace('files = ["EURUSD.csv", "/abs/GBPUSD.parquet"]\n', "")
                   .replace('symbols = ["EURUSD@1h"]\n', ""))
    assert "data: source = \"replay\" needs files = [...] or symbols = [...]" in error_of(replay)
    synthetic = write(tmp_path, 'name = "x"\n[data]\nsource = "synthetic"\n'
                      '[[strategies]]\nstrategy = "s"\n')
    assert "needs a [data.synthetic] table" in error_of(synthetic)
    live = write(tmp_path, GOOD.replace('mode = "paper"', 'mode = "live"'))
    assert error_of(live).splitlines() == [
        f"{live}: account.cash, account.currency: a live node's balance and currency are the "
        "broker's; for a live node [account] takes only type and leverage",
    ]
    leveraged = write(tmp_path, GOOD.replace('mode = "paper"', 'mode = "live"')
                      .replace('cash = "250000.50"\ncurrency = "eur"\n', ""))
    assert load_node_config(leveraged, {}).account.leverage == 30
    made_up = write(tmp_path, 'mode = "live"\nname = "x"\n[broker]\nname = "fix"\n[data]\n'
                    'source = "synthetic"\n[data.synthetic]\nsymbols = ["EURUSD"]\n'
                    '[[strategies]]\nstrategy = "s"\n')
    assert "a live node trades real orders, so it needs real prices" in error_of(made_up)
    no_broker = write(tmp_path, 'mode = "live"\nname = "x"\n[data]\nsource = "broker"\n'
                      '[[strategies]]\nstrategy = "s"\n')
    assert "broker: a live node needs a [broker] table" in error_of(no_broker)
    twins = write(tmp_path, GOOD.replace('strategy = "rsi_reversion"',
                                         'strategy = "rsi_reversion"\nid = "sma-eurusd"'))
    assert "strategies[1]: same id as strategies[0]" in error_of(twins)
    no_strategy = write(tmp_path, 'name = "x"\n[data]\nsymbols = ["A"]\n')
    assert error_of(no_strategy) == f"{no_strategy}: strategies: required, but missing"


def test_file_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert error_of(missing) == f"node config {missing} does not exist"
    broken = write(tmp_path, 'name = "x"\n[data\n')
    assert error_of(broken).startswith(f"{broken}: not valid TOML: ")
    assert "line 2" in error_of(broken)


# -- environment overrides ----------------------------------------------------------------------


def test_environment_overrides_nested_and_top_level_keys(tmp_path: Path) -> None:
    env = {
        "TRADELOOP_NAME": "from-env",
        "TRADELOOP_DATA__SPEED": "100",
        "TRADELOOP_DATA__SYMBOLS": '["GBPUSD@1m", "EURUSD"]',
        "TRADELOOP_ACCOUNT__CASH": "5000",
        "TRADELOOP_LOGGING__JSON": "true",
        "TRADELOOP_DATA__SYNTHETIC__SEED": "99",
        "TRADELOOP_STRATEGIES__0__PARAMS__FAST": "5",
        "TRADELOOP_HOME": "/elsewhere",  # not a node setting: left alone
        "TRADELOOP_VENUE_TOKEN_UNRELATED": "x",
    }
    config = load_node_config(write(tmp_path, GOOD), env)
    assert config.name == "from-env"
    assert config.data.speed == 100.0
    assert config.data.symbols == ["GBPUSD@1m", "EURUSD"]
    assert config.account.cash == Decimal(5000)
    assert config.logging.json_lines is True
    assert config.data.synthetic is not None and config.data.synthetic.seed == 99
    assert config.strategies[0].params == {"fast": "5", "slow": 30}  # free-form: kept as text


def test_environment_errors_name_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert error_of(path, {"TRADELOOP_DATA__SPEED": "fast"}) == (
        "environment variable TRADELOOP_DATA__SPEED: data.speed: Input should be a valid "
        "number, unable to parse string as a number, got 'fast'")
    assert error_of(path, {"TRADELOOP_DATA__SPED": "1"}) == (
        "environment variable TRADELOOP_DATA__SPED: data.sped: unknown key 'sped'; did you "
        "mean 'speed'?")
    assert error_of(path, {"TRADELOOP_DATBASE__URL": "sqlite:///x"}) == (
        "environment variable TRADELOOP_DATBASE__URL: no table 'datbase' in a node config; "
        "did you mean TRADELOOP_DATABASE__...?")
    assert "data.speed is not a table" in error_of(path, {"TRADELOOP_DATA__SPEED__X": "1"})


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    env = {"TRADELOOP_DATABASE_URL": DB_URL, "TRADELOOP_VENUE_TOKEN": TOKEN}
    config = load_node_config(write(tmp_path, GOOD), env)
    assert isinstance(config.database.url, SecretStr)
    assert config.database.url.get_secret_value() == DB_URL
    assert config.venue.token is not None and config.venue.token.get_secret_value() == TOKEN
    direct = load_node_config(write(tmp_path, GOOD), {**env, "TRADELOOP_DATABASE__URL":
                                                      "sqlite:////var/tl.db"})
    assert direct.database.url.get_secret_value() == "sqlite:////var/tl.db"


def test_secrets_never_show(tmp_path: Path) -> None:
    env = {"TRADELOOP_DATABASE_URL": DB_URL, "TRADELOOP_VENUE_TOKEN": TOKEN,
           "TRADELOOP_BROKER__SETTINGS__API_KEY": "broker-key-987654"}
    config = load_node_config(write(tmp_path, GOOD), env)
    redacted = config.redacted()
    shown = [repr(config), str(config), json.dumps(redacted, default=str),
             repr(config.database), repr(config.broker)]
    for text in shown:
        for secret in (DB_PASSWORD, TOKEN, "broker-key-987654"):
            assert secret not in text
    assert redacted["database"]["url"] == "postgresql+psycopg://bot:***@db.internal:5432/tradeloop"
    assert redacted["venue"]["token"] == "***"
    assert redacted["broker"]["settings"] == {"login": 1234, "password_env": "MT5_PASSWORD",
                                              "api_key": "***"}
    assert redacted["account"]["cash"] == "250000.50"
    assert redacted["logging"]["json"] is False
    json.dumps(redacted)  # plain data


def test_secrets_are_masked_in_logs_once_loaded(tmp_path: Path) -> None:
    load_node_config(write(tmp_path, GOOD), {"TRADELOOP_DATABASE_URL": DB_URL,
                                             "TRADELOOP_VENUE_TOKEN": TOKEN})
    log = get_logger("test.config")
    record = log.makeRecord(log.name, logging.ERROR, __file__, 1,
                            f"driver said: bad password {DB_PASSWORD} / token {TOKEN}", (), None)
    line = JsonFormatter().format(record)
    assert DB_PASSWORD not in line and TOKEN not in line


def test_a_literal_secret_in_the_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('password_env = "MT5_PASSWORD"',
                                        'password = "hunter2-literal"'))
    message = error_of(path)
    assert message == (f"{path}: broker.settings.password: secrets must not be written in the "
                       "file: put it in an environment variable and name that instead: "
                       'password_env = "MY_PASSWORD"')
    token = write(tmp_path, GOOD.replace('url = ""\ntoken_env', 'token = "abc-literal"\ntoken_env'))
    assert "venue.token: secrets must not be written in the file" in error_of(token)
    param = write(tmp_path, GOOD.replace("params = { period = 14 }",
                                         'params = { api_key = "k-literal" }'))
    assert "strategies[1].params.api_key: secrets must not" in error_of(param)


def test_a_url_with_a_password_in_the_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('url = ""\nurl_env', f'url = "{DB_URL}"\nurl_env'))
    message = error_of(path)
    assert message == (f"{path}: database.url: this URL carries a password or token: keep it "
                       "out of the file and put the whole URL in the environment variable "
                       "named by database.url_env")
    assert DB_PASSWORD not in message


def test_env_name_settings_must_be_names(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('password_env = "MT5_PASSWORD"',
                                        'password_env = "hunter 2 literal!"'))
    message = error_of(path)
    assert "broker.settings.password_env: must name an environment variable" in message
    assert "hunter" not in message


def test_errors_never_echo_secret_values(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    bad_url = "mysql://root:topsecret-xyz@db/tl"
    message = error_of(path, {"TRADELOOP_DATABASE__URL": bad_url})
    assert "database.url: must be empty" in message
    assert "topsecret-xyz" not in message
    message = error_of(path, {"TRADELOOP_DATABASE_URL": bad_url})
    assert "topsecret-xyz" not in message


def test_resolve_secret(tmp_path: Path) -> None:
    assert resolve_secret("MT5_PASSWORD", {"MT5_PASSWORD": "s3"}).get_secret_value() == "s3"
    with pytest.raises(ConfigError, match="environment variable MT5_PASSWORD is not set"):
        resolve_secret("MT5_PASSWORD", {})
    with pytest.raises(ConfigError, match="MT5_PASSWORD is empty"):
        resolve_secret("MT5_PASSWORD", {"MT5_PASSWORD": ""})


def test_node_config_can_be_built_in_code() -> None:
    config = NodeConfig.model_validate({"name": "x", "data": {"symbols": ["A"]},
                                        "strategies": [{"strategy": "s"}]})
    assert config.data_files() == [] and config.redacted()["database"]["url"] == ""


def test_database_durability_is_full_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('name = "n"\n[data]\nsource = "synthetic"\n[data.synthetic]\n'
                    'symbols = ["EURUSD"]\n[[strategies]]\nstrategy = "sma_cross"\n',
                    encoding="utf-8")
    assert load_node_config(path, environ={}).database.durability == "full"
    relaxed = load_node_config(path, environ={"TRADELOOP_DATABASE__DURABILITY": "intents"})
    assert relaxed.database.durability == "intents"
    with pytest.raises(ConfigError, match="durability"):
        load_node_config(path, environ={"TRADELOOP_DATABASE__DURABILITY": "none"})
