"""The Telegram channel: alerts as HTML messages, with the chart as a photo, to several chats.

python-telegram-bot (the ``telegram`` extra) does the talking. Every URL of the Bot API holds
the bot token, and the library and httpx put those URLs in their log lines and error messages;
so the token is registered as a secret (:func:`tradeloop.core.logging.register_secret`, which
the tradeloop log handlers mask), a logging filter masks it in the records of the
``telegram``, ``httpx``, ``httpcore`` and ``asyncio`` loggers and ours whatever handler writes
them, and every error raised here is rebuilt from a masked message without the library's
exception chained to it.
"""

from __future__ import annotations

import asyncio
import html
import importlib
import logging
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from tradeloop.core.errors import ConfigError
from tradeloop.core.logging import mask_secrets_in, redact_text, register_secret
from tradeloop.notify.base import Alert, NotifyError, RetryLater

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import BaseRequest

logger = logging.getLogger(__name__)

MISSING_EXTRA = "Telegram needs the telegram extra: pip install 'tradeloop[telegram]'"
CAPTION_LIMIT = 1024
"""The most characters Telegram takes in a photo caption."""
MESSAGE_LIMIT = 4096
"""The most characters Telegram takes in a message."""

_LOGGER_PREFIXES = ("telegram", "httpx", "httpcore", "asyncio", "tradeloop.notify")
_DELIVERY_MEMORY = 256


# -- keeping the token out of logs and errors ------------------------------------------------



def protect_token(token: str) -> None:
    """Keep ``token`` out of every log line of python-telegram-bot, httpx and this package,
    and out of the lines the tradeloop log handlers write.

    Call it before the token is first used (python-telegram-bot logs its URL at DEBUG level
    when a ``Bot`` is made)."""
    _import_telegram()
    register_secret(token)
    register_secret(token.replace(":", "%3A"))
    _, _, secret = token.partition(":")
    if len(secret) >= 8:  # the part after the bot id is the secret one
        register_secret(secret)
    mask_secrets_in(*_LOGGER_PREFIXES)  # every logger that may carry a Bot API URL


# -- HTML --------------------------------------------------------------------------------------

def alert_lines(alert: Alert) -> list[tuple[str, bool]]:
    """The alert's lines as plain text, each with whether it is bold: the title, the text's
    lines, then one ``name: value`` line per field."""
    lines = [(alert.title, True)]
    lines.extend((line, False) for line in alert.text.splitlines())
    lines.extend((f"{name}: {value}", False) for name, value in alert.fields.items())
    return lines


def html_chunks(lines: Iterable[tuple[str, bool]], first_limit: int = MESSAGE_LIMIT,
                limit: int = MESSAGE_LIMIT) -> list[str]:
    """Escape ``lines`` (bold ones in ``<b>``) and pack them, newline-joined, into HTML texts
    of at most ``first_limit`` characters for the first and ``limit`` for the others; a line
    too long for one text is cut between characters, never inside an entity or a tag."""
    pieces: list[str] = []
    for text, bold in lines:
        pieces.extend(_escaped_pieces(text, bold, min(first_limit, limit)))
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        cap = first_limit if not chunks else limit
        extra = len(piece) + (1 if current else 0)
        if current and size + extra > cap:
            chunks.append("\n".join(current))
            current, size = [], 0
            extra = len(piece)
        current.append(piece)
        size += extra
    if current:
        chunks.append("\n".join(current))
    return [c for c in chunks if c.strip()] or ["\u2014"]


def alert_html(alert: Alert) -> list[str]:
    """The alert as Telegram HTML: one caption of at most 1024 characters followed by
    messages of at most 4096 when it has an image, else messages of at most 4096."""
    first = CAPTION_LIMIT if alert.image is not None else MESSAGE_LIMIT
    return html_chunks(alert_lines(alert), first, MESSAGE_LIMIT)


