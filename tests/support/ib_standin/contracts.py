"""The stand-in's contract catalogue: stocks, a forex pair, ES futures and AAPL options, with the
contract details TWS gives for them, and the lookup rules ``reqContractDetails`` and
``placeOrder`` use to resolve a partly filled-in contract."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ib_async.contract import Contract, ContractDetails

EASTERN = ZoneInfo("US/Eastern")
TIME_ZONE_ID = "US/Eastern"


@dataclass(frozen=True)
class Listing:
    """One contract the stand-in knows, with what its details report."""

    sec_type: str
    con_id: int
    symbol: str
    local_symbol: str
    exchange: str
    currency: str
    min_tick: float
    trading_class: str
    market_name: str
    long_name: str
    valid_exchanges: str
    primary_exchange: str = ""
    last_trade_date: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    under_con_id: int = 0
    under_symbol: str = ""
    under_sec_type: str = ""
    min_size: float = 1.0
    size_increment: float = 1.0
    suggested_size_increment: float = 1.0
    base_price: float = 100.0

    @property
    def multiplier_value(self) -> float:
        return float(self.multiplier) if self.multiplier else 1.0

    def contract(self) -> Contract:
        """A fresh, fully qualified ``Contract`` (as TWS sends it)."""
        return Contract(
            secType=self.sec_type, conId=self.con_id, symbol=self.symbol,
            lastTradeDateOrContractMonth=self.last_trade_date, strike=self.strike,
            right=self.right, multiplier=self.multiplier, exchange=self.exchange,
            primaryExchange=self.primary_exchange, currency=self.currency,
            localSymbol=self.local_symbol, tradingClass=self.trading_class)


_ORDER_TYPES = "LMT,MKT,STP,STPLMT,TRAIL,MIT,LIT,DAY,GTC,GTD,IOC,FOK,OCA,WHATIF"
_FUT_MONTH_CODES = {3: "H", 6: "M", 9: "U", 12: "Z"}


def third_friday(year: int, month: int) -> date:
    """The third Friday of a month (when equity index futures and monthly options expire)."""
    first = date(year, month, 1)
    offset = (4 - first.weekday()) % 7
    return first + timedelta(days=offset + 14)


def _quarterly_expiries(today: date, count: int) -> list[date]:
    found: list[date] = []
    year, month = today.year, today.month
    while len(found) < count:
        if month in _FUT_MONTH_CODES:
            expiry = third_friday(year, month)
            if expiry > today:
                found.append(expiry)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return found


def _con_id(base: int, key: str) -> int:
    return base + zlib.crc32(key.encode()) % 90_000_000


def _stocks() -> list[Listing]:
    rows = [("AAPL", 265598, "APPLE INC", 190.0), ("MSFT", 272093, "MICROSOFT CORP", 410.0),
            ("GOOG", 208813720, "ALPHABET INC-CL C", 170.0)]
    return [Listing(sec_type="STK", con_id=con_id, symbol=sym, local_symbol=sym,
                    exchange="SMART", primary_exchange="NASDAQ", currency="USD",
                    min_tick=0.01, trading_class="NMS", market_name="NMS", long_name=name,
                    valid_exchanges="SMART,NASDAQ,ISLAND,ARCA,BATS,IEX",
                    suggested_size_increment=100.0, base_price=price)
            for sym, con_id, name, price in rows]


def _forex() -> Listing:
    return Listing(sec_type="CASH", con_id=12087792, symbol="EUR", local_symbol="EUR.USD",
                   exchange="IDEALPRO", currency="USD", min_tick=0.00005,
                   trading_class="EUR.USD", market_name="EUR.USD",
                   long_name="European Monetary Union Euro", valid_exchanges="IDEALPRO",
                   min_size=1.0, size_increment=1.0, suggested_size_increment=1.0,
                   base_price=1.085)


def _futures(today: date) -> list[Listing]:
    out = []
    for expiry in _quarterly_expiries(today, 3):
        local = f"ES{_FUT_MONTH_CODES[expiry.month]}{expiry.year % 10}"
        out.append(Listing(
            sec_type="FUT", con_id=_con_id(600_000_000, f"ES{expiry:%Y%m}"), symbol="ES",
            local_symbol=local, exchange="CME", currency="USD", min_tick=0.25,
            trading_class="ES", market_name="ES", long_name="E-mini S&P 500",
            valid_exchanges="CME,QBALGO", last_trade_date=f"{expiry:%Y%m%d}",
            multiplier="50", under_con_id=11004968, under_symbol="ES", under_sec_type="IND",
            base_price=5200.0))
    return out


def _options(today: date) -> list[Listing]:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    expiry = third_friday(year, month)
    out = []
    for strike in (180.0, 185.0, 190.0, 195.0, 200.0):
        for right in ("C", "P"):
            local = f"AAPL  {expiry:%y%m%d}{right}{int(strike * 1000):08d}"
            out.append(Listing(
                sec_type="OPT", con_id=_con_id(700_000_000, local), symbol="AAPL",
                local_symbol=local, exchange="SMART", currency="USD", min_tick=0.01,
                trading_class="AAPL", market_name="AAPL", long_name="APPLE INC",
                valid_exchanges="SMART,CBOE,AMEX,ISE,PHLX,BOX", last_trade_date=f"{expiry:%Y%m%d}",
                strike=strike, right=right, multiplier="100", under_con_id=265598,
                under_symbol="AAPL", under_sec_type="STK", base_price=5.0))
    return out


def _hours(listing: Listing, today: date, liquid: bool) -> str:
    """TWS's ``tradingHours``/``liquidHours`` string for a week from ``today`` (US/Eastern)."""
    parts = []
    for i in range(7):
        day = today + timedelta(days=i)
        stamp = f"{day:%Y%m%d}"
        weekend = day.weekday() >= 5
        if listing.sec_type in ("STK", "OPT"):
            if weekend:
                parts.append(f"{stamp}:CLOSED")
            elif liquid or listing.sec_type == "OPT":
                parts.append(f"{stamp}:0930-{stamp}:1600")
            else:
                parts.append(f"{stamp}:0400-{stamp}:2000")
        else:
            prev = f"{day - timedelta(days=1):%Y%m%d}"
            if weekend:
                parts.append(f"{stamp}:CLOSED")
            elif liquid and listing.sec_type == "FUT":
                parts.append(f"{stamp}:0930-{stamp}:1600")
            elif listing.sec_type == "FUT":
                parts.append(f"{prev}:1800-{stamp}:1700")
            else:
                parts.append(f"{prev}:1715-{stamp}:1700")
    return ";".join(parts)


