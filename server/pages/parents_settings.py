"""Per-child settings (profile, personas, daily limit, quiet hours, retention) and deleting a child's
data on request. Deleting is real: rows are deleted, with everything that hangs off them."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import delete

from server.chat.limits import minutes_left
from server.db import accounts, review
from server.db.models import Child
from server.db.session import transaction
from server.deps import Parent, now_of, sessions_of, verify_csrf
from server.pages.common import interface_language, redirect, render
from server.pages.forms import optional_int, settings_form_errors
from server.pages.parents import own_child

router = APIRouter(prefix="/parent/children", dependencies=[Depends(verify_csrf)])
FIELDS = ("name", "age", "language", "timezone", "daily_limit_minutes", "quiet_start", "quiet_end", "retention_days")


def _values(child: Child) -> dict:
    return {
        "name": child.name, "age": str(child.age), "language": child.language, "timezone": child.timezone,
        "daily_limit_minutes": "" if child.daily_limit_minutes is None else str(child.daily_limit_minutes),
        "quiet_start": child.quiet_start or "", "quiet_end": child.quiet_end or "",
        "retention_days": "" if child.retention_days is None else str(child.retention_days),
        "allow_all": child.allowed_personas is None,
        "allowed": list(child.allowed_personas or []),
    }


def _personas(request: Request, s) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    lang = interface_language(request)
    return [
        (r.persona.id, r.persona.name.get(lang) or r.persona.name[r.persona.primary_language])  # type: ignore[call-overload]
        for r in request.app.state.personas.all_current(s)
    ]


@router.get("/{child_id}/settings")
def settings_page(request: Request, parent: Parent, child_id: str) -> Response:
    with transaction(sessions_of(request)) as s:
        child = own_child(s, parent, child_id)
        return render(
            request, "adult/child_settings.html",
            {"child": child, "values": _values(child), "errors": {}, "personas": _personas(request, s),
             "minutes_left": minutes_left(s, child, now_of(request))},
        )


@router.post("/{child_id}/settings")
async def save_settings(request: Request, parent: Parent, child_id: str) -> Response:
    form = await request.form()
    values: dict = {key: str(form.get(key) or "").strip() for key in FIELDS}
    values["allow_all"] = form.get("allow_all") == "1"
    values["allowed"] = [str(v) for v in form.getlist("allowed")]

    def work() -> Response:
        with transaction(sessions_of(request)) as s:
            child = own_child(s, parent, child_id)
            personas = _personas(request, s)
            errors = settings_form_errors(values, [pid for pid, _ in personas], values["allowed"])
            if errors:
                return render(
                    request, "adult/child_settings.html",
                    {"child": child, "values": values, "errors": errors, "personas": personas,
                     "minutes_left": minutes_left(s, child, now_of(request))},
                    400,
                )
            child.name = values["name"]
            child.age = int(values["age"])
            child.language = values["language"]
            child.timezone = values["timezone"] or request.app.state.settings.default_timezone
            child.daily_limit_minutes = optional_int(values["daily_limit_minutes"], 0, 24 * 60)
            child.quiet_start = values["quiet_start"] or None
            child.quiet_end = values["quiet_end"] or None
            child.retention_days = optional_int(values["retention_days"], 1, 3650)
            child.allowed_personas = None if values["allow_all"] else values["allowed"]
        return redirect(f"/parent/children/{child_id}?done=settings_saved")



    return await to_thread.run_sync(work)


@router.get("/{child_id}/delete")
def delete_page(request: Request, parent: Parent, child_id: str) -> Response:
    with transaction(sessions_of(request)) as s:
        child = own_child(s, parent, child_id)
        return render(request, "adult/child_delete.html", {"child": child, "error": False})


def _confirmed(form) -> bool:  # type: ignore[no-untyped-def]
    return form.get("confirm") == "yes"


@router.post("/{child_id}/delete-conversations")
async def delete_conversations(request: Request, parent: Parent, child_id: str) -> Response:
    confirmed = _confirmed(await request.form())

    def work() -> Response:
        with transaction(sessions_of(request)) as s:
            child = own_child(s, parent, child_id)
            if not confirmed:
                return render(request, "adult/child_delete.html", {"child": child, "error": True}, 400)
            review.delete_conversations(s, child.id)
        return redirect(f"/parent/children/{child_id}?done=deleted_conversations")



    return await to_thread.run_sync(work)


@router.post("/{child_id}/delete")
async def delete_child(request: Request, parent: Parent, child_id: str) -> Response:
    confirmed = _confirmed(await request.form())

    def work() -> Response:
        with transaction(sessions_of(request)) as s:
            child = own_child(s, parent, child_id)
            if not confirmed:
                return render(request, "adult/child_delete.html", {"child": child, "error": True}, 400)
            # The profile, its conversations (messages, flags, views, alerts) and its signed-in devices.
            accounts.close_child_sessions(s, child.id)
            s.execute(delete(Child).where(Child.id == child.id))
            s.expunge_all()
        return redirect("/parent?done=deleted_child")



    return await to_thread.run_sync(work)
