"""A live kidchat (uvicorn on a free port, scripted engine, the real safety stage, SQLite) and Debian's
chromium driven by Playwright. Skipped when /usr/bin/chromium is missing (`make test-setup` installs it)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from server.config import Settings

CHROMIUM = Path(os.environ.get("KIDCHAT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    url: str
    app: FastAPI


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    import uvicorn

    from server.app import create_app
    from server.db.migrate import upgrade_head
    from server.llm.fake import ScriptedEngine
    from server.safety import build_checker

    data = tmp_path_factory.mktemp("live")
    port = _free_port()
    settings = Settings(
        data_dir=data, database_url=f"sqlite:///{data / 'kidchat.db'}", host="127.0.0.1", port=port,
        alert_poll_seconds=2, purge_interval_minutes=0,
    )
    upgrade_head(settings.resolved_database_url)
    app = create_app(settings, engine=ScriptedEngine(delay=0.01), safety=build_checker())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-kidchat", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (make test-setup installs chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
