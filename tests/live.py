"""A real uvicorn server in a thread of the test process, with `kidchat serve`'s own uvicorn options (its
websocket transport limit above all), and a child's real websocket to it.

The chat socket's transport (uvicorn's websockets implementation, `ws_max_size`) is not in the
TestClient's path: tests of frame sizes and the websocket fuzzer go through this one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.sync.client import ClientConnection, connect

from server.cli import uvicorn_options
from server.config import Settings
from server.deps import CHILD_COOKIE
from tests.factories import Family, make_family


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    app: FastAPI
    base: str  # http://127.0.0.1:PORT

    def child(self, **kwargs: object) -> tuple[Family, str]:
        """A new family whose child link was opened over HTTP: the family and the child's session cookie."""
        family = make_family(self.app.state.sessions, **kwargs)
        with httpx.Client(base_url=self.base) as client:
            response = client.get(f"/c/{family.link_token}", follow_redirects=False)
            assert response.status_code == 303, response.text
            return family, client.cookies[CHILD_COOKIE]

    def socket(self, cookie: str, **kwargs: object) -> ClientConnection:
        """The child's /ws/chat, without compression (an attacker's frames arrive as sent)."""
        return connect(
            self.base.replace("http", "ws", 1) + "/ws/chat",
            additional_headers={"Cookie": f"{CHILD_COOKIE}={cookie}"},
            compression=None,
            max_size=None,
            open_timeout=10,
            **kwargs,
        )


@contextmanager
def serve(app: FastAPI, settings: Settings) -> Iterator[Live]:
    """Run `app` under uvicorn as `kidchat serve` would (logging left to pytest) until the block ends."""
    options = {**uvicorn_options(settings), "host": "127.0.0.1", "port": free_port(), "log_config": None}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, name="live-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Live(app, f"http://127.0.0.1:{options['port']}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
