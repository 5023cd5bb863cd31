"""Named dependencies for the adult pages: who is signed in, with which role, and CSRF checks.

Pages are plain `def` routes, so FastAPI runs them (and these dependencies) in its thread pool and the
blocking database work never runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from server.auth import csrf
from server.chat.service import ChildInfo
from server.db import accounts
from server.db.models import User
from server.db.session import transaction

ADULT_COOKIE = "kidchat_session"
CHILD_COOKIE = "kidchat_child"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(Exception):
    """No adult is signed in: the handler redirects to the login page and back."""


class Forbidden(Exception):
    """Signed in, but this page is for another role."""


class CsrfFailed(Exception):
    """A form or script request without a valid CSRF token."""


def sessions_of(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def now_of(request: Request) -> datetime:
    return request.app.state.clock()


def current_adult(request: Request) -> User | None:
    if hasattr(request.state, "adult"):
        return request.state.adult
    token = request.cookies.get(ADULT_COOKIE)
    user = None
    if token:
        with transaction(sessions_of(request)) as s:
            found = accounts.find_session(s, token, "adult", now_of(request))
            if found is not None and found.user_id:
                user = accounts.get_user(s, found.user_id)
    request.state.adult = user
    return user


def require_adult(request: Request) -> User:
    user = current_adult(request)
    if user is None:
        raise LoginRequired()
    return user


def require_parent(user: Annotated[User, Depends(require_adult)]) -> User:
    if user.role != "parent":
        raise Forbidden()
    return user


def require_educator(user: Annotated[User, Depends(require_adult)]) -> User:
    if user.role not in ("educator", "admin"):
        raise Forbidden()
    return user


def require_admin(user: Annotated[User, Depends(require_adult)]) -> User:
    if user.role != "admin":
        raise Forbidden()
    return user


async def verify_csrf(request: Request) -> None:
    """Router-wide: every unsafe request needs a valid token (form field or X-CSRF-Token header)."""
    if request.method not in UNSAFE_METHODS:
        return
    token = request.headers.get(csrf.HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(csrf.FIELD)
            token = value if isinstance(value, str) else None
    if not request.app.state.csrf.verify(request.cookies.get(csrf.COOKIE), token):
        raise CsrfFailed()


def child_info_loader(sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> Callable[[str], ChildInfo | None]:
    """token -> the signed-in child (with its current settings), or None. Runs in a worker thread."""

    def load(token: str) -> ChildInfo | None:
        with transaction(sessions) as s:
            found = accounts.find_session(s, token, "child", clock())
            child = accounts.get_child(s, found.child_id) if found is not None and found.child_id else None
            if child is None:
                return None
            allowed = tuple(child.allowed_personas) if child.allowed_personas is not None else None
            return ChildInfo(id=child.id, age=child.age, language=child.language, allowed_personas=allowed)

    return load


def current_child(request: Request) -> ChildInfo | None:
    token = request.cookies.get(CHILD_COOKIE)
    return request.app.state.child_loader(token) if token else None


Adult = Annotated[User, Depends(require_adult)]
Parent = Annotated[User, Depends(require_parent)]
Educator = Annotated[User, Depends(require_educator)]
Admin = Annotated[User, Depends(require_admin)]
