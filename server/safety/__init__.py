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
    """Build the safety stage from settings: reads the policy, the word lists and the classifier
    artifact once. With `classifier` on and no artifact where it should be, this fails loudly rather
    than run with a layer missing."""
    from server.safety.checker import SafetyStage
    from server.safety.children import ChildrenHead
    from server.safety.children import default_artifact as children_artifact
    from server.safety.classifier import Classifier, default_artifact
    from server.safety.normalize import Normalizer
    from server.safety.policy import load_policy

    settings = settings or SafetySettings()
    policy = load_policy(settings.policy_path)
    normalizer = Normalizer()
    classifier = None
    if settings.classifier:
        classifier = Classifier(
            settings.classifier_path or default_artifact(),
            normalizer,
            semantic=settings.semantic,
            encoder_threads=settings.encoder_threads,
        )
        if classifier.semantic is not None:
            classifier.encoder()  # load it now, not on the first child's message
    children = None
    if settings.children:
        children = ChildrenHead(settings.children_path or children_artifact(), normalizer,
                                encoder=settings.semantic, encoder_threads=settings.encoder_threads)
    return SafetyStage(
        policy,
        default_age=settings.default_age,
        classifier=classifier,
        children=children,
        history_turns=settings.history_turns,
        normalizer=normalizer,
    )
