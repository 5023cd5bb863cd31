"""The engine interface the chat service talks to, so tests can script replies without a model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[ChatMessage, ...]
    language: str | None = None  # the reply's language: a routed engine picks its model by it
    # Speaker names for models prompted with a transcript instead of a chat template (base models).
    assistant_label: str = "Assistant"
    user_label: str = "Child"
    max_tokens: int = 160
    temperature: float = 0.7
    top_p: float = 0.9
    repeat_penalty: float = 1.1


@dataclass
class GenerationStats:
    """Filled in by the engine while it streams (read after the stream ends)."""

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class EngineError(RuntimeError):
    """The model failed mid-generation; the service stores what was said and tells the child kindly."""


class Engine(Protocol):
    name: str
    n_ctx: int

    def count_tokens(self, request: GenerationRequest) -> int:
        """Tokens of the prompt this request renders to (with the generation prompt)."""
        ...

    def stream(
        self, request: GenerationRequest, stop: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        """Blocking iterator of text pieces (about a token each). Checks `stop` before every token and
        returns within one token once it is set. Runs on the model's worker thread, never the event loop."""
        ...
