"""The kids' page (for a device opened with a child link), a welcome page otherwise, and the small JSON
API the page uses."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from server.chat.limits import rest_reason
from server.db import accounts
from server.db.session import transaction
from server.deps import current_child, now_of, sessions_of
from server.pages.common import LANG_COOKIE, render

router = APIRouter()


def kids_language(request: Request, default: str) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return chosen if chosen in ("ko", "en") else default


@router.get("/", response_class=HTMLResponse)
def kids_page(request: Request) -> Response:
    child = current_child(request)
    if child is None:
        return render(request, "adult/welcome.html")
    state = request.app.state
    with transaction(sessions_of(request)) as s:
        personas = [r.persona.public() for r in state.personas.all_current(s) if child.may_use(r.persona.id)]
        row = accounts.get_child(s, child.id)
        rest = rest_reason(s, row, now_of(request)) if row is not None else None
    response = state.templates.TemplateResponse(
        request,
        "kids.html",
        {
            "personas": personas,
            "max_message_chars": state.settings.max_message_chars,
            "lang": kids_language(request, child.language),
            "child": {"id": child.id},
            "rest": rest or "",
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/api/personas")
def list_personas(request: Request) -> dict:
    with transaction(sessions_of(request)) as s:
        return {"personas": [r.persona.public() for r in request.app.state.personas.all_current(s)]}


@router.get("/healthz")
async def healthz(request: Request) -> dict:
    return {"ok": True, "model": request.app.state.chat.engine.name}
