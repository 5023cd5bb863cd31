"""A scripted engine for tests (like simonw/llm's MockModel): replies are given up front, piece by piece."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from server.llm.base import EngineError, GenerationRequest, GenerationStats


class ScriptedEngine:
    """Each call to `stream` plays the next script: a sequence of pieces.

    A piece that is an Exception instance is raised at that point (a crash mid-generation).
    `delay` sleeps between pieces so tests can stop or disconnect mid-reply.
    Every request is recorded in `requests` so tests can assert what the model was shown.
    """

    name = "scripted"

    def __init__(
        self, scripts: Sequence[Sequence[str | Exception]] | None = None, *, delay: float = 0.0, n_ctx: int = 4096
    ) -> None:
        self.scripts = [list(s) for s in (scripts or [])]
        self.delay = delay
        self.n_ctx = n_ctx
        self.requests: list[GenerationRequest] = []
        self.pieces_sent = 0
        self.active = 0  # generations running right now (must never exceed 1)
        self.max_active = 0
        self._lock = threading.Lock()

    def count_tokens(self, request: GenerationRequest) -> int:
        # One token per whitespace-separated word plus a few per message: enough for truncation tests.
        return sum(len(m.content.split()) + 4 for m in request.messages)

    def stream(self, request: GenerationRequest, stop: threading.Event, stats: GenerationStats) -> Iterator[str]:
        with self._lock:
            self.requests.append(request)
            script = self.scripts.pop(0) if self.scripts else ["Okay", "."]
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        stats.model = self.name
        stats.prompt_tokens = self.count_tokens(request)
        try:
            for piece in script:
                if stop.is_set():
                    return
                if self.delay:
                    time.sleep(self.delay)
                if isinstance(piece, Exception):
                    raise EngineError("scripted failure") from piece
                stats.completion_tokens += 1
                self.pieces_sent += 1
                yield piece
        finally:
            with self._lock:
                self.active -= 1
