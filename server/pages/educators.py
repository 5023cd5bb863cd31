"""The educators' pages: the persona list, the editor (every save a new version), history with diffs
and rollback, YAML export, and a preview chat that streams from the model with the unsaved draft."""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import threading
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from server.chat.protocol import error_frame
from server.chat.service import ChatError
from server.db import accounts, persona_repo
from server.db.session import transaction
from server.deps import Educator, now_of, sessions_of, verify_csrf
from server.pages.common import DB_INT_MAX, form_int, interface_language, redirect, render
from server.pages.i18n import Translator
from server.pages.persona_form import (
    LANGS,
    REDIRECT_KEYS,
    empty_values,
    persona_from_values,
    values_from_form,
    values_from_persona,
)
from server.personas import Persona
from server.personas_store import to_yaml

router = APIRouter(prefix="/educator", dependencies=[Depends(verify_csrf)])
log = logging.getLogger("kidchat.educators")
PREVIEW_TURNS = 20


def _editor(request: Request, values: dict, errors: dict, *, new: bool, version: int | None, status: int = 200,
            saved: str = "") -> Response:
    return render(
        request, "adult/persona_edit.html",
        {"values": values, "errors": errors, "new": new, "version": version, "langs": LANGS,
         "redirect_keys": REDIRECT_KEYS, "saved": saved},
        status,
    )


@router.get("")
def persona_list(request: Request, educator: Educator) -> Response:
    store = request.app.state.personas
    with transaction(sessions_of(request)) as s:
        rows = []
        for record in persona_repo.list_records(s):
            persona = store.get(s, record.id, record.current_version)
            latest = persona_repo.get_version(s, record.id, record.current_version)
            rows.append({"record": record, "persona": persona, "latest": latest})
        return render(request, "adult/educator_list.html", {"rows": rows})


@router.get("/personas/new")
def new_persona(request: Request, educator: Educator) -> Response:
    return _editor(request, empty_values(), {}, new=True, version=None)


@router.post("/personas/new")
async def create_persona(request: Request, educator: Educator) -> Response:
    values = values_from_form(await request.form(), None)
    persona, errors = persona_from_values(values)

    def work() -> Response:
        with transaction(sessions_of(request)) as s:
            if persona is not None and persona_repo.get_record(s, persona.id) is not None:
                errors["id"] = ("err_persona_exists", {})
            if persona is None or errors:
                return _editor(request, values, errors, new=True, version=None, status=400)
            author = accounts.get_user(s, educator.id)
            request.app.state.personas.save(s, persona, author=author, note=values.get("note", ""), now=now_of(request))
        return redirect(f"/educator/personas/{persona.id}?saved=1")

    return await to_thread.run_sync(work)


@router.get("/personas/{persona_id}")
def edit_persona(request: Request, educator: Educator, persona_id: str, saved: str = "") -> Response:
    with transaction(sessions_of(request)) as s:
        ref = request.app.state.personas.current(s, persona_id)
        if ref is None:
            raise HTTPException(404)
        values = values_from_persona(ref.persona)
        values["base_version"] = str(ref.version)
        return _editor(request, values, {}, new=False, version=ref.version, saved=saved)


@router.post("/personas/{persona_id}")
async def save_persona(request: Request, educator: Educator, persona_id: str) -> Response:
    values = values_from_form(await request.form(), persona_id)
    persona, errors = persona_from_values(values)

    def work() -> Response:
        store = request.app.state.personas
        with transaction(sessions_of(request)) as s:
            ref = store.current(s, persona_id)
            if ref is None:
                raise HTTPException(404)
            if values.get("base_version") != str(ref.version):  # someone saved since this editor opened
                errors["_form"] = ("err_conflict", {"n": ref.version})
            if persona is None or errors:
                return _editor(request, values, errors, new=False, version=ref.version, status=400)
            if persona == ref.persona:
                return redirect(f"/educator/personas/{persona_id}?saved=unchanged")
            author = accounts.get_user(s, educator.id)
            store.save(s, persona, author=author, note=values.get("note", ""), now=now_of(request))
        return redirect(f"/educator/personas/{persona_id}?saved=1")

    return await to_thread.run_sync(work)


