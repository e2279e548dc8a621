"""The stand-in's constants and the named tuples its functions return, with the fields the
``MetaTrader5`` package documents (in its order)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

# -- constants (values as the package defines them) -------------------------------------------
TRADE_ACTION_DEAL, TRADE_ACTION_PENDING, TRADE_ACTION_SLTP = 1, 5, 6
TRADE_ACTION_MODIFY, TRADE_ACTION_REMOVE, TRADE_ACTION_CLOSE_BY = 7, 8, 10
ORDER_TYPE_BUY, ORDER_TYPE_SELL, ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_SELL_LIMIT = 0, 1, 2, 3
ORDER_TYPE_BUY_STOP, ORDER_TYPE_SELL_STOP = 4, 5
ORDER_TYPE_BUY_STOP_LIMIT, ORDER_TYPE_SELL_STOP_LIMIT, ORDER_TYPE_CLOSE_BY = 6, 7, 8
ORDER_FILLING_FOK, ORDER_FILLING_IOC, ORDER_FILLING_RETURN, ORDER_FILLING_BOC = 0, 1, 2, 3
ORDER_TIME_GTC, ORDER_TIME_DAY, ORDER_TIME_SPECIFIED, ORDER_TIME_SPECIFIED_DAY = 0, 1, 2, 3
ORDER_STATE_STARTED, ORDER_STATE_PLACED, ORDER_STATE_CANCELED = 0, 1, 2
ORDER_STATE_PARTIAL, ORDER_STATE_FILLED, ORDER_STATE_REJECTED = 3, 4, 5
ORDER_STATE_EXPIRED, ORDER_STATE_REQUEST_ADD = 6, 7
ORDER_STATE_REQUEST_MODIFY, ORDER_STATE_REQUEST_CANCEL = 8, 9
SYMBOL_FILLING_FOK, SYMBOL_FILLING_IOC = 1, 2
SYMBOL_TRADE_MODE_DISABLED, SYMBOL_TRADE_MODE_LONGONLY, SYMBOL_TRADE_MODE_SHORTONLY = 0, 1, 2
SYMBOL_TRADE_MODE_CLOSEONLY, SYMBOL_TRADE_MODE_FULL = 3, 4
SYMBOL_TRADE_EXECUTION_REQUEST, SYMBOL_TRADE_EXECUTION_INSTANT = 0, 1
SYMBOL_TRADE_EXECUTION_MARKET, SYMBOL_TRADE_EXECUTION_EXCHANGE = 2, 3
DEAL_TYPE_BUY, DEAL_TYPE_SELL, DEAL_TYPE_BALANCE = 0, 1, 2
DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_ENTRY_INOUT, DEAL_ENTRY_OUT_BY = 0, 1, 2, 3
POSITION_TYPE_BUY, POSITION_TYPE_SELL = 0, 1
ACCOUNT_MARGIN_MODE_RETAIL_NETTING, ACCOUNT_MARGIN_MODE_EXCHANGE = 0, 1
ACCOUNT_MARGIN_MODE_RETAIL_HEDGING = 2
ACCOUNT_TRADE_MODE_DEMO, ACCOUNT_TRADE_MODE_CONTEST, ACCOUNT_TRADE_MODE_REAL = 0, 1, 2
COPY_TICKS_ALL, COPY_TICKS_INFO, COPY_TICKS_TRADE = -1, 1, 2
TICK_FLAG_BID, TICK_FLAG_ASK = 2, 4
TIMEFRAME_M1, TIMEFRAME_M5, TIMEFRAME_M15, TIMEFRAME_M30 = 1, 5, 15, 30
TIMEFRAME_H1, TIMEFRAME_H4, TIMEFRAME_D1 = 0x4001, 0x4004, 0x4018
TIMEFRAME_W1, TIMEFRAME_MN1 = 0x8001, 0xC001
RES_S_OK, RES_E_FAIL, RES_E_INVALID_PARAMS, RES_E_NO_MEMORY = 1, -1, -2, -3
RES_E_NOT_FOUND, RES_E_INVALID_VERSION, RES_E_AUTH_FAILED = -4, -5, -6
RES_E_UNSUPPORTED, RES_E_AUTO_TRADING_DISABLED = -7, -8
RES_E_INTERNAL_FAIL, RES_E_INTERNAL_FAIL_SEND = -10000, -10001
RES_E_INTERNAL_FAIL_RECEIVE, RES_E_INTERNAL_FAIL_INIT = -10002, -10003
RES_E_INTERNAL_FAIL_CONNECT, RES_E_INTERNAL_FAIL_TIMEOUT = -10004, -10005
TRADE_RETCODE_REQUOTE, TRADE_RETCODE_PLACED, TRADE_RETCODE_DONE = 10004, 10008, 10009
TRADE_RETCODE_DONE_PARTIAL, TRADE_RETCODE_TIMEOUT, TRADE_RETCODE_INVALID = 10010, 10012, 10013
TRADE_RETCODE_INVALID_VOLUME, TRADE_RETCODE_INVALID_PRICE = 10014, 10015
TRADE_RETCODE_INVALID_STOPS, TRADE_RETCODE_TRADE_DISABLED = 10016, 10017
TRADE_RETCODE_MARKET_CLOSED, TRADE_RETCODE_NO_MONEY = 10018, 10019
TRADE_RETCODE_PRICE_CHANGED, TRADE_RETCODE_PRICE_OFF = 10020, 10021
TRADE_RETCODE_INVALID_EXPIRATION, TRADE_RETCODE_LOCKED = 10022, 10028
TRADE_RETCODE_TOO_MANY_REQUESTS, TRADE_RETCODE_NO_CHANGES = 10024, 10025
TRADE_RETCODE_INVALID_FILL, TRADE_RETCODE_CONNECTION = 10030, 10031
TRADE_RETCODE_INVALID_ORDER, TRADE_RETCODE_POSITION_CLOSED = 10035, 10036
TRADE_RETCODE_INVALID_CLOSE_VOLUME, TRADE_RETCODE_LONG_ONLY = 10038, 10042
TRADE_RETCODE_SHORT_ONLY, TRADE_RETCODE_CLOSE_ONLY = 10043, 10044

# -- records ----------------------------------------------------------------------------------
TerminalInfo = namedtuple("TerminalInfo", [
    "community_account", "community_connection", "connected", "dlls_allowed", "trade_allowed",
    "tradeapi_disabled", "email_enabled", "ftp_enabled", "notifications_enabled", "mqid",
    "build", "maxbars", "codepage", "ping_last", "community_balance", "retransmission",
    "company", "name", "language", "path", "data_path", "commondata_path"])
AccountInfo = namedtuple("AccountInfo", [
    "login", "trade_mode", "leverage", "limit_orders", "margin_so_mode", "trade_allowed",
    "trade_expert", "margin_mode", "currency_digits", "fifo_close", "balance", "credit",
    "profit", "equity", "margin", "margin_free", "margin_level", "margin_so_call",
    "margin_so_so", "margin_initial", "margin_maintenance", "assets", "liabilities",
    "commission_blocked", "name", "server", "currency", "company"])
SymbolInfo = namedtuple("SymbolInfo", [
    "custom", "chart_mode", "select", "visible", "session_deals", "session_buy_orders",
    "session_sell_orders", "volume", "volumehigh", "volumelow", "time", "digits", "spread",
    "spread_float", "ticks_bookdepth", "trade_calc_mode", "trade_mode", "start_time",
    "expiration_time", "trade_stops_level", "trade_freeze_level", "trade_exemode",
    "swap_mode", "swap_rollover3days", "margin_hedged_use_leg", "expiration_mode",
    "filling_mode", "order_mode", "order_gtc_mode", "option_mode", "option_right", "bid",
    "bidhigh", "bidlow", "ask", "askhigh", "asklow", "last", "lasthigh", "lastlow",
    "volume_real", "volumehigh_real", "volumelow_real", "option_strike", "point",
    "trade_tick_value", "trade_tick_value_profit", "trade_tick_value_loss",
    "trade_tick_size", "trade_contract_size", "trade_accrued_interest", "trade_face_value",
    "trade_liquidity_rate", "volume_min", "volume_max", "volume_step", "volume_limit",
    "swap_long", "swap_short", "margin_initial", "margin_maintenance", "session_volume",
    "session_turnover", "session_interest", "session_buy_orders_volume",
    "session_sell_orders_volume", "session_open", "session_close", "session_aw",
    "session_price_settlement", "session_price_limit_min", "session_price_limit_max",
    "margin_hedged", "price_change", "price_volatility", "price_theoretical",
    "price_greeks_delta", "price_greeks_theta", "price_greeks_gamma", "price_greeks_vega",
    "price_greeks_rho", "price_greeks_omega", "price_sensitivity", "basis", "category",
    "currency_base", "currency_profit", "currency_margin", "bank", "description", "exchange",
    "formula", "isin", "name", "page", "path"])
Tick = namedtuple("Tick", ["time", "bid", "ask", "last", "volume", "time_msc", "flags",
                           "volume_real"])
TradeOrder = namedtuple("TradeOrder", [
    "ticket", "time_setup", "time_setup_msc", "time_done", "time_done_msc", "time_expiration",
    "type", "type_time", "type_filling", "state", "magic", "position_id", "position_by_id",
    "reason", "volume_initial", "volume_current", "price_open", "sl", "tp", "price_current",
    "price_stoplimit", "symbol", "comment", "external_id"])
TradePosition = namedtuple("TradePosition", [
    "ticket", "time", "time_msc", "time_update", "time_update_msc", "type", "magic",
    "identifier", "reason", "volume", "price_open", "sl", "tp", "price_current", "swap",
    "profit", "symbol", "comment", "external_id"])
TradeDeal = namedtuple("TradeDeal", [
    "ticket", "order", "time", "time_msc", "type", "entry", "magic", "position_id", "reason",
    "volume", "price", "commission", "swap", "profit", "fee", "symbol", "comment",
    "external_id"])
TradeRequest = namedtuple("TradeRequest", [
    "action", "magic", "order", "symbol", "volume", "price", "stoplimit", "sl", "tp",
    "deviation", "type", "type_filling", "type_time", "expiration", "comment", "position",
    "position_by"])
OrderSendResult = namedtuple("OrderSendResult", [
    "retcode", "deal", "order", "volume", "price", "bid", "ask", "comment", "request_id",
    "retcode_external", "request"])
OrderCheckResult = namedtuple("OrderCheckResult", [
    "retcode", "balance", "equity", "profit", "margin", "margin_free", "margin_level",
    "comment", "request"])

RATES_DTYPE = np.dtype([("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"),
                        ("close", "<f8"), ("tick_volume", "<u8"), ("spread", "<i4"),
                        ("real_volume", "<u8")])
TICKS_DTYPE = np.dtype([("time", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"),
                        ("volume", "<u8"), ("time_msc", "<i8"), ("flags", "<u4"),
                        ("volume_real", "<f8")])
#: Seconds per bar of each TIMEFRAME_* (months are not served).
TIMEFRAME_SECONDS = {TIMEFRAME_M1: 60, TIMEFRAME_M5: 300, TIMEFRAME_M15: 900,
                     TIMEFRAME_M30: 1800, TIMEFRAME_H1: 3600, TIMEFRAME_H4: 14_400,
                     TIMEFRAME_D1: 86_400, TIMEFRAME_W1: 604_800}
