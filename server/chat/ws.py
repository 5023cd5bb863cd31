"""The /ws/chat socket loop: read frames, run one turn at a time, let `stop` and disconnects end it.

Every frame is answered and the socket stays open for bad input (docs/protocol.md): a frame is counted
against the rate limits, screened for size and nesting before it is parsed, then validated; whatever
fails on the server while a frame is handled is answered `internal`, logged by type only."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from urllib.parse import urlsplit

from anyio import to_thread
from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from server.chat.protocol import (
    CLIENT_TYPES,
    SendMessage,
    StartNew,
    StartResume,
    Stop,
    client_frame_adapter,
    error_frame,
    screen,
)
from server.chat.service import ChatError, ChatInfoLoader, ChatService, ChildInfo, Started
from server.chat.socket_guard import SocketGuard
from server.deps import CHILD_COOKIE

log = logging.getLogger("kidchat.ws")
router = APIRouter()


POLICY_VIOLATION = 1008  # RFC 6455: the close code for a socket without a valid child session
TRY_AGAIN_LATER = 1013  # IANA's registry: the child or the address has too many sockets open


class Unauthenticated(Exception):
    """The child's session is gone (signed out, link renewed, profile deleted): the socket closes."""


class Connection:
    def __init__(
        self,
        ws: WebSocket,
        service: ChatService,
        child: ChildInfo,
        token: str,
        loader: ChatInfoLoader,
        guard: SocketGuard,
        address: str,
    ) -> None:
        self.ws = ws
        self.service = service
        self.child = child
        self._token = token
        self._loader = loader
        self._guard = guard
        self._address = address
        self.started: Started | None = None
        self.turn: asyncio.Task[None] | None = None
        self.turn_stop = threading.Event()
        self.closed = False
        self._send_lock = asyncio.Lock()
        self.lang = _accept_language(ws.headers.get("accept-language", ""))

    async def send(self, frame: dict) -> None:
        """Send, or note the socket is gone and stop the running turn (a dropped socket ends the reply)."""
        if self.closed:
            return
        async with self._send_lock:
            try:
                await self.ws.send_text(json.dumps(frame, ensure_ascii=False))
            except Exception:  # noqa: BLE001 - any send failure means the child is gone
                self._gone()

    def _gone(self) -> None:
        self.closed = True
        self.turn_stop.set()

    async def error(self, code: str) -> None:
        await self.send(error_frame(code, self.started.language if self.started else self.lang))

    async def run(self) -> None:
        try:
            while True:
                event = await self.ws.receive()
                if event["type"] == "websocket.disconnect":
                    break
                if not self._guard.frame(self.child.id, self._address):
                    await self.error("rate_limited")
                    continue
                text = event.get("text")
                if text is None:
                    await self.error("bad_frame")
                    continue
                try:
                    await self.handle(text)
                except Unauthenticated:
                    raise
                except Exception as exc:  # noqa: BLE001 - logged by type only; the socket stays usable
                    log.error("a chat frame failed (%s)", type(exc).__name__)
                    await self.error("internal")
        finally:
            self._gone()
            if self.turn is not None:
                await asyncio.shield(self.turn)  # the turn stores its partial reply before we leave

    async def handle(self, raw: str) -> None:
        refused = screen(raw, self._guard.max_frame_bytes)  # before parsing: json.loads recurses
        if refused is not None:
            await self.error(refused)
            return
        try:
            data = json.loads(raw)
        except ValueError:
            await self.error("bad_json")
            return
        if not isinstance(data, dict):
            await self.error("bad_frame")
            return
        if data.get("type") not in CLIENT_TYPES:
            await self.error("unknown_type")
            return
        try:
            frame = client_frame_adapter.validate_python(data)
        except ValidationError:
            await self.error("bad_frame")
            return

        if isinstance(frame, Stop):
            self.turn_stop.set()
            return
        if self.turn is not None and not self.turn.done():
            await self.error("busy")
            return
        # The session is checked again on every start and message: a parent's "sign out" or a deleted
        # profile takes effect at once, not at the next reconnect. Settings changes are picked up too.
        child = await to_thread.run_sync(self._loader, self._token)
        if child is None:
            raise Unauthenticated()
        self.child = child
        try:
            if isinstance(frame, StartNew):
                if not self._guard.new_conversation(child.id, self._address):
                    raise ChatError("rate_limited")
                await self._ready(await self.service.start_new(frame.persona, child))
            elif isinstance(frame, StartResume):
                await self._ready(await self.service.resume(frame.conversation, child))
            elif isinstance(frame, SendMessage):
                if self.started is None:
                    raise ChatError("not_started")
                text = self.service.validate(frame.text)
                self.turn_stop = threading.Event()
                self.turn = asyncio.create_task(self._turn(self.started.conversation_id, text, self.turn_stop, child))
        except ChatError as exc:
            await self.error(exc.code)

    async def _ready(self, started: Started) -> None:
        self.started = started
        await self.send(
            {
                "type": "ready",
                "conversation": started.conversation_id,
                "persona": started.persona.id,
                "language": started.language,
                "history": started.history,
            }
        )

    async def _turn(self, conversation_id: str, text: str, stop: threading.Event, child: ChildInfo) -> None:
        try:
            outcome = await self.service.run_turn(conversation_id, text, self.send, stop, child)
        except ChatError as exc:
            await self.error(exc.code)
            return
        except Exception as exc:  # noqa: BLE001 - logged by type only; children see fixed words
            # Logged by type only: an exception message could quote the child's words.
            log.error("turn failed in conversation %s (%s)", conversation_id, type(exc).__name__)
            await self.error("internal")
            return
        await self.send({"type": "done", "message": outcome.message_id, "status": outcome.status})


def _accept_language(header: str) -> str:
    return "ko" if header.lower().lstrip().startswith("ko") else "en"


def _same_origin(ws: WebSocket) -> bool:
    """Browsers send Origin on a websocket handshake; a page on another site must not use the child's
    cookie (cross-site websocket hijacking). Non-browser clients send none."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower()


@router.websocket("/ws/chat")
async def chat_socket(ws: WebSocket) -> None:
    loader: ChatInfoLoader = ws.app.state.child_loader
    guard: SocketGuard = ws.app.state.socket_guard
    token = ws.cookies.get(CHILD_COOKIE, "")
    child = await to_thread.run_sync(loader, token) if token and _same_origin(ws) else None
    await ws.accept()
    if child is None:
        await ws.close(code=POLICY_VIOLATION, reason="unauthenticated")
        return
    address = ws.client.host if ws.client else "unknown"
    if not guard.open_socket(child.id, address):
        await ws.close(code=TRY_AGAIN_LATER, reason="too_many_sockets")
        return
    conn = Connection(ws, ws.app.state.chat, child, token, loader, guard, address)
    try:
        await conn.run()
    except Unauthenticated:  # run() has already stopped and awaited the turn
        if ws.client_state == WebSocketState.CONNECTED:
            await ws.close(code=POLICY_VIOLATION, reason="unauthenticated")
        return
    finally:
        guard.close_socket(child.id, address)
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        await ws.close()