def _escaped_pieces(text: str, bold: bool, limit: int) -> list[str]:
    wrap = ("<b>", "</b>") if bold and text.strip() else ("", "")
    room = limit - len(wrap[0]) - len(wrap[1])
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        escaped = html.escape(char)
        if size + len(escaped) > room:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(escaped)
        size += len(escaped)
    pieces.append("".join(current))
    return [f"{wrap[0]}{p}{wrap[1]}" if p else p for p in pieces]


# -- errors --------------------------------------------------------------------------------------

def notify_error(exc: BaseException, where: str) -> NotifyError:
    """The error to raise for a python-telegram-bot failure, its message masked:
    :class:`RetryLater` for flood control (with its delay), a network failure or a timeout,
    :class:`NotifyError` for a refused token, chat or message."""
    from telegram import error as tg

    detail = redact_text(str(exc)) or type(exc).__name__
    if isinstance(exc, tg.RetryAfter):
        after = _retry_after_s(exc)
        return RetryLater(f"{where}: Telegram flood control, retry in {after:g} s", after)
    if isinstance(exc, tg.InvalidToken):
        return NotifyError(f"{where}: Telegram rejected the bot token (check the environment "
                           "variable that holds it)")
    if isinstance(exc, tg.Forbidden):
        return NotifyError(f"{where}: Telegram refused: {detail} (is the bot in the chat, "
                           "and not blocked?)")
    if isinstance(exc, tg.ChatMigrated):
        return NotifyError(f"{where}: the chat became a supergroup with id "
                           f"{exc.new_chat_id}: put that id in chat_ids")
    if isinstance(exc, tg.BadRequest):
        return NotifyError(f"{where}: Telegram refused the request: {detail}")
    if isinstance(exc, tg.NetworkError):  # TimedOut too
        return RetryLater(f"{where}: Telegram unreachable: {detail}")
    return NotifyError(f"{where}: Telegram error: {detail}")


