"""FIX messages to our terms and back: both dialects of ExecutionReport (4.2 ExecTransType and
ExecType 1/2, 4.4 ExecType F/I/H), OrdStatus, reject messages, repeating groups, and the
messages the adapter sends."""

from __future__ import annotations

from decimal import Decimal

import pytest
import simplefix

from tradeloop.brokers.fix import parse, parse_data, wire
from tradeloop.brokers.fix.parse import ExecKind, FixParseError, WireOrder
from tradeloop.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce

NOW = 1_700_000_000_123_000_000  # 2023-11-14 22:13:20.123 UTC


def message(*pairs: tuple[int, str]) -> simplefix.FixMessage:
    out = simplefix.FixMessage()
    for tag, value in pairs:
        out.append_pair(tag, value)
    return wire.parse_one(out.encode())


def fields(msg: simplefix.FixMessage) -> dict[int, str]:
    return {int(t): bytes(v).decode() for t, v in msg.pairs}


def ordermatch_report(exec_type: str, *, trans: str = "0", last: tuple[str, str] | None = None,
                      cum: str = "0", leaves: str = "10") -> simplefix.FixMessage:
    """An ExecutionReport as QuickFIX's ordermatch (FIX 4.2) writes it."""
    pairs = [(8, "FIX.4.2"), (35, "8"), (6, "100.02" if cum != "0" else "0"), (11, "A1"),
             (14, cum), (17, "7"), (20, trans), (37, "A1"), (38, "10"), (39, exec_type),
             (54, "1"), (55, "ABC"), (150, exec_type), (151, leaves),
             (52, "20231114-22:13:20.123")]
    if last is not None:
        pairs += [(31, last[0]), (32, last[1])]
    return message(*pairs)


# -- the two dialects ---------------------------------------------------------------------------


def test_fix42_fill_is_exec_type_2_with_last_shares():
    report = parse.execution_report(ordermatch_report("2", last=("100.02", "10"), cum="10",
                                                      leaves="0"))
    assert report.kind is ExecKind.FILL and report.is_fill
    assert report.status is OrderStatus.FILLED
    assert (report.last_qty, report.last_px) == (Decimal(10), Decimal("100.02"))
    assert report.cl_ord_id == report.order_id == "A1" and report.exec_id == "7"
    assert report.side is OrderSide.BUY and report.symbol == "ABC"
    assert report.time_in_force is TimeInForce.DAY  # FIX's default when 59 is absent
    assert report.ts == wire.parse_timestamp("20231114-22:13:20.123")  # no TransactTime: 52


def test_fix42_partial_fill_is_exec_type_1():
    report = parse.execution_report(ordermatch_report("1", last=("100", "4"), cum="4",
                                                      leaves="6"))
    assert report.kind is ExecKind.FILL
    assert report.status is OrderStatus.PARTIALLY_FILLED
    assert report.cum_qty == 4 and report.leaves_qty == 6


@pytest.mark.parametrize(("trans", "kind"), [("1", ExecKind.TRADE_CANCEL),
                                             ("2", ExecKind.TRADE_CORRECT),
                                             ("3", ExecKind.STATUS)])
def test_fix42_exec_trans_type_other_than_new_is_not_a_fill(trans, kind):
    report = parse.execution_report(ordermatch_report("2", trans=trans, last=("100", "10"),
                                                      cum="10", leaves="0"))
    assert report.kind is kind
    assert not report.is_fill


@pytest.mark.parametrize(("exec_type", "kind"), [
    ("F", ExecKind.FILL), ("I", ExecKind.STATUS), ("H", ExecKind.TRADE_CANCEL),
    ("G", ExecKind.TRADE_CORRECT), ("0", ExecKind.NEW), ("4", ExecKind.CANCELED),
    ("5", ExecKind.REPLACED), ("8", ExecKind.REJECTED), ("C", ExecKind.EXPIRED),
    ("3", ExecKind.DONE_FOR_DAY), ("6", ExecKind.PENDING), ("E", ExecKind.PENDING),
    ("A", ExecKind.PENDING), ("D", ExecKind.RESTATED), ("Z", ExecKind.OTHER)])
