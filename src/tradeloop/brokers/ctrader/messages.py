"""The cTrader Open API messages this adapter speaks, as field-number tables for :mod:`.wire`.

Written from Spotware's published message reference (help.ctrader.com/open-api/messages and
model-messages): payload type numbers, enums and, for each message, the fields used here by
number, name and type. Fields a table leaves out are skipped when read, so the tables list
what the adapter (and the local stand-in server of the tests) needs, not every field the
protocol has. Names are the protocol's own, so a decoded message reads like the reference.

Units worth remembering: volumes are in cents of a unit (``1000`` = 10.00 units); spot prices,
trendbar prices and relative stop distances are integers in 1/100000 of a price unit; money
fields are integers scaled by ``10**moneyDigits``; times are Unix milliseconds (trendbars:
minutes).
"""

from __future__ import annotations

from enum import IntEnum

from tradeloop.brokers.ctrader.wire import F, Field, Schema


class PT(IntEnum):
    """Payload types (``ProtoPayloadType`` and ``ProtoOAPayloadType``)."""

    ERROR_RES = 50
    HEARTBEAT_EVENT = 51
    APPLICATION_AUTH_REQ = 2100
    APPLICATION_AUTH_RES = 2101
    ACCOUNT_AUTH_REQ = 2102
    ACCOUNT_AUTH_RES = 2103
    NEW_ORDER_REQ = 2106
    CANCEL_ORDER_REQ = 2108
    AMEND_ORDER_REQ = 2109
    AMEND_POSITION_SLTP_REQ = 2110
    CLOSE_POSITION_REQ = 2111
    ASSET_LIST_REQ = 2112
    ASSET_LIST_RES = 2113
    SYMBOLS_LIST_REQ = 2114
    SYMBOLS_LIST_RES = 2115
    SYMBOL_BY_ID_REQ = 2116
    SYMBOL_BY_ID_RES = 2117
    TRADER_REQ = 2121
    TRADER_RES = 2122
    TRADER_UPDATE_EVENT = 2123
    RECONCILE_REQ = 2124
    RECONCILE_RES = 2125
    EXECUTION_EVENT = 2126
    SUBSCRIBE_SPOTS_REQ = 2127
    SUBSCRIBE_SPOTS_RES = 2128
    UNSUBSCRIBE_SPOTS_REQ = 2129
    UNSUBSCRIBE_SPOTS_RES = 2130
    SPOT_EVENT = 2131
    ORDER_ERROR_EVENT = 2132
    DEAL_LIST_REQ = 2133
    DEAL_LIST_RES = 2134
    GET_TRENDBARS_REQ = 2137
    GET_TRENDBARS_RES = 2138
    OA_ERROR_RES = 2142
    ACCOUNTS_TOKEN_INVALIDATED_EVENT = 2147
    CLIENT_DISCONNECT_EVENT = 2148
    GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ = 2149
    GET_ACCOUNTS_BY_ACCESS_TOKEN_RES = 2150
    ACCOUNT_DISCONNECT_EVENT = 2164
    REFRESH_TOKEN_REQ = 2173
    REFRESH_TOKEN_RES = 2174
    ORDER_LIST_REQ = 2175
    ORDER_LIST_RES = 2176
    ORDER_DETAILS_REQ = 2181
    ORDER_DETAILS_RES = 2182
    GET_POSITION_UNREALIZED_PNL_REQ = 2187
    GET_POSITION_UNREALIZED_PNL_RES = 2188


class TradeSide(IntEnum):
    """``ProtoOATradeSide``."""

    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    """``ProtoOAOrderType``."""

    MARKET = 1
    LIMIT = 2
    STOP = 3
    STOP_LOSS_TAKE_PROFIT = 4
    MARKET_RANGE = 5
    STOP_LIMIT = 6


class TimeInForce(IntEnum):
    """``ProtoOATimeInForce``."""

    GOOD_TILL_DATE = 1
    GOOD_TILL_CANCEL = 2
    IMMEDIATE_OR_CANCEL = 3
    FILL_OR_KILL = 4
    MARKET_ON_OPEN = 5


class OrderStatus(IntEnum):
    """``ProtoOAOrderStatus``."""

    ORDER_STATUS_ACCEPTED = 1
    ORDER_STATUS_FILLED = 2
    ORDER_STATUS_REJECTED = 3
    ORDER_STATUS_EXPIRED = 4
    ORDER_STATUS_CANCELLED = 5


