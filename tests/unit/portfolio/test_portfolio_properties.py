"""Portfolio accounting: hypothesis properties over random fill sequences, netting vs hedging."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloop.model import events as ev
from tradeloop.model.account import Account
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AccountType, AssetClass, OmsType, OrderSide
from tradeloop.model.instrument import Instrument
from tradeloop.portfolio.portfolio import Portfolio

D = Decimal
START = D(1_000_000)
REL = D("1e-9")

INSTRUMENTS = {
    "AAPL": Instrument("AAPL"),  # tick 0.01, lot 1
    "ES": Instrument("ES", asset_class=AssetClass.FUTURE, tick_size=D("0.25"),
                     multiplier=D(50)),
    "BTC": Instrument("BTC", asset_class=AssetClass.CRYPTO, tick_size=D("0.5"),
                      lot_step=D("0.001"), min_quantity=D("0.001")),
    "OPT": Instrument("OPT", tick_size=D("0.05"), lot_step=D(1), multiplier=D(100)),
}

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Step:
    symbol: str
    order: str
    side: OrderSide
    qty: Decimal
    px: Decimal
    commission: Decimal
    marks: dict[str, Decimal]


_ROW = st.tuples(
    st.integers(min_value=0, max_value=len(INSTRUMENTS) - 1),  # instrument
    st.integers(min_value=0, max_value=3),  # order
    st.booleans(),  # buy?
    st.integers(min_value=1, max_value=500),  # lots
    st.integers(min_value=1, max_value=40_000),  # price in ticks
    st.integers(min_value=0, max_value=2_000),  # commission in cents
    st.integers(min_value=1, max_value=40_000),  # mark of the traded instrument, in ticks
    st.integers(min_value=0, max_value=len(INSTRUMENTS) - 1),  # another instrument re-marked
    st.integers(min_value=1, max_value=40_000),  # its new mark, in ticks
)


def steps(symbols: list[str], orders: int = 1) -> st.SearchStrategy[list[Step]]:
    """Random fills on the lot and tick grids; each step also moves one or two marks."""

    def build(rows: list[tuple[int, ...]]) -> list[Step]:
        marks: dict[str, Decimal] = {}
        out = []
        for sym, order, buy, lots, ticks, cents, mark, other, other_mark in rows:
            symbol = symbols[sym % len(symbols)]
            inst = INSTRUMENTS[symbol]
            marks[symbol] = mark * inst.tick_size
            other_symbol = symbols[other % len(symbols)]
            if other_symbol in marks:
                marks[other_symbol] = other_mark * INSTRUMENTS[other_symbol].tick_size
            out.append(
                Step(
                    symbol=symbol,
                    order=f"{symbol}-O{order % orders}",  # an order id is for one instrument
                    side=OrderSide.BUY if buy else OrderSide.SELL,
                    qty=lots * inst.lot_step,
                    px=ticks * inst.tick_size,
                    commission=cents * D("0.01"),
                    marks=dict(marks),
                )
            )
        return out

    return st.lists(_ROW, min_size=1, max_size=30).map(build)


_trade = count(1)


def make_fill(symbol: str, side: OrderSide, qty: Decimal, px: Decimal, *,
              order: str = "O-0", commission: Decimal = Decimal(0), strategy: str = "S-1",
              position_id: str = "", ts: int = 1, currency: str = "") -> ev.OrderFilled:
    return ev.OrderFilled(
        ts=ts, client_order_id=order, strategy_id=strategy, symbol=symbol,
        venue_order_id=f"V-{order}", trade_id=f"T-{next(_trade)}", side=side, last_qty=qty,
        last_px=px, commission=commission, commission_currency=currency,
        position_id=position_id,
    )


def new_portfolio(oms: OmsType = OmsType.NETTING, symbols: list[str] | None = None,
                  publish: list[ev.PositionEvent] | None = None) -> Portfolio:
    cache = Cache()
    for symbol in symbols or list(INSTRUMENTS):
        cache.add_instrument(INSTRUMENTS[symbol])
    account = Account("A-1", "USD", AccountType.MARGIN, START, leverage=D(10))
    return Portfolio(cache, account, oms, publish=None if publish is None else publish.append)


def close(a: Decimal, b: Decimal, *scale: Decimal) -> bool:
    size = max([abs(a), abs(b), START, *(abs(s) for s in scale)])
    return abs(a - b) <= REL * size


def check_run(oms: OmsType, run: list[Step]) -> None:
    portfolio = new_portfolio(oms)
    cache = portfolio.cache
    net: dict[str, Decimal] = {}
    flows = D(0)  # signed cash paid for what was bought, received for what was sold
    fees = D(0)
    gross = D(0)
    for k, step in enumerate(run):
        mult = INSTRUMENTS[step.symbol].multiplier
        portfolio.on_fill(
            make_fill(step.symbol, step.side, step.qty, step.px, order=step.order,
                      commission=step.commission, ts=k)
        )
        net[step.symbol] = net.get(step.symbol, D(0)) + step.side.sign * step.qty
        flows -= step.side.sign * step.qty * step.px * mult
        fees += step.commission
        gross += step.qty * step.px * mult
        for symbol, mark in step.marks.items():
            cache.last_prices[symbol] = float(mark)

        value = sum(
            (q * step.marks[s] * INSTRUMENTS[s].multiplier for s, q in net.items()), D(0)
        )
        equity = portfolio.equity
        # (a) cash + market value of what is held == equity
        assert close(portfolio.cash + value, equity, gross, value), (k, portfolio.cash, value)
        # (b) realised + unrealised - commissions == change of marked equity
        total = portfolio.realized_pnl() + portfolio.unrealized_pnl() - fees
        assert close(total, equity - START, gross, value), (k, total, equity - START)
        # the accounting agrees with the raw cash flows, whatever average-cost bookkeeping did
        assert close(equity, START + flows - fees + value, gross, value)
        assert close(portfolio.balance, START + portfolio.realized_pnl() - fees, gross)
        assert portfolio.account.commissions == fees
        for symbol, qty in net.items():
            assert portfolio.net_quantity(symbol) == qty
        assert len(portfolio.book) == k + 1
        assert portfolio.book[-1].balance == float(portfolio.balance)


@PROPERTY_SETTINGS
@given(run=steps(["AAPL"]))
def test_properties_one_instrument_netting(run: list[Step]) -> None:
    check_run(OmsType.NETTING, run)


@PROPERTY_SETTINGS
@given(run=steps(list(INSTRUMENTS)))
def test_properties_several_instruments_netting(run: list[Step]) -> None:
    check_run(OmsType.NETTING, run)


@PROPERTY_SETTINGS
@given(run=steps(["ES"]))
def test_properties_multiplier_instrument(run: list[Step]) -> None:
    check_run(OmsType.NETTING, run)


@PROPERTY_SETTINGS
@given(run=steps(list(INSTRUMENTS), orders=4))
def test_properties_several_instruments_hedging(run: list[Step]) -> None:
    check_run(OmsType.HEDGING, run)


@PROPERTY_SETTINGS
@given(run=steps(list(INSTRUMENTS), orders=3))
def test_positions_follow_oms(run: list[Step]) -> None:
    netting, hedging = new_portfolio(OmsType.NETTING), new_portfolio(OmsType.HEDGING)
    for step in run:
        for p in (netting, hedging):
            p.on_fill(make_fill(step.symbol, step.side, step.qty, step.px, order=step.order))
    assert set(netting.cache.positions) == {f"{s.symbol}-S-1" for s in run}
    assert set(hedging.cache.positions) == {s.order for s in run}
    for symbol in {s.symbol for s in run}:
        assert netting.net_quantity(symbol) == hedging.net_quantity(symbol)
    # realised PnL differs by bookkeeping, but balance + cost of what is held does not
    for p in (netting, hedging):
        for symbol, mark in {s.symbol: s.px for s in run}.items():
            p.cache.last_prices[symbol] = float(mark)
    assert close(netting.equity, hedging.equity)


# --- examples ----------------------------------------------------------------------------------


def test_round_trip_example() -> None:
    portfolio = new_portfolio(symbols=["AAPL"])
    portfolio.on_fill(make_fill("AAPL", OrderSide.BUY, D(100), D("150.00"), commission=D(1)))
    portfolio.cache.last_prices["AAPL"] = 155.5
    assert portfolio.unrealized_pnl() == D(550)
    assert portfolio.cash == START - D(15000) - D(1)
    assert portfolio.equity == START + D(549)
    assert portfolio.gross_exposure() == D(15550)
    portfolio.on_fill(make_fill("AAPL", OrderSide.SELL, D(40), D("160.00"), commission=D(1)))
    assert portfolio.realized_pnl() == D(400)
    assert portfolio.balance == START + D(398)
    assert portfolio.net_quantity("AAPL") == 60
    portfolio.on_fill(make_fill("AAPL", OrderSide.SELL, D(60), D("140.00"), commission=D(1)))
    assert portfolio.realized_pnl() == D(-200)
    assert portfolio.unrealized_pnl() == 0
    assert portfolio.balance == START - D(203)
    assert portfolio.cash == portfolio.equity == portfolio.balance


def test_netting_vs_hedging_positions() -> None:
    fills = [
        make_fill("AAPL", OrderSide.BUY, D(10), D(100), order="O-1"),
        make_fill("AAPL", OrderSide.BUY, D(5), D(110), order="O-2"),
        make_fill("AAPL", OrderSide.SELL, D(5), D(120), order="O-3"),
    ]
    netting, hedging = new_portfolio(OmsType.NETTING), new_portfolio(OmsType.HEDGING)
    for f in fills:
        netting.on_fill(f)
        hedging.on_fill(f)
    (only,) = netting.cache.positions.values()
    assert only.position_id == "AAPL-S-1"
    assert only.quantity == 10
    assert only.avg_px == D(1550) / 15
    assert close(only.realized_pnl, D(5) * (120 - D(1550) / 15))
    legs = {pid: p.quantity for pid, p in hedging.cache.positions.items()}
    assert legs == {"O-1": 10, "O-2": 5, "O-3": -5}
    assert hedging.realized_pnl() == 0
    assert netting.net_quantity("AAPL") == hedging.net_quantity("AAPL") == 10


def test_hedging_close_by_position_id() -> None:
    hedging = new_portfolio(OmsType.HEDGING)
    hedging.on_fill(make_fill("AAPL", OrderSide.BUY, D(10), D(100), order="O-1"))
    hedging.on_fill(make_fill("AAPL", OrderSide.SELL, D(3), D(90), order="O-2"))
    hedging.on_fill(make_fill("AAPL", OrderSide.SELL, D(10), D(104), order="O-3",
                              position_id="O-1"))
    positions = hedging.cache.positions
    assert set(positions) == {"O-1", "O-2"}
    assert positions["O-1"].is_flat
    assert positions["O-1"].realized_pnl == D(40)
    assert positions["O-2"].quantity == -3


def test_netting_keeps_strategies_apart() -> None:
    p = new_portfolio()
    p.on_fill(make_fill("AAPL", OrderSide.BUY, D(10), D(100), strategy="A"))
    p.on_fill(make_fill("AAPL", OrderSide.SELL, D(4), D(100), strategy="B"))
    assert set(p.cache.positions) == {"AAPL-A", "AAPL-B"}
    assert p.net_quantity("AAPL") == 6
    assert p.net_quantity("AAPL", "B") == -4


def test_position_events_published() -> None:
    published: list[ev.PositionEvent] = []
    p = new_portfolio(publish=published)
    p.on_fill(make_fill("AAPL", OrderSide.BUY, D(10), D(100), ts=1))
    p.on_fill(make_fill("AAPL", OrderSide.SELL, D(15), D(101), ts=2))
    p.on_fill(make_fill("AAPL", OrderSide.BUY, D(5), D(99), ts=3))
    p.on_fill(make_fill("AAPL", OrderSide.BUY, D(1), D(99), ts=4))
    kinds = [type(e) for e in published]
    assert kinds == [ev.PositionOpened, ev.PositionChanged, ev.PositionClosed, ev.PositionOpened]
    assert [e.quantity for e in published] == [10, -5, 0, 1]
    assert published[2].realized_pnl == D(20)
    assert all(e.currency == "USD" and e.position_id == "AAPL-S-1" for e in published)


def test_unknown_symbol_raises_and_books_nothing() -> None:
    p = new_portfolio(symbols=["AAPL"])
    with pytest.raises(KeyError, match="unknown symbol 'MSFT'"):
        p.on_fill(make_fill("MSFT", OrderSide.BUY, D(1), D(1)))
    assert p.cache.positions == {}
    assert p.book == []


def test_missing_mark_values_the_position_at_its_average_price() -> None:
    p = new_portfolio()
    p.on_fill(make_fill("AAPL", OrderSide.BUY, D(10), D(100)))
    p.on_fill(make_fill("ES", OrderSide.SELL, D(1), D(4000)))
    p.cache.last_prices["AAPL"] = 101.0
    assert p.unrealized_pnl() == D(10)
    assert p.unrealized_pnl("ES") == 0
    # no price for ES yet: its exposure still counts, at the price it was sold at
    es = INSTRUMENTS["ES"].multiplier
    assert p.gross_exposure() == D(1010) + D(4000) * es
    assert p.valuation().holdings["ES"] == (D(-1), D(4000) * es)
    assert p.mark("ES") is None


def test_buying_power_cash_and_margin() -> None:
    cache = Cache()
    cache.add_instrument(INSTRUMENTS["AAPL"])
    cash_acc = Account("C", "USD", AccountType.CASH, D(10_000))
    cash_pf = Portfolio(cache, cash_acc)
    cash_pf.on_fill(make_fill("AAPL", OrderSide.BUY, D(50), D(100)))
    cache.last_prices["AAPL"] = 110.0
    assert cash_pf.buying_power() == D(5_000)

    margin = new_portfolio(symbols=["AAPL"])  # leverage 10
    margin.on_fill(make_fill("AAPL", OrderSide.BUY, D(1000), D(100)))
    margin.cache.last_prices["AAPL"] = 110.0
    equity = START + D(10_000)
    assert margin.buying_power() == equity * 10 - D(110_000)
    snap = margin.snapshot(ts=9)
    assert (snap.balance, snap.equity, snap.margin_used) == (START, equity, D(11_000))
