"""Alpaca's JSON in our terms: times with their nanoseconds, order snapshots (replacement chains
carried into the report), fills from trade updates and from activities with the same trade id,
positions, the account with its PDT fields, assets and bars."""

from __future__ import annotations

from decimal import Decimal

import msgpack
import numpy as np

from tradeloop.brokers.alpaca import parse
from tradeloop.model.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce

ORDER = {
    "id": "7b08df51-c1ac-453c-99f9-323a5f075f0d", "client_order_id": "CF1.r2",
    "created_at": "2024-03-04T14:31:24.668464435Z", "updated_at": "2024-03-04T14:32:00Z",
    "submitted_at": "2024-03-04T14:31:24.577215743Z", "symbol": "AAPL", "qty": "6",
    "filled_qty": "2", "filled_avg_price": "150.5", "order_class": "simple", "type": "limit",
    "side": "buy", "time_in_force": "day", "limit_price": "150.5", "stop_price": None,
    "status": "partially_filled", "replaced_by": None, "legs": None,
}


def test_times_keep_their_nanoseconds_and_zones() -> None:
    assert parse.iso_to_ns("2024-03-04T14:31:24.577215743Z") == 1_709_562_684_577_215_743
    assert parse.iso_to_ns("2024-03-04T14:31:24Z") == 1_709_562_684_000_000_000
    assert parse.iso_to_ns("2024-03-04T09:31:24.5-05:00") == 1_709_562_684_500_000_000
    assert parse.iso_to_ns(None) == 0
    ts = msgpack.Timestamp.from_unix_nano(1_709_562_684_577_215_743)
    assert parse.stream_ts(ts) == 1_709_562_684_577_215_743


def test_replacement_ids_point_back_to_ours() -> None:
    assert parse.replacement_id("CF1", 3) == "CF1.r3"
    assert parse.split_replacement("CF1.r3") == ("CF1", 3)
    assert parse.split_replacement("CF1") == ("CF1", 0)
    assert parse.split_replacement("5b5d3d67-06ad-4ffa-af65-a117d0fc5a59") == (
        "5b5d3d67-06ad-4ffa-af65-a117d0fc5a59", 0)


def test_a_snapshot_reports_our_whole_order_across_its_replacements() -> None:
    snap = parse.snapshot(ORDER)
    assert (snap.order_type, snap.time_in_force, snap.status) == (
        OrderType.LIMIT, TimeInForce.DAY, "partially_filled")
    report = snap.report("CF1", carried=Decimal(4), carried_value=Decimal(600))
    assert (report.client_order_id, report.quantity, report.filled_qty) == (
        "CF1", Decimal(10), Decimal(6))
    assert report.avg_px == (Decimal(600) + Decimal("301")) / 6
    assert report.status is OrderStatus.PARTIALLY_FILLED and report.is_open
    assert report.ts_accepted == 1_709_562_684_577_215_743
    trailing = parse.snapshot({**ORDER, "type": "trailing_stop", "stop_price": "149"})
    assert trailing.trigger_price is None  # a trailing stop's level moves: not a change of ours
    for status, ours in (("held", OrderStatus.ACCEPTED), ("done_for_day", OrderStatus.EXPIRED),
                         ("pending_cancel", OrderStatus.PENDING_CANCEL),
                         ("rejected", OrderStatus.REJECTED)):
        assert parse.snapshot({**ORDER, "status": status}).our_status is ours


def test_a_fill_has_the_same_trade_id_from_the_stream_and_from_activities() -> None:
    update = {"event": "partial_fill", "execution_id": "52b10080-03aa-42e0-bd7f-08a0800d82f6",
              "order": ORDER, "price": "150.5", "qty": "2", "position_qty": "2",
              "timestamp": "2024-03-04T14:32:00.000000123Z"}
    streamed = parse.fill_from_update(update, "CF1")
    assert streamed is not None
    activity = {"id": "20240304143200000::52b10080-03aa-42e0-bd7f-08a0800d82f6",
                "activity_type": "FILL", "transaction_time": "2024-03-04T14:32:00.000000123Z",
                "type": "partial_fill", "price": "150.5", "qty": "2", "side": "buy",
                "symbol": "AAPL", "leaves_qty": "4", "order_id": ORDER["id"], "cum_qty": "2"}
    listed = parse.fill_from_activity(activity, "CF1")
    assert streamed == listed
    assert (listed.trade_id, listed.side, listed.quantity, listed.price) == (
        "52b10080-03aa-42e0-bd7f-08a0800d82f6", OrderSide.BUY, Decimal(2), Decimal("150.5"))
    assert parse.fill_from_update({"event": "new", "order": ORDER}, "CF1") is None


def test_positions_account_and_day_trading() -> None:
    short = parse.position_report({"symbol": "AAPL", "qty": "5", "side": "short",
                                   "avg_entry_price": "150"}, "AAPL")
    assert short is not None and short.quantity == -5
    assert parse.slashed("BTCUSD", ["ETH/USD", "BTC/USD"]) == "BTC/USD"
    account = {"account_number": "PA1", "currency": "USD", "cash": "1000.5",
               "equity": "20000", "last_equity": "19000", "initial_margin": "10",
               "pattern_day_trader": False, "daytrade_count": 3,
               "daytrading_buying_power": "0"}
    report = parse.account_report(account, 1)
    assert (report.account_id, report.balance, report.equity, report.margin_used) == (
        "PA1", Decimal("1000.5"), Decimal(20000), Decimal(10))
    assert (report.pattern_day_trader, report.day_trade_count) == (False, 3)  # for the risk gate
    bare = parse.account_report({"cash": "1", "equity": "1"}, 1)
    assert (bare.pattern_day_trader, bare.day_trade_count) == (None, None)
    status = parse.day_trading_status(account, 2)
    assert (status.pattern_day_trader, status.day_trade_count, status.last_equity) == (
        False, 3, Decimal(19000))
    assert parse.day_trading_status({}, 3).day_trade_count is None


def test_assets_become_instruments() -> None:
    crypto = parse.instrument({"symbol": "BTC/USD", "class": "crypto",
                               "min_order_size": "0.0001", "min_trade_increment": "0.000000001",
                               "price_increment": "1"}, "ALPACA", False)
    assert (crypto.asset_class, crypto.base_currency, crypto.tick_size, crypto.min_quantity) == (
        AssetClass.CRYPTO, "BTC", Decimal(1), Decimal("0.0001"))
    stock = {"symbol": "AAPL", "class": "us_equity", "fractionable": True}
    assert parse.instrument(stock, "ALPACA", False).lot_step == 1
    assert parse.instrument(stock, "ALPACA", True).lot_step == Decimal("0.000000001")
    assert parse.instrument({**stock, "fractionable": False}, "ALPACA", True).lot_step == 1


def test_bars_inside_the_range_and_complete() -> None:
    minute = 60 * 10**9
    rows = [{"t": f"2024-03-04T14:3{k}:00Z", "o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10}
            for k in range(5)]
    start = parse.iso_to_ns("2024-03-04T14:31:00Z")
    bars = parse.bar_series(rows + rows[:1], "AAPL", minute, start, start + 3 * minute,
                            start + 2 * minute, "test")
    assert bars.ts.tolist() == [start, start + minute]  # the third was not complete yet
    assert np.array_equal(bars.close, [1.5, 1.5]) and bars.timeframe_ns == minute