def test_fix44_exec_types(exec_type, kind):
    assert parse.exec_kind(exec_type) is kind


def test_fix44_trade_report_reads_every_field():
    report = parse.execution_report(message(
        (8, "FIX.4.4"), (35, "8"), (37, "O-1"), (11, "C-1.R1"), (41, "C-1"), (17, "E-9"),
        (150, "F"), (39, "1"), (1, "ACC1"), (55, "ABC"), (54, "2"), (38, "30"), (40, "4"),
        (44, "99.5"), (99, "99.75"), (59, "6"), (126, "20231115-00:00:00"), (15, "USD"),
        (151, "20"), (14, "10"), (6, "99.6"), (31, "99.6"), (32, "10"), (12, "-1.25"),
        (851, "1"), (60, "20231114-22:13:21.000"), (52, "20231114-22:13:21.500")))
    assert report.kind is ExecKind.FILL and report.status is OrderStatus.PARTIALLY_FILLED
    assert (report.cl_ord_id, report.orig_cl_ord_id, report.order_id) == ("C-1.R1", "C-1", "O-1")
    assert report.side is OrderSide.SELL and report.order_type is OrderType.STOP_LIMIT
    assert (report.price, report.stop_px) == (Decimal("99.5"), Decimal("99.75"))
    assert report.time_in_force is TimeInForce.GTD
    assert report.commission == Decimal("1.25") and report.commission_currency == "USD"
    assert report.liquidity is LiquiditySide.MAKER
    assert report.ts == wire.parse_timestamp("20231114-22:13:21.000")  # TransactTime wins


@pytest.mark.parametrize(("code", "cum", "leaves", "status"), [
    ("0", "0", "10", OrderStatus.ACCEPTED), ("0", "3", "7", OrderStatus.PARTIALLY_FILLED),
    ("1", "3", "7", OrderStatus.PARTIALLY_FILLED), ("2", "10", "0", OrderStatus.FILLED),
    ("3", "0", "0", OrderStatus.EXPIRED), ("4", "0", "0", OrderStatus.CANCELED),
    ("5", "0", "10", OrderStatus.ACCEPTED), ("6", "0", "10", OrderStatus.ACCEPTED),
    ("8", "0", "0", OrderStatus.REJECTED), ("A", "0", "10", OrderStatus.ACCEPTED),
    ("B", "10", "0", OrderStatus.FILLED), ("B", "4", "6", OrderStatus.PARTIALLY_FILLED),
    ("C", "0", "0", OrderStatus.EXPIRED), ("E", "0", "10", OrderStatus.ACCEPTED)])
def test_ord_status(code, cum, leaves, status):
    assert parse.order_status(code, Decimal(cum), Decimal(leaves)) is status


def test_unknown_ord_status_is_refused():
    with pytest.raises(FixParseError, match="OrdStatus"):
        parse.order_status("Q", Decimal(0), None)


def test_a_report_without_clordid_names_the_tag():
    with pytest.raises(FixParseError, match="tag 11"):
        parse.execution_report(message((8, "FIX.4.4"), (35, "8"), (17, "1"), (150, "0"),
                                       (39, "0")))


def test_a_malformed_number_is_refused():
    with pytest.raises(FixParseError, match="tag 31"):
        parse.execution_report(message((8, "FIX.4.4"), (35, "8"), (11, "A"), (17, "1"),
                                       (150, "F"), (39, "2"), (31, "1,5"), (32, "1")))


def test_status_answer_for_an_unknown_order():
    report = parse.execution_report(message(
        (8, "FIX.4.4"), (35, "8"), (37, "NONE"), (11, "X"), (17, "E1"), (150, "I"), (39, "8"),
        (58, "unknown order")))
    assert report.kind is ExecKind.STATUS and report.unknown_order
    rejected = parse.execution_report(message(
        (8, "FIX.4.4"), (35, "8"), (37, "O-5"), (11, "X"), (17, "E2"), (150, "I"), (39, "8"),
        (58, "insufficient funds")))
    assert not rejected.unknown_order


