"""The children's-words evaluation counts what the stage did with each held-out message."""

from __future__ import annotations

from server.safety.policy import load_policy
from server.safety.verdict import Verdict
from training.safety_classifier.children import children_report, heldout_messages


class Scripted:
    def __init__(self, answers: dict[str, Verdict]) -> None:
        self.answers = answers
        self.histories: list[tuple[str, ...]] = []

    def check(self, text, role, *, age=None, history=()):
        self.histories.append(history)
        return self.answers.get(text, Verdict("allow", text))


def test_counts_recall_category_severity_and_lookalikes() -> None:
    msgs = [
        {"id": "a", "text": "t1", "language": "ko", "age": 7, "category": "self_harm"},
        {"id": "b", "text": "t2", "language": "ko", "age": 7, "category": "self_harm"},
        {"id": "c", "text": "t3", "language": "ko", "age": 7, "category": "abuse_disclosure", "context": ["earlier"]},
        {"id": "d", "text": "t4", "language": "en", "age": 8, "category": "none"},
    ]
    stage = Scripted({
        "t1": Verdict("redirect", "t1", "self_harm", "high"),
        "t3": Verdict("block", "t3", "violence", "medium"),
        "t4": Verdict("block", "t4", "violence", "medium"),
    })  # fmt: skip
    r = children_report(stage, load_policy(), msgs)
    assert r["per_category"]["ko/self_harm"] == {"n": 2, "recall": 0.5, "category_right": 0.5, "severity_right": 0.5}
    assert r["per_category"]["ko/abuse_disclosure"]["recall"] == 1.0
    assert r["per_category"]["ko/abuse_disclosure"]["category_right"] == 0.0
    assert r["lookalikes"]["en"] == {"n": 1, "stopped": 1, "rate": 1.0}
    assert r["missed_ids"] == ["b"] and ("earlier",) in stage.histories


def test_heldout_split_has_every_category_in_both_languages() -> None:
    held = heldout_messages()
    train = heldout_messages("train")
    assert not {m["id"] for m in held} & {m["id"] for m in train}
    cats = {(m["language"], m["category"]) for m in held}
    assert {("ko", "none"), ("en", "none"), ("ko", "self_harm"), ("en", "abuse_disclosure")} <= cats
