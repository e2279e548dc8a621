"""The scripted FIX 4.4 acceptor (C++ on QuickFIX) proven on the wire: a minimal raw FIX client
written here with simplefix logs on over TCP, sends requests and reads what the acceptor
answers, while the CONTROL channel steers the broker behind it.

Nothing waits for time to pass except the GTD expiry test, and that only with a timeout. To
show that something was NOT sent (a silent order), the client sends a later request and reads
up to its answer: QuickFIX delivers a session's messages in order."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import simplefix

from support.fix_acceptor import (
    CACHE_DIR_ENV,
    REQUIRE_ENV,
    AcceptorControl,
    AcceptorStartError,
    ControlError,
    FixAcceptor,
    acceptor_binary_or_skip,
    build_acceptor,
    default_cache_dir,
    source_digest,
)

BROKER = "BROKER"
CLIENT = "CLIENT"
WAIT_S = 10.0
Predicate = Callable[[simplefix.FixMessage], bool]


# ----------------------------------------------------------------------------- raw client


def field(message: simplefix.FixMessage, tag: int, nth: int = 1) -> str | None:
    """A field's value as text, None when absent."""
    value = message.get(tag, nth)
    return None if value is None else value.decode()


def values(message: simplefix.FixMessage, tag: int) -> list[str]:
    """Every value of a (repeating) tag, in order."""
    found: list[str] = []
    for nth in itertools.count(1):
        value = field(message, tag, nth)
        if value is None:
            return found
        found.append(value)
    return found  # pragma: no cover


def is_type(msg_type: str, **tags: str) -> Predicate:
    """Matches messages of ``msg_type`` whose fields ``_<tag>=value`` all match."""
    wanted = {int(name.lstrip("_")): value for name, value in tags.items()}

    def match(message: simplefix.FixMessage) -> bool:
        return field(message, 35) == msg_type and all(
            field(message, tag) == value for tag, value in wanted.items())
    return match


class RawFixClient:
    """A FIX 4.4 initiator with no session logic beyond numbering its messages and answering
    TestRequests: what it reads is exactly what the acceptor sent."""

    def __init__(self, port: int, *, sender: str = CLIENT, target: str = BROKER,
                 next_seq: int = 1) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.sender = sender
        self.target = target
        self.next_seq = next_seq
        self.parser = simplefix.FixParser()
        self.received: list[simplefix.FixMessage] = []

    def send(self, msg_type: str, *fields: tuple[int, object]) -> int:
        """Send one message; its MsgSeqNum."""
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.sender, header=True)
        message.append_pair(56, self.target, header=True)
        message.append_pair(34, self.next_seq, header=True)
        message.append_utc_timestamp(52, precision=3, header=True)
        for tag, value in fields:
            message.append_pair(tag, value)
        self.sock.sendall(message.encode())
        self.next_seq += 1
        return self.next_seq - 1

    def read(self, timeout: float = WAIT_S) -> simplefix.FixMessage:
        """The next message; TimeoutError after ``timeout`` s, ConnectionError on EOF."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.parser.get_message()
            if message is not None:
                self.received.append(message)
                if field(message, 35) == "1":  # answer TestRequests, like any session
                    self.send("0", (112, field(message, 112)))
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no FIX message within the timeout")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the acceptor closed the connection")
            self.parser.append_buffer(chunk)

    def read_until(self, predicate: Predicate, timeout: float = WAIT_S
                   ) -> list[simplefix.FixMessage]:
        """Every message read up to and including the first that matches."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            message = self.read(max(deadline - time.monotonic(), 0.001))
            seen.append(message)
            if predicate(message):
                return seen

    def wait_for(self, predicate: Predicate, timeout: float = WAIT_S) -> simplefix.FixMessage:
        """The first message that matches (others are skipped)."""
        return self.read_until(predicate, timeout)[-1]

    def logon(self, *, reset: bool = True, heartbeat: int = 30,
              credentials: tuple[str, str] | None = None) -> simplefix.FixMessage:
        """Logon (141=Y resets both sides' numbers unless ``reset`` is False); the answer."""
        fields: list[tuple[int, object]] = [(98, 0), (108, heartbeat)]
        if reset:
            fields.append((141, "Y"))
        if credentials:
            fields += [(553, credentials[0]), (554, credentials[1])]
        self.send("A", *fields)
        return self.wait_for(lambda m: field(m, 35) in {"A", "5"})

    def close(self) -> None:
        self.sock.close()


