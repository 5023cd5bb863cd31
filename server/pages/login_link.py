"""The e-mailed sign-in link's routes (server/auth/login_link.py): ask for one, open it, use it."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from server.auth import login_link
from server.db import accounts
from server.db.session import transaction
from server.deps import ADULT_COOKIE, now_of, sessions_of, verify_csrf
from server.pages.auth import EMAIL_RE, client_ip, home_for, sign_in
from server.pages.common import redirect, render, safe_next

router = APIRouter(dependencies=[Depends(verify_csrf)])
log = logging.getLogger("kidchat.auth")


def _mail_on(request: Request) -> None:
    if not request.app.state.settings.smtp_host:
        raise HTTPException(404)


@router.post("/login/link")
def request_link(request: Request, email: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    """One e-mail to the address, whatever it is, then the same page (the login form's second button)."""
    _mail_on(request)
    settings = request.app.state.settings
    now = now_of(request)
    address = email.strip()[:254]
    ctx = {"next": safe_next(next, ""), "email": address}
    if not EMAIL_RE.match(address):
        return render(request, "adult/login.html", {**ctx, "error": ("err_email", {})}, status_code=400)
    keys = [
        (f"login-link:{accounts.normalize_email(address)}", login_link.PER_ADDRESS_PER_HOUR),
        (f"login-link-ip:{client_ip(request)}", login_link.PER_CLIENT_PER_HOUR),
    ]
    with transaction(sessions_of(request)) as s:
        if any(accounts.count_failures(s, key, now - timedelta(hours=1)) >= limit for key, limit in keys):
            error = ("err_rate_limited", {"minutes": 60})
            return render(request, "adult/login.html", {**ctx, "error": error}, status_code=429)
        for key, _limit in keys:
            accounts.record_failure(s, key, now)
        user = accounts.user_by_email(s, address)
        if user is None:
            message = login_link.no_account_mail(settings, address)
        else:
            message = login_link.sign_in_mail(settings, address, request.app.state.login_links.make(user))
    try:  # after the commit: a slow mail server holds no database lock
        request.app.state.notifier.deliver(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("sign-in link e-mail failed (%s)", type(exc).__name__)
    return render(request, "adult/message.html", {"title_key": "login_link_sent_title", "text_key": "login_link_sent"})


@router.get("/login/link/{token}")
def open_link(request: Request, token: str) -> Response:
    """A page with a button: a mail scanner that fetches the link does not use it up."""
    _mail_on(request)
    with transaction(sessions_of(request)) as s:
        valid = _account(request, s, token) is not None
    if not valid:
        return _invalid(request)
    return render(request, "adult/login_link.html")


@router.post("/login/link/{token}")
def use_link(request: Request, token: str) -> Response:
    _mail_on(request)
    settings = request.app.state.settings
    now = now_of(request)
    with transaction(sessions_of(request)) as s:
        user = _account(request, s, token)
        if user is None:
            return _invalid(request)
        user.last_login_at = now  # spends this link and every older one
        accounts.close_session(s, request.cookies.get(ADULT_COOKIE))
        session_token = accounts.open_session(
            s, kind="adult", user_id=user.id, now=now, lifetime=timedelta(hours=settings.adult_session_hours)
        )
        target, email = home_for(user), user.email
    response = redirect(target)
    sign_in(response, request, session_token, email)  # and this browser is a known device from now on
    return response


def _account(request: Request, s, token: str):  # type: ignore[no-untyped-def]
    links = request.app.state.login_links
    address = links.address(token)
    user = accounts.user_by_email(s, address) if address else None
    return user if links.valid_for(token, user) else None


def _invalid(request: Request) -> Response:
    response = render(
        request, "adult/message.html", {"title_key": "login_link_invalid_title", "text_key": "login_link_invalid"},
        status_code=404,
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
