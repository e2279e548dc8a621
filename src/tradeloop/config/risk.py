"""The ``[risk]`` settings of a node or a backtest, and the rules they make.

Limits are set for the whole account, per strategy, per symbol and per venue; each limit set
becomes one rule with that scope, and an order must pass every rule whose scope it falls under.
Example::

    [risk]
    daily_loss_limit = "500"          # account currency, realised + unrealised
    daily_loss_action = "halt"        # halt | reduce
    max_drawdown_pct = "10"           # from the equity peak: halts, latched until resume
    flatten_on_drawdown = false
    pattern_day_trader = false        # US margin accounts under 25,000 USD
    kill_file = "~/tradeloop.KILL"    # creating this file engages the kill switch
    flatten_on_kill = false
    cancel_on_kill = true
    economic_calendar = ""            # default: the stored calendar under the tradeloop home

    [risk.trading_day]                # when daily limits reset
    timezone = "America/New_York"
    reset = "17:00"

    [risk.account]                    # limits on the whole account
    max_order_quantity = "100000"
    max_gross_exposure = "500000"
    max_leverage = "5"
    max_open_positions = 3
    max_orders_per_second = 5
    max_orders_per_minute = 60
    max_trades_per_day = 10
    loss_streak = { losses = 3, pause = "1h" }

    [risk.strategies.sma-eurusd]      # limits on one strategy
    max_trades_per_day = 4

    [risk.symbols.EURUSD]             # limits on one symbol
    max_position = "200000"
    price_band_pct = "1"
    sessions = "london_new_york"      # an FX session, an exchange calendar (XNYS), or a spec
    news_blackout = { before = "30m", after = "15m", impact = "high" }
    cooldown_after_trade = "5m"

    [risk.venues.PAPER]               # limits per venue (order rates)
    max_orders_per_second = 10

Durations are ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"`` or a number of seconds.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tradeloop.config.models import model_at
from tradeloop.core.errors import ConfigError
from tradeloop.data.sessions import TradingHours, fx_session, fx_session_names, union
from tradeloop.risk.base import ACCOUNT, Rule, Scope, TradingState
from tradeloop.risk.calendar_rules import NewsBlackout, PatternDayTrader, TradingSessionRule
from tradeloop.risk.limits import (
    ExposureLimit,
    MaxOpenPositions,
    MaxPosition,
    OrderNotionalLimit,
    OrderQuantityLimit,
    PriceBand,
)
from tradeloop.risk.loss import DailyLossLimit, DrawdownLimit
from tradeloop.risk.pacing import LossStreakCooldown, OrderRateLimit, TradeCooldown, TradesPerDay
from tradeloop.risk.trading_day import TradingDay


def _optional_positive() -> Any:
    return Field(default=None, gt=0, allow_inf_nan=False)



def parse_duration_s(value: str | float | int, what: str = "duration") -> float:
    """Seconds in ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"`` or a plain number of seconds.

    Raises
    ------
    ConfigError
        For anything else, or a negative duration.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        units = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
        number, unit = text, "s"
        for suffix in sorted(units, key=len, reverse=True):
            if text.endswith(suffix):
                number, unit = text[: -len(suffix)].strip(), suffix
                break
        try:
            seconds = float(number) * units[unit]
        except ValueError:
            raise ConfigError(f"{what} {value!r}: expected a duration such as 90s, 15m, 1h, 1d "
                              "or a number of seconds") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ConfigError(f"{what} must be a non-negative duration, got {value!r}")
    return seconds


def session_hours(spec: str | list[str]) -> TradingHours:
    """Trading hours from a risk config: an FX session name (``london_new_york``), an
    exchange calendar (``XNYS``), a session spec (``"Mon-Fri 09:30-16:00
    America/New_York"``), or a list of them (their union).

    Raises
    ------
    ConfigError
        For a name or spec none of those accept.
    """
    if isinstance(spec, list):
        if not spec:
            raise ConfigError("sessions: give at least one session")
        parts = [session_hours(one) for one in spec]
        return parts[0] if len(parts) == 1 else union(*parts, name=" | ".join(spec))
    key = spec.strip().lower().replace("-", "_").replace(" ", "_")
    if key in fx_session_names() or key in ("ny", "london_ny", "asia"):
        return fx_session(spec)
    from tradeloop.data.exchange_calendars import trading_hours  # pandas, only when used

    return trading_hours(spec)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LossStreakConfig(_Section):
    """Pause new entries after ``losses`` losing trades in a row."""

    losses: int = Field(ge=1)
    pause: str | float = "1h"


class NewsBlackoutConfig(_Section):
    """No new entries around economic releases for the instrument's currencies."""

    before: str | float = "15m"
    after: str | float = "15m"
    impact: Literal["low", "medium", "high"] = "high"


