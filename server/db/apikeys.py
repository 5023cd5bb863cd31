"""Queries for the moderation API's keys. Flush, never commit.

A key is `kc_` and 256 random bits; it is shown once, when it is made, and only its SHA-256 is stored
(a key is as unguessable as a session token, so a plain hash is enough: there is nothing to brute-force).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.auth.tokens import new_token, token_hash
from server.db.models import ApiKey

KEY_PREFIX = "kc_"
SHOWN_CHARS = 10  # "kc_" and 7 random characters: enough to tell keys apart on the admin page
NAME_MAX = 60
NAME_RE = re.compile(r"\w[\w .@:+-]*")
MAX_KEY_CHARS = 100  # a presented key longer than this is not looked up
# `last_used_at` is written at most this often per key, so a busy key does not write on every request.
LAST_USED_EVERY = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """A name that cannot be used (empty, too long, odd characters, or taken). `code` names the problem."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or not NAME_RE.fullmatch(name):
        raise ApiKeyError("err_key_name")
    return name


def create_api_key(session: Session, name: str, now: datetime, created_by: str | None = None) -> tuple[ApiKey, str]:
    """A new key named `name`; returns the row and the key itself (shown once, never stored)."""
    name = clean_name(name)
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ApiKeyError("err_key_name_taken")
    key = KEY_PREFIX + new_token()
    row = ApiKey(name=name, key_hash=token_hash(key), prefix=key[:SHOWN_CHARS], created_by=created_by, created_at=now)
    session.add(row)
    session.flush()
    return row, key


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.name)))


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def api_key_by_name(session: Session, name: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.name == name.strip()))


def revoke_api_key(session: Session, row: ApiKey, now: datetime) -> None:
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()


def find_active_key(session: Session, key: str | None, now: datetime) -> ApiKey | None:
    """The live key row for a presented key, or None (unknown, revoked, or not a key at all)."""
    if not key or len(key) > MAX_KEY_CHARS or not key.startswith(KEY_PREFIX):
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == token_hash(key)))
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or _aware(row.last_used_at) + LAST_USED_EVERY <= now:
        row.last_used_at = now
        session.flush()
    return row


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored in UTC."""
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
