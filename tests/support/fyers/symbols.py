"""What the local Fyers lists: a few NSE and BSE equities, NSE index futures and an MCX future,
with Fyers' tick sizes, lot sizes and fyTokens, served as the symbol master JSON files
(``/sym_details/<SEGMENT>_sym_master.json``).

A fyToken starts with the exchange (10 NSE, 11 MCX, 12 BSE) and the segment (10 capital market,
11 equity derivatives, 20 commodity); its characters from the eleventh on are the exchange's
token, which the data socket's topics carry (``sf|nse_cm|3045``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: Segment of a fyToken's first four characters -> (symbol master file, data socket segment).
SEGMENTS: dict[str, tuple[str, str]] = {
    "1010": ("NSE_CM", "nse_cm"), "1011": ("NSE_FO", "nse_fo"), "1120": ("MCX_COM", "mcx_fo"),
    "1210": ("BSE_CM", "bse_cm"), "1211": ("BSE_FO", "bse_fo"),
}


@dataclass(frozen=True)
class SymbolSpec:
    """One listed symbol.

    Attributes
    ----------
    ticker : str
        Fyers' symbol, ``NSE:SBIN-EQ``.
    fytoken : str
    lot : int
        Minimum lot: quantities must be multiples of it.
    tick : Decimal
    price : Decimal
        The opening mid price.
    multiplier : int
        Fyers' ``qtyMultiplier`` (MCX contracts).
    expiry : int
        Epoch seconds of the contract's expiry (derivatives), else 0.
    """

    ticker: str
    fytoken: str
    lot: int
    tick: Decimal
    price: Decimal
    description: str
    multiplier: int = 1
    expiry: int = 0

    @property
    def segment_file(self) -> str:
        """``NSE_CM``, ``NSE_FO``, ``MCX_COM``..."""
        return SEGMENTS[self.fytoken[:4]][0]

    @property
    def hsm_segment(self) -> str:
        """``nse_cm``, ``nse_fo``, ``mcx_fo``..."""
        return SEGMENTS[self.fytoken[:4]][1]

    @property
    def exchange_token(self) -> str:
        """The exchange's token (the fyToken from its eleventh character)."""
        return self.fytoken[10:]

    @property
    def segment_code(self) -> int:
        """Fyers' segment number: 10 equity, 11 F&O, 20 commodity."""
        return int(self.fytoken[2:4])

    @property
    def exchange_code(self) -> int:
        """Fyers' exchange number: 10 NSE, 11 MCX, 12 BSE."""
        return int(self.fytoken[:2])

    @property
    def is_equity(self) -> bool:
        """A capital-market symbol (CNC allowed, MARGIN not)."""
        return self.segment_code == 10

    def master_entry(self) -> dict[str, Any]:
        """The symbol master JSON object of this symbol."""
        exchange, name = self.ticker.split(":", 1)
        return {
            "fyToken": self.fytoken, "isin": "", "exSymbol": name.split("-")[0],
            "symDetails": self.description, "symTicker": self.ticker,
            "exchange": self.exchange_code, "segment": self.segment_code,
            "exSymName": name.split("-")[0], "exToken": int(self.exchange_token),
            "exSeries": name.rsplit("-", 1)[1] if "-" in name else "", "optType": "XX",
            "underSym": name.split("-")[0], "underFyTok": "",
            "exInstType": 0 if self.is_equity else 11, "minLotSize": self.lot,
            "tickSize": float(self.tick), "tradingSession": "0915-1530",
            "lastUpdate": "2024-12-02", "expiryDate": str(self.expiry) if self.expiry else "",
            "strikePrice": -1.0, "qtyFreeze": "", "tradeStatus": 1, "currencyCode": "INR",
            "upperPrice": 0.0, "lowerPrice": 0.0, "faceValue": 1.0,
            "qtyMultiplier": float(self.multiplier), "previousClose": float(self.price),
            "previousOi": 0.0, "asmGsmVal": "", "exchangeName": exchange,
            "symbolDesc": self.description, "originalExpDate": None, "is_mtf_tradable": 0,
            "mtf_margin": 0.0, "stream": "",
        }


_TICK = Decimal("0.05")
DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("NSE:SBIN-EQ", "10100000003045", 1, _TICK, Decimal("800.00"),
               "STATE BANK OF INDIA"),
    SymbolSpec("NSE:RELIANCE-EQ", "10100000002885", 1, _TICK, Decimal("1300.00"),
               "RELIANCE INDUSTRIES LTD"),
    SymbolSpec("BSE:SBIN-EQ", "1210000000500112", 1, _TICK, Decimal("800.10"),
               "STATE BANK OF INDIA"),
    SymbolSpec("NSE:NIFTY24DECFUT", "101124122635002", 25, _TICK, Decimal("24500.00"),
               "NIFTY 24 Dec 26 FUT", expiry=1735207200),
    SymbolSpec("NSE:BANKNIFTY24DECFUT", "101124122435001", 15, _TICK, Decimal("52000.00"),
               "BANKNIFTY 24 Dec 24 FUT", expiry=1735034400),
    SymbolSpec("MCX:CRUDEOIL24DECFUT", "1120241219436574", 1, Decimal("1"), Decimal("6000"),
               "CRUDEOIL 24 Dec 19 FUT", multiplier=100, expiry=1734616800),
)


def master(symbols: tuple[SymbolSpec, ...], segment_file: str) -> dict[str, Any] | None:
    """The symbol master of one segment file (``NSE_CM``), or None when it is not one."""
    if segment_file not in {s for s, _ in SEGMENTS.values()} | {"NSE_CD", "NSE_COM"}:
        return None
    return {s.ticker: s.master_entry() for s in symbols if s.segment_file == segment_file}


__all__ = ["DEFAULT_SYMBOLS", "SEGMENTS", "SymbolSpec", "master"]
