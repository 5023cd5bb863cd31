"""What every HTML page shares: the interface language, rendering with CSRF token and alerts, cookies,
and the handlers that turn LoginRequired/Forbidden/CsrfFailed into friendly pages."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.auth import csrf
from server.deps import CsrfFailed, Forbidden, LoginRequired, current_adult
from server.pages.i18n import Translator, best_language

LANG_COOKIE = "kidchat_lang"
# The largest number a query parameter compared with an Integer column may carry: PostgreSQL's integer is
# 32-bit, and a larger number (on SQLite, one past 64 bits) made the query fail with 500; FastAPI answers 422.
DB_INT_MAX = 2**31 - 1


def form_int(raw: object, maximum: int = DB_INT_MAX) -> int | None:
    """A form field holding a whole number in ASCII digits, at most `maximum`; else None. (str.isdigit()
    is true for "²" and "٣", which int() or the database then refuse: a 500 the OpenAPI fuzzer found.)"""
    if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
        return None
    value = int(raw)
    return value if value <= maximum else None


def interface_language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in ("ko", "en"):
        return chosen
    return best_language(request.headers.get("accept-language", ""))


def is_secure(request: Request) -> bool:
    """Production: always (it refuses to start without TLS settings, server/auth/deployment.py)."""
    settings = request.app.state.settings
    if settings.production or settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return request.url.scheme in ("https", "wss")


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    """HttpOnly, SameSite=Lax, Secure over https: the only way kidchat sets a cookie."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=is_secure(request), path="/"
    )


def csrf_token(request: Request) -> str:
    """The token for this browser's forms; makes the cookie on first use (set by `render`)."""
    value = request.cookies.get(csrf.COOKIE) or getattr(request.state, "new_csrf_cookie", None)
    if not value:
        value = csrf.CsrfSigner.new_cookie_value()
        request.state.new_csrf_cookie = value
    return request.app.state.csrf.token_for(value)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    lang = interface_language(request)
    adult = current_adult(request)
    ctx: dict[str, Any] = {
        "lang": lang,
        "t": Translator(lang),
        "adult": adult,
        "csrf_token": csrf_token(request),
        "path": request.url.path,
        "settings": request.app.state.settings,
    }
    if adult is not None and adult.role == "parent" and "alerts" not in (context or {}):
        ctx["unseen_alerts"] = request.app.state.alerts_for_banner(adult.id)
    ctx.update(context or {})
    response = request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status_code)
    new_cookie = getattr(request.state, "new_csrf_cookie", None)
    if new_cookie:
        set_cookie(response, request, csrf.COOKIE, new_cookie, max_age=None)
    if request.query_params.get("lang") in ("ko", "en"):
        set_cookie(response, request, LANG_COOKIE, request.query_params["lang"], max_age=365 * 24 * 3600)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/login?next={quote(target, safe='')}")

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, _exc: Forbidden) -> Response:
        return await _page(request, "forbidden", 403)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, _exc: CsrfFailed) -> Response:
        return await _page(request, "csrf", 403)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422, less each error's `input`: the caller's words need not come back, and a lone
        surrogate sent as a JSON escape could not be encoded (the default handler answered 500). ASCII
        JSON, so a name the caller made up in `loc` cannot break the encoding either."""
        errors = [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]
        body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True, separators=(",", ":"))
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and not request.url.path.startswith("/api/"):
            return await _page(request, "not_found", 404)
        from fastapi.exception_handlers import http_exception_handler

        return await http_exception_handler(request, exc)


async def _page(request: Request, kind: str, status: int) -> Response:
    from anyio import to_thread

    return await to_thread.run_sync(
        lambda: render(request, "adult/message.html", {"title_key": f"{kind}_title", "text_key": f"{kind}_text"}, status)
    )