def yaml_diff(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    """(kind, line) pairs of a unified diff: kind is add, del, hunk or same."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=2)
    out = []
    for line in lines:
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out


@router.get("/personas/{persona_id}/history")
def history(request: Request, educator: Educator, persona_id: str) -> Response:
    store = request.app.state.personas
    with transaction(sessions_of(request)) as s:
        record = persona_repo.get_record(s, persona_id)
        if record is None:
            raise HTTPException(404)
        versions = persona_repo.versions_of(s, persona_id)  # newest first
        texts = {v.version: to_yaml(store.get(s, persona_id, v.version)) for v in versions}
        items = []
        for v in versions:
            before = texts.get(v.version - 1, "")
            items.append({"v": v, "diff": yaml_diff(before, texts[v.version], f"v{v.version - 1}", f"v{v.version}")})
        return render(request, "adult/persona_history.html", {"record": record, "items": items, "persona_id": persona_id})


@router.post("/personas/{persona_id}/rollback")
async def rollback(request: Request, educator: Educator, persona_id: str) -> Response:
    form = await request.form()
    raw = form.get("version")
    target = form_int(raw) or 0

    def work() -> Response:
        store = request.app.state.personas
        with transaction(sessions_of(request)) as s:
            old = store.get(s, persona_id, target) if persona_repo.get_record(s, persona_id) else None
            if old is None:
                raise HTTPException(404)
            author = accounts.get_user(s, educator.id)
            store.save(s, old, author=author, note=f"rollback to v{target}", now=now_of(request))
        return redirect(f"/educator/personas/{persona_id}/history")

    return await to_thread.run_sync(work)


@router.get("/personas/{persona_id}/export.yaml")
def export_yaml(
    request: Request, educator: Educator, persona_id: str, version: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None
) -> Response:
    with transaction(sessions_of(request)) as s:
        persona = request.app.state.personas.get(s, persona_id, version)
    if persona is None:
        raise HTTPException(404)
    return Response(
        to_yaml(persona), media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{persona_id}.yaml"'},
    )


def _preview_history(raw: object) -> list[tuple[str, str]]:
    try:
        items = json.loads(raw) if isinstance(raw, str) and raw else []
    except ValueError:
        return []
    turns = []
    for item in items[-PREVIEW_TURNS:] if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("role") in ("child", "assistant") and isinstance(item.get("text"), str):
            turns.append((item["role"], item["text"][:2000]))
    return turns


@router.post("/personas/{persona_id}/preview")
async def preview(request: Request, educator: Educator, persona_id: str) -> Response:
    """Stream a reply from the model with the unsaved draft, as NDJSON frames of the chat protocol
    (delta, redirect, done, error). Nothing is stored; the child-side safety pass runs as for a child."""
    form = await request.form()
    values = values_from_form(form, persona_id if persona_id != "new" else None)
    draft, errors = persona_from_values(values)
    lang = interface_language(request)
    if draft is None:
        t = Translator(lang)
        messages = {k: (t(v[0], **v[1]) if v[1] is not None else v[0]) for k, v in errors.items()}
        return JSONResponse({"type": "error", "code": "invalid_draft", "errors": messages}, status_code=400)
    text = form.get("preview_text")
    return _stream_preview(request, draft, _preview_history(form.get("preview_history")), text if isinstance(text, str) else "", lang)


def _stream_preview(request: Request, draft: Persona, turns: list[tuple[str, str]], text: str, lang: str) -> Response:
    chat = request.app.state.chat
    queue: asyncio.Queue[dict | None] = asyncio.Queue()
    stop = threading.Event()

    async def send(frame: dict) -> None:
        await queue.put(frame)

    async def run() -> None:
        try:
            status = await chat.preview(draft, turns, text, send, stop)
            await queue.put({"type": "done", "status": status})
        except ChatError as exc:
            await queue.put(error_frame(exc.code, lang))
        except Exception as exc:  # noqa: BLE001 - logged by type; the educator sees fixed words
            log.error("preview failed (%s)", type(exc).__name__)
            await queue.put(error_frame("internal", lang))
        finally:
            await queue.put(None)

    task = asyncio.create_task(run())
    request.app.state.background.add(task)
    task.add_done_callback(request.app.state.background.discard)

    async def body():  # type: ignore[no-untyped-def]
        try:
            while (frame := await queue.get()) is not None:
                yield json.dumps(frame, ensure_ascii=False) + "\n"
        finally:
            stop.set()  # the educator closed the preview or pressed stop: free the model

    return StreamingResponse(
        body(), media_type="application/x-ndjson", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