def session_windows(sec_type: str, day: date, use_rth: bool) -> list[tuple[datetime, datetime]]:
    """The trading windows (US/Eastern, aware) that belong to trading day ``day``."""
    if day.weekday() >= 5:
        return []

    def at(d: date, hh: int, mm: int) -> datetime:
        return datetime.combine(d, time(hh, mm), tzinfo=EASTERN)

    if sec_type == "STK":
        return [(at(day, 9, 30), at(day, 16, 0))] if use_rth else [(at(day, 4, 0), at(day, 20, 0))]
    if sec_type == "OPT":
        return [(at(day, 9, 30), at(day, 16, 0))]
    prev = day - timedelta(days=1)
    if sec_type == "FUT":
        return [(at(day, 9, 30), at(day, 16, 0))] if use_rth else [(at(prev, 18, 0),
                                                                      at(day, 17, 0))]
    return [(at(prev, 17, 15), at(day, 17, 0))]


class Catalogue:
    """Every contract the stand-in knows, built for the trading days around ``today``."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.listings: list[Listing] = [*_stocks(), _forex(), *_futures(today), *_options(today)]
        self.by_con_id = {x.con_id: x for x in self.listings}
        self.by_local_symbol = {x.local_symbol: x for x in self.listings}
        if len(self.by_con_id) != len(self.listings):
            raise RuntimeError("stand-in catalogue has duplicate conIds")

    def details(self, listing: Listing) -> ContractDetails:
        """The ``ContractDetails`` TWS would send for ``listing``."""
        month = listing.last_trade_date[:6]
        return ContractDetails(
            contract=listing.contract(), marketName=listing.market_name,
            minTick=listing.min_tick, orderTypes=_ORDER_TYPES,
            validExchanges=listing.valid_exchanges, priceMagnifier=1,
            underConId=listing.under_con_id, longName=listing.long_name, contractMonth=month,
            industry="Technology" if listing.sec_type in ("STK", "OPT") else "",
            category="Computers" if listing.sec_type in ("STK", "OPT") else "",
            subcategory="Computers" if listing.sec_type in ("STK", "OPT") else "",
            timeZoneId=TIME_ZONE_ID, tradingHours=_hours(listing, self.today, liquid=False),
            liquidHours=_hours(listing, self.today, liquid=True), aggGroup=1,
            underSymbol=listing.under_symbol, underSecType=listing.under_sec_type,
            marketRuleIds="26", realExpirationDate=listing.last_trade_date,
            lastTradeTime="16:00:00" if listing.last_trade_date else "",
            stockType="COMMON" if listing.sec_type == "STK" else "",
            minSize=listing.min_size, sizeIncrement=listing.size_increment,
            suggestedSizeIncrement=listing.suggested_size_increment)

    def match(self, wanted: Contract) -> list[Listing]:
        """The listings ``wanted`` describes, by TWS's rules: a conId alone decides; otherwise
        every field that is filled in must agree."""
        if wanted.conId:
            found = self.by_con_id.get(int(wanted.conId))
            return [found] if found else []
        if not (wanted.symbol or wanted.localSymbol):
            return []
        return [x for x in self.listings if _agrees(x, wanted)]

    def resolve(self, wanted: Contract) -> Listing | None:
        """The single listing ``wanted`` names, or None when unknown or ambiguous."""
        found = self.match(wanted)
        return found[0] if len(found) == 1 else None

    def listing(self, local_symbol: str) -> Listing:
        """The listing with this local symbol (ValueError naming it when unknown)."""
        try:
            return self.by_local_symbol[local_symbol]
        except KeyError:
            known = ", ".join(sorted(self.by_local_symbol))
            raise ValueError(f"unknown local symbol {local_symbol!r}; known: {known}") from None

    def option_chain(self, under_con_id: int) -> tuple[list[str], list[float]]:
        opts = [x for x in self.listings if x.sec_type == "OPT" and x.under_con_id == under_con_id]
        return sorted({x.last_trade_date for x in opts}), sorted({x.strike for x in opts})


def _agrees(x: Listing, c: Contract) -> bool:
    checks: list[tuple[str, str]] = [
        (c.secType, x.sec_type), (c.symbol.upper(), x.symbol), (c.localSymbol, x.local_symbol),
        (c.currency.upper(), x.currency), (c.tradingClass, x.trading_class)]
    if any(want and want != have for want, have in checks):
        return False
    exchanges = {x.exchange, *x.valid_exchanges.split(","), x.primary_exchange}
    if c.exchange and c.exchange.upper() not in exchanges:
        return False
    if c.primaryExchange and c.primaryExchange.upper() not in exchanges:
        return False
    if c.lastTradeDateOrContractMonth and not x.last_trade_date.startswith(
            c.lastTradeDateOrContractMonth):
        return False
    if c.strike and abs(float(c.strike) - x.strike) > 1e-9:
        return False
    if c.right and c.right.upper()[:1] != x.right:
        return False
    return not (c.multiplier and float(c.multiplier) != x.multiplier_value)