class ExecutionType(IntEnum):
    """``ProtoOAExecutionType``."""

    ORDER_ACCEPTED = 2
    ORDER_FILLED = 3
    ORDER_REPLACED = 4
    ORDER_CANCELLED = 5
    ORDER_EXPIRED = 6
    ORDER_REJECTED = 7
    ORDER_CANCEL_REJECTED = 8
    SWAP = 9
    DEPOSIT_WITHDRAW = 10
    ORDER_PARTIAL_FILL = 11
    BONUS_DEPOSIT_WITHDRAW = 12


class PositionStatus(IntEnum):
    """``ProtoOAPositionStatus``."""

    POSITION_STATUS_OPEN = 1
    POSITION_STATUS_CLOSED = 2
    POSITION_STATUS_CREATED = 3
    POSITION_STATUS_ERROR = 4


class DealStatus(IntEnum):
    """``ProtoOADealStatus``."""

    FILLED = 2
    PARTIALLY_FILLED = 3
    REJECTED = 4
    INTERNALLY_REJECTED = 5
    ERROR = 6
    MISSED = 7


class AccountType(IntEnum):
    """``ProtoOAAccountType``."""

    HEDGED = 0
    NETTED = 1
    SPREAD_BETTING = 2


class TrendbarPeriod(IntEnum):
    """``ProtoOATrendbarPeriod``."""

    M1 = 1
    M2 = 2
    M3 = 3
    M4 = 4
    M5 = 5
    M10 = 6
    M15 = 7
    M30 = 8
    H1 = 9
    H4 = 10
    H12 = 11
    D1 = 12
    W1 = 13
    MN1 = 14


class TriggerMethod(IntEnum):
    """``ProtoOAOrderTriggerMethod``."""

    TRADE = 1
    OPPOSITE = 2
    DOUBLE_TRADE = 3
    DOUBLE_OPPOSITE = 4


_ACCOUNT = F(2, "ctidTraderAccountId", "int64")

# -- model messages ---------------------------------------------------------------------------

