"""The parents' pages: children, their conversations with flags, search, transcripts (every view is
recorded), child links. Another family's ids find nothing (404), never data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from server.db import accounts, marks, repo, review
from server.db.models import Child, User
from server.db.session import transaction
from server.deps import Parent, now_of, sessions_of, verify_csrf
from server.pages.common import interface_language, redirect, render
from server.pages.forms import child_form_errors

router = APIRouter(prefix="/parent", dependencies=[Depends(verify_csrf)])


def persona_label(request: Request, s: Session, persona_id: str, lang: str, version: int | None = None) -> str:
    persona = request.app.state.personas.get(s, persona_id, version)
    if persona is None:
        return persona_id
    return persona.name.get(lang) or persona.name[persona.primary_language]


def own_child(s, parent: User, child_id: str) -> Child:  # type: ignore[no-untyped-def]
    child = accounts.child_of(s, parent.id, child_id)
    if child is None:
        raise HTTPException(404)
    return child


def child_link(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/c/{token}"


@router.get("")
def home(request: Request, parent: Parent, done: str = "") -> Response:
    with transaction(sessions_of(request)) as s:
        children = [
            {
                "child": c,
                "flagged": review.flagged_count(s, c.id),
                "last": review.last_activity(s, c.id),
            }
            for c in accounts.children_of(s, parent.id)
        ]
        return render(
            request, "adult/parent_home.html",
            {"children": children, "values": {}, "errors": {}, "done": done if done == "deleted_child" else ""},
        )


@router.post("/children")
def add_child(
    request: Request,
    parent: Parent,
    name: Annotated[str, Form()] = "",
    age: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    values = {"name": name.strip(), "age": age.strip(), "language": language, "timezone": timezone.strip()}
    errors = child_form_errors(values)
    with transaction(sessions_of(request)) as s:
        if errors:
            children = [{"child": c, "flagged": review.flagged_count(s, c.id), "last": review.last_activity(s, c.id)}
                        for c in accounts.children_of(s, parent.id)]
            return render(
                request, "adult/parent_home.html", {"children": children, "values": values, "errors": errors}, 400
            )
        user = accounts.get_user(s, parent.id)
        assert user is not None
        child = accounts.create_child(
            s, user, name=values["name"], age=int(values["age"]), language=values["language"],
            timezone=values["timezone"] or request.app.state.settings.default_timezone,
        )
        token = accounts.new_child_link(s, child, now_of(request))
        return render(request, "adult/child_link.html", {"child": child, "link": child_link(request, token), "new": True})


@router.post("/children/{child_id}/link")
def renew_link(request: Request, parent: Parent, child_id: str) -> Response:
    with transaction(sessions_of(request)) as s:
        child = own_child(s, parent, child_id)
        token = accounts.new_child_link(s, child, now_of(request))
        return render(request, "adult/child_link.html", {"child": child, "link": child_link(request, token), "new": False})


@router.post("/children/{child_id}/signout")
def sign_out_devices(request: Request, parent: Parent, child_id: str) -> Response:
    with transaction(sessions_of(request)) as s:
        child = own_child(s, parent, child_id)
        accounts.close_child_sessions(s, child.id)
    return redirect(f"/parent/children/{child_id}?done=signed_out")


@router.get("/children/{child_id}")
def child_page(request: Request, parent: Parent, child_id: str, flagged: str = "", q: str = "", done: str = "") -> Response:
    lang_q = q[:100]
    with transaction(sessions_of(request)) as s:
        child = own_child(s, parent, child_id)
        rows = review.conversations_of(s, child.id, flagged=bool(flagged), query=lang_q)
        return render(
            request,
            "adult/child.html",
            {
                "child": child,
                "rows": rows,
                "flagged": bool(flagged),
                "q": lang_q,
                "done": done if done in ("signed_out", "settings_saved", "deleted_conversations") else "",
                "persona_label": lambda pid, version: persona_label(request, s, pid, interface_language(request), version),
            },
        )


@router.get("/conversations/{conversation_id}")
def transcript(request: Request, parent: Parent, conversation_id: str) -> Response:
    with transaction(sessions_of(request)) as s:
        found = review.conversation_of_parent(s, parent.id, conversation_id)
        if found is None:
            raise HTTPException(404)
        conv, child = found
        review.record_view(s, conv.id, parent, "view", now_of(request))
        review.mark_alerts_seen(s, parent.id, now_of(request), conversation_id=conv.id)
        messages = repo.list_messages(s, conv.id)
        return render(
            request,
            "adult/transcript.html",
            {
                "conv": conv,
                "child": child,
                "messages": messages,
                "shown_through": marks.last_shown_seq(messages),
                "newer_than_mark": marks.newer_than_mark(conv, messages),
                "flags": repo.list_flags(s, conv.id),
                "views": review.views_of(s, conv.id),
                "persona_name": persona_label(request, s, conv.persona_id, interface_language(request), conv.persona_version),
            },
        )
