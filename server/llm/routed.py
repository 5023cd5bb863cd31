"""Several models behind one engine, picked by the reply's language.

The default set-up serves English from SmolLM2-135M-Instruct and Korean from Gemma 3 270M: of the models
that PyPI packages carry, each is the better one in its language (README: "The default model").
All of them share the chat service's one model worker, so turns still queue in order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from server.llm.base import Engine, GenerationRequest, GenerationStats


class RoutedEngine:
    def __init__(self, default: Engine, by_language: dict[str, Engine]) -> None:
        self.default = default
        self.by_language = dict(by_language)
        names = [default.name, *(e.name for e in self.by_language.values() if e is not default)]
        self.name = "+".join(dict.fromkeys(names))
        self.n_ctx = min(e.n_ctx for e in [default, *self.by_language.values()])

    def pick(self, language: str | None) -> Engine:
        return self.by_language.get(language or "", self.default)

    def count_tokens(self, request: GenerationRequest) -> int:
        return self.pick(request.language).count_tokens(request)

    def stream(self, request: GenerationRequest, stop: threading.Event, stats: GenerationStats) -> Iterator[str]:
        return self.pick(request.language).stream(request, stop, stats)
