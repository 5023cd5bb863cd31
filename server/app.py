"""create_app(settings): nothing happens at import; the model, database and personas load in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from server.chat.service import ChatService
from server.chat.ws import router as ws_router
from server.config import Settings
from server.db import repo
from server.db.session import make_engine, make_sessionmaker, transaction
from server.llm.base import Engine
from server.pages.kids import router as kids_router
from server.personas import load_personas
from server.safety.api import router as moderate_router
from server.safety.verdict import SafetyChecker

WEB = Path(__file__).resolve().parent.parent / "web"
log = logging.getLogger("kidchat")


def build_engine(settings: Settings) -> Engine:
    """The llama.cpp engine(s): one GGUF for every language, or one per language (the defaults)."""
    from server.llm.default_model import model_paths
    from server.llm.llama import LlamaEngine
    from server.llm.routed import RoutedEngine

    threads = settings.threads
    engines: dict[str, Engine] = {}
    for language, path in model_paths(settings).items():
        llama = LlamaEngine(
            path,
            n_ctx=settings.n_ctx,
            n_gpu_layers=settings.n_gpu_layers,
            n_threads=threads,
            chat_template=settings.chat_template,
            prompt_style=settings.prompt_style,
            kv_cache_mb=settings.kv_cache_mb,
        )
        log.info(
            "model %s loaded for %s (prompt: %s, template: %s, threads: %d)",
            llama.name, language, llama.prompt_style, llama.template_source, threads,
        )
        engines[language] = llama
    default = engines.pop("default")
    return RoutedEngine(default, engines) if engines else default


def build_safety() -> SafetyChecker:
    from server.safety import build_checker

    return build_checker()


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    safety: SafetyChecker | None = None,
) -> FastAPI:
    """Build the app. Tests pass a scripted `engine`; the server builds the llama.cpp one at start-up."""
    settings = settings or Settings()
    personas = load_personas(settings.personas_dir)  # strict: a bad persona file stops start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db_engine = make_engine(settings.resolved_database_url)
        sessions = make_sessionmaker(db_engine)
        with transaction(sessions) as s:
            closed = repo.close_pending_replies(s)
        if closed:
            log.warning("%d replies were cut off by the last shutdown; marked interrupted", closed)
        model = engine or build_engine(settings)
        checker = safety or build_safety()
        app.state.sessions = sessions
        app.state.safety = checker
        app.state.chat = ChatService(
            engine=model,
            safety=checker,
            personas=personas,
            sessions=sessions,
            max_message_chars=settings.max_message_chars,
            max_reply_tokens=settings.max_reply_tokens,
        )
        try:
            yield
        finally:
            app.state.chat.close()
            db_engine.dispose()

    app = FastAPI(title="kidchat", lifespan=lifespan)
    app.state.settings = settings
    app.state.personas = personas
    app.state.templates = Jinja2Templates(directory=str(WEB / "templates"))
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    app.include_router(kids_router)
    app.include_router(ws_router)
    app.include_router(moderate_router)
    return app
