"""Factories for accounts and children (one module, like the FastAPI full-stack template's tests/utils).

Passwords are hashed once per run: argon2 is slow on purpose, and most tests only need the row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from server.auth.passwords import hash_password
from server.db import accounts, apikeys
from server.db.session import transaction

PASSWORD = "correct horse battery"
_PASSWORD_HASH: list[str] = []
_serial = count(1)


def password_hash() -> str:
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(hash_password(PASSWORD))
    return _PASSWORD_HASH[0]


@dataclass
class Family:
    parent_id: str
    email: str
    child_id: str
    link_token: str


def make_user(sessions: sessionmaker[Session], role: str = "parent", email: str | None = None, name: str = "Pat") -> str:
    email = email or f"{role}{next(_serial)}@example.com"
    with transaction(sessions) as s:
        return accounts.create_user(s, email=email, display_name=name, password_hash=password_hash(), role=role).id


def make_family(
    sessions: sessionmaker[Session], *, child_name: str = "Mina", age: int = 7, language: str = "en",
    email: str | None = None, **settings: object,
) -> Family:
    email = email or f"parent{next(_serial)}@example.com"
    with transaction(sessions) as s:
        parent = accounts.create_user(s, email=email, display_name="Parent", password_hash=password_hash(), role="parent")
        child = accounts.create_child(s, parent, name=child_name, age=age, language=language, timezone="UTC")
        for key, value in settings.items():
            setattr(child, key, value)
        token = accounts.new_child_link(s, child, datetime.now(UTC))
        return Family(parent.id, email, child.id, token)


def sign_in_child(client: TestClient, **kwargs: object) -> Family:
    """A family whose child link was opened in `client`: its websocket is the child's."""
    family = make_family(client.app.state.sessions, **kwargs)  # type: ignore[attr-defined]
    response = client.get(f"/c/{family.link_token}", follow_redirects=False)
    assert response.status_code == 303, response.text
    return family


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def make_api_key(sessions: sessionmaker[Session], name: str | None = None) -> str:
    """A moderation API key (as an admin makes one); returns the key itself."""
    with transaction(sessions) as s:
        return apikeys.create_api_key(s, name or f"app {next(_serial)}", datetime.now(UTC))[1]
