"""The admin's page: educator accounts and the moderation API's keys (the admin account itself is made
with `kidchat admin create`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from server.auth.passwords import hash_password, password_problem
from server.db import accounts, apikeys
from server.db.session import transaction
from server.deps import Admin, now_of, sessions_of, verify_csrf
from server.pages.auth import EMAIL_RE, NAME_MAX
from server.pages.common import redirect, render

router = APIRouter(prefix="/admin", dependencies=[Depends(verify_csrf)])


DONE = ("created", "removed", "key_revoked")


def _page(request: Request, values: dict, errors: dict, status: int = 200, done: str = "", **extra: object) -> Response:
    with transaction(sessions_of(request)) as s:
        educators = accounts.list_users(s, "educator")
        keys = apikeys.list_api_keys(s)
        context = {"educators": educators, "keys": keys, "values": values, "errors": errors, "done": done,
                   "key_values": {}, "key_errors": {}, "new_key": None, **extra}
        return render(request, "adult/admin.html", context, status)


@router.get("")
def admin_home(request: Request, admin: Admin, done: str = "") -> Response:
    return _page(request, {}, {}, done=done if done in DONE else "")


@router.post("/educators")
def create_educator(
    request: Request,
    admin: Admin,
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    values = {"display_name": display_name.strip()[:NAME_MAX], "email": email.strip()[:254]}
    errors: dict = {}
    if not values["display_name"]:
        errors["display_name"] = ("err_name", {"max": NAME_MAX})
    if not EMAIL_RE.match(email.strip()):
        errors["email"] = ("err_email", {})
    problem = password_problem(password, email)
    if problem:
        errors["password"] = (problem, {})
    with transaction(sessions_of(request)) as s:
        if not errors and accounts.user_by_email(s, email) is not None:
            errors["email"] = ("err_email_taken", {})
        if not errors:
            accounts.create_user(
                s, email=email, display_name=values["display_name"], password_hash=hash_password(password), role="educator"
            )
    if errors:
        return _page(request, values, errors, 400)
    return redirect("/admin?done=created")


@router.post("/educators/{user_id}/remove")
def remove_educator(request: Request, admin: Admin, user_id: str) -> Response:
    with transaction(sessions_of(request)) as s:
        user = accounts.get_user(s, user_id)
        if user is None or user.role != "educator":
            raise HTTPException(404)
        s.delete(user)  # their sessions go with them; persona versions keep the author's name
    return redirect("/admin?done=removed")


@router.post("/keys")
def create_key(request: Request, admin: Admin, key_name: Annotated[str, Form()] = "") -> Response:
    """Make a moderation API key and show it on this one page (never in a URL, never again)."""
    try:
        with transaction(sessions_of(request)) as s:
            row, key = apikeys.create_api_key(s, key_name, now_of(request), created_by=admin.id)
    except apikeys.ApiKeyError as exc:
        values = {"key_name": key_name.strip()[: apikeys.NAME_MAX]}
        return _page(request, {}, {}, 400, key_values=values, key_errors={"key_name": (exc.code, {"max": apikeys.NAME_MAX})})
    return _page(request, {}, {}, new_key={"name": row.name, "key": key})


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, admin: Admin, key_id: str) -> Response:
    with transaction(sessions_of(request)) as s:
        row = apikeys.get_api_key(s, key_id)
        if row is None:
            raise HTTPException(404)
        apikeys.revoke_api_key(s, row, now_of(request))
    return redirect("/admin?done=key_revoked")
