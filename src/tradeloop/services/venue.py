"""The paper venue use case: serve one paper account as its own process."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradeloop.brokers.paper.config import (
    MarketSourceConfig,
    PaperAccountConfig,
    PaperServerConfig,
)
from tradeloop.brokers.paper.server import serve
from tradeloop.config.home import home_dir
from tradeloop.core.errors import ConfigError

MARKET_KINDS = ("none", "bars", "quotes", "synthetic")


def serve_venue(
    symbols: list[str], *, state: Path | None = None, host: str = "127.0.0.1", port: int = 8801,
    cash: str = "100000", currency: str = "USD", market: str = "none", data: Path | None = None,
    speed: float = 1.0, commission: str = "", slippage: str = "", allow_admin: bool = False,
    allow_faults: bool = False,
) -> None:
    """Run a paper venue server until it is stopped (blocks).

    Raises
    ------
    ConfigError
        Unknown symbols or market kind, a bad amount, an exposed address without a token, a
        port in use, or a state file another process holds.
    """
    if market not in MARKET_KINDS:
        raise ConfigError(f"--market {market!r}: use one of {', '.join(MARKET_KINDS)}")
    if market in ("bars", "quotes") and data is None:
        raise ConfigError(f"--market {market} needs --data FILE")
    try:
        balance = Decimal(cash)
    except InvalidOperation:
        raise ConfigError(f"--cash {cash!r} is not a number") from None
    home = home_dir()
    instruments_file = home / "instruments.toml"
    config = PaperServerConfig(
        state_path=state or home / "paper" / "venue.db", host=host, port=port,
        symbols=symbols, commission=commission, slippage=slippage,
        account=PaperAccountConfig(balance=balance, currency=currency.upper()),
        market=MarketSourceConfig(kind=market, path=data, speed=speed),  # type: ignore[arg-type]
        allow_admin=allow_admin, allow_faults=allow_faults,
        instruments_file=instruments_file if instruments_file.exists() else None,
    )
    config.state_path.parent.mkdir(parents=True, exist_ok=True)
    serve(config)


__all__ = ["serve_venue"]