class LimitsConfig(_Section):
    """The limits of one scope (the account, a strategy, a symbol or a venue)."""

    min_order_quantity: Decimal | None = _optional_positive()
    max_order_quantity: Decimal | None = _optional_positive()
    min_order_notional: Decimal | None = _optional_positive()
    max_order_notional: Decimal | None = _optional_positive()
    price_band_pct: Decimal | None = _optional_positive()
    max_position: Decimal | None = _optional_positive()
    max_position_notional: Decimal | None = _optional_positive()
    max_gross_exposure: Decimal | None = _optional_positive()
    max_net_exposure: Decimal | None = _optional_positive()
    max_leverage: Decimal | None = _optional_positive()
    max_open_positions: int | None = Field(default=None, ge=1)
    max_orders_per_second: int | None = Field(default=None, ge=1)
    max_orders_per_minute: int | None = Field(default=None, ge=1)
    max_trades_per_day: int | None = Field(default=None, ge=1)
    cooldown_after_trade: str | float | None = None
    loss_streak: LossStreakConfig | None = None
    sessions: str | list[str] | None = None
    news_blackout: NewsBlackoutConfig | None = None


class TradingDayConfig(_Section):
    """When the trading day rolls over, for the daily limits."""

    timezone: str = "UTC"
    reset: str = "00:00"


class RiskConfig(_Section):
    """The ``[risk]`` table (see the module notes)."""

    trading_day: TradingDayConfig = Field(default_factory=TradingDayConfig)
    daily_loss_limit: Decimal | None = _optional_positive()
    daily_loss_action: Literal["halt", "reduce"] = "halt"
    max_drawdown_pct: Decimal | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    flatten_on_drawdown: bool = False
    pattern_day_trader: bool = False
    pattern_day_trader_threshold: Decimal = Field(default=Decimal(25_000), gt=0,
                                                  allow_inf_nan=False)
    kill_file: Path | None = None
    flatten_on_kill: bool = False
    cancel_on_kill: bool = True
    economic_calendar: Path | None = None
    account: LimitsConfig = Field(default_factory=LimitsConfig)
    strategies: dict[str, LimitsConfig] = Field(default_factory=dict)
    symbols: dict[str, LimitsConfig] = Field(default_factory=dict)
    venues: dict[str, LimitsConfig] = Field(default_factory=dict)

    @field_validator("kill_file", "economic_calendar")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    def trading_day_rule(self) -> TradingDay:
        """The configured trading day."""
        return TradingDay(self.trading_day.timezone, self.trading_day.reset)

    def scopes(self) -> list[tuple[Scope, LimitsConfig]]:
        """Every limit set with its scope: the account first, then strategies, symbols and
        venues in the order written."""
        out: list[tuple[Scope, LimitsConfig]] = [(ACCOUNT, self.account)]
        out += [(Scope(strategy=name), limits) for name, limits in self.strategies.items()]
        out += [(Scope(symbol=name), limits) for name, limits in self.symbols.items()]
        out += [(Scope(venue=name), limits) for name, limits in self.venues.items()]
        return out


CalendarFactory = Callable[[Path | None], Any]


def build_rules(config: RiskConfig, economic_calendar: CalendarFactory | None = None
                ) -> list[Rule]:
    """The rules ``config`` describes, in the order the gate runs them: cheap checks on the
    order first, then positions and exposure, pacing, calendars, and the loss breakers.

    Parameters
    ----------
    config : RiskConfig
    economic_calendar : callable, optional
        Opens the economic calendar (given the configured path or None for the default); needed
        only when a news blackout is configured.

    Raises
    ------
    ConfigError
        For a limit a rule refuses, an unknown session or calendar, or a news blackout without
        an economic calendar.
    """
    day = config.trading_day_rule()
    rules: list[Rule] = []
    for scope, limits in config.scopes():
        rules += _order_rules(scope, limits)
    for scope, limits in config.scopes():
        rules += _position_rules(scope, limits)
    for scope, limits in config.scopes():
        rules += _pacing_rules(scope, limits, day)
    for scope, limits in config.scopes():
        rules += _calendar_rules(scope, limits, config, economic_calendar)
    if config.pattern_day_trader:
        rules.append(PatternDayTrader(threshold=config.pattern_day_trader_threshold))
    if config.daily_loss_limit is not None:
        action = TradingState.HALTED if config.daily_loss_action == "halt" else (
            TradingState.REDUCING)
        rules.append(DailyLossLimit(limit=config.daily_loss_limit, day=day, action=action))
    if config.max_drawdown_pct is not None:
        rules.append(DrawdownLimit(max_pct=config.max_drawdown_pct,
                                   flatten=config.flatten_on_drawdown))
    return rules