def new_order(client: RawFixClient, clordid: str, side: str, qty: float, *, ord_type: str = "1",
              price: float | None = None, stop: float | None = None, tif: str = "0",
              symbol: str = "AAPL", extra: tuple[tuple[int, object], ...] = ()) -> None:
    fields: list[tuple[int, object]] = [(11, clordid), (1, "ACC1"), (55, symbol), (54, side),
                                        (60, "20240102-10:00:00.000"), (38, qty), (40, ord_type),
                                        (59, tif)]
    if price is not None:
        fields.append((44, price))
    if stop is not None:
        fields.append((99, stop))
    client.send("D", *fields, *extra)


def report(clordid: str, exec_type: str) -> Predicate:
    return is_type("8", _11=clordid, _150=exec_type)


def status_request(client: RawFixClient, clordid: str) -> simplefix.FixMessage:
    client.send("H", (11, clordid), (55, "AAPL"), (54, "1"))
    return client.wait_for(report(clordid, "I"))


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def acceptor_binary(request: pytest.FixtureRequest) -> Path:
    binary: Path = acceptor_binary_or_skip(request.config)
    return binary


@pytest.fixture
def acceptor(acceptor_binary: Path, tmp_path: Path) -> Iterator[FixAcceptor]:
    with FixAcceptor(acceptor_binary, tmp_path / "acceptor") as running:
        running.control.price("AAPL", 100.0, 100.5)
        yield running


@pytest.fixture
def control(acceptor: FixAcceptor) -> AcceptorControl:
    return acceptor.control


@pytest.fixture
def client(acceptor: FixAcceptor) -> Iterator[RawFixClient]:
    raw = RawFixClient(acceptor.fix_port)
    answer = raw.logon()
    assert field(answer, 35) == "A"
    yield raw
    raw.close()


# ----------------------------------------------------------------------------- session


def test_build_is_cached_by_source_hash(acceptor_binary: Path,
                                        request: pytest.FixtureRequest) -> None:
    again = build_acceptor(default_cache_dir(request.config))
    assert again == acceptor_binary
    assert source_digest() in acceptor_binary.name


def test_missing_toolchain_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("CXX", "no-such-compiler-for-tradeloop")
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-compiler-for-tradeloop"):
        acceptor_binary_or_skip()
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-compiler-for-tradeloop"):
        acceptor_binary_or_skip()
    assert list(tmp_path.iterdir()) == []


def test_taken_ports_are_repicked_until_the_first_start(acceptor_binary: Path,
                                                        tmp_path: Path) -> None:
    fresh = FixAcceptor(acceptor_binary, tmp_path / "busy")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", fresh.control_port))
        squatter.listen()
        taken = fresh.control_port
        with fresh:
            assert fresh.control_port != taken
            fresh.control.ping()
        assert "fatal: control port" in fresh.output()

        pinned = FixAcceptor(acceptor_binary, tmp_path / "pinned", control_port=taken)
        try:
            with pytest.raises(AcceptorStartError, match="Address already in use"):
                pinned.start()
            assert not pinned.running
        finally:
            pinned.stop()


def test_logon_is_answered_and_the_session_is_on(acceptor: FixAcceptor) -> None:
    raw = RawFixClient(acceptor.fix_port)
    answer = raw.logon(heartbeat=17)
    assert field(answer, 35) == "A"
    assert field(answer, 49) == BROKER and field(answer, 56) == CLIENT
    assert field(answer, 108) == "17" and field(answer, 141) == "Y"
    assert acceptor.control.sessions() == {CLIENT: True}
    raw.close()