def _retry_after_s(exc: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the int-to-timedelta migration warning
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


# -- the channel -------------------------------------------------------------------------------

class TelegramNotifier:
    """Alerts to Telegram chats, formatted in HTML; with a chart (``alert.image``) as a photo
    whose caption is the message (what does not fit Telegram's 1024 characters follows in a
    message).

    A failed send raises; :class:`~tradeloop.notify.base.RetryLater` when a retry may work.
    Chats (and parts of a message) already delivered are remembered, so retrying the same
    alert does not send them twice.

    Parameters
    ----------
    name : str
        The channel's name (for routing and in errors).
    token : SecretStr
        The bot token, from the environment.
    chat_ids : list of int
        The chats (users, groups) every alert goes to.
    base_url : str, optional
        The Bot API's URL up to the token (default ``https://api.telegram.org/bot``); the
        file URL is derived from it.
    request : telegram.request.BaseRequest, optional
        The HTTP transport python-telegram-bot uses (timeouts, proxy).

    Raises
    ------
    ConfigError
        With no chat ids or an empty token, or without the telegram extra.
    """

    def __init__(self, name: str, token: SecretStr, chat_ids: list[int], *,
                 base_url: str | None = None, request: BaseRequest | None = None) -> None:
        secret = token.get_secret_value().strip()
        if not secret:
            raise ConfigError(f"telegram channel {name!r}: the bot token is empty")
        if not chat_ids:
            raise ConfigError(f"telegram channel {name!r}: give at least one chat id")
        protect_token(secret)
        self.name = name
        self.chat_ids = [int(c) for c in chat_ids]
        self._bot = make_bot(secret, base_url, request)
        self._ready = False
        self._lock = asyncio.Lock()
        self._delivered: OrderedDict[tuple[str, int], dict[int, set[int]]] = OrderedDict()

    async def send(self, alert: Alert) -> None:
        """Send ``alert`` to every chat.

        Raises
        ------
        RetryLater
            On flood control (``after_s`` is Telegram's retry-after), a timeout or a network
            failure.
        NotifyError
            When the token or the message is refused, or a chat refused it (after the
            alert went to the other chats).
        """
        from telegram.error import TelegramError

        chunks = alert_html(alert)
        key = (alert.key, alert.created_ns)
        done = self._delivered.setdefault(key, {})
        self._delivered.move_to_end(key)
        while len(self._delivered) > _DELIVERY_MEMORY:
            self._delivered.popitem(last=False)
        where = f"telegram channel {self.name!r}"
        try:
            await self._initialize()
        except TelegramError as exc:
            raise notify_error(exc, where) from None
        refused: list[NotifyError] = []
        for chat_id in self.chat_ids:
            sent = done.setdefault(chat_id, set())
            try:
                await deliver(self._bot, chat_id, alert, chunks, sent)
            except TelegramError as exc:
                error = notify_error(exc, f"{where}, chat {chat_id}")
                if isinstance(error, RetryLater):
                    raise error from None
                # this chat will not take it: the other chats still get the alert
                logger.warning("%s", error)
                refused.append(error)
                sent.update(range(len(chunks)))
        self._delivered.pop(key, None)
        if refused:
            more = f" (and {len(refused) - 1} more chat(s))" if len(refused) > 1 else ""
            raise NotifyError(f"{refused[0]}{more}")
        logger.debug("telegram channel %r: %s sent to %d chat(s)", self.name, alert.kind,
                     len(self.chat_ids))

    async def close(self) -> None:
        """Close the HTTP connections."""
        from telegram.error import TelegramError

        try:
            await self._bot.shutdown()
        except (TelegramError, OSError) as exc:
            logger.debug("telegram channel %r: closing: %s", self.name, redact_text(str(exc)))
        self._ready = False

    async def _initialize(self) -> None:
        async with self._lock:
            if not self._ready:
                await self._bot.initialize()
                self._ready = True


async def deliver(bot: Bot, chat_id: int, alert: Alert, chunks: Sequence[str] | None = None,
                  sent: set[int] | None = None) -> None:
    """Send ``alert`` to one chat: its chart with the first HTML chunk as the caption (or the
    first chunk as a message without a chart), then the other chunks as messages.

    Parameters
    ----------
    bot : telegram.Bot
    chat_id : int
    alert : Alert
    chunks : sequence of str, optional
        :func:`alert_html` of the alert, when already made.
    sent : set of int, optional
        Indexes of chunks already delivered (skipped); each chunk delivered is added.

    Raises
    ------
    telegram.error.TelegramError
        As python-telegram-bot raises it (see :func:`notify_error`).
    """
    from telegram.constants import ParseMode

    parts = list(chunks) if chunks is not None else alert_html(alert)
    done = sent if sent is not None else set()
    for index, chunk in enumerate(parts):
        if index in done:
            continue
        if index == 0 and alert.image is not None:
            await bot.send_photo(chat_id, alert.image, caption=chunk, parse_mode=ParseMode.HTML)
        else:
            await bot.send_message(chat_id, chunk, parse_mode=ParseMode.HTML)
        done.add(index)


def make_bot(token: str, base_url: str | None = None,
             request: BaseRequest | None = None) -> Bot:
    """A python-telegram-bot ``Bot`` on ``base_url`` (default Telegram's), the token protected
    first."""
    protect_token(token)
    from telegram import Bot

    options: dict[str, Any] = {}
    if base_url:
        options["base_url"] = base_url
        options["base_file_url"] = file_url(base_url)
    if request is not None:
        options["request"] = request
    return Bot(token, **options)


def file_url(base_url: str) -> str:
    """The file download URL that goes with a Bot API ``base_url``."""
    stem = base_url.rstrip("/")
    if stem.endswith("/bot"):
        return stem[: -len("/bot")] + "/file/bot"
    return stem + "/file/bot"


def _import_telegram() -> None:
    try:
        # telegram.ext's loggers must exist before the mask is attached to them
        importlib.import_module("telegram")
        importlib.import_module("telegram.ext")
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None

