"""The admin's page: educator accounts (the admin account itself is made with `kidchat admin create`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from server.auth.passwords import hash_password, password_problem
from server.db import accounts
from server.db.session import transaction
from server.deps import Admin, sessions_of, verify_csrf
from server.pages.auth import EMAIL_RE, NAME_MAX
from server.pages.common import redirect, render

router = APIRouter(prefix="/admin", dependencies=[Depends(verify_csrf)])


def _page(request: Request, values: dict, errors: dict, status: int = 200, done: str = "") -> Response:
    with transaction(sessions_of(request)) as s:
        educators = accounts.list_users(s, "educator")
        return render(request, "adult/admin.html", {"educators": educators, "values": values, "errors": errors, "done": done}, status)


@router.get("")
def admin_home(request: Request, admin: Admin, done: str = "") -> Response:
    return _page(request, {}, {}, done=done if done in ("created", "removed") else "")


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
