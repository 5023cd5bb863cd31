"""The safety stage's interface: text in, verdict out. Pure: no I/O, no logging of text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["child", "assistant"]
Action = Literal["allow", "block", "redirect"]
Severity = Literal["none", "low", "medium", "high"]

# The child-specific taxonomy (docs/safety.md). Persona redirect lines are keyed by these names.
CATEGORIES: tuple[str, ...] = (
    "sexual",
    "violence",
    "self_harm",
    "abuse_disclosure",
    "hate",
    "profanity",
    "dangerous",
    "personal_info",
    "grooming",
    "jailbreak",
    "scary_adult",
)


@dataclass(frozen=True)
class Verdict:
    """What the safety stage decided about one text.

    action: allow (pass as is), block (never shown; the persona redirects), redirect (the persona
        answers with a caring redirect instead of the model, e.g. a self-harm disclosure or a child
        sharing a phone number).
    text: the text to store and to show the model: the input with personal details masked.
    category: the main category when not allowed, else None.
    """

    action: Action
    text: str
    category: str | None = None
    severity: Severity = "none"
    categories: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # short, fixed words (e.g. "wordlist:profanity"); never the message text

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


class SafetyChecker(Protocol):
    def check(
        self,
        text: str,
        role: Role,
        *,
        age: int | None = None,
        history: tuple[str, ...] = (),
    ) -> Verdict:
        """Judge one text. `history` holds the child's earlier messages in this conversation
        (oldest first) for conversation-level signals."""
        ...
