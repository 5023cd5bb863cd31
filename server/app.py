"""create_app(settings): nothing happens at import; the model, database and personas load in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from server.access_log import AccessLog
from server.auth.csrf import CsrfSigner
from server.auth.deployment import check_deployment
from server.auth.devices import DeviceCookies
from server.auth.login_link import LoginLinks
from server.auth.secret import resolve_secret_key
from server.auth.signup import SignupLinks
from server.chat.reference import References, build_references
from server.chat.service import ChatService
from server.chat.socket_guard import SocketGuard
from server.chat.ws import router as ws_router
from server.config import Settings
from server.db import repo
from server.db.session import make_engine, make_sessionmaker, private_dir, transaction
from server.deps import child_info_loader
from server.llm.base import Engine
from server.notify import build_notifier
from server.pages.admin import router as admin_router
from server.pages.auth import router as auth_router
from server.pages.common import install_error_pages
from server.pages.educators import router as educators_router
from server.pages.filters import install_filters
from server.pages.kids import router as kids_router
from server.pages.login_link import router as login_link_router
from server.pages.parents import router as parents_router
from server.pages.parents_review import alerts_for_banner
from server.pages.parents_review import router as review_router
from server.pages.parents_settings import router as settings_router
from server.personas import load_personas
from server.personas_store import PersonaStore
from server.retention import purge_forever
from server.safety.api import ModerationGuard
from server.safety.api import router as moderate_router
from server.safety.verdict import SafetyChecker
from server.security_headers import SecurityHeaders

WEB = Path(__file__).resolve().parent.parent / "web"
log = logging.getLogger("kidchat")


def build_engine(settings: Settings) -> Engine:
    """The llama.cpp engine(s): one GGUF for every language, or one per language (the defaults); or, for
    tests that run a real `kidchat serve`, the scripted engine KIDCHAT_SCRIPTED_ENGINE describes."""
    if settings.scripted_engine is not None:  # never in production: Settings refuses it there
        from server.llm.fake import ScriptedEngine

        log.warning("serving the scripted test engine (KIDCHAT_SCRIPTED_ENGINE), not a model")
        return ScriptedEngine(settings.scripted_engine.scripts, delay=settings.scripted_engine.delay)
    from server.llm.default_model import served_models
    from server.llm.llama import LlamaEngine
    from server.llm.routed import RoutedEngine

    threads = settings.threads
    engines: dict[str, Engine] = {}
    for language, served in served_models(settings).items():
        llama = LlamaEngine(
            served.path,
            lora_path=served.lora,
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
    clock: Callable[[], datetime] | None = None,
    references: References | None = None,
) -> FastAPI:
    """Build the app. Tests pass a scripted `engine` (and may pass a `clock`); the server builds the
    llama.cpp one at start-up."""
    settings = settings or Settings()
    yaml_personas = load_personas(settings.personas_dir)  # strict: a bad persona file stops start-up
    secret_key = resolve_secret_key(settings)  # production refuses a missing or weak key here
    check_deployment(settings)  # ... and to run without TLS settings
    private_dir(settings.data_dir)  # var/: the database, the key and the models are this user's only
    now = clock or (lambda: datetime.now(UTC))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db_engine = make_engine(settings.resolved_database_url)
        sessions = make_sessionmaker(db_engine)
        store = PersonaStore()
        with transaction(sessions) as s:
            closed = repo.close_pending_replies(s)
            store.seed(s, yaml_personas, now())
        if closed:
            log.warning("%d replies were cut off by the last shutdown; marked interrupted", closed)
        notifier = build_notifier(settings, sessions, now)
        model = engine or build_engine(settings)
        checker = safety or build_safety()
        refs = references if references is not None or engine is not None else build_references(settings)
        app.state.sessions = sessions
        app.state.safety = checker
        app.state.personas = store
        app.state.child_loader = child_info_loader(sessions, now)
        app.state.alerts_for_banner = alerts_for_banner(sessions)
        app.state.chat = ChatService(
            engine=model,
            safety=checker,
            personas=store,
            sessions=sessions,
            max_message_chars=settings.max_message_chars,
            max_reply_tokens=settings.max_reply_tokens,
            clock=now,
            on_alerts=notifier.submit if notifier else None,
            references=refs,
        )
        app.state.notifier = notifier
        purger = (
            asyncio.create_task(purge_forever(sessions, now, settings.purge_interval_minutes))
            if settings.purge_interval_minutes
            else None
        )
        try:
            yield
        finally:
            if purger is not None:
                purger.cancel()
            app.state.chat.close()
            app.state.moderation.close()
            if notifier is not None:
                notifier.close()
            db_engine.dispose()

    # Production publishes no API documentation: /docs, /redoc and /openapi.json are 404 there.
    docs = {} if not settings.production else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="kidchat", lifespan=lifespan, **docs)
    app.state.settings = settings
    app.state.clock = now
    app.state.background = set()  # running preview tasks, kept referenced until they finish
    app.state.csrf = CsrfSigner(secret_key)
    app.state.devices = DeviceCookies(secret_key, settings.device_cookie_days)
    app.state.signup_links = SignupLinks(secret_key)
    app.state.login_links = LoginLinks(secret_key)
    app.state.moderation = ModerationGuard(settings)  # POST /api/moderate's limits and worker threads
    app.state.socket_guard = SocketGuard(settings)  # the chat socket's limits per child and per address
    app.state.templates = Jinja2Templates(directory=str(WEB / "templates"))
    install_filters(app.state.templates.env, settings)
    install_error_pages(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    if settings.forwarded_allow_ips:  # outermost: the log and the cookies see the client's address and scheme
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    app.include_router(kids_router)
    app.include_router(auth_router)
    app.include_router(login_link_router)
    app.include_router(parents_router)
    app.include_router(review_router)
    app.include_router(settings_router)
    app.include_router(educators_router)
    app.include_router(admin_router)
    app.include_router(ws_router)
    app.include_router(moderate_router)
    return app
