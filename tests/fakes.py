"""Test doubles. The scripted engine lives in server/llm/fake.py; this is a word-matching safety
checker for protocol tests, so they don't depend on the real safety stage's word lists."""

from __future__ import annotations

from server.safety.verdict import Verdict


class WordChecker:
    """Blocks any text containing one of `words` (category per word); 'sad-forever' is a self-harm
    disclosure (redirect, high severity). Records every call."""

    def __init__(self, words: dict[str, str] | None = None) -> None:
        self.words = words or {"badword": "profanity", "bomb": "dangerous", "가나다욕": "profanity"}
        self.calls: list[tuple[str, str]] = []

    def check(self, text, role, *, age=None, history=()):  # type: ignore[no-untyped-def]
        self.calls.append((text, role))
        if "sad-forever" in text:
            return Verdict("redirect", text, "self_harm", "high", ("self_harm",), {"self_harm": 1.0}, "test")
        for word, category in self.words.items():
            if word in text:
                return Verdict("block", text, category, "medium", (category,), {category: 1.0}, "test")
        return Verdict("allow", text)
