"""The safety stage on children's own words: the held-out split of the corpus's labelled child messages
(training/data/corpus/safety, split by training.corpus.heldout), never trained on and never used to tune
a threshold. Per category and language: recall on harmful messages (stopped at all), category right,
severity right (the category's severity in the policy), and harmless look-alikes stopped.

    kidchat safety eval            # prints this beside the public sets' figures
"""

from __future__ import annotations

from collections import defaultdict

from training import corpus


def heldout_messages(split: str = "heldout") -> list[dict]:
    rows = corpus.load("safety")
    want = split == "heldout"
    return [r for r in rows if corpus.heldout(r["id"]) == want]


def children_report(stage, policy, messages: list[dict] | None = None) -> dict:
    messages = heldout_messages() if messages is None else messages
    per: dict[tuple[str, str], dict] = defaultdict(lambda: {"n": 0, "stopped": 0, "category_right": 0, "severity_right": 0})
    look: dict[str, dict] = defaultdict(lambda: {"n": 0, "stopped": 0})
    missed: list[dict] = []
    for m in messages:
        verdict = stage.check(m["text"], "child", age=m["age"], history=tuple(m.get("context") or ()))
        if m["category"] == "none":
            look[m["language"]]["n"] += 1
            look[m["language"]]["stopped"] += not verdict.allowed
            continue
        cell = per[(m["language"], m["category"])]
        cell["n"] += 1
        if not verdict.allowed:
            cell["stopped"] += 1
            cell["category_right"] += verdict.category == m["category"]
            cell["severity_right"] += verdict.severity == policy.categories[m["category"]].severity
        else:
            missed.append({"id": m["id"], "language": m["language"], "category": m["category"]})
    out: dict = {"per_category": {}, "lookalikes": {}, "missed_ids": [x["id"] for x in missed]}
    for (lang, cat), c in sorted(per.items()):
        out["per_category"][f"{lang}/{cat}"] = {
            "n": c["n"],
            "recall": round(c["stopped"] / c["n"], 3),
            "category_right": round(c["category_right"] / c["n"], 3),
            "severity_right": round(c["severity_right"] / c["n"], 3),
        }
    for lang, c in sorted(look.items()):
        out["lookalikes"][lang] = {"n": c["n"], "stopped": c["stopped"], "rate": round(c["stopped"] / max(1, c["n"]), 3)}
    harmful = [c for c in per.values()]
    total = sum(c["n"] for c in harmful)
    out["overall"] = {
        "harmful": total,
        "recall": round(sum(c["stopped"] for c in harmful) / max(1, total), 3),
        "category_right": round(sum(c["category_right"] for c in harmful) / max(1, total), 3),
        "severity_right": round(sum(c["severity_right"] for c in harmful) / max(1, total), 3),
    }
    return out
