"""``StandinClient``: ib_async's ``Client`` with its socket replaced by the stand-in gateway.
Requests go to the gateway synchronously; answers come back later on the event loop as calls of
ib_async's real ``Wrapper``, with the client's handshake snooping and packet hooks
(``tcpDataArrived``/``tcpDataProcessed``) exactly where the socket reader has them."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ib_async.client import Client
from ib_async.contract import Contract
from ib_async.objects import ExecutionFilter
from ib_async.order import Order

from . import queries
from .gateway import ClientIdInUse

if TYPE_CHECKING:
    from collections.abc import Callable

    from .gateway import Gateway
    from .session import Message, Session


class StandinClient(Client):
    """An API client connected to the stand-in gateway instead of a socket."""

    def __init__(self, wrapper: Any, gateway: Gateway) -> None:
        self._gateway = gateway
        self._session: Session | None = None
        self._connecting: asyncio.Future[None] | None = None
        super().__init__(wrapper)
        self._logger = logging.getLogger("support.ib_standin.client")

    def reset(self) -> None:
        super().reset()
        self._session = None

    # ------------------------------------------------------------------ connection

    async def connectAsync(self, host: str, port: int, clientId: int,
                           timeout: float | None = 2.0) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def on_start() -> None:
            if not ready.done():
                ready.set_result(None)

        self.apiStart += on_start
        self._connecting = ready
        try:
            self._logger.info("Connecting to %s:%s with clientId %s...", host, port, clientId)
            self.host, self.port, self.clientId = host, int(port), int(clientId)
            self.connState = Client.CONNECTING
            await asyncio.sleep(0)
            try:
                session = self._gateway.attach(self, self.clientId, loop)
            except ClientIdInUse as exc:
                self.wrapper.error(-1, 326, "Unable to connect as the client id is already in "
                                            "use. Retry with a unique client id.", "")
                raise ConnectionError(f"Peer closed connection. clientId {clientId} already "
                                      "in use?") from exc
            self._session = session
            self._serverVersion = self.MaxClientVersion
            self.decoder.serverVersion = self._serverVersion
            self.connState = Client.CONNECTED
            self.wrapper.connectAck()
            self._logger.info("Logged on to server version %s", self._serverVersion)
            await asyncio.wait_for(ready, timeout or None)
            self._logger.info("API connection ready")
        except BaseException as exc:
            self.disconnect()
            msg = f"API connection failed: {exc!r}"
            self._logger.error(msg)
            self.apiError.emit(msg)
            raise
        finally:
            self.apiStart -= on_start
            self._connecting = None

    def disconnect(self) -> None:
        self._logger.info("Disconnecting")
        session = self._session
        self.connState = Client.DISCONNECTED
        if session is not None:
            self._gateway.detach(session)
            if not session.loop.is_closed():
                # what the socket's connection_lost does once the transport has closed
                session.loop.call_soon_threadsafe(self.wrapper.setEventsDone)
        self.reset()

    def socket_closed(self, session: Session) -> None:
        """The gateway closed this connection (as the peer closing the socket)."""
        if self._session is not session:
            return
        if self._connecting is not None and not self._connecting.done():
            self._connecting.set_exception(ConnectionError("Socket disconnect"))
        self._onSocketDisconnected("")

    def receive(self, session: Session, packet: list[Message]) -> None:
        """One packet from the gateway: snoop the handshake, then call the wrapper."""
        if self._session is not session:
            return
        if self._tcpDataArrived:
            self._tcpDataArrived()
        for name, args in packet:
            if self._session is not session:
                break
            self._numMsgRecv += 1
            if not self._apiReady:
                self._snoop(name, args)
            self._gateway.record(self.clientId, name, args)
            handler = getattr(self.wrapper, name, None)
            if handler is None:
                continue
            try:
                handler(*args)
            except Exception:
                self._logger.exception("Error handling %s%r", name, args)
        if self._tcpDataProcessed:
            self._tcpDataProcessed()

    def _snoop(self, name: str, args: tuple[Any, ...]) -> None:
        if name == "nextValidId":
            self.updateReqId(int(args[0]))
            self._hasReqId = True
        elif name == "managedAccounts":
            self._accounts = [a for a in str(args[0]).split(",") if a]
        if self._hasReqId and self._accounts:
            self._apiReady = True
            self.apiStart.emit()

    def send(self, *fields: Any, makeEmpty: bool = True) -> None:
        if not self.isConnected():
            raise ConnectionError("Not connected")
        raise NotImplementedError(f"the IB stand-in does not answer message id {fields[0]}")

    def _request(self, name: str, handler: Callable[..., None], *args: Any) -> None:
        if not self.isConnected():
            raise ConnectionError("Not connected")
        self.conn.numMsgSent += 1
        gw = self._gateway
        gw.record(self.clientId, f"client.{name}", args)
        session = self._session
        if session is None or not session.open:
            return  # the socket is closing: the request goes nowhere
        with gw.operation():
            handler(session, *args)

    # ------------------------------------------------------------------ orders

    def placeOrder(self, orderId: int, contract: Contract, order: Order) -> None:
        gw = self._gateway
        if order.whatIf:
            self._request("placeOrder", lambda s, *a: queries.what_if(gw, s, *a),
                          orderId, contract, order)
        else:
            self._request("placeOrder", gw.book.place, orderId, contract, order)

    def cancelOrder(self, orderId: int, manualCancelOrderTime: str = "") -> None:
        self._request("cancelOrder", self._gateway.book.cancel, orderId)

    def reqGlobalCancel(self) -> None:
        self._request("reqGlobalCancel", lambda s: self._gateway.book.global_cancel())

    def reqOpenOrders(self) -> None:
        self._request("reqOpenOrders", lambda s: queries.open_orders(self._gateway, s, False))

    def reqAllOpenOrders(self) -> None:
        self._request("reqAllOpenOrders", lambda s: queries.open_orders(self._gateway, s, True))

    def reqAutoOpenOrders(self, bAutoBind: bool) -> None:
        self._request("reqAutoOpenOrders", lambda s, b: None, bAutoBind)

    def reqCompletedOrders(self, apiOnly: bool) -> None:
        self._request("reqCompletedOrders",
                      lambda s, a: queries.completed_orders(self._gateway, s, a), apiOnly)

    def reqExecutions(self, reqId: int, execFilter: ExecutionFilter) -> None:
        self._request("reqExecutions",
                      lambda s, r, f: queries.executions(self._gateway, s, r, f),
                      reqId, execFilter)

    def reqIds(self, numIds: int) -> None:
        def answer(s: Session, _n: int) -> None:
            s.send("nextValidId", self._gateway.book.max_order_id.get(s.client_id, 0) + 1)
        self._request("reqIds", answer, numIds)

    # ------------------------------------------------------------------ account

    def reqPositions(self) -> None:
        self._request("reqPositions", lambda s: queries.positions(self._gateway, s))

    def cancelPositions(self) -> None:
        self._request("cancelPositions", lambda s: setattr(s, "positions", False))

    def reqAccountUpdates(self, subscribe: bool, acctCode: str) -> None:
        self._request("reqAccountUpdates",
                      lambda s, on, a: queries.account_updates(self._gateway, s, on, a),
                      subscribe, acctCode)

    def reqAccountUpdatesMulti(self, reqId: int, account: str, modelCode: str,
                               ledgerAndNLV: bool) -> None:
        self._request("reqAccountUpdatesMulti",
                      lambda s, r, a, m, _l: queries.account_multi(self._gateway, s, r, a, m),
                      reqId, account, modelCode, ledgerAndNLV)

    def cancelAccountUpdatesMulti(self, reqId: int) -> None:
        self._request("cancelAccountUpdatesMulti",
                      lambda s, r: s.account_multi.pop(r, None), reqId)

    def reqAccountSummary(self, reqId: int, groupName: str, tags: str) -> None:
        self._request("reqAccountSummary",
                      lambda s, r, _g, t: queries.account_summary(self._gateway, s, r, t),
                      reqId, groupName, tags)

    def cancelAccountSummary(self, reqId: int) -> None:
        self._request("cancelAccountSummary", lambda s, r: None, reqId)

    def reqManagedAccts(self) -> None:
        self._request("reqManagedAccts",
                      lambda s: s.send("managedAccounts", self._gateway.account.name))

    def reqCurrentTime(self) -> None:
        self._request("reqCurrentTime",
                      lambda s: s.send("currentTime", int(self._gateway.clock())))

    # ------------------------------------------------------------------ contracts

    def reqContractDetails(self, reqId: int, contract: Contract) -> None:
        def answer(s: Session, req_id: int, wanted: Contract) -> None:
            cat = self._gateway.catalogue
            found = cat.match(wanted)
            if not found:
                s.error(req_id, 200, "No security definition has been found for the request")
                return
            for listing in found:
                s.send("contractDetails", req_id, cat.details(listing))
            s.send("contractDetailsEnd", req_id)
        self._request("reqContractDetails", answer, reqId, contract)

    def reqSecDefOptParams(self, reqId: int, underlyingSymbol: str, futFopExchange: str,
                           underlyingSecType: str, underlyingConId: int) -> None:
        def answer(s: Session, req_id: int, _sym: str, _ex: str, _st: str, con_id: int) -> None:
            expirations, strikes = self._gateway.catalogue.option_chain(con_id)
            if expirations:
                s.send("securityDefinitionOptionParameter", req_id, "SMART", con_id,
                       _sym or "AAPL", "100", expirations, strikes)
            s.send("securityDefinitionOptionParameterEnd", req_id)
        self._request("reqSecDefOptParams", answer, reqId, underlyingSymbol, futFopExchange,
                      underlyingSecType, underlyingConId)

    # ------------------------------------------------------------------ market data

    def reqMktData(self, reqId: int, contract: Contract, genericTickList: str, snapshot: bool,
                   regulatorySnapshot: bool, mktDataOptions: Any) -> None:
        self._request("reqMktData",
                      self._gateway.market.subscribe,
                      reqId, contract, bool(snapshot or regulatorySnapshot))

    def cancelMktData(self, reqId: int) -> None:
        self._request("cancelMktData", lambda s, r: s.market_data.pop(r, None), reqId)

    def reqMarketDataType(self, marketDataType: int) -> None:
        self._request("reqMarketDataType",
                      lambda s, t: setattr(s, "market_data_type", int(t)), marketDataType)

    def reqRealTimeBars(self, reqId: int, contract: Contract, barSize: int, whatToShow: str,
                        useRTH: bool, realTimeBarsOptions: Any) -> None:
        self._request("reqRealTimeBars",
                      self._gateway.market.subscribe_bars,
                      reqId, contract, barSize, whatToShow)

    def cancelRealTimeBars(self, reqId: int) -> None:
        self._request("cancelRealTimeBars", lambda s, r: s.realtime_bars.pop(r, None), reqId)

    def reqHistoricalData(self, reqId: int, contract: Contract, endDateTime: str,
                          durationStr: str, barSizeSetting: str, whatToShow: str, useRTH: bool,
                          formatDate: int, keepUpToDate: bool, chartOptions: Any) -> None:
        self._request("reqHistoricalData", self._gateway.history.request, reqId, contract,
                      endDateTime or "", durationStr, barSizeSetting, whatToShow, useRTH,
                      formatDate, keepUpToDate)

    def cancelHistoricalData(self, reqId: int) -> None:
        self._request("cancelHistoricalData", lambda s, r: None, reqId)

    def reqHeadTimeStamp(self, reqId: int, contract: Contract, whatToShow: str, useRTH: bool,
                         formatDate: int) -> None:
        self._request("reqHeadTimeStamp",
                      self._gateway.history.head_timestamp,
                      reqId, contract, formatDate)

    def cancelHeadTimeStamp(self, reqId: int) -> None:
        self._request("cancelHeadTimeStamp", lambda s, r: None, reqId)
