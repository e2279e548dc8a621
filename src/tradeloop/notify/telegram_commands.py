"""Telegram commands: a bot that shows the node and steers it, for the people configured only.

:class:`TelegramCommands` runs python-telegram-bot's ``Application`` with long polling inside
the node's event loop. Every update is checked first: its chat must be one of ``chat_ids``
AND its sender one of ``user_ids`` (a configured group is not enough: each member is checked);
anything else gets no answer and a WARNING log line with the chat id, the user id and the
command. The commands call :class:`~tradeloop.services.control.NodeControl`, the same service
functions as the API:

``/status``, ``/positions``, ``/orders``, ``/pnl [day|week|month]``, ``/daily``,
``/chart SYMBOL [TIMEFRAME]``, ``/risk``, ``/pause [reason]``, ``/resume [reason]``,
``/kill [reason]``, ``/flatten [SYMBOL]``, ``/help``.

``/kill``, ``/flatten`` and ``/resume`` first answer with Confirm and Cancel buttons. Their
callback data carries a random nonce kept here with who asked, in which chat, and until when;
only that user may press Confirm, once, before ``confirm_timeout_s`` runs out. A late, replayed
or unknown button is answered "expired" and does nothing. The actions are recorded as
``by="telegram:<user id>"``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.logging import redact_text
from tradeloop.notify.base import NotifyError, RetryLater
from tradeloop.notify.summary import daily_summary, daily_summary_async
from tradeloop.notify.telegram import deliver, file_url, notify_error, protect_token
from tradeloop.notify.telegram_replies import (
    COMMANDS,
    bar_series,
    esc,
    help_html,
    orders_html,
    outcome_html,
    pnl_html,
    positions_html,
    risk_html,
    status_html,
)
from tradeloop.services.control import NodeControl

if TYPE_CHECKING:
    from telegram import Update
    from telegram.ext import Application, ContextTypes

    Context = ContextTypes.DEFAULT_TYPE

logger = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[["Update", "Context"], Coroutine[Any, Any, None]]

CHART_BARS = 200
"""Bars drawn by /chart."""
_START_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class _Pending:
    action: str
    argument: str
    user_id: int
    chat_id: int
    expires_at: float


class TelegramCommands:
    """The node's Telegram bot.

    Parameters
    ----------
    control : NodeControl
        The node, as every surface sees it.
    token : SecretStr
        The bot token, from the environment.
    chat_ids : collection of int
        Chats the commands are taken from (private chats have the user's id).
    user_ids : collection of int
        Users whose commands are taken, in those chats.
    base_url : str, optional
        The Bot API's URL up to the token (default Telegram's).
    confirm_timeout_s : float, default 60
        How long the Confirm button of /kill, /flatten and /resume works.
    chart_timeframe : str, default "1h"
        The bar length of /chart when none is given.
    summary_timezone : str, default "UTC"
        Whose calendar day /daily sums up (``[notify.daily_summary] timezone``).
    clock : callable, default time.monotonic
        Seconds, for the buttons' expiry.

    Raises
    ------
    ConfigError
        With no chat or no user, an empty token, a timeout <= 0, or without the telegram
        extra.
    """

    def __init__(self, control: NodeControl, token: SecretStr, *, chat_ids: Collection[int],
                 user_ids: Collection[int], base_url: str | None = None,
                 confirm_timeout_s: float = 60, chart_timeframe: str = "1h",
                 summary_timezone: str = "UTC",
                 clock: Callable[[], float] = time.monotonic) -> None:
        secret = token.get_secret_value().strip()
        if not secret:
            raise ConfigError("telegram commands: the bot token is empty")
        if not chat_ids or not user_ids:
            raise ConfigError("telegram commands: give chat_ids and user_ids (who may use "
                              "the commands, and where)")
        if confirm_timeout_s <= 0:
            raise ConfigError(f"telegram commands: confirm_timeout_s must be positive, got "
                              f"{confirm_timeout_s}")
        protect_token(secret)
        self._control = control
        self._token = token
        self._chat_ids = frozenset(int(c) for c in chat_ids)
        self._user_ids = frozenset(int(u) for u in user_ids)
        self._base_url = base_url
        self._confirm_timeout_s = float(confirm_timeout_s)
        self._chart_timeframe = chart_timeframe
        self._summary_timezone = summary_timezone
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._polling = False

    @property
    def running(self) -> bool:
        """True while the bot polls for commands."""
        return self._polling

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and start polling, in the running event loop. When Telegram cannot be
        reached, a WARNING is logged and connecting is retried in the background until
        :meth:`stop`.

        Raises
        ------
        NotifyError
            When Telegram refuses the token.
        """
        if self._polling or self._retry_task is not None:
            return
        try:
            await self._connect()
        except RetryLater as exc:
            logger.warning("telegram commands: %s; retrying in the background", exc)
            self._retry_task = asyncio.create_task(self._keep_connecting(),
                                                   name="telegram-commands-connect")

    async def stop(self) -> None:
        """Stop polling and close the connections."""
        task, self._retry_task = self._retry_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        app, self._app = self._app, None
        self._polling = False
        self._pending.clear()
        if app is not None:
            await _close(app)

    async def _connect(self) -> None:
        from telegram import BotCommand, Update
        from telegram.error import TelegramError

        app = self._build()
        try:
            await app.initialize()
            try:
                await app.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])
            except TelegramError as exc:
                logger.warning("telegram commands: the command menu was not set: %s",
                               redact_text(str(exc)))
            await app.start()
            assert app.updater is not None
            # commands sent while the node was down are dropped: no stale /kill or /pause
            await app.updater.start_polling(
                drop_pending_updates=True, error_callback=self._polling_failed,
                allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])
        except BaseException as exc:
            await _close(app)
            if isinstance(exc, TelegramError):
                raise notify_error(exc, "telegram commands") from None
            raise
        self._app, self._polling = app, True
        logger.info("telegram commands: polling as @%s", app.bot.username)

    async def _keep_connecting(self) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(_START_BACKOFF_S[min(attempt, len(_START_BACKOFF_S) - 1)])
            attempt += 1
            try:
                await self._connect()
            except RetryLater as exc:
                logger.debug("telegram commands: still unreachable: %s", exc)
                continue
            except NotifyError as exc:
                logger.error("telegram commands: %s", exc)
            self._retry_task = None
            return

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        from telegram import Update
        from telegram.ext import (
            Application,
            CallbackQueryHandler,
            CommandHandler,
            MessageHandler,
            TypeHandler,
            filters,
        )

        builder = Application.builder().token(self._token.get_secret_value().strip())
        builder = builder.job_queue(None)  # type: ignore[arg-type]  # None: no scheduler
        if self._base_url:
            builder = builder.base_url(self._base_url).base_file_url(file_url(self._base_url))
        app = builder.build()
        app.add_handler(TypeHandler(Update, self._authorize), group=-1)
        handlers: dict[str, Handler] = {
            "status": self._status, "positions": self._positions, "orders": self._orders,
            "pnl": self._pnl, "daily": self._daily, "chart": self._chart, "risk": self._risk,
            "pause": self._pause, "resume": self._resume, "kill": self._kill,
            "flatten": self._flatten, "help": self._help, "start": self._help,
        }
        for name, handler in handlers.items():
            app.add_handler(CommandHandler(name, self._guarded(name, handler)))
        app.add_handler(CallbackQueryHandler(self._guarded("button", self._on_button)))
        app.add_handler(MessageHandler(filters.COMMAND, self._guarded("unknown", self._unknown)))
        app.add_error_handler(self._on_error)
        return app

    def _polling_failed(self, exc: Exception) -> None:
        logger.warning("telegram commands: polling failed (retrying): %s: %s",
                       type(exc).__name__, redact_text(str(exc)))

    async def _on_error(self, update: object, context: Context) -> None:
        error = context.error
        logger.warning("telegram commands: %s: %s", type(error).__name__,
                       redact_text(str(error)))

    # -- who may ----------------------------------------------------------------------------

    async def _authorize(self, update: Update, context: Context) -> None:
        from telegram.ext import ApplicationHandlerStop

        chat, user = update.effective_chat, update.effective_user
        if (chat is not None and user is not None and chat.id in self._chat_ids
                and user.id in self._user_ids):
            return
        logger.warning(
            "telegram: ignored %s from user %s in chat %s (not an allowed chat and user)",
            _what(update), user.id if user else None, chat.id if chat else None,
            extra={"fields": {"chat_id": chat.id if chat else None,
                              "user_id": user.id if user else None, "command": _what(update)}})
        raise ApplicationHandlerStop

    def _guarded(self, name: str, handler: Handler) -> Handler:
        async def run(update: Update, context: Context) -> None:
            try:
                await handler(update, context)
            except TradeloopError as exc:  # bad input, node not running: one line back
                await self._reply(update, context, f"\u26a0\ufe0f {esc(redact_text(str(exc)))}")
            except NotifyError:
                raise
            except Exception as exc:
                from telegram.error import TelegramError

                if isinstance(exc, TelegramError):
                    logger.warning("telegram /%s: answering failed: %s", name,
                                   redact_text(str(exc)))
                    return
                logger.error("telegram /%s failed: %s: %s", name, type(exc).__name__,
                             redact_text(str(exc)))
                await self._reply(update, context, f"\u26a0\ufe0f /{esc(name)} failed: "
                                          f"{esc(type(exc).__name__)}")
        return run

    # -- commands -----------------------------------------------------------------------------

    async def _help(self, update: Update, context: Context) -> None:
        await self._reply(update, context, help_html())

    async def _unknown(self, update: Update, context: Context) -> None:
        await self._reply(update, context, f"Unknown command {esc(_what(update))}: see /help")

    async def _status(self, update: Update, context: Context) -> None:
        status = await self._call(self._control.status)
        account = await self._call(self._control.account)
        await self._reply(update, context, status_html(status, account))

    async def _positions(self, update: Update, context: Context) -> None:
        positions = await self._call(self._control.positions)
        await self._reply(update, context, positions_html(positions))

    async def _orders(self, update: Update, context: Context) -> None:
        orders = await self._call(self._control.orders, True)
        await self._reply(update, context, orders_html(orders))

    async def _risk(self, update: Update, context: Context) -> None:
        await self._reply(update, context, risk_html(await self._call(self._control.risk)))

    async def _pnl(self, update: Update, context: Context) -> None:
        period = context.args[0] if context.args else "day"
        await self._reply(update, context, pnl_html(await self._call(self._control.pnl, period)))

    async def _daily(self, update: Update, context: Context) -> None:
        if self._control.running:  # the facts read on the node's loop, the chart in a thread
            alert = await daily_summary_async(self._control, timezone=self._summary_timezone)
        else:
            alert = await asyncio.to_thread(daily_summary, self._control,
                                            timezone=self._summary_timezone)
        await deliver(context.bot, _chat_id(update), alert)

    async def _chart(self, update: Update, context: Context) -> None:
        from telegram.constants import ParseMode

        from tradeloop.analytics.charts import candle_chart

        args = context.args or []
        if not args:
            await self._reply(update, context,
                              "Usage: /chart SYMBOL [TIMEFRAME], e.g. /chart EURUSD 1h")
            return
        symbol = args[0]
        timeframe = args[1] if len(args) > 1 else self._chart_timeframe
        market = await self._call(self._control.bars, symbol, timeframe, CHART_BARS)
        if not market.bars:
            await self._reply(update, context, f"No {esc(timeframe)} bars of {esc(symbol)} yet.")
            return
        series = bar_series(market)
        title = f"{market.symbol} {market.timeframe}"
        png = await asyncio.to_thread(candle_chart, series, title=title)
        last = market.bars[-1]
        caption = (f"<b>{esc(market.symbol)}</b> {esc(market.timeframe)} \u00b7 "
                   f"{len(market.bars)} bars \u00b7 last close {last.close:g}")
        await context.bot.send_photo(_chat_id(update), png, caption=caption,
                                     parse_mode=ParseMode.HTML)

    async def _pause(self, update: Update, context: Context) -> None:
        by = _by(update)
        reason = " ".join(context.args or []) or "paused from Telegram"
        risk = await self._call(self._control.pause, by, reason)
        logger.warning("trading paused from Telegram", extra={"fields": {"by": by}})
        await self._reply(update, context, f"Paused: new entries are refused.\nState: <b>"
                                  f"{esc(risk.state)}</b>")

    async def _kill(self, update: Update, context: Context) -> None:
        reason = " ".join(context.args or [])
        await self._ask(update, context, "kill", reason,
                        "Engage the <b>kill switch</b>? Trading halts and stays halted (across "
                        "restarts) until /resume." + (f"\nReason: {esc(reason)}" if reason
                                                      else ""))

    async def _flatten(self, update: Update, context: Context) -> None:
        symbol = context.args[0] if context.args else ""
        what = f"the <b>{esc(symbol)}</b> position" if symbol else "<b>all</b> positions"
        await self._ask(update, context, "flatten", symbol, f"Close {what} with market orders?")

    async def _resume(self, update: Update, context: Context) -> None:
        reason = " ".join(context.args or [])
        engaged = (await self._call(self._control.status)).kill_engaged
        question = ("Re-arm the <b>kill switch</b> and resume trading?" if engaged
                    else "Resume trading (lift the pause)?")
        await self._ask(update, context, "resume", reason, question)

    # -- confirmations ------------------------------------------------------------------------

    async def _ask(self, update: Update, context: Context, action: str, argument: str,
                   question: str) -> None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        now = self._clock()
        self._pending = {k: p for k, p in self._pending.items() if p.expires_at > now}
        nonce = secrets.token_urlsafe(12)
        user = update.effective_user
        assert user is not None
        self._pending[nonce] = _Pending(action, argument, user.id, _chat_id(update),
                                        now + self._confirm_timeout_s)
        keyboard = InlineKeyboardMarkup([[
            InlineKeyboardButton("Confirm", callback_data=f"confirm:{nonce}"),
            InlineKeyboardButton("Cancel", callback_data=f"cancel:{nonce}"),
        ]])
        await self._reply(update, context, f"{question}\n<i>Confirm within "
                                  f"{self._confirm_timeout_s:g} s.</i>", keyboard)

    async def _on_button(self, update: Update, context: Context) -> None:
        from telegram.constants import ParseMode

        query = update.callback_query
        if query is None:
            return
        verb, _, nonce = (query.data or "").partition(":")
        pending = self._pending.get(nonce)
        chat = update.effective_chat
        if (pending is None or self._clock() >= pending.expires_at or chat is None
                or chat.id != pending.chat_id or verb not in ("confirm", "cancel")):
            self._pending.pop(nonce, None)
            await query.answer("expired")
            return
        if query.from_user.id != pending.user_id:
            logger.warning("telegram: user %s pressed %s of /%s asked by user %s: refused",
                           query.from_user.id, verb, pending.action, pending.user_id)
            await query.answer("Only the user who asked can answer this.")
            return
        del self._pending[nonce]  # once only: a replayed button finds nothing
        if verb == "cancel":
            await query.answer("cancelled")
            await query.edit_message_text(f"Cancelled: /{esc(pending.action)}",
                                          parse_mode=ParseMode.HTML)
            return
        await query.answer("confirmed")
        by = f"telegram:{query.from_user.id}"
        try:
            outcome = await self._carry_out(pending, by)
        except TradeloopError as exc:
            outcome = f"/{pending.action} failed: {redact_text(str(exc))}"
        await query.edit_message_text(outcome_html(outcome, by), parse_mode=ParseMode.HTML)

    async def _carry_out(self, pending: _Pending, by: str) -> str:
        control = self._control
        if pending.action == "kill":
            reason = pending.argument or "kill switch from Telegram"
            risk = await self._call(control.kill, by, reason)
            logger.warning("kill switch engaged from Telegram", extra={"fields": {"by": by}})
            return f"Kill switch engaged. Trading state: {risk.state}."
        if pending.action == "flatten":
            orders = await self._call(control.flatten, pending.argument or None, by)
            what = pending.argument or "all positions"
            logger.warning("flatten from Telegram", extra={"fields": {"by": by,
                                                                      "symbol": what}})
            return (f"Flatten {what}: {len(orders)} order(s) sent." if orders
                    else f"Flatten {what}: no open position to close.")
        reason = pending.argument or "resumed from Telegram"
        done = []
        if (await self._call(control.status)).kill_engaged:
            await self._call(control.rearm, by, reason)
            done.append("kill switch re-armed")
        if control.running:
            await self._call(control.resume, by, reason)
            done.append("pause lifted")
        state = (await self._call(control.risk)).state
        logger.warning("trading resumed from Telegram", extra={"fields": {"by": by}})
        return f"Resumed ({', '.join(done) or 'nothing was holding it'}). Trading state: {state}."

    # -- helpers ------------------------------------------------------------------------------

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        # a node in this process is driven from its event loop; without one (the API over a
        # stored database), database reads and flatten requests go to a thread
        if self._control.running:
            return function(*args)
        return await asyncio.to_thread(function, *args)

    async def _reply(self, update: Update, context: Context, text: str,
                     markup: Any = None) -> None:
        from telegram.constants import ParseMode

        await context.bot.send_message(_chat_id(update), text, parse_mode=ParseMode.HTML,
                                       reply_markup=markup)


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    assert chat is not None  # checked by _authorize
    return chat.id


def _by(update: Update) -> str:
    user = update.effective_user
    return f"telegram:{user.id if user else '?'}"


def _what(update: Update) -> str:
    if update.callback_query is not None:
        return f"button {(update.callback_query.data or '').partition(':')[0]}"
    message = update.effective_message
    text = (message.text or "") if message is not None else ""
    word = text.split(maxsplit=1)[0] if text.strip() else "(no text)"
    return word[:64]


async def _close(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    try:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await app.bot.shutdown()  # when initialize failed half-way, shutdown skipped the bot
    except Exception as exc:
        logger.warning("telegram commands: stopping: %s: %s", type(exc).__name__,
                       redact_text(str(exc)))