def test_restart_keeps_sequence_numbers(acceptor: FixAcceptor) -> None:
    raw = RawFixClient(acceptor.fix_port)
    raw.logon()
    raw.send("H", (11, "nothing"))
    raw.wait_for(report("nothing", "I"))
    raw.send("5")
    logout = raw.wait_for(is_type("5"))
    raw.close()
    acceptor.restart()

    again = RawFixClient(acceptor.fix_port, next_seq=raw.next_seq)
    answer = again.logon(reset=False)
    assert field(answer, 35) == "A"
    assert int(field(answer, 34) or 0) == int(field(logout, 34) or 0) + 1
    again.close()


def test_bad_credentials_are_refused(acceptor_binary: Path, tmp_path: Path) -> None:
    with FixAcceptor(acceptor_binary, tmp_path / "locked", username="trader",
                     password="s3cret") as locked:
        raw = RawFixClient(locked.fix_port)
        answer = raw.logon(credentials=("trader", "wrong"))
        assert field(answer, 35) == "5"
        with pytest.raises(ConnectionError):
            raw.read()
        good = RawFixClient(locked.fix_port)
        assert field(good.logon(credentials=("trader", "s3cret")), 35) == "A"
        good.close()


def test_several_initiators_share_one_account(acceptor_binary: Path, tmp_path: Path) -> None:
    with FixAcceptor(acceptor_binary, tmp_path / "two",
                     target_comp_ids=("CLIENT", "DESK2")) as shared:
        shared.control.price("AAPL", 100.0, 100.5)
        first, second = RawFixClient(shared.fix_port), RawFixClient(shared.fix_port,
                                                                    sender="DESK2")
        assert field(first.logon(), 35) == "A" and field(second.logon(), 35) == "A"
        assert shared.control.sessions() == {"CLIENT": True, "DESK2": True}
        new_order(second, "d2", "1", 3)
        assert field(second.wait_for(report("d2", "F")), 56) == "DESK2"
        assert field(status_request(first, "d2"), 39) == "2"  # one book, one account
        first.close()
        second.close()


def test_disconnect_drops_the_socket_and_the_client_can_log_on_again(
        acceptor: FixAcceptor, client: RawFixClient) -> None:
    assert acceptor.control.disconnect() == 1
    with pytest.raises(ConnectionError):
        while True:
            client.read()
    again = RawFixClient(acceptor.fix_port)
    assert field(again.logon(), 35) == "A"
    again.close()


# ----------------------------------------------------------------------------- orders


def test_market_buy_fills_at_the_ask_and_market_sell_at_the_bid(client: RawFixClient) -> None:
    new_order(client, "m1", "1", 10)
    ack, fill = client.read_until(report("m1", "0"))[-1], client.wait_for(report("m1", "F"))
    assert field(ack, 39) == "0" and field(ack, 151) == "10" and field(ack, 14) == "0"
    assert field(fill, 31) == "100.5" and field(fill, 32) == "10"
    assert field(fill, 14) == "10" and field(fill, 151) == "0" and field(fill, 6) == "100.5"
    assert field(fill, 39) == "2" and field(fill, 37) == field(ack, 37)
    assert field(fill, 17) != field(ack, 17) and field(fill, 60)

    new_order(client, "m2", "2", 4)
    sell = client.wait_for(report("m2", "F"))
    assert field(sell, 31) == "100" and field(sell, 39) == "2"


def test_limit_order_rests_then_fills_when_the_price_moves(client: RawFixClient,
                                                           control: AcceptorControl) -> None:
    new_order(client, "l1", "1", 10, ord_type="2", price=99)
    assert field(client.wait_for(report("l1", "0")), 39) == "0"
    assert [o.clordid for o in control.orders()] == ["l1"]
    assert control.orders()[0].status == "new"

    control.price("AAPL", 98.0, 98.5)
    fill = client.wait_for(report("l1", "F"))
    assert field(fill, 31) == "98.5"  # at the ask: price improvement on the 99 limit
    assert field(fill, 39) == "2" and control.orders() == []


