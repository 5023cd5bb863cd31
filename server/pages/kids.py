"""The kids' page and the small JSON API it uses."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()


def interface_language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("kidchat_lang")
    if chosen in ("ko", "en"):
        return chosen
    header = request.headers.get("accept-language", "").lower()
    return "ko" if header.startswith("ko") else "en"


@router.get("/", response_class=HTMLResponse)
async def kids_page(request: Request) -> HTMLResponse:
    state = request.app.state
    return state.templates.TemplateResponse(
        request,
        "kids.html",
        {
            "personas": [p.public() for p in state.personas.values()],
            "max_message_chars": state.settings.max_message_chars,
            "lang": interface_language(request),
        },
    )


@router.get("/api/personas")
async def list_personas(request: Request) -> dict:
    return {"personas": [p.public() for p in request.app.state.personas.values()]}


@router.get("/healthz")
async def healthz(request: Request) -> dict:
    return {"ok": True, "model": request.app.state.chat.engine.name}
