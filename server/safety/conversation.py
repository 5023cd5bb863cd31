"""Conversation-level grooming signals across a child's turns.

One message about a gift or a meeting is harmless; a pattern across turns of secrecy plus a meeting,
a gift or photos, or an unknown online contact plus two of those, is a grooming signal. The cue groups
and the rule are data (`data/conversation.yaml`, word-list syntax of lexicon.py). Hand-written: it is
a small rule over word lists, which no library provides for Korean and English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import yaml

from server.safety.lexicon import entry_pattern
from server.safety.normalize import Normalizer


@dataclass(frozen=True)
class ConversationSignals:
    groups: dict[str, re.Pattern[str]]
    with_secrecy: tuple[str, ...]
    contact_needs: int
    normalizer: Normalizer

    @classmethod
    def load(cls, normalizer: Normalizer) -> ConversationSignals:
        data = yaml.safe_load(
            resources.files("server.safety").joinpath("data/conversation.yaml").read_text("utf-8")
        )
        groups = {
            name: re.compile("|".join(entry_pattern(e) for e in entries))
            for name, entries in data["groups"].items()
        }
        rule = data["rule"]
        return cls(groups, tuple(rule["with_secrecy"]), int(rule["contact_needs"]), normalizer)

    def cues(self, text: str) -> set[str]:
        view = self.normalizer.base(text)
        return {name for name, p in self.groups.items() if p.search(view)}

    def grooming(self, text: str, history: tuple[str, ...]) -> bool:
        """True when the child's recent turns (`history`, oldest first, then `text`) form the pattern."""
        now = self.cues(text)
        if not now:
            return False
        before: set[str] = set()
        for earlier in history:
            before |= self.cues(earlier)
        if not before:
            return False
        seen = now | before
        if "secrecy" in seen and seen.intersection(self.with_secrecy):
            return True
        if "contact" in seen:
            others = seen - {"contact"}
            return len(others) >= self.contact_needs
        return False