ASSET = Schema("ProtoOAAsset", (
    F(1, "assetId", "int64"), F(2, "name", "string"), F(3, "displayName", "string"),
    F(4, "digits", "int32"),
))
LIGHT_SYMBOL = Schema("ProtoOALightSymbol", (
    F(1, "symbolId", "int64"), F(2, "symbolName", "string"), F(3, "enabled", "bool"),
    F(4, "baseAssetId", "int64"), F(5, "quoteAssetId", "int64"),
    F(6, "symbolCategoryId", "int64"), F(7, "description", "string"),
))
SYMBOL = Schema("ProtoOASymbol", (
    F(1, "symbolId", "int64"), F(2, "digits", "int32"), F(3, "pipPosition", "int32"),
    F(4, "enableShortSelling", "bool"), F(9, "maxVolume", "int64"),
    F(10, "minVolume", "int64"), F(11, "stepVolume", "int64"),
    F(26, "scheduleTimeZone", "string"), F(27, "tradingMode", "enum"),
    F(30, "lotSize", "int64"), F(40, "measurementUnits", "string"),
))
TRADER = Schema("ProtoOATrader", (
    F(1, "ctidTraderAccountId", "int64"), F(2, "balance", "int64"),
    F(3, "balanceVersion", "int64"), F(7, "accessRights", "enum"),
    F(8, "depositAssetId", "int64"), F(10, "leverageInCents", "uint32"),
    F(14, "traderLogin", "int64"), F(15, "accountType", "enum"),
    F(16, "brokerName", "string"), F(17, "registrationTimestamp", "int64"),
    F(20, "moneyDigits", "uint32"),
))
TRADE_DATA = Schema("ProtoOATradeData", (
    F(1, "symbolId", "int64"), F(2, "volume", "int64"), F(3, "tradeSide", "enum"),
    F(4, "openTimestamp", "int64"), F(5, "label", "string"),
    F(6, "guaranteedStopLoss", "bool"), F(7, "comment", "string"),
    F(9, "closeTimestamp", "uint64"),
))
POSITION = Schema("ProtoOAPosition", (
    F(1, "positionId", "int64"), F(2, "tradeData", "message", message=TRADE_DATA),
    F(3, "positionStatus", "enum"), F(4, "swap", "int64"), F(5, "price", "double"),
    F(6, "stopLoss", "double"), F(7, "takeProfit", "double"),
    F(8, "utcLastUpdateTimestamp", "int64"), F(9, "commission", "int64"),
    F(10, "marginRate", "double"), F(13, "usedMargin", "uint64"),
    F(15, "moneyDigits", "uint32"), F(16, "trailingStopLoss", "bool"),
))
ORDER = Schema("ProtoOAOrder", (
    F(1, "orderId", "int64"), F(2, "tradeData", "message", message=TRADE_DATA),
    F(3, "orderType", "enum"), F(4, "orderStatus", "enum"),
    F(6, "expirationTimestamp", "int64"), F(7, "executionPrice", "double"),
    F(8, "executedVolume", "int64"), F(9, "utcLastUpdateTimestamp", "int64"),
    F(10, "baseSlippagePrice", "double"), F(11, "slippageInPoints", "int64"),
    F(12, "closingOrder", "bool"), F(13, "limitPrice", "double"),
    F(14, "stopPrice", "double"), F(15, "stopLoss", "double"), F(16, "takeProfit", "double"),
    F(17, "clientOrderId", "string"), F(18, "timeInForce", "enum"),
    F(19, "positionId", "int64"), F(20, "relativeStopLoss", "int64"),
    F(21, "relativeTakeProfit", "int64"), F(22, "isStopOut", "bool"),
    F(23, "trailingStopLoss", "bool"), F(24, "stopTriggerMethod", "enum"),
))
CLOSE_POSITION_DETAIL = Schema("ProtoOAClosePositionDetail", (
    F(1, "entryPrice", "double"), F(2, "grossProfit", "int64"), F(3, "swap", "int64"),
    F(4, "commission", "int64"), F(5, "balance", "int64"), F(7, "closedVolume", "int64"),
    F(9, "moneyDigits", "uint32"),
))
DEAL = Schema("ProtoOADeal", (
    F(1, "dealId", "int64"), F(2, "orderId", "int64"), F(3, "positionId", "int64"),
    F(4, "volume", "int64"), F(5, "filledVolume", "int64"), F(6, "symbolId", "int64"),
    F(7, "createTimestamp", "int64"), F(8, "executionTimestamp", "int64"),
    F(9, "utcLastUpdateTimestamp", "int64"), F(10, "executionPrice", "double"),
    F(11, "tradeSide", "enum"), F(12, "dealStatus", "enum"), F(13, "marginRate", "double"),
    F(14, "commission", "int64"),
    F(16, "closePositionDetail", "message", message=CLOSE_POSITION_DETAIL),
    F(17, "moneyDigits", "uint32"),
))
TRENDBAR = Schema("ProtoOATrendbar", (
    F(3, "volume", "int64"), F(4, "period", "enum"), F(5, "low", "int64"),
    F(6, "deltaOpen", "uint64"), F(7, "deltaClose", "uint64"), F(8, "deltaHigh", "uint64"),
    F(9, "utcTimestampInMinutes", "uint32"),
))
CTID_TRADER_ACCOUNT = Schema("ProtoOACtidTraderAccount", (
    F(1, "ctidTraderAccountId", "uint64"), F(2, "isLive", "bool"),
    F(3, "traderLogin", "int64"), F(6, "brokerTitleShort", "string"),
))

POSITION_UNREALIZED_PNL = Schema("ProtoOAPositionUnrealizedPnL", (
    F(1, "positionId", "int64"), F(2, "grossUnrealizedPnL", "int64"),
    F(3, "netUnrealizedPnL", "int64"),
))


def _message(name: str, *fields: Field) -> Schema:
    return Schema(name, (F(1, "payloadType", "enum"), *fields))