def test_fill_command_makes_partial_fills(client: RawFixClient, control: AcceptorControl) -> None:
    new_order(client, "p1", "1", 10, ord_type="2", price=99)
    client.wait_for(report("p1", "0"))
    control.fill("p1", 4)
    first = client.wait_for(report("p1", "F"))
    assert (field(first, 32), field(first, 31), field(first, 14), field(first, 151),
            field(first, 39)) == ("4", "99", "4", "6", "1")
    assert control.orders()[0].leaves == 6 and control.orders()[0].status == "partially_filled"

    control.fill("p1", 6, 98.9)
    second = client.wait_for(report("p1", "F"))
    assert field(second, 39) == "2" and field(second, 151) == "0"
    assert float(field(second, 6) or 0) == pytest.approx((4 * 99 + 6 * 98.9) / 10)
    with pytest.raises(ControlError, match="filled"):
        control.fill("p1", 1)


def test_cancel_replace_and_their_rejects(client: RawFixClient, control: AcceptorControl) -> None:
    new_order(client, "c1", "1", 10, ord_type="2", price=99)
    client.wait_for(report("c1", "0"))

    client.send("G", (11, "c2"), (41, "c1"), (55, "AAPL"), (54, "1"), (38, 20), (40, "2"),
                (44, 99.5), (60, "20240102-10:00:00.000"))
    replaced = client.wait_for(report("c2", "5"))
    assert (field(replaced, 41), field(replaced, 38), field(replaced, 44),
            field(replaced, 151), field(replaced, 39)) == ("c1", "20", "99.5", "20", "0")

    client.send("F", (11, "c3"), (41, "c2"), (55, "AAPL"), (54, "1"),
                (60, "20240102-10:00:00.000"))
    canceled = client.wait_for(report("c3", "4"))
    assert field(canceled, 39) == "4" and field(canceled, 41) == "c2"
    assert field(canceled, 151) == "0" and control.orders() == []

    client.send("F", (11, "c4"), (41, "c3"), (55, "AAPL"), (54, "1"))
    late = client.wait_for(is_type("9", _11="c4"))
    assert (field(late, 434), field(late, 102)) == ("1", "0")

    new_order(client, "c5", "1", 1)
    client.wait_for(report("c5", "F"))
    client.send("G", (11, "c6"), (41, "c5"), (55, "AAPL"), (54, "1"), (38, 2), (40, "1"))
    filled = client.wait_for(is_type("9", _11="c6"))
    assert field(filled, 434) == "2" and field(filled, 39) == "2"


def test_replace_is_re_evaluated_against_the_market(client: RawFixClient) -> None:
    new_order(client, "r1", "1", 5, ord_type="2", price=99)
    client.wait_for(report("r1", "0"))
    client.send("G", (11, "r2"), (41, "r1"), (55, "AAPL"), (54, "1"), (38, 5), (40, "2"),
                (44, 101))
    client.wait_for(report("r2", "5"))
    fill = client.wait_for(report("r2", "F"))
    assert field(fill, 31) == "100.5" and field(fill, 39) == "2"


def test_cancel_of_an_unknown_order_is_rejected(client: RawFixClient) -> None:
    client.send("F", (11, "x2"), (41, "never"), (55, "AAPL"), (54, "1"))
    reject = client.wait_for(is_type("9", _11="x2"))
    assert (field(reject, 41), field(reject, 434), field(reject, 102)) == ("never", "1", "1")