def test_cancel_reject_and_business_reject():
    refused = parse.cancel_reject(message(
        (8, "FIX.4.4"), (35, "9"), (37, "O-1"), (11, "A.C1"), (41, "A"), (39, "2"),
        (434, "1"), (102, "0"), (58, "too late to cancel")))
    assert (refused.cl_ord_id, refused.orig_cl_ord_id, refused.reason_code) == ("A.C1", "A", 0)
    assert not refused.for_replace
    business = parse.business_reject(message(
        (8, "FIX.4.2"), (35, "j"), (45, "12"), (372, "H"), (380, "3"),
        (58, "Unsupported Message Type")))
    assert (business.ref_seq, business.ref_msg_type, business.reason_code) == (12, "H", 3)


# -- outbound -----------------------------------------------------------------------------------


def wire_order(order_type: OrderType, tif: TimeInForce = TimeInForce.GTC, **kw: object
               ) -> WireOrder:
    values: dict[str, object] = {"cl_ord_id": "A1", "symbol": "ABC", "side": OrderSide.BUY,
                                 "order_type": order_type, "quantity": Decimal("10"),
                                 "price": None, "trigger_price": None, "time_in_force": tif}
    values.update(kw)
    return WireOrder(**values)  # type: ignore[arg-type]


def test_new_order_single_limit():
    sent = fields(parse.new_order_single(wire_order(OrderType.LIMIT, price=Decimal("99.50")),
                                         NOW, "ACC1"))
    assert sent[35] == "D" and sent[11] == "A1" and sent[1] == "ACC1" and sent[21] == "1"
    assert (sent[55], sent[54], sent[38], sent[40], sent[44], sent[59]) == \
        ("ABC", "1", "10", "2", "99.5", "1")
    assert sent[60] == "20231114-22:13:20.123"
    assert 99 not in sent and 126 not in sent


def test_new_order_single_market_stop_and_gtd():
    market = fields(parse.new_order_single(wire_order(OrderType.MARKET, TimeInForce.DAY),
                                           NOW))
    assert market[40] == "1" and market[59] == "0" and 44 not in market and 1 not in market
    stop = fields(parse.new_order_single(wire_order(
        OrderType.STOP, trigger_price=Decimal("101"), price=Decimal("5")), NOW))
    assert stop[40] == "3" and stop[99] == "101" and 44 not in stop
    gtd = fields(parse.new_order_single(wire_order(
        OrderType.STOP_LIMIT, TimeInForce.GTD, price=Decimal("102"),
        trigger_price=Decimal("101"), expire_ns=NOW), NOW))
    assert (gtd[40], gtd[44], gtd[99], gtd[59], gtd[126]) == \
        ("4", "102", "101", "6", "20231114-22:13:20.123")


def test_cancel_and_replace_requests_carry_the_chain():
    cancel = fields(parse.cancel_request("A1.C1", "A1", "ABC", OrderSide.SELL, Decimal("10"),
                                         NOW, order_id="O-1"))
    assert (cancel[35], cancel[11], cancel[41], cancel[37], cancel[54], cancel[38]) == \
        ("F", "A1.C1", "A1", "O-1", "2", "10")
    replace = fields(parse.replace_request(wire_order(OrderType.LIMIT, cl_ord_id="A1.R2",
                                                      price=Decimal("98")), "A1.R1", NOW))
    assert (replace[35], replace[11], replace[41], replace[44], replace[40]) == \
        ("G", "A1.R2", "A1.R1", "98", "2")
    status = fields(parse.status_request("A1.R2", "S1", "ABC", OrderSide.BUY))
    assert (status[35], status[11], status[790], status[55], status[54]) == \
        ("H", "A1.R2", "S1", "ABC", "1")


