"""Log in, sign up (parents), log out, the language switch, and the child link that signs a device in."""

from __future__ import annotations

import logging
import re
import smtplib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from server.auth import signup
from server.auth.devices import COOKIE as DEVICE_COOKIE
from server.auth.devices import throttle_keys
from server.auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from server.db import accounts
from server.db.models import User
from server.db.session import transaction
from server.deps import (
    ADULT_COOKIE,
    CHILD_COOKIE,
    current_adult,
    current_child,
    now_of,
    sessions_of,
    verify_csrf,
)
from server.pages.common import LANG_COOKIE, redirect, render, safe_next, set_cookie

router = APIRouter(dependencies=[Depends(verify_csrf)])
log = logging.getLogger("kidchat.auth")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_MAX = 100


def home_for(user: User) -> str:
    return {"parent": "/parent", "educator": "/educator", "admin": "/admin"}.get(user.role, "/")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    user = current_adult(request)
    if user is not None:
        return redirect(safe_next(next, home_for(user)))
    return render(request, "adult/login.html", {"next": safe_next(next, ""), "email": "", "error": None})


@router.post("/login")
def login_submit(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    settings = request.app.state.settings
    now = now_of(request)
    devices = request.app.state.devices
    device = devices.device_id(request.cookies.get(DEVICE_COOKIE), email)
    keys = throttle_keys(settings, email, client_ip(request), device)
    since = now - timedelta(minutes=settings.login_window_minutes)
    ctx = {"next": safe_next(next, ""), "email": email.strip()[:254]}
    with transaction(sessions_of(request)) as s:
        if any(accounts.count_failures(s, key, since) >= limit for key, limit in keys):
            error = ("err_rate_limited", {"minutes": settings.login_window_minutes})
            return render(request, "adult/login.html", {**ctx, "error": error}, status_code=429)
        user = accounts.user_by_email(s, email) if email.strip() else None
        if not verify_password(user.password_hash if user else None, password) or user is None:
            for key, _limit in keys:
                accounts.record_failure(s, key, now)
            return render(request, "adult/login.html", {**ctx, "error": ("err_login", {})}, status_code=400)
        accounts.clear_failures(s, keys[0][0])
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = now
        accounts.close_session(s, request.cookies.get(ADULT_COOKIE))
        token = accounts.open_session(
            s, kind="adult", user_id=user.id, now=now, lifetime=timedelta(hours=settings.adult_session_hours)
        )
        target = safe_next(next, home_for(user))
        signed_in = user.email
    response = redirect(target)
    sign_in(response, request, token, signed_in)
    return response


def sign_in(response: Response, request: Request, token: str, email: str) -> None:
    """The adult session cookie, and a fresh device cookie: this browser is now a known device for `email`."""
    settings = request.app.state.settings
    set_cookie(response, request, ADULT_COOKIE, token, max_age=settings.adult_session_hours * 3600)
    set_cookie(
        response, request, DEVICE_COOKIE, request.app.state.devices.issue(email),
        max_age=settings.device_cookie_days * 86400,
    )


@router.get("/signup")
def signup_page(request: Request) -> Response:
    return render(request, "adult/signup.html", {"values": {}, "errors": {}, "by_email": by_email(request)})


def by_email(request: Request) -> bool:
    """Sign-up confirms the address by e-mail whenever kidchat can send e-mail (server/auth/signup.py)."""
    return bool(request.app.state.settings.smtp_host)


@router.post("/signup")
def signup_submit(
    request: Request,
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    settings = request.app.state.settings
    now = now_of(request)
    mailed = by_email(request)
    values = {"display_name": display_name.strip()[:NAME_MAX], "email": email.strip()[:254]}
    errors = _name_and_address_errors(display_name, email)
    problem = None if mailed else password_problem(password, email)  # by e-mail: chosen on the link's page
    if problem:
        errors["password"] = (problem, {})
    page = {"values": values, "by_email": mailed}
    signup_key = f"signup:{client_ip(request)}"
    with transaction(sessions_of(request)) as s:
        if accounts.count_failures(s, signup_key, now - timedelta(hours=1)) >= settings.signups_per_ip_per_hour:
            errors["email"] = ("err_rate_limited", {"minutes": 60})
            return render(request, "adult/signup.html", {**page, "errors": errors}, status_code=429)
        known = False
        if not errors:
            # Every attempt that reaches the address check counts, so "already an account" answers are
            # limited like sign-ups (without it, one client could test addresses without end).
            accounts.record_failure(s, signup_key, now)
            known = accounts.user_by_email(s, email) is not None
            if known and not mailed:
                errors["email"] = ("err_email_taken", {})
        if errors:
            return render(request, "adult/signup.html", {**page, "errors": errors}, status_code=400)
        if not mailed:
            user = accounts.create_user(
                s, email=email, display_name=values["display_name"], password_hash=hash_password(password),
                role="parent",
            )
            user.last_login_at = now
            token = accounts.open_session(
                s, kind="adult", user_id=user.id, now=now, lifetime=timedelta(hours=settings.adult_session_hours)
            )
    if mailed:  # after the commit: a slow mail server holds no database lock
        return _mail_signup(request, email, values["display_name"], known)
    response = redirect("/parent")
    sign_in(response, request, token, email)
    return response


def _name_and_address_errors(display_name: str, email: str) -> dict[str, tuple[str, dict]]:
    errors: dict[str, tuple[str, dict]] = {}
    if not display_name.strip() or len(display_name.strip()) > NAME_MAX:
        errors["display_name"] = ("err_name", {"max": NAME_MAX})
    if not EMAIL_RE.match(email.strip()) or len(email.strip()) > 254:
        errors["email"] = ("err_email", {})
    return errors


def _mail_signup(request: Request, email: str, display_name: str, known: bool) -> Response:
    """One e-mail either way, then the same page: the answer does not say whether the address is known."""
    settings = request.app.state.settings
    to = email.strip()
    if known:
        message = signup.already_registered(settings, to)
    else:
        message = signup.invitation(settings, to, request.app.state.signup_links.make(to, display_name))
    try:
        request.app.state.notifier.deliver(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("sign-up e-mail failed (%s)", type(exc).__name__)
    return render(request, "adult/message.html", {"title_key": "signup_sent_title", "text_key": "signup_sent"})


@router.get("/signup/confirm/{token}")
def confirm_page(request: Request, token: str) -> Response:
    found = request.app.state.signup_links.read(token)
    if found is None:
        return _link_invalid(request)
    email, display_name = found
    return render(request, "adult/signup_confirm.html", {"email": email, "display_name": display_name, "errors": {}})


@router.post("/signup/confirm/{token}")
def confirm_submit(request: Request, token: str, password: Annotated[str, Form()] = "") -> Response:
    """The link's page: choose a password, and the account exists from now on, signed in."""
    settings = request.app.state.settings
    now = now_of(request)
    found = request.app.state.signup_links.read(token)
    if found is None:
        return _link_invalid(request)
    email, display_name = found
    problem = password_problem(password, email)
    if problem:
        context = {"email": email, "display_name": display_name, "errors": {"password": (problem, {})}}
        return render(request, "adult/signup_confirm.html", context, status_code=400)
    with transaction(sessions_of(request)) as s:
        if accounts.user_by_email(s, email) is not None:  # the link was used already: log in instead
            return redirect("/login")
        user = accounts.create_user(
            s, email=email, display_name=display_name, password_hash=hash_password(password), role="parent"
        )
        user.last_login_at = now
        session_token = accounts.open_session(
            s, kind="adult", user_id=user.id, now=now, lifetime=timedelta(hours=settings.adult_session_hours)
        )
    response = redirect("/parent")
    sign_in(response, request, session_token, email)
    return response


def _link_invalid(request: Request) -> Response:
    response = render(
        request, "adult/message.html", {"title_key": "signup_link_invalid_title", "text_key": "signup_link_invalid"},
        status_code=404,
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    with transaction(sessions_of(request)) as s:
        accounts.close_session(s, request.cookies.get(ADULT_COOKIE))
    response = redirect("/login")
    response.delete_cookie(ADULT_COOKIE, path="/")
    return response


@router.get("/lang")
def switch_language(request: Request, to: str = "en", next: str = "/") -> Response:
    response = redirect(safe_next(next))
    if to in ("ko", "en"):
        set_cookie(response, request, LANG_COOKIE, to, max_age=365 * 24 * 3600)
    return response


@router.get("/c/{token}")
def open_child_link(request: Request, token: str) -> Response:
    """The child link: this device becomes the child's (a long-lived child session), then the kids' page.

    A link opens once, within KIDCHAT_CHILD_LINK_HOURS of being made: the device keeps the session, and a
    copy of the link (a log, a browser history, a shared screen) signs nothing else in. A device that is
    already signed in as a child and opens a spent link just goes to the kids' page."""
    settings = request.app.state.settings
    now = now_of(request)
    session_token = None
    with transaction(sessions_of(request)) as s:
        lifetime = timedelta(hours=settings.child_link_hours)
        child = accounts.spend_child_link(s, token, now, lifetime) if len(token) < 100 else None
        if child is not None:
            accounts.close_session(s, request.cookies.get(CHILD_COOKIE))
            session_token = accounts.open_session(
                s, kind="child", child_id=child.id, now=now, lifetime=timedelta(days=settings.child_session_days)
            )
    if session_token is None and current_child(request) is None:
        response = render(
            request, "adult/message.html",
            {"title_key": "child_link_invalid_title", "text_key": "child_link_invalid"}, status_code=404,
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    response = redirect("/")
    response.headers["Referrer-Policy"] = "no-referrer"
    if session_token is not None:
        set_cookie(response, request, CHILD_COOKIE, session_token, max_age=settings.child_session_days * 86400)
    return response