def test_status_request_for_a_known_and_an_unknown_order(client: RawFixClient) -> None:
    new_order(client, "s1", "1", 10, ord_type="2", price=99)
    client.wait_for(report("s1", "0"))
    known = status_request(client, "s1")
    assert (field(known, 39), field(known, 14), field(known, 151), field(known, 6)) == (
        "0", "0", "10", "0")
    unknown = status_request(client, "nope")
    assert field(unknown, 39) == "8" and field(unknown, 58) == "unknown order"


def test_new_order_rejects(client: RawFixClient, control: AcceptorControl) -> None:
    control.instrument("LOTS", 0.05, 100)
    control.price("LOTS", 10, 10.05)
    cases = [
        ("bad-lot", dict(qty=150, symbol="LOTS"), "13"),
        ("zero", dict(qty=0), "13"),
        ("no-such", dict(qty=1, symbol="ZZZZ"), "1"),
        ("too-big", dict(qty=100_000), "99"),
    ]
    for clordid, order, reason in cases:
        new_order(client, clordid, "1", ord_type="1", **order)  # type: ignore[arg-type]
        reject = client.wait_for(report(clordid, "8"))
        assert (field(reject, 39), field(reject, 103)) == ("8", reason), clordid
    assert "buying power" in (field(reject, 58) or "")

    new_order(client, "twice", "1", 1)
    client.wait_for(report("twice", "F"))
    new_order(client, "twice", "1", 1)
    duplicate = client.wait_for(report("twice", "8"))
    assert field(duplicate, 103) == "6"
    assert control.count("twice") == 2

    control.next_order("reject_fatal")
    new_order(client, "fatal", "1", 1)
    fatal = client.wait_for(report("fatal", "8"))
    assert field(fatal, 103) == "99" and "insufficient funds" in (field(fatal, 58) or "")


def test_ioc_fok_and_stop_orders(client: RawFixClient, control: AcceptorControl) -> None:
    new_order(client, "ioc", "1", 5, ord_type="2", price=99, tif="3")
    client.wait_for(report("ioc", "0"))
    assert field(client.wait_for(report("ioc", "4")), 14) == "0"

    control.next_order("partial", 3)
    new_order(client, "fok", "1", 5, tif="4")
    killed = client.read_until(report("fok", "4"))
    assert not [m for m in killed if report("fok", "F")(m)]

    control.next_order("partial", 3)
    new_order(client, "ioc2", "1", 5, tif="3")
    assert field(client.wait_for(report("ioc2", "F")), 32) == "3"
    assert field(client.wait_for(report("ioc2", "4")), 14) == "3"

    new_order(client, "stop", "1", 2, ord_type="3", stop=101)
    client.wait_for(report("stop", "0"))
    control.price("AAPL", 100.5, 101.0)
    triggered = client.wait_for(report("stop", "F"))
    assert field(triggered, 31) == "101"


def test_sell_limit_and_stop_limit_and_a_short_position(client: RawFixClient,
                                                         control: AcceptorControl) -> None:
    new_order(client, "sl", "2", 3, ord_type="2", price=100.2)
    client.wait_for(report("sl", "0"))
    new_order(client, "ssl", "2", 2, ord_type="4", price=99.0, stop=99.5)
    client.wait_for(report("ssl", "0"))
    control.price("AAPL", 100.25, 100.75)
    assert field(client.wait_for(report("sl", "F")), 31) == "100.25"
    control.price("AAPL", 99.4, 99.6)  # bid <= stop: now a sell limit at 99, marketable
    assert field(client.wait_for(report("ssl", "F")), 31) == "99.4"
    assert control.positions()["AAPL"].net == -5

    client.send("AN", (710, "short"), (724, 0))
    position = client.wait_for(is_type("AP", _710="short"))
    assert (field(position, 704), field(position, 705)) == ("0", "5")


def test_gtd_order_expires(client: RawFixClient) -> None:
    expire = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
    new_order(client, "gtd", "1", 1, ord_type="2", price=90, tif="6", extra=((126, expire),))
    client.wait_for(report("gtd", "0"))
    expired = client.wait_for(report("gtd", "C"))
    assert field(expired, 39) == "C" and field(expired, 126) == expire


