"""The kids' page (for a device opened with a child link), a welcome page otherwise, and the small JSON
API the page uses."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from server.deps import current_child
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
    personas = [p.public() for p in state.personas.values() if child.may_use(p.id)]
    response = state.templates.TemplateResponse(
        request,
        "kids.html",
        {
            "personas": personas,
            "max_message_chars": state.settings.max_message_chars,
            "lang": kids_language(request, child.language),
            "child": {"id": child.id},
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/api/personas")
async def list_personas(request: Request) -> dict:
    return {"personas": [p.public() for p in request.app.state.personas.values()]}


@router.get("/healthz")
async def healthz(request: Request) -> dict:
    return {"ok": True, "model": request.app.state.chat.engine.name}
