"""POST /api/moderate: the safety stage for other apps (e.g. comments under children's videos).

It runs on the machine that serves children, so it is guarded (docs/safety.md, docs/security.md):
- an API key issued by an admin (`Authorization: Bearer kc_...`), unless `moderation_require_key` is off;
- a size limit per request: the body's bytes before it is parsed, then texts and characters;
- a rate limit per key (requests and characters per minute; per client address when no key is needed);
- the checks run in their own worker threads, off the event loop and apart from the threads that check
  children's messages, so a batch cannot hold up a child's reply.

The app keeps a `ModerationGuard` on `app.state.moderation` and the checker on `app.state.safety`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message, Receive

from server.config import Settings
from server.db import apikeys
from server.db.session import transaction
from server.safety.verdict import SafetyChecker

MAX_ITEMS = 100  # the schema's bounds; the settings may lower the item count and cap the characters
MAX_TEXT_CHARS = 2000


class ModerateItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT_CHARS, description="The text to judge.")
    role: Literal["child", "assistant"] = Field("child", description="Who wrote it.")

    @field_validator("text")
    @classmethod
    def _no_lone_surrogates(cls, v: str) -> str:
        """A lone surrogate (sent as a JSON escape) is not text: it cannot be encoded, stored or judged."""
        if any("\ud800" <= ch <= "\udfff" for ch in v):
            raise ValueError("text contains a lone surrogate (not valid Unicode)")
        return v


class ModerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ModerateItem] = Field(min_length=1, max_length=MAX_ITEMS)
    age: int | None = Field(None, ge=3, le=17, description="The reader's age; default: the configured one.")


class ModerateResult(BaseModel):
    action: Literal["allow", "block", "redirect"]
    categories: list[str]
    scores: dict[str, float]


class ModerateResponse(BaseModel):
    results: list[ModerateResult]


class ErrorDetail(BaseModel):
    detail: str


# -- the guard: limits, rate limiter and worker threads, one per app --------------------------------------
@dataclass(frozen=True)
class Caller:
    """Who is asking: an API key (`key:<id>`) or, when no key is needed, a client address (`ip:<addr>`)."""

    id: str
    key_name: str | None = None


class ModerationGuard:
    """The moderation API's limits and worker threads (built by create_app from the settings)."""

    def __init__(self, settings: Settings) -> None:
        self.require_key = settings.moderation_require_key
        self.max_items = settings.moderation_max_items
        self.max_chars = settings.moderation_max_chars
        self.max_body_bytes = settings.moderation_max_body_bytes
        self._requests = RateLimitItemPerMinute(settings.moderation_requests_per_minute)
        self._chars = RateLimitItemPerMinute(settings.moderation_chars_per_minute)
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._worker_count = settings.moderation_workers
        self._workers: ThreadPoolExecutor | None = None  # made on first use, so an app can start again

    def admit(self, caller: Caller, chars: int) -> int | None:
        """Count one request of `chars` characters against the caller's limits: None when admitted, else
        the seconds to wait. Nothing is counted for a refused request. Runs on the event loop, so the
        test and the hit of both limits happen together."""
        cost = max(1, chars)
        ok_requests = self._limiter.test(self._requests, caller.id)
        ok_chars = self._limiter.test(self._chars, caller.id, cost=cost)
        if ok_requests and ok_chars:
            self._limiter.hit(self._requests, caller.id)
            self._limiter.hit(self._chars, caller.id, cost=cost)
            return None
        full = self._requests if not ok_requests else self._chars
        reset = self._limiter.get_window_stats(full, caller.id).reset_time
        return max(1, math.ceil(reset - time.time()))

    async def run(self, work: Callable[[], list[ModerateResult]]) -> list[ModerateResult]:
        if self._workers is None:
            self._workers = ThreadPoolExecutor(self._worker_count, thread_name_prefix="kidchat-moderate")
        return await asyncio.get_running_loop().run_in_executor(self._workers, work)

    def close(self) -> None:
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=False, cancel_futures=True)


# -- the body limit, checked while the body is read, before FastAPI parses it -----------------------------
class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


def _limited(receive: Receive, limit: int) -> Callable[[], Awaitable[Message]]:
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return limited_receive


class BodyLimitRoute(APIRoute):
    """A route that refuses a body over `moderation_max_body_bytes` with 413 instead of reading it all:
    by the Content-Length header when there is one, else by counting the bytes as they come."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def limited_handler(request: Request) -> Response:
            limit = request.app.state.moderation.max_body_bytes
            length = request.headers.get("content-length")
            if length is not None and (not (length.isascii() and length.isdigit()) or int(length) > limit):
                raise BodyTooLarge(limit)
            return await handler(Request(request.scope, _limited(request.receive, limit)))

        return limited_handler


router = APIRouter(tags=["safety"], route_class=BodyLimitRoute)


# -- dependencies -------------------------------------------------------------------------------------
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ModerationKey",
    description="An API key made by an admin: `kidchat apikey create NAME` or the admin page.",
)


def get_guard(request: Request) -> ModerationGuard:
    return request.app.state.moderation


def get_checker(request: Request) -> SafetyChecker:
    return request.app.state.safety


def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def get_now(request: Request) -> datetime:
    return request.app.state.clock()


GuardDep = Annotated[ModerationGuard, Depends(get_guard)]
CheckerDep = Annotated[SafetyChecker, Depends(get_checker)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def moderation_caller(
    request: Request,
    guard: GuardDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The key's caller; a missing or unknown key is refused with 401 when keys are required. A plain
    `def`: FastAPI runs the key lookup in its thread pool."""
    if credentials is None:
        if guard.require_key:
            raise _unauthorized("An API key is required: Authorization: Bearer <key>.")
        return Caller(f"ip:{request.client.host if request.client else 'unknown'}")
    with transaction(get_sessions(request)) as s:
        row = apikeys.find_active_key(s, credentials.credentials, get_now(request))
        caller = Caller(f"key:{row.id}", row.name) if row is not None else None
    if caller is None:
        raise _unauthorized("This API key is not valid (unknown or revoked).")
    return caller


CallerDep = Annotated[Caller, Depends(moderation_caller)]


def _judge(checker: SafetyChecker, body: ModerateRequest) -> list[ModerateResult]:
    results = []
    for item in body.items:
        v = checker.check(item.text, item.role, age=body.age)
        results.append(
            ModerateResult(
                action=v.action,
                categories=list(v.categories),
                scores={k: round(s, 4) for k, s in v.scores.items()},
            )
        )
    return results


@router.post(
    "/api/moderate",
    response_model=ModerateResponse,
    responses={
        401: {"model": ErrorDetail, "description": "No API key, or one that is unknown or revoked."},
        413: {"model": ErrorDetail, "description": "Too many texts, characters or bytes in one request."},
        429: {"model": ErrorDetail, "description": "Over this key's rate limit; see Retry-After."},
    },
)
async def moderate(body: ModerateRequest, caller: CallerDep, guard: GuardDep, checker: CheckerDep) -> ModerateResponse:
    """Judge a batch of texts, in order. The checks run in the guard's worker threads."""
    chars = sum(len(item.text) for item in body.items)
    if len(body.items) > guard.max_items:
        raise HTTPException(413, f"At most {guard.max_items} texts per request.")
    if chars > guard.max_chars:
        raise HTTPException(413, f"At most {guard.max_chars} characters per request, all texts together.")
    wait = guard.admit(caller, chars)
    if wait is not None:
        raise HTTPException(429, "Too many requests for this key; try again later.", headers={"Retry-After": str(wait)})
    return ModerateResponse(results=await guard.run(lambda: _judge(checker, body)))