# ----------------------------------------------------------------------------- scripted faults


def test_next_silent_sends_nothing_but_the_order_exists(client: RawFixClient,
                                                        control: AcceptorControl) -> None:
    control.next_order("silent")
    new_order(client, "quiet", "1", 10, ord_type="2", price=99)
    # The status request travels after the order: anything sent for the order comes first.
    client.send("H", (11, "quiet"), (55, "AAPL"), (54, "1"))
    before = client.read_until(report("quiet", "I"))
    assert [field(m, 35) for m in before] == ["8"]
    assert field(before[0], 39) == "0" and field(before[0], 151) == "10"
    assert control.count("quiet") == 1
    assert [o.clordid for o in control.orders()] == ["quiet"]


def test_next_silent_market_order_fills_unseen(client: RawFixClient,
                                               control: AcceptorControl) -> None:
    control.next_order("silent")
    new_order(client, "quiet2", "1", 3)
    status = status_request(client, "quiet2")
    assert field(status, 39) == "2" and field(status, 14) == "3"
    assert [field(m, 150) for m in client.received if field(m, 11) == "quiet2"] == ["I"]


def test_next_duplicate_sends_every_report_twice(client: RawFixClient,
                                                 control: AcceptorControl) -> None:
    control.next_order("duplicate")
    new_order(client, "dup", "1", 2)
    seen = client.read_until(report("dup", "F"))
    seen.append(client.read())
    reports = [m for m in seen if field(m, 11) == "dup"]
    assert [field(m, 150) for m in reports] == ["0", "0", "F", "F"]
    assert field(reports[0], 17) == field(reports[1], 17)
    assert field(reports[2], 17) == field(reports[3], 17)
    assert int(field(reports[1], 34) or 0) == int(field(reports[0], 34) or 0) + 1


def test_next_out_of_order_sends_the_fill_before_the_ack(client: RawFixClient,
                                                         control: AcceptorControl) -> None:
    control.next_order("out_of_order")
    new_order(client, "ooo", "1", 2)
    seen = client.read_until(report("ooo", "0"))
    assert [field(m, 150) for m in seen if field(m, 11) == "ooo"] == ["F", "0"]


def test_next_partial_fills_part_and_leaves_the_rest(client: RawFixClient,
                                                     control: AcceptorControl) -> None:
    control.next_order("partial", 4)
    new_order(client, "part", "1", 10)
    fill = client.wait_for(report("part", "F"))
    assert (field(fill, 32), field(fill, 151), field(fill, 39)) == ("4", "6", "1")
    control.price("AAPL", 100.0, 100.25)  # the rest does not match by itself
    assert control.orders()[0].leaves == 6
    control.fill("part", 6)
    assert field(client.wait_for(report("part", "F")), 39) == "2"


# ----------------------------------------------------------------------------- data and account


def test_market_data_snapshot_then_incremental_updates(client: RawFixClient,
                                                       control: AcceptorControl) -> None:
    client.send("V", (262, "md1"), (263, "1"), (264, 1), (267, 2), (269, "0"), (269, "1"),
                (146, 1), (55, "AAPL"))
    snapshot = client.wait_for(is_type("W", _262="md1"))
    assert field(snapshot, 55) == "AAPL" and field(snapshot, 268) == "2"
    assert values(snapshot, 269) == ["0", "1"] and values(snapshot, 270) == ["100", "100.5"]
    assert len(values(snapshot, 271)) == 2

    control.price("AAPL", 100.25, 100.75, 300, 400)
    update = client.wait_for(is_type("X", _262="md1"))
    assert values(update, 279) == ["1", "1"] and values(update, 269) == ["0", "1"]
    assert values(update, 270) == ["100.25", "100.75"] and values(update, 271) == ["300", "400"]
    assert values(update, 55) == ["AAPL", "AAPL"]

    client.send("V", (262, "md1"), (263, "2"), (264, 1), (146, 1), (55, "AAPL"))
    status_request(client, "sync")  # the unsubscribe has been handled once this is answered
    control.price("AAPL", 100.5, 101.0)
    client.send("V", (262, "md2"), (263, "0"), (264, 1), (146, 1), (55, "AAPL"))
    after = client.read_until(is_type("W", _262="md2"))
    assert not [m for m in after if field(m, 35) == "X"]
    assert values(after[-1], 270) == ["100.5", "101"]


