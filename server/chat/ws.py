"""The /ws/chat socket loop: read frames, run one turn at a time, let `stop` and disconnects end it."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

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
)
from server.chat.service import ChatError, ChatService, Started

log = logging.getLogger("kidchat.ws")
router = APIRouter()


class Connection:
    def __init__(self, ws: WebSocket, service: ChatService) -> None:
        self.ws = ws
        self.service = service
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
                text = event.get("text")
                if text is None:
                    await self.error("bad_frame")
                    continue
                await self.handle(text)
        finally:
            self._gone()
            if self.turn is not None:
                await asyncio.shield(self.turn)  # the turn stores its partial reply before we leave

    async def handle(self, raw: str) -> None:
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
        try:
            if isinstance(frame, StartNew):
                await self._ready(await self.service.start_new(frame.persona))
            elif isinstance(frame, StartResume):
                await self._ready(await self.service.resume(frame.conversation))
            elif isinstance(frame, SendMessage):
                if self.started is None:
                    raise ChatError("not_started")
                text = self.service.validate(frame.text)
                self.turn_stop = threading.Event()
                self.turn = asyncio.create_task(self._turn(self.started.conversation_id, text, self.turn_stop))
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

    async def _turn(self, conversation_id: str, text: str, stop: threading.Event) -> None:
        try:
            outcome = await self.service.run_turn(conversation_id, text, self.send, stop)
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


@router.websocket("/ws/chat")
async def chat_socket(ws: WebSocket) -> None:
    await ws.accept()
    conn = Connection(ws, ws.app.state.chat)
    await conn.run()
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        await ws.close()
