"""The safety stage: normalisation, word lists, personal-detail detectors and the policy, in one
pure `check` (no I/O after construction, no logging of text)."""

from __future__ import annotations

from server.safety import pii
from server.safety.lexicon import Lexicon
from server.safety.normalize import Normalizer
from server.safety.policy import SEVERITY_RANK, Policy
from server.safety.verdict import CATEGORIES, Role, Verdict

# Which category names a verdict when several are found at the same severity: the one whose
# redirect matters most to the child comes first.
PRIORITY: tuple[str, ...] = (
    "self_harm", "grooming", "sexual", "dangerous", "violence", "hate",
    "personal_info", "jailbreak", "scary_adult", "profanity",
)
assert set(PRIORITY) == set(CATEGORIES)


class RuleChecker:
    """Word lists and detectors under the age-band policy. Implements `SafetyChecker`."""

    def __init__(self, policy: Policy, *, default_age: int = 6) -> None:
        self.policy = policy
        self.default_age = default_age
        self.normalizer = Normalizer()
        self.lexicon = Lexicon.load()

    def check(
        self,
        text: str,
        role: Role,
        *,
        age: int | None = None,
        history: tuple[str, ...] = (),
    ) -> Verdict:
        if role not in ("child", "assistant"):
            raise ValueError(f"role must be 'child' or 'assistant', not {role!r}")
        band = self.policy.band(self.default_age if age is None else age)
        masked, details = pii.mask(text)
        found = self.lexicon.hits(self.normalizer.views(text), role) if text.strip() else set()
        reasons = [f"wordlist:{c}" for c in PRIORITY if c in found]
        if details:
            found.add("personal_info")
            reasons.append("pii:" + ",".join(details))
        scores = {c: (1.0 if c in found else 0.0) for c in CATEGORIES}
        return self.decide(masked, role, band, found, scores, reasons)

    def decide(
        self,
        text: str,
        role: Role,
        band: str,
        found: set[str],
        scores: dict[str, float],
        reasons: list[str],
    ) -> Verdict:
        """Turn the categories found into a verdict under the policy for `role` and `band`."""
        categories = tuple(c for c in PRIORITY if c in found)
        flagged = [c for c in categories if self.policy.action(c, role, band) != "allow"]  # type: ignore[arg-type]
        if not flagged:
            return Verdict("allow", text, categories=categories, scores=scores, reason=";".join(reasons))
        main = max(flagged, key=lambda c: (SEVERITY_RANK[self.policy.severity(c)], -PRIORITY.index(c)))
        return Verdict(
            action=self.policy.action(main, role, band),  # type: ignore[arg-type]
            text=text,
            category=main,
            severity=self.policy.severity(main),
            categories=categories,
            scores=scores,
            reason=";".join(reasons),
        )