def _order_rules(scope: Scope, limits: LimitsConfig) -> list[Rule]:

    rules: list[Rule] = []
    if limits.min_order_quantity is not None or limits.max_order_quantity is not None:
        rules.append(OrderQuantityLimit(scope, minimum=limits.min_order_quantity,
                                        maximum=limits.max_order_quantity))
    if limits.min_order_notional is not None or limits.max_order_notional is not None:
        rules.append(OrderNotionalLimit(scope, minimum=limits.min_order_notional,
                                        maximum=limits.max_order_notional))
    if limits.price_band_pct is not None:
        rules.append(PriceBand(scope, max_deviation_pct=limits.price_band_pct))
    return rules


def _position_rules(scope: Scope, limits: LimitsConfig) -> list[Rule]:

    rules: list[Rule] = []
    if limits.max_position is not None or limits.max_position_notional is not None:
        rules.append(MaxPosition(scope, quantity=limits.max_position,
                                 notional=limits.max_position_notional))
    if any(v is not None for v in (limits.max_gross_exposure, limits.max_net_exposure,
                                   limits.max_leverage)):
        rules.append(ExposureLimit(scope, max_gross=limits.max_gross_exposure,
                                   max_net=limits.max_net_exposure,
                                   max_leverage=limits.max_leverage))
    if limits.max_open_positions is not None:
        rules.append(MaxOpenPositions(scope, maximum=limits.max_open_positions))
    return rules


def _pacing_rules(scope: Scope, limits: LimitsConfig, day: TradingDay) -> list[Rule]:

    rules: list[Rule] = []
    if limits.max_orders_per_second is not None or limits.max_orders_per_minute is not None:
        rules.append(OrderRateLimit(scope, per_second=limits.max_orders_per_second,
                                    per_minute=limits.max_orders_per_minute))
    if limits.max_trades_per_day is not None:
        rules.append(TradesPerDay(scope, maximum=limits.max_trades_per_day, day=day))
    if limits.cooldown_after_trade is not None:
        rules.append(TradeCooldown(scope, seconds=parse_duration_s(
            limits.cooldown_after_trade, f"cooldown_after_trade ({scope})")))
    if limits.loss_streak is not None:
        rules.append(LossStreakCooldown(
            scope, losses=limits.loss_streak.losses,
            seconds=parse_duration_s(limits.loss_streak.pause, f"loss_streak.pause ({scope})")))
    return rules


def _calendar_rules(scope: Scope, limits: LimitsConfig, config: RiskConfig,
                    economic_calendar: CalendarFactory | None) -> list[Rule]:

    rules: list[Rule] = []
    if limits.sessions is not None:
        rules.append(TradingSessionRule(scope, hours=session_hours(limits.sessions)))
    if limits.news_blackout is not None:
        if economic_calendar is None:
            raise ConfigError(f"news_blackout ({scope}) needs the economic calendar: import "
                              "events with `tradeloop calendar import` first")
        blackout = limits.news_blackout
        rules.append(NewsBlackout.from_calendar(
            economic_calendar(config.economic_calendar), scope,
            before_s=parse_duration_s(blackout.before, f"news_blackout.before ({scope})"),
            after_s=parse_duration_s(blackout.after, f"news_blackout.after ({scope})"),
            min_impact=blackout.impact))
    return rules


def load_risk_config(path: str | Path) -> RiskConfig:
    """Read the ``[risk]`` table of a TOML file (a node config, or a file holding only risk
    settings, with or without the ``[risk]`` header).

    Raises
    ------
    ConfigError
        For a missing or malformed file, or settings that are not valid, one line per problem
        naming the file and the key (with the closest known key for a misspelt one).
    """
    source = Path(path).expanduser()
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such risk settings file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    table = raw.get("risk", raw)
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [risk] must be a table")
    return parse_risk_config(table, str(source))


def parse_risk_config(table: dict[str, Any], where: str = "risk settings") -> RiskConfig:
    """Validate a ``[risk]`` table already read (see :func:`load_risk_config`)."""
    try:
        return RiskConfig.model_validate(table)
    except ValidationError as exc:
        lines = [f"{where}: {explain_risk_error(dict(error))}" for error in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def explain_risk_error(error: dict[str, Any], prefix: tuple[str | int, ...] = ("risk",)) -> str:
    """One pydantic error on a ``[risk]`` table as ``risk.key.path: reason``."""
    loc = tuple(error["loc"])
    dotted = ".".join(str(part) for part in (*prefix, *loc))
    if error["type"] == "extra_forbidden":
        model = model_at(RiskConfig, loc[:-1])
        known = sorted(model.model_fields) if model is not None else []
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        return f"{dotted}: unknown key" + (f"; did you mean {hint[0]!r}?" if hint else (
            f" (known keys: {', '.join(known)})" if known else ""))
    return f"{dotted}: {error['msg']}"
