"""Issue 13, accounts and secrets: child links open once, "sign out devices" spends an unused link, the
database files are private, the access log carries no query string or child-link token, logins are
throttled per address and source without locking the owner's known devices out, production insists on
TLS and a strong key and publishes no API docs."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.app import create_app
from server.config import Settings
from server.db.migrate import upgrade_head
from server.db.models import AuthSession
from server.db.session import transaction
from server.llm.fake import ScriptedEngine
from tests.factories import make_family
from tests.fakes import WordChecker
from tests.test_chat_ws import recv_until, start

STRONG_KEY = secrets.token_urlsafe(48)


def csrf_of(client: TestClient, path: str = "/login") -> str:
    return client.get(path).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def child_sessions(client: TestClient, child_id: str) -> int:
    with transaction(client.app.state.sessions) as s:
        return len(list(s.scalars(select(AuthSession).where(AuthSession.child_id == child_id))))


def login(client: TestClient, email: str, password: str) -> int:
    token = csrf_of(client)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    ).status_code


# -- finding 7: file modes ----------------------------------------------------------------------------
@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(old)


def test_database_files_key_and_data_dir_are_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "var"
    url = f"sqlite:///{data / 'kidchat.db'}"
    upgrade_head(url)  # the first migration creates the file
    settings = Settings(database_url=url, data_dir=data, purge_interval_minutes=0)
    app = create_app(settings, engine=ScriptedEngine(), safety=WordChecker())
    with TestClient(app) as client:
        family = make_family(app.state.sessions)
        client.get(f"/c/{family.link_token}")
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "hello"})
            recv_until(ws, "done")
        db = data / "kidchat.db"
        sidecars = [data / "kidchat.db-wal", data / "kidchat.db-shm"]
        assert all(p.exists() for p in sidecars)  # WAL mode, written to: both exist while the app runs
        assert {p.name: mode(p) for p in [db, *sidecars]} == {p.name: 0o600 for p in [db, *sidecars]}
    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600


def test_files_made_before_the_fix_are_tightened(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    db = data / "kidchat.db"
    url = f"sqlite:///{db}"
    db.touch(mode=0o644)
    (data / "kidchat.db-wal").touch(mode=0o644)
    (data / "secret_key").write_text("an old generated key that is long enough to use here\n")
    (data / "secret_key").chmod(0o644)
    upgrade_head(url)
    create_app(Settings(database_url=url, data_dir=data), engine=ScriptedEngine(), safety=WordChecker())
    assert (mode(db), mode(data / "kidchat.db-wal"), mode(data / "secret_key"), mode(data)) == (
        0o600, 0o600, 0o600, 0o700,
    )

