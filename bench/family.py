"""A signed-in child for benchmarks and sample runs: the websocket takes the child from the session."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import httpx

from server.auth.passwords import hash_password
from server.db import accounts
from server.db.session import transaction


def child_session_headers(sessions, base_url: str, *, age: int = 7, language: str = "en") -> dict[str, str]:
    """Create a parent and a child in the database behind `sessions`, open the child link on the server
    at `base_url`, and return the headers a websocket client needs (the session cookie and Origin)."""
    with transaction(sessions) as s:
        parent = accounts.create_user(
            s, email=f"bench-{secrets.token_hex(4)}@example.com", display_name="Bench",
            password_hash=hash_password(secrets.token_urlsafe(16)), role="parent",
        )
        child = accounts.create_child(s, parent, name="Bench", age=age, language=language, timezone="UTC")
        token = accounts.new_child_link(s, child, datetime.now(UTC))
    with httpx.Client(base_url=base_url) as client:
        client.get(f"/c/{token}")
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return {"Cookie": cookie, "Origin": base_url}
