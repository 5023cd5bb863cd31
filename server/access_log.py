"""kidchat's own access log, and the redaction every log line goes through.

Children's words, child-link tokens and parents' search terms must never reach a log. uvicorn's access log
writes the full request line (`GET /c/<token>`, `GET /parent/children/<id>?q=<search>`), and at debug level
the websockets library logs every frame's text. So `kidchat serve` turns uvicorn's access log off and logs
requests here instead: method, path with secret segments replaced, never the query string, status and
time. Every other line, from any logger, passes `RedactingFilter` on its way to the handler (see
`log_config`): query strings, secret path segments, websocket frame payloads and credential headers
(cookies, authorization) are replaced by `[redacted]`, tracebacks included.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kidchat.access")

REDACTED = "[redacted]"
# Paths whose last segment is a bearer secret: the child link signs a device in, the sign-up link makes
# an account (server/auth/signup.py), the sign-in link logs in (server/auth/login_link.py).
SECRET_PATH_PREFIXES = ("/c/", "/signup/confirm/", "/login/link/")

_SECRET_SEGMENT = re.compile(
    "(" + "|".join(re.escape(p) for p in SECRET_PATH_PREFIXES) + r")[^\s/?#\"'\[\]]+"
)
# A query string after something path-like: "/parent/children/x?q=...", "http://h/p?x=1".
_QUERY = re.compile(r"(/[^\s?#\"']*)\?[^\s\"'#]+")
# websockets' debug lines for data frames: "< TEXT '{\"type\":\"message\",\"text\":...}' [42 bytes]".
_FRAME = re.compile(r"^([<>] (?:TEXT|BINARY|CONT))\b.*$", re.DOTALL)
# ... and for the handshake's headers: "< cookie: kidchat_child=<session token>".
_SECRET_HEADER = re.compile(
    r"^([<>] (?:cookie|set-cookie|authorization|proxy-authorization|x-csrf-token|x-api-key)):.*$",
    re.DOTALL | re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with secret path segments, query strings and frame payloads replaced."""
    text = _FRAME.sub(rf"\1 {REDACTED}", text)
    text = _SECRET_HEADER.sub(rf"\1: {REDACTED}", text)
    text = _SECRET_SEGMENT.sub(rf"\1{REDACTED}", text)
    return _QUERY.sub(rf"\1?{REDACTED}", text)


def redact_path(path: str) -> str:
    return _SECRET_SEGMENT.sub(rf"\1{REDACTED}", path)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its traceback) through `redact`; never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments don't fit its format: keep it, redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class AccessLog:
    """Pure ASGI middleware: one line per HTTP request on the `kidchat.access` logger, without the query
    string and with secret path segments redacted. (Websocket handshakes are logged by uvicorn, redacted
    by the filter.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            log.info(
                '%s - "%s %s HTTP/%s" %d %.0fms',
                f"{client[0]}:{client[1]}" if client else "-",
                scope.get("method", "-"),
                redact_path(scope.get("path", "")),
                scope.get("http_version", "1.1"),
                status,
                (time.perf_counter() - started) * 1000,
            )


def log_config(level: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` that `kidchat serve` hands uvicorn: every logger propagates to one
    stderr handler that redacts. kidchat's and uvicorn's loggers log at `level`; libraries stay at warning
    (SQLAlchemy at debug would log result rows, that is transcripts)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "server.access_log.RedactingFilter"}},
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(asctime)s %(levelprefix)s %(name)s: %(message)s",
                "use_colors": False,
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
        "loggers": {
            "kidchat": {"level": level},
            "server": {"level": level},
            "training": {"level": level},
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": level, "handlers": [], "propagate": True},
            "sqlalchemy": {"level": "WARNING"},
        },
    }
