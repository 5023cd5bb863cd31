"""kidchat's safety stage: pure checks, text in, verdict out (docs/safety.md).

    checker = build_checker()                     # once, at start-up
    checker.check(text, "child", age=7, history=earlier_child_texts)
    checker.check(sentence, "assistant", age=7)
"""

from __future__ import annotations

from server.safety.settings import SafetySettings
from server.safety.verdict import CATEGORIES, SafetyChecker, Verdict

__all__ = ["CATEGORIES", "SafetyChecker", "SafetySettings", "Verdict", "build_checker"]


def build_checker(settings: SafetySettings | None = None) -> SafetyChecker:
    """Build the safety stage from settings (reads the policy and the word lists once)."""
    from server.safety.checker import RuleChecker
    from server.safety.policy import load_policy

    settings = settings or SafetySettings()
    policy = load_policy(settings.policy_path)
    return RuleChecker(policy, default_age=settings.default_age)
