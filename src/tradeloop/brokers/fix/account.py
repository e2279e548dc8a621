"""The account as a FIX venue reports it: positions (RequestForPositions AN, answered by a
RequestForPositionsAck AO and one PositionReport AP per position) and balances
(CollateralInquiry BB, answered by a CollateralReport BA).

Venues that answer neither leave the adapter to sum its own fills and to take the balance from
its settings; :class:`~tradeloop.brokers.fix.execution.FixExecutionClient` decides which.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import simplefix

from tradeloop.brokers.fix import parse, parse_data
from tradeloop.brokers.fix.client import FixClient
from tradeloop.model.reports import AccountReport, PositionReport


@dataclass
class _PositionsAnswer:
    done: asyncio.Future[None]
    lines: list[parse_data.PositionLine] = field(default_factory=list)
    expected: int | None = None


class FixAccountQueries:
    """Positions and balances asked of the venue over ``client``.

    Parameters
    ----------
    client : FixClient
    account : str or None
        Account (1) of the requests.
    now_ns : callable, optional
    """

    def __init__(self, client: FixClient, account: str | None, *,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        self.client = client
        self.account = account
        self._now_ns = now_ns
        self._positions: dict[str, _PositionsAnswer] = {}
        self._collateral: dict[str, asyncio.Future[parse_data.Collateral]] = {}
        client.route(parse.POSITIONS_ACK, self._on_positions_ack)
        client.route(parse.POSITION_REPORT, self._on_position_report)
        client.route(parse.COLLATERAL_REPORT, self._on_collateral)

    async def positions(self) -> list[PositionReport]:
        """The venue's net positions, one per instrument that is not flat.

        Raises
        ------
        FixQueryTimeoutError, FixNotLoggedOnError
            No answer in time, or not logged on: retryable.
        FixBusinessRejectError
            The venue does not answer RequestForPositions.
        """
        request_id = self.client.new_id("P")
        answer = _PositionsAnswer(asyncio.get_running_loop().create_future())
        self._positions[request_id] = answer
        try:
            message = parse_data.positions_request(request_id, self.account, self._now_ns())
            await self.client.request(message, answer.done, what="RequestForPositions",
                                      changes_state=False)
        finally:
            self._positions.pop(request_id, None)
        now = self._now_ns()
        return [PositionReport(symbol=p.symbol, quantity=p.quantity, avg_px=p.avg_px, ts=now)
                for p in answer.lines if p.quantity != 0]

    async def balances(self, account_id: str, currency: str) -> AccountReport:
        """The venue's CollateralReport as balances (``account_id`` and ``currency`` when it
        names none).

        Raises
        ------
        FixQueryTimeoutError, FixNotLoggedOnError
            No answer in time, or not logged on: retryable.
        FixBusinessRejectError
            The venue does not answer CollateralInquiry.
        """
        request_id = self.client.new_id("B")
        answer: asyncio.Future[parse_data.Collateral] = \
            asyncio.get_running_loop().create_future()
        self._collateral[request_id] = answer
        try:
            message = parse_data.collateral_inquiry(request_id, self.account, self._now_ns())
            report = await self.client.request(message, answer, what="CollateralInquiry",
                                               changes_state=False)
        finally:
            self._collateral.pop(request_id, None)
        cash = report.cash if report.cash is not None else Decimal(0)
        return AccountReport(account_id=report.account or account_id,
                             currency=report.currency or currency, balance=cash,
                             equity=report.net_value if report.net_value is not None else cash,
                             ts=self._now_ns())

    def _on_positions_ack(self, message: simplefix.FixMessage) -> None:
        answer = self._positions.get(parse.text(message, 710) or "")
        if answer is None:
            return
        total = parse.decimal(parse.text(message, 727), 727)
        answer.expected = int(total or 0)
        refused = parse.text(message, 728) not in (None, "0")
        if (refused or not answer.expected or len(answer.lines) >= answer.expected) \
                and not answer.done.done():
            answer.done.set_result(None)

    def _on_position_report(self, message: simplefix.FixMessage) -> None:
        answer = self._positions.get(parse.text(message, 710) or "")
        if answer is None:
            return
        line = parse_data.position_report(message)
        answer.lines.append(line)
        complete = answer.expected is not None and len(answer.lines) >= answer.expected
        if (line.last or complete) and not answer.done.done():
            answer.done.set_result(None)

    def _on_collateral(self, message: simplefix.FixMessage) -> None:
        waiter = self._collateral.get(parse.text(message, 909) or "")
        if waiter is None and len(self._collateral) == 1:  # a venue that echoes no id
            waiter = next(iter(self._collateral.values()))
        if waiter is not None and not waiter.done():
            waiter.set_result(parse_data.collateral_report(message))


__all__ = ["FixAccountQueries"]
