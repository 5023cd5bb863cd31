"""The safety stage: normalisation, word lists, personal-detail detectors, the trained classifier and
conversation-level signals, under the age-band policy, in one pure `check` (no I/O after
construction, no logging of text). Each layer catches what the others miss:

- the word lists catch obfuscated swearing and explicit phrases the classifier has not seen often;
- the detectors find and mask personal details, which no classifier should be trusted to mask;
- the classifier catches harm said without any listed word;
- the conversation signals catch grooming spread over several messages;
- the children's layer (children.py) reads every child message for what a child means, and names the
  category a child's words need (a bullied child: `abuse_disclosure`, not `hate`).
"""

from __future__ import annotations

from server.safety import pii
from server.safety.children import ChildrenHead
from server.safety.classifier import Classifier
from server.safety.conversation import ConversationSignals
from server.safety.lexicon import Lexicon
from server.safety.normalize import Normalizer
from server.safety.policy import SEVERITY_RANK, Band, Policy
from server.safety.verdict import CATEGORIES, Role, Verdict

# Which category names a verdict when several are found at the same severity: the one whose
# redirect matters most to the child comes first.
PRIORITY: tuple[str, ...] = (
    "self_harm", "abuse_disclosure", "grooming", "sexual", "dangerous", "violence", "hate",
    "personal_info", "jailbreak", "scary_adult", "profanity",
)
assert set(PRIORITY) == set(CATEGORIES)


class SafetyStage:
    """Implements `SafetyChecker`. `classifier` and `conversation` are optional layers."""

    def __init__(
        self,
        policy: Policy,
        *,
        default_age: int = 6,
        classifier: Classifier | None = None,
        children: ChildrenHead | None = None,
        use_conversation: bool = True,
        history_turns: int = 12,
        normalizer: Normalizer | None = None,
    ) -> None:
        self.policy = policy
        self.default_age = default_age
        self.normalizer = normalizer or Normalizer()
        self.lexicon = Lexicon.load()
        self.classifier = classifier
        self.children = children
        self.conversation = ConversationSignals.load(self.normalizer) if use_conversation else None
        self.history_turns = history_turns

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
        scores = dict.fromkeys(CATEGORIES, 0.0)
        if not text.strip():
            return Verdict("allow", masked, scores=scores)

        views = self.normalizer.views(text)
        found = self.lexicon.hits(views, role)
        reasons = [f"wordlist:{c}" for c in PRIORITY if c in found]
        for c in found:
            scores[c] = 1.0
        if details:
            found.add("personal_info")
            scores["personal_info"] = 1.0
            reasons.append("pii:" + ",".join(details))

        blanked = self.lexicon.blank_allowed(views[0], role)
        by_classifier: set[str] = set()  # categories only the public sets' classifier found
        if self.classifier is not None:
            # the classifier reads the text with the word lists' known-harmless words blanked
            # a child's message read by the children's layer's own e5 pass gets no second e5 pass here
            model = self.classifier.scores(blanked, second_look=not (
                role == "child" and self.children is not None and self.children.reads_with_e5(blanked)))
            scores["harmful"] = model["harmful"]
            by_head = {c: p for c, p in model.items() if c in CATEGORIES}
            for c, p in by_head.items():
                scores[c] = max(scores[c], p)
                if p >= self.policy.threshold(c, band, role) and c not in found:
                    found.add(c)
                    by_classifier.add(c)
                    reasons.append(f"classifier:{c}")
            if model["harmful"] >= self.policy.harmful(band, role) and by_head and not found:
                top = max(by_head, key=by_head.__getitem__)
                found.add(top)
                by_classifier.add(top)
                reasons.append(f"classifier:harmful:{top}")

        if role == "child" and self.children is not None:
            judged = self.children.judge(blanked)
            scores["children_harmful"] = 1.0 - judged.p_none
            if judged.category is not None:
                # trained on children's words, its category replaces the one the public sets' classifier
                # gave (the word lists, detectors and conversation signals stand)
                found -= by_classifier
                reasons = [r for r in reasons if not r.startswith("classifier:")]
                found.add(judged.category)
                scores[judged.category] = max(scores[judged.category], judged.probs[judged.category])
                reasons.append(f"children:{judged.category}")
            elif history and (told := self.children.across_turns(blanked, history[-1])) is not None:
                found -= by_classifier
                reasons = [r for r in reasons if not r.startswith("classifier:")]
                found.add(told)
                reasons.append(f"children:{told}:across_turns")
            elif by_classifier and judged.p_none >= self.children.veto:
                # sure it is harmless in children's words: the public sets' classifier alone does not stop
                # it (the word lists, detectors and conversation signals still do)
                found -= by_classifier
                reasons = [r for r in reasons if not r.startswith("classifier:")]
                reasons.append("veto:children")

        if (
            role == "child"
            and self.conversation is not None
            and history
            and self.conversation.grooming(text, history[-self.history_turns :])
        ):
            found.add("grooming")
            scores["grooming"] = max(scores["grooming"], 1.0)
            reasons.append("conversation:grooming")

        return self.decide(masked, role, band, found, scores, reasons)

    def decide(
        self,
        text: str,
        role: Role,
        band: Band,
        found: set[str],
        scores: dict[str, float],
        reasons: list[str],
    ) -> Verdict:
        """Turn the categories found into a verdict under the policy for `role` and `band`."""
        categories = tuple(c for c in PRIORITY if c in found)
        flagged = [c for c in categories if self.policy.action(c, role, band) != "allow"]
        if not flagged:
            return Verdict("allow", text, categories=categories, scores=scores, reason=";".join(reasons))
        main = max(flagged, key=lambda c: (SEVERITY_RANK[self.policy.severity(c)], -PRIORITY.index(c)))
        return Verdict(
            action=self.policy.action(main, role, band),
            text=text,
            category=main,
            severity=self.policy.severity(main),
            categories=categories,
            scores=scores,
            reason=";".join(reasons),
        )


# The first version's name, kept for callers that used it.
RuleChecker = SafetyStage