def test_market_data_for_an_unknown_symbol_is_rejected(client: RawFixClient) -> None:
    client.send("V", (262, "md9"), (263, "0"), (264, 1), (146, 1), (55, "NOPE"))
    reject = client.wait_for(is_type("Y", _262="md9"))
    assert field(reject, 281) == "0" and "NOPE" in (field(reject, 58) or "")


def test_positions_and_balance_after_fills(client: RawFixClient,
                                           control: AcceptorControl) -> None:
    new_order(client, "b1", "1", 10)
    client.wait_for(report("b1", "F"))
    new_order(client, "b2", "2", 4)
    client.wait_for(report("b2", "F"))
    cash = 1_000_000 - 10 * 100.5 + 4 * 100.0
    assert control.balance() == pytest.approx(cash)
    assert control.positions()["AAPL"].net == 6

    client.send("AN", (710, "pos1"), (724, 0), (1, "ACC1"), (581, 1),
                (715, "20240102"), (60, "20240102-10:00:00"))
    ack = client.wait_for(is_type("AO", _710="pos1"))
    assert (field(ack, 727), field(ack, 728)) == ("1", "0")
    position = client.wait_for(is_type("AP", _710="pos1"))
    assert field(position, 55) == "AAPL" and field(position, 702) == "1"
    assert (field(position, 704), field(position, 705)) == ("6", "0")
    assert field(position, 730) == "100.5" and field(position, 912) == "Y"

    client.send("BB", (909, "coll1"))
    collateral = client.wait_for(is_type("BA", _909="coll1"))
    assert float(field(collateral, 901) or 0) == pytest.approx(cash)
    assert float(field(collateral, 900) or 0) == pytest.approx(cash + 6 * 100.0)
    assert field(collateral, 15) == "USD"

    control.reset()
    client.send("AN", (710, "pos2"), (724, 0))
    empty = client.wait_for(is_type("AO", _710="pos2"))
    assert (field(empty, 727), field(empty, 728)) == ("0", "2")
    assert control.balance() == 1_000_000


def test_security_list_carries_lot_and_tick(client: RawFixClient,
                                            control: AcceptorControl) -> None:
    control.instrument("EURUSD", 0.00001, 1000)
    client.send("x", (320, "sec1"), (559, 4))
    listing = client.wait_for(is_type("y", _320="sec1"))
    assert field(listing, 560) == "0" and field(listing, 146) == "2"
    assert values(listing, 55) == ["AAPL", "EURUSD"]
    assert values(listing, 561) == ["1", "1000"]
    assert values(listing, 5001) == ["0.01", "0.00001"]


def test_unsupported_message_gets_a_business_reject(client: RawFixClient) -> None:
    client.send("E", (66, "list1"))
    reject = client.wait_for(lambda m: field(m, 35) == "j")
    assert field(reject, 372) == "E"


# ----------------------------------------------------------------------------- control channel


def test_control_errors_name_the_problem(control: AcceptorControl) -> None:
    with pytest.raises(ControlError, match="unknown command"):
        control.command("launch")
    with pytest.raises(ControlError, match="usage: price"):
        control.command("price AAPL 1")
    with pytest.raises(ControlError, match="above ask"):
        control.price("AAPL", 101, 100)
    with pytest.raises(ControlError, match="unknown mode"):
        control.next_order("sometimes")
    with pytest.raises(ControlError, match="unknown order"):
        control.fill("ghost", 1)
    control.ping()