#: Payload type -> the schema of its inner message.
SCHEMAS: dict[int, Schema] = {
    PT.ERROR_RES: _message("ProtoErrorRes", F(2, "errorCode", "string"),
                           F(3, "description", "string"),
                           F(4, "maintenanceEndTimestamp", "uint64")),
    PT.HEARTBEAT_EVENT: _message("ProtoHeartbeatEvent"),
    PT.APPLICATION_AUTH_REQ: _message("ProtoOAApplicationAuthReq",
                                      F(2, "clientId", "string"),
                                      F(3, "clientSecret", "string")),
    PT.APPLICATION_AUTH_RES: _message("ProtoOAApplicationAuthRes"),
    PT.ACCOUNT_AUTH_REQ: _message("ProtoOAAccountAuthReq", _ACCOUNT,
                                  F(3, "accessToken", "string")),
    PT.ACCOUNT_AUTH_RES: _message("ProtoOAAccountAuthRes", _ACCOUNT),
    PT.NEW_ORDER_REQ: _message(
        "ProtoOANewOrderReq", _ACCOUNT, F(3, "symbolId", "int64"), F(4, "orderType", "enum"),
        F(5, "tradeSide", "enum"), F(6, "volume", "int64"), F(7, "limitPrice", "double"),
        F(8, "stopPrice", "double"), F(9, "timeInForce", "enum"),
        F(10, "expirationTimestamp", "int64"), F(11, "stopLoss", "double"),
        F(12, "takeProfit", "double"), F(13, "comment", "string"),
        F(14, "baseSlippagePrice", "double"), F(15, "slippageInPoints", "int32"),
        F(16, "label", "string"), F(17, "positionId", "int64"),
        F(18, "clientOrderId", "string"), F(19, "relativeStopLoss", "int64"),
        F(20, "relativeTakeProfit", "int64"), F(21, "guaranteedStopLoss", "bool"),
        F(22, "trailingStopLoss", "bool"), F(23, "stopTriggerMethod", "enum")),
    PT.CANCEL_ORDER_REQ: _message("ProtoOACancelOrderReq", _ACCOUNT, F(3, "orderId", "int64")),
    PT.AMEND_ORDER_REQ: _message(
        "ProtoOAAmendOrderReq", _ACCOUNT, F(3, "orderId", "int64"), F(4, "volume", "int64"),
        F(5, "limitPrice", "double"), F(6, "stopPrice", "double"),
        F(7, "expirationTimestamp", "int64"), F(8, "stopLoss", "double"),
        F(9, "takeProfit", "double"), F(10, "slippageInPoints", "int32"),
        F(11, "relativeStopLoss", "int64"), F(12, "relativeTakeProfit", "int64"),
        F(13, "guaranteedStopLoss", "bool"), F(14, "trailingStopLoss", "bool"),
        F(15, "stopTriggerMethod", "enum")),
    PT.AMEND_POSITION_SLTP_REQ: _message(
        "ProtoOAAmendPositionSLTPReq", _ACCOUNT, F(3, "positionId", "int64"),
        F(4, "stopLoss", "double"), F(5, "takeProfit", "double")),
    PT.CLOSE_POSITION_REQ: _message("ProtoOAClosePositionReq", _ACCOUNT,
                                    F(3, "positionId", "int64"), F(4, "volume", "int64")),
    PT.ASSET_LIST_REQ: _message("ProtoOAAssetListReq", _ACCOUNT),
    PT.ASSET_LIST_RES: _message("ProtoOAAssetListRes", _ACCOUNT,
                                F(3, "asset", "message", repeated=True, message=ASSET)),
    PT.SYMBOLS_LIST_REQ: _message("ProtoOASymbolsListReq", _ACCOUNT,
                                  F(3, "includeArchivedSymbols", "bool")),
    PT.SYMBOLS_LIST_RES: _message("ProtoOASymbolsListRes", _ACCOUNT,
                                  F(3, "symbol", "message", repeated=True,
                                    message=LIGHT_SYMBOL)),
    PT.SYMBOL_BY_ID_REQ: _message("ProtoOASymbolByIdReq", _ACCOUNT,
                                  F(3, "symbolId", "int64", repeated=True)),
    PT.SYMBOL_BY_ID_RES: _message("ProtoOASymbolByIdRes", _ACCOUNT,
                                  F(3, "symbol", "message", repeated=True, message=SYMBOL)),
    PT.TRADER_REQ: _message("ProtoOATraderReq", _ACCOUNT),
    PT.TRADER_RES: _message("ProtoOATraderRes", _ACCOUNT,
                            F(3, "trader", "message", message=TRADER)),
    PT.TRADER_UPDATE_EVENT: _message("ProtoOATraderUpdatedEvent", _ACCOUNT,
                                     F(3, "trader", "message", message=TRADER)),
    PT.RECONCILE_REQ: _message("ProtoOAReconcileReq", _ACCOUNT,
                               F(3, "returnProtectionOrders", "bool")),
    PT.RECONCILE_RES: _message("ProtoOAReconcileRes", _ACCOUNT,
                               F(3, "position", "message", repeated=True, message=POSITION),
                               F(4, "order", "message", repeated=True, message=ORDER)),
    PT.EXECUTION_EVENT: _message(
        "ProtoOAExecutionEvent", _ACCOUNT, F(3, "executionType", "enum"),
        F(4, "position", "message", message=POSITION), F(5, "order", "message", message=ORDER),
        F(6, "deal", "message", message=DEAL), F(9, "errorCode", "string"),
        F(10, "isServerEvent", "bool")),
    PT.SUBSCRIBE_SPOTS_REQ: _message("ProtoOASubscribeSpotsReq", _ACCOUNT,
                                     F(3, "symbolId", "int64", repeated=True),
                                     F(4, "subscribeToSpotTimestamp", "bool")),
    PT.SUBSCRIBE_SPOTS_RES: _message("ProtoOASubscribeSpotsRes", _ACCOUNT),
    PT.UNSUBSCRIBE_SPOTS_REQ: _message("ProtoOAUnsubscribeSpotsReq", _ACCOUNT,
                                       F(3, "symbolId", "int64", repeated=True)),
    PT.UNSUBSCRIBE_SPOTS_RES: _message("ProtoOAUnsubscribeSpotsRes", _ACCOUNT),
    PT.SPOT_EVENT: _message("ProtoOASpotEvent", _ACCOUNT, F(3, "symbolId", "int64"),
                            F(4, "bid", "uint64"), F(5, "ask", "uint64"),
                            F(6, "trendbar", "message", repeated=True, message=TRENDBAR),
                            F(7, "sessionClose", "uint64"), F(8, "timestamp", "int64")),
    PT.ORDER_ERROR_EVENT: _message("ProtoOAOrderErrorEvent", F(2, "errorCode", "string"),
                                   F(3, "orderId", "int64"),
                                   F(5, "ctidTraderAccountId", "int64"),
                                   F(6, "positionId", "int64"),
                                   F(7, "description", "string")),
    PT.DEAL_LIST_REQ: _message("ProtoOADealListReq", _ACCOUNT, F(3, "fromTimestamp", "int64"),
                               F(4, "toTimestamp", "int64"), F(5, "maxRows", "int32")),
    PT.DEAL_LIST_RES: _message("ProtoOADealListRes", _ACCOUNT,
                               F(3, "deal", "message", repeated=True, message=DEAL),
                               F(4, "hasMore", "bool")),
    PT.GET_TRENDBARS_REQ: _message("ProtoOAGetTrendbarsReq", _ACCOUNT,
                                   F(3, "fromTimestamp", "int64"),
                                   F(4, "toTimestamp", "int64"), F(5, "period", "enum"),
                                   F(6, "symbolId", "int64"), F(7, "count", "uint32")),
    PT.GET_TRENDBARS_RES: _message("ProtoOAGetTrendbarsRes", _ACCOUNT, F(3, "period", "enum"),
                                   F(5, "trendbar", "message", repeated=True,
                                     message=TRENDBAR),
                                   F(6, "symbolId", "int64"), F(7, "hasMore", "bool")),
    PT.OA_ERROR_RES: _message("ProtoOAErrorRes", _ACCOUNT, F(3, "errorCode", "string"),
                              F(4, "description", "string"),
                              F(5, "maintenanceEndTimestamp", "int64"),
                              F(6, "retryAfter", "uint64")),
    PT.ACCOUNTS_TOKEN_INVALIDATED_EVENT: _message(
        "ProtoOAAccountsTokenInvalidatedEvent",
        F(2, "ctidTraderAccountIds", "int64", repeated=True), F(3, "reason", "string")),
    PT.CLIENT_DISCONNECT_EVENT: _message("ProtoOAClientDisconnectEvent",
                                         F(2, "reason", "string")),
    PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ: _message("ProtoOAGetAccountListByAccessTokenReq",
                                                  F(2, "accessToken", "string")),
    PT.GET_ACCOUNTS_BY_ACCESS_TOKEN_RES: _message(
        "ProtoOAGetAccountListByAccessTokenRes", F(2, "accessToken", "string"),
        F(3, "permissionScope", "enum"),
        F(4, "ctidTraderAccount", "message", repeated=True, message=CTID_TRADER_ACCOUNT)),
    PT.ACCOUNT_DISCONNECT_EVENT: _message("ProtoOAAccountDisconnectEvent", _ACCOUNT),
    PT.REFRESH_TOKEN_REQ: _message("ProtoOARefreshTokenReq", F(2, "refreshToken", "string")),
    PT.REFRESH_TOKEN_RES: _message("ProtoOARefreshTokenRes", F(2, "accessToken", "string"),
                                   F(3, "tokenType", "string"), F(4, "expiresIn", "int64"),
                                   F(5, "refreshToken", "string")),
    PT.ORDER_LIST_REQ: _message("ProtoOAOrderListReq", _ACCOUNT,
                                F(3, "fromTimestamp", "int64"), F(4, "toTimestamp", "int64")),
    PT.ORDER_LIST_RES: _message("ProtoOAOrderListRes", _ACCOUNT,
                                F(3, "order", "message", repeated=True, message=ORDER),
                                F(4, "hasMore", "bool")),
    PT.ORDER_DETAILS_REQ: _message("ProtoOAOrderDetailsReq", _ACCOUNT,
                                   F(3, "orderId", "int64")),
    PT.ORDER_DETAILS_RES: _message("ProtoOAOrderDetailsRes", _ACCOUNT,
                                   F(3, "order", "message", message=ORDER),
                                   F(4, "deal", "message", repeated=True, message=DEAL)),
    PT.GET_POSITION_UNREALIZED_PNL_REQ: _message("ProtoOAGetPositionUnrealizedPnLReq",
                                                 _ACCOUNT),
    PT.GET_POSITION_UNREALIZED_PNL_RES: _message(
        "ProtoOAGetPositionUnrealizedPnLRes", _ACCOUNT,
        F(3, "positionUnrealizedPnL", "message", repeated=True,
          message=POSITION_UNREALIZED_PNL),
        F(4, "moneyDigits", "uint32")),
}