@pytest.mark.parametrize(("value", "text"), [("100.50", "100.5"), ("1E+2", "100"), ("0", "0"),
                                             ("0.00010", "0.0001"), ("-0", "0")])
def test_fix_decimal(value, text):
    assert parse.fix_decimal(Decimal(value)) == text


# -- groups and the data messages -----------------------------------------------------------


def test_security_list_group_ends_at_a_tag_outside_it():
    listing = message((8, "FIX.4.4"), (35, "y"), (146, "2"), (55, "ABC"), (15, "USD"),
                      (561, "1"), (562, "1"), (5001, "0.01"), (55, "XYZ"), (15, "EUR"),
                      (561, "100"), (562, "100"), (5001, "0.5"), (320, "L1"), (322, "S1"),
                      (393, "2"), (560, "0"), (893, "Y"))
    found = parse_data.security_list(listing, 5001)
    assert [(s.symbol, s.currency, s.lot, s.tick) for s in found] == [
        ("ABC", "USD", Decimal(1), Decimal("0.01")), ("XYZ", "EUR", Decimal(100),
                                                      Decimal("0.5"))]


def test_market_data_snapshot_and_incremental_entries():
    snapshot = message((8, "FIX.4.4"), (35, "W"), (55, "ABC"), (262, "MD1"), (268, "2"),
                       (269, "0"), (270, "100"), (271, "500"), (269, "1"), (270, "100.02"),
                       (271, "700"))
    assert [(e.symbol, e.side, e.price, e.size) for e in
            parse_data.market_data_entries(snapshot)] == [
        ("ABC", "0", Decimal(100), Decimal(500)), ("ABC", "1", Decimal("100.02"), Decimal(700))]
    update = message((8, "FIX.4.4"), (35, "X"), (262, "MD1"), (268, "2"), (279, "1"),
                     (269, "0"), (55, "ABC"), (270, "100.01"), (271, "5"), (279, "2"),
                     (269, "1"), (55, "ABC"), (270, "100.03"), (271, "0"))
    entries = parse_data.market_data_entries(update)
    assert [(e.side, e.price, e.delete) for e in entries] == [
        ("0", Decimal("100.01"), False), ("1", Decimal("100.03"), True)]


def test_position_report_nets_long_and_short():
    report = parse_data.position_report(message(
        (8, "FIX.4.4"), (35, "AP"), (1, "ACC1"), (55, "ABC"), (702, "1"), (703, "TOT"),
        (704, "0"), (705, "25"), (710, "P1"), (730, "101.5"), (912, "Y")))
    assert (report.symbol, report.quantity, report.avg_px, report.last) == \
        ("ABC", Decimal(-25), Decimal("101.5"), True)


def test_collateral_report():
    report = parse_data.collateral_report(message(
        (8, "FIX.4.4"), (35, "BA"), (1, "ACC1"), (15, "USD"), (899, "900"), (900, "1010"),
        (901, "1000"), (909, "B1")))
    assert (report.account, report.currency, report.cash, report.net_value, report.excess) == \
        ("ACC1", "USD", Decimal(1000), Decimal(1010), Decimal(900))


def test_data_requests():
    md = parse_data.market_data_request("MD1", "ABC", True)
    assert [(int(t), bytes(v).decode()) for t, v in md.pairs] == [
        (35, "V"), (262, "MD1"), (263, "1"), (264, "1"), (265, "1"), (267, "2"), (269, "0"),
        (269, "1"), (146, "1"), (55, "ABC")]
    assert fields(parse_data.market_data_request("MD1", "ABC", False))[263] == "2"
    positions = fields(parse_data.positions_request("P1", "ACC1", NOW))
    assert (positions[35], positions[710], positions[724], positions[715]) == \
        ("AN", "P1", "0", "20231114")
    assert fields(parse_data.collateral_inquiry("B1", None, NOW))[909] == "B1"
    assert fields(parse_data.security_list_request("L1"))[559] == "4"
    assert fields(parse_data.security_list_request("L1", "ABC"))[559] == "0"
