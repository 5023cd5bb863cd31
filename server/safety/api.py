"""POST /api/moderate: the safety stage for other apps (e.g. comments under children's videos).

The app includes `router` and keeps the checker it built on `app.state.safety`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from server.safety.verdict import SafetyChecker

MAX_ITEMS = 100
MAX_TEXT_CHARS = 2000

router = APIRouter(tags=["safety"])


class ModerateItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT_CHARS, description="The text to judge.")
    role: Literal["child", "assistant"] = Field("child", description="Who wrote it.")


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


@router.post("/api/moderate", response_model=ModerateResponse)
def moderate(body: ModerateRequest, request: Request) -> ModerateResponse:
    """Judge a batch of texts, in order. A plain `def`: FastAPI runs it off the event loop."""
    checker: SafetyChecker = request.app.state.safety
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
    return ModerateResponse(results=results)