#: The largest span one trendbar request may cover, in ms, per period (the reference's
#: limits: M1-M5, M10-H1, H4-D1, W1-MN1).
TRENDBAR_MAX_SPAN_MS: dict[TrendbarPeriod, int] = {
    **dict.fromkeys((TrendbarPeriod.M1, TrendbarPeriod.M2, TrendbarPeriod.M3,
                     TrendbarPeriod.M4, TrendbarPeriod.M5), 302_400_000),
    **dict.fromkeys((TrendbarPeriod.M10, TrendbarPeriod.M15, TrendbarPeriod.M30,
                     TrendbarPeriod.H1), 21_168_000_000),
    **dict.fromkeys((TrendbarPeriod.H4, TrendbarPeriod.H12, TrendbarPeriod.D1),
                    31_622_400_000),
    **dict.fromkeys((TrendbarPeriod.W1, TrendbarPeriod.MN1), 158_112_000_000),
}
#: Period -> its length in minutes (MN1 has none).
TRENDBAR_MINUTES: dict[TrendbarPeriod, int] = {
    TrendbarPeriod.M1: 1, TrendbarPeriod.M2: 2, TrendbarPeriod.M3: 3, TrendbarPeriod.M4: 4,
    TrendbarPeriod.M5: 5, TrendbarPeriod.M10: 10, TrendbarPeriod.M15: 15,
    TrendbarPeriod.M30: 30, TrendbarPeriod.H1: 60, TrendbarPeriod.H4: 240,
    TrendbarPeriod.H12: 720, TrendbarPeriod.D1: 1440, TrendbarPeriod.W1: 10_080,
}
#: Prices in spot events, trendbars and relative stops are integers in 1/100000.
PRICE_SCALE = 100_000
#: Volumes are in cents of a unit.
VOLUME_SCALE = 100


def schema(payload_type: int) -> Schema | None:
    """The schema of a payload type (None for one this adapter does not read)."""
    return SCHEMAS.get(payload_type)


def name_of(payload_type: int) -> str:
    """The message name of a payload type (``"2106"`` for one not in the tables)."""
    found = SCHEMAS.get(payload_type)
    return found.name if found is not None else str(payload_type)


__all__ = ["ASSET", "CTID_TRADER_ACCOUNT", "DEAL", "LIGHT_SYMBOL", "ORDER", "POSITION",
           "POSITION_UNREALIZED_PNL", "PRICE_SCALE", "PT", "SCHEMAS", "SYMBOL", "TRADER",
           "TRADE_DATA", "TRENDBAR",
           "TRENDBAR_MAX_SPAN_MS", "TRENDBAR_MINUTES", "VOLUME_SCALE", "AccountType",
           "DealStatus", "ExecutionType", "OrderStatus", "OrderType", "PositionStatus",
           "TimeInForce", "TradeSide", "TrendbarPeriod", "TriggerMethod", "name_of", "schema"]
