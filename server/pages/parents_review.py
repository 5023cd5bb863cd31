"""Alerts for parents (a page, a JSON feed the pages poll, mark as seen), transcript exports (a printable
page and JSON; each export is recorded like a view), and marking a conversation as a good example for
training (recorded like a view too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from server.db import marks, repo, review
from server.db.session import transaction
from server.deps import Parent, now_of, sessions_of, verify_csrf
from server.pages.common import DB_INT_MAX, form_int, interface_language, redirect, render
from server.pages.filters import localtime_text
from server.pages.i18n import Translator
from server.pages.parents import persona_label

router = APIRouter(prefix="/parent", dependencies=[Depends(verify_csrf)])


def alerts_for_banner(sessions):  # type: ignore[no-untyped-def]
    """For `render`: the parent's unseen alerts, newest first (shown at the top of every parent page)."""

    def load(parent_id: str) -> list[review.AlertView]:
        with transaction(sessions) as s:
            return review.alerts_of(s, parent_id, unseen_only=True, limit=5)

    return load


@router.get("/alerts")
def alerts_page(request: Request, parent: Parent) -> Response:
    with transaction(sessions_of(request)) as s:
        alerts = review.alerts_of(s, parent.id)
    return render(request, "adult/alerts.html", {"alerts": alerts})


@router.get("/alerts.json")
def alerts_feed(request: Request, parent: Parent, after: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0) -> JSONResponse:
    """Unseen alerts newer than `after`, with their text already in the interface language."""
    lang = interface_language(request)
    t = Translator(lang)
    tz = request.app.state.settings.default_timezone
    with transaction(sessions_of(request)) as s:
        fresh = review.alerts_of(s, parent.id, unseen_only=True, after_id=after, limit=20)
        unseen = len(review.alerts_of(s, parent.id, unseen_only=True, limit=1000))
    items = [
        {
            "id": a.id,
            "title": t("alert_title"),
            "text": t("alert_line", child=a.child_name, category=t(f"cat_{a.category}"), when=localtime_text(a.created_at, lang, tz)),
            "link": t("alert_open"),
            "url": f"/parent/conversations/{a.conversation_id}" + (f"#m-{a.message_id}" if a.message_id else ""),
        }
        for a in reversed(fresh)
    ]
    return JSONResponse({"alerts": items, "unseen": unseen}, headers={"Cache-Control": "no-store"})


@router.post("/alerts/seen")
def alerts_seen(request: Request, parent: Parent, alert: Annotated[str, Form()] = "") -> Response:
    with transaction(sessions_of(request)) as s:
        review.mark_alerts_seen(s, parent.id, now_of(request), alert_id=form_int(alert))
    return redirect("/parent/alerts")


def _owned(request: Request, parent, conversation_id: str, action: str):  # type: ignore[no-untyped-def]
    with transaction(sessions_of(request)) as s:
        found = review.conversation_of_parent(s, parent.id, conversation_id)
        if found is None:
            raise HTTPException(404)
        conv, child = found
        review.record_view(s, conv.id, parent, action, now_of(request))
        name = persona_label(request, s, conv.persona_id, interface_language(request), conv.persona_version)
        return conv, child, repo.list_messages(s, conv.id), repo.list_flags(s, conv.id), name


@router.get("/conversations/{conversation_id}/export.html")
def export_html(request: Request, parent: Parent, conversation_id: str) -> Response:
    conv, child, messages, flags, persona_name = _owned(request, parent, conversation_id, "print")
    return render(
        request,
        "adult/transcript_print.html",
        {
            "conv": conv, "child": child, "messages": messages, "flags": flags,
            "persona_name": persona_name,
        },
    )


@router.get("/conversations/{conversation_id}/export.json")
def export_json(request: Request, parent: Parent, conversation_id: str) -> JSONResponse:
    conv, child, messages, flags, _name = _owned(request, parent, conversation_id, "json")
    body = {
        "conversation": {
            "id": conv.id, "persona": conv.persona_id, "persona_version": conv.persona_version,
            "language": conv.language, "model": conv.model, "max_severity": conv.max_severity,
            "created_at": conv.created_at.isoformat(), "updated_at": conv.updated_at.isoformat(),
        },
        "child": {"id": child.id, "name": child.name, "age": child.age},
        "messages": [
            {
                "id": m.id, "seq": m.seq, "role": m.role, "text": m.text, "status": m.status,
                "created_at": m.created_at.isoformat() if m.created_at else None,
                "safety": {
                    "action": m.safety_action, "category": m.safety_category, "side": m.safety_side,
                    "severity": m.safety_severity,
                },
                "withheld_text": m.withheld_text,
            }
            for m in messages
        ],
        "flags": [
            {"category": f.category, "severity": f.severity, "side": f.side, "message": f.message_id,
             "created_at": f.created_at.isoformat()}
            for f in flags
        ],
    }
    return JSONResponse(
        body,
        headers={
            "Content-Disposition": f'attachment; filename="kidchat-{conv.id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/conversations/{conversation_id}/good")
def mark_good(
    request: Request,
    parent: Parent,
    conversation_id: str,
    good: Annotated[str, Form()] = "",
    through: Annotated[str, Form()] = "",
) -> Response:
    """Mark (good=1, up to message `through`: the last one the page showed) or unmark (good=0)."""
    with transaction(sessions_of(request)) as s:
        found = review.conversation_of_parent(s, parent.id, conversation_id)
        if found is None:
            raise HTTPException(404)
        conv, _child = found
        now = now_of(request)
        if good == "1" and (through_id := form_int(through)) is not None:
            changed, action = marks.mark_good(s, conv, parent, through_id, now), "marked_good"
        elif good == "0":
            changed, action = marks.unmark_good(s, conv), "unmarked_good"
        else:
            raise HTTPException(400)
        if changed:
            review.record_view(s, conv.id, parent, action, now)
    return redirect(f"/parent/conversations/{conversation_id}#good")
