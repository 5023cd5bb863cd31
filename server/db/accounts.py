"""Queries for users, children, signed-in sessions and login rate limiting. Flush, never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from server.auth.tokens import new_token, token_hash
from server.db.models import AuthSession, Child, LoginFailure, User

ROLES = ("parent", "educator", "admin")


def normalize_email(email: str) -> str:
    return email.strip().lower()


# -- users --------------------------------------------------------------------------------------------
def create_user(session: Session, *, email: str, display_name: str, password_hash: str, role: str) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user = User(email=normalize_email(email), display_name=display_name.strip(), password_hash=password_hash, role=role)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def list_users(session: Session, role: str) -> list[User]:
    return list(session.scalars(select(User).where(User.role == role).order_by(User.created_at)))


# -- children -----------------------------------------------------------------------------------------
def create_child(session: Session, parent: User, *, name: str, age: int, language: str, timezone: str) -> Child:
    child = Child(parent_id=parent.id, name=name.strip(), age=age, language=language, timezone=timezone)
    session.add(child)
    session.flush()
    return child


def get_child(session: Session, child_id: str) -> Child | None:
    return session.get(Child, child_id)


def child_of(session: Session, parent_id: str, child_id: str) -> Child | None:
    """The child, only when it belongs to this parent (another family's id finds nothing)."""
    return session.scalar(select(Child).where(Child.id == child_id, Child.parent_id == parent_id))


def children_of(session: Session, parent_id: str) -> list[Child]:
    return list(session.scalars(select(Child).where(Child.parent_id == parent_id).order_by(Child.created_at)))


def new_child_link(session: Session, child: Child, now: datetime) -> str:
    """A fresh link token for the child; the old link stops working. Returns the token (shown once)."""
    token = new_token()
    child.link_token_hash = token_hash(token)
    child.link_created_at = now
    session.flush()
    return token


def child_by_link(session: Session, token: str) -> Child | None:
    return session.scalar(select(Child).where(Child.link_token_hash == token_hash(token)))


def spend_child_link(session: Session, token: str, now: datetime, lifetime: timedelta) -> Child | None:
    """The child whose link this is, when the link is unused and younger than `lifetime`; the link is spent
    either way (it opens once). One conditional UPDATE spends it, so of two devices racing with the same
    link only one gets the child."""
    child = child_by_link(session, token)
    if child is None:
        return None
    created = _aware(child.link_created_at) if child.link_created_at else None
    spent = session.execute(
        update(Child)
        .where(Child.id == child.id, Child.link_token_hash == token_hash(token))
        .values(link_token_hash=None)
    )
    if spent.rowcount != 1 or created is None or created + lifetime <= now:
        return None
    return child


# -- sessions -----------------------------------------------------------------------------------------
def open_session(
    session: Session, *, kind: str, now: datetime, lifetime: timedelta, user_id: str | None = None,
    child_id: str | None = None,
) -> str:
    """Store a new signed-in session and return its cookie token (only the hash is stored)."""
    token = new_token()
    session.add(
        AuthSession(
            id=token_hash(token), kind=kind, user_id=user_id, child_id=child_id, created_at=now, expires_at=now + lifetime
        )
    )
    session.flush()
    return token


def find_session(session: Session, token: str | None, kind: str, now: datetime) -> AuthSession | None:
    if not token or len(token) > 100:
        return None
    found = session.get(AuthSession, token_hash(token))
    if found is None or found.kind != kind:
        return None
    if _aware(found.expires_at) <= now:
        session.delete(found)
        session.flush()
        return None
    return found


def close_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(AuthSession).where(AuthSession.id == token_hash(token)))


def close_child_sessions(session: Session, child_id: str) -> int:
    """Sign every device of the child out, and spend the child's link if it was never opened (a link
    copied before the sign-out must not sign a device back in). Returns the sessions ended."""
    session.execute(update(Child).where(Child.id == child_id).values(link_token_hash=None))
    result = session.execute(delete(AuthSession).where(AuthSession.child_id == child_id))
    return result.rowcount or 0


def close_user_sessions(session: Session, user_id: str) -> int:
    result = session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
    return result.rowcount or 0


def delete_expired_sessions(session: Session, now: datetime) -> int:
    result = session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
    return result.rowcount or 0


# -- rate limiting ------------------------------------------------------------------------------------
def count_failures(session: Session, key: str, since: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.key == key, LoginFailure.created_at > since)
    ) or 0


def record_failure(session: Session, key: str, now: datetime) -> None:
    session.add(LoginFailure(key=key[:300], created_at=now))
    session.flush()


def clear_failures(session: Session, key: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def prune_failures(session: Session, before: datetime) -> int:
    result = session.execute(delete(LoginFailure).where(LoginFailure.created_at < before))
    return result.rowcount or 0


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored in UTC."""
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
