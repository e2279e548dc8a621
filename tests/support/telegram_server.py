"""A fake Telegram Bot API server for tests: python-telegram-bot talks to it over real HTTP on
127.0.0.1 (``base_url=server.base_url``), and tests read what was sent and feed updates in.

It answers ``GET|POST /bot<token>/<method>`` for the methods the library uses (getMe,
getUpdates, sendMessage, sendPhoto, answerCallbackQuery, editMessageText, deleteWebhook,
setMyCommands, getMyCommands and a few more) in the Bot API's shape, records every call, can
answer the next calls with 429 (flood control) and those to a "blocked" chat with 403, and can
be stopped and restarted on the same port to play an outage. An unknown token gets 401, an
unknown method 404, as from Telegram.

Updates queued with :meth:`FakeTelegram.enqueue_message` and
:meth:`FakeTelegram.enqueue_callback` are handed out by getUpdates (which honours ``offset``
and waits at most half a second when there is nothing to hand out).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support.local_server import LocalServer, LocalService

TOKEN = "123456789:AAHfakeTOKENforTESTSonly-0123456789xyz"
"""The token the server knows unless told otherwise."""

MAX_POLL_WAIT_S = 0.5
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Call:
    """One request the server received.

    Attributes
    ----------
    method : str
        As the client spelled it (``"sendMessage"``).
    params : dict of str to str
        The parameters as sent: strings raw, other values JSON-encoded (see :meth:`value`).
    files : dict of str to bytes
        Uploaded files by their part name (``"photo"``).
    token : str
    status : int
        The HTTP status answered.
    """

    method: str
    params: dict[str, str]
    files: dict[str, bytes]
    token: str
    status: int

    def value(self, name: str) -> Any:
        """The parameter ``name`` decoded from JSON when it is JSON, else the raw text."""
        raw = self.params[name]
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def file(self, name: str) -> bytes:
        """The uploaded bytes of parameter ``name`` (directly or through ``attach://``)."""
        if name in self.files:
            return self.files[name]
        raw = self.params.get(name, "")
        if raw.startswith("attach://"):
            return self.files[raw.removeprefix("attach://")]
        raise KeyError(name)


@dataclass
class _Failures:
    remaining: int = 0
    retry_after: int = 1
    methods: frozenset[str] | None = None


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: _Failures = field(default_factory=_Failures)
    commands: list[dict[str, Any]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    next_update: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    next_message: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    next_callback: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class FakeTelegram(LocalService):
    """The fake Bot API server; start it with ``with FakeTelegram() as server:``.

    Parameters
    ----------
    token : str
        The bot token it accepts (others get 401).
    username : str
        The bot's username (getMe).
    """

    def __init__(self, token: str = TOKEN, username: str = "tradeloop_test_bot") -> None:
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": int(token.split(":", 1)[0]), "is_bot": True, "first_name": "tradeloop",
            "username": username, "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False,
        }
        self._state = _State()
        self._app = Starlette(routes=[
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._no_file, methods=["GET"]),
        ])
        self._http = LocalServer(self._app, "the fake Telegram server")

    # -- running ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as ``base_url``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """What python-telegram-bot takes as ``base_file_url``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what tests do ----------------------------------------------------------------------

    def enqueue_message(self, chat_id: int, user_id: int, text: str, *,
                        first_name: str = "Tester") -> int:
        """Queue a message from ``user_id`` in ``chat_id`` (a command when it starts with
        ``/``); its update id."""
        entities = []
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0,
                             "length": len(text.split(maxsplit=1)[0])})
        with self._state.lock:
            message = {"message_id": next(self._state.next_message), "date": int(time.time()),
                       "chat": _chat(chat_id), "text": text,
                       "from": {"id": user_id, "is_bot": False, "first_name": first_name}}
            if entities:
                message["entities"] = entities
            return self._queue({"message": message})

    def enqueue_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> int:
        """Queue a press on an inline button with callback ``data``, on the bot's message
        ``message_id`` in ``chat_id``; its update id."""
        with self._state.lock:
            query = {
                "id": str(next(self._state.next_callback)), "chat_instance": f"ci{chat_id}",
                "data": data, "from": {"id": user_id, "is_bot": False, "first_name": "Tester"},
                "message": {"message_id": message_id, "date": int(time.time()),
                            "chat": _chat(chat_id), "from": self.bot_user, "text": "..."},
            }
            return self._queue({"callback_query": query})

    def fail_next(self, count: int, *, retry_after: int = 1,
                  methods: tuple[str, ...] | None = None) -> None:
        """Answer the next ``count`` calls (of ``methods`` only, when given) with 429 and
        ``retry_after``."""
        with self._state.lock:
            self._state.failures = _Failures(
                count, retry_after,
                frozenset(m.lower() for m in methods) if methods is not None else None)

    def block_chat(self, chat_id: int) -> None:
        """Answer every call to ``chat_id`` with 403, as for a user who blocked the bot."""
        with self._state.lock:
            self._state.blocked.add(chat_id)

    @property
    def calls(self) -> list[Call]:
        """Every call so far, oldest first."""
        with self._state.lock:
            return list(self._state.calls)

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[Call]:
        """The calls of one method (by default only those answered 200)."""
        wanted = method.lower()
        return [c for c in self.calls if c.method.lower() == wanted
                and (c.status == 200 or not ok_only)]

    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        with self._state.lock:
            return len(self._state.updates)

    async def wait_for(self, method: str, predicate: Callable[[Call], bool] | None = None, *,
                       count: int = 1, timeout: float = 15.0) -> list[Call]:
        """Wait (without blocking the event loop) until ``count`` successful calls of
        ``method`` match ``predicate``; those calls.

        Raises
        ------
        TimeoutError
            When they do not come within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_to(method) if predicate is None or predicate(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} {method} call(s) expected, got {len(found)}")
            await asyncio.sleep(0.01)

    async def wait_until_consumed(self, timeout: float = 15.0) -> None:
        """Wait until the client has confirmed every queued update."""
        deadline = time.monotonic() + timeout
        while self.pending_updates():
            if time.monotonic() > deadline:
                raise TimeoutError("queued updates were not fetched")
            await asyncio.sleep(0.01)

    # -- serving ----------------------------------------------------------------------------

    def _queue(self, update: dict[str, Any]) -> int:
        update_id = next(self._state.next_update)
        self._state.updates.append({"update_id": update_id, **update})
        return update_id

    async def _no_file(self, request: Request) -> JSONResponse:
        return _error(404, "Not Found")

    async def _endpoint(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        params, files = _parse(request.headers.get("content-type", ""), await request.body())
        params = {**dict(request.query_params), **params}
        status, payload = await self._answer(token, method, params, files)
        with self._state.lock:
            self._state.calls.append(Call(method, params, files, token, status))
        return JSONResponse(payload, status_code=status)

    async def _answer(self, token: str, method: str, params: dict[str, str],
                      files: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        name = method.lower()
        with self._state.lock:
            failures = self._state.failures
            if failures.remaining > 0 and (failures.methods is None or name in failures.methods):
                failures.remaining -= 1
                return 429, {"ok": False, "error_code": 429,
                             "description": "Too Many Requests: retry after "
                                            f"{failures.retry_after}",
                             "parameters": {"retry_after": failures.retry_after}}
            chat = params.get("chat_id", "")
            if chat.lstrip("-").isdigit() and int(chat) in self._state.blocked:
                return 403, {"ok": False, "error_code": 403,
                             "description": "Forbidden: bot was blocked by the user"}
        if name == "getupdates":
            return 200, {"ok": True, "result": await self._updates(params)}
        handler = _METHODS.get(name)
        if handler is None:
            return _not_found()
        try:
            with self._state.lock:
                result = handler(self, params, files)
        except KeyError as missing:
            return 400, {"ok": False, "error_code": 400,
                         "description": f"Bad Request: parameter {missing} is required"}
        return 200, {"ok": True, "result": result}

    async def _updates(self, params: dict[str, str]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), MAX_POLL_WAIT_S)
        deadline = time.monotonic() + wait
        while True:
            with self._state.lock:
                if offset:
                    self._state.updates = [u for u in self._state.updates
                                           if u["update_id"] >= offset]
                found = list(self._state.updates[:int(params.get("limit") or 100)])
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(0.01)

    def _message(self, params: dict[str, str], **content: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._state.next_message), "date": int(time.time()),
            "chat": _chat(int(params["chat_id"])), "from": self.bot_user, **content}
        if "reply_markup" in params:
            message["reply_markup"] = json.loads(params["reply_markup"])
        return message

    def _get_me(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return self.bot_user

    def _send_message(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return self._message(params, text=_visible(params["text"], params))

    def _send_photo(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        photo = files.get("photo")
        if photo is None:
            ref = params["photo"]
            photo = files[ref.removeprefix("attach://")] if ref.startswith("attach://") else b""
        size = {"file_id": f"photo{len(photo)}", "file_unique_id": f"u{len(photo)}",
                "width": 1200, "height": 700, "file_size": len(photo)}
        content: dict[str, Any] = {"photo": [size]}
        if "caption" in params:
            content["caption"] = _visible(params["caption"], params)
        return self._message(params, **content)

    def _edit_message_text(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        message = self._message(params, text=_visible(params["text"], params),
                                edit_date=int(time.time()))
        message["message_id"] = int(params["message_id"])
        return message

    def _true(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return True

    def _delete_webhook(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        if params.get("drop_pending_updates") == "true":
            self._state.updates.clear()
        return True

    def _webhook_info(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return {"url": "", "has_custom_certificate": False,
                "pending_update_count": len(self._state.updates)}

    def _set_my_commands(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        self._state.commands = json.loads(params["commands"])
        return True

    def _get_my_commands(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return list(self._state.commands)


_METHODS: dict[str, Callable[[FakeTelegram, dict[str, str], dict[str, bytes]], Any]] = {
    "getme": FakeTelegram._get_me,
    "sendmessage": FakeTelegram._send_message,
    "sendphoto": FakeTelegram._send_photo,
    "editmessagetext": FakeTelegram._edit_message_text,
    "answercallbackquery": FakeTelegram._true,
    "deletewebhook": FakeTelegram._delete_webhook,
    "getwebhookinfo": FakeTelegram._webhook_info,
    "setmycommands": FakeTelegram._set_my_commands,
    "getmycommands": FakeTelegram._get_my_commands,
    "deletemycommands": FakeTelegram._true,
    "sendchataction": FakeTelegram._true,
    "deletemessage": FakeTelegram._true,
    "editmessagereplymarkup": FakeTelegram._true,
    "logout": FakeTelegram._true,
    "close": FakeTelegram._true,
}


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Tester"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": "Trading desk"}


def _visible(text: str, params: dict[str, str]) -> str:
    # what Telegram shows of an HTML message: the text without its tags
    if params.get("parse_mode", "").upper() == "HTML":
        return html.unescape(_TAG.sub("", text))
    return text


def _parse(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        params: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            if part.get_filename() is not None:
                files[name] = data
            else:
                params[name] = data.decode("utf-8")
        return params, files
    if kind == "application/json":
        decoded = json.loads(body or b"{}")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}, {}
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), {}


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": status, "description": description},
                        status_code=status)


def _not_found() -> tuple[int, dict[str, Any]]:
    return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
