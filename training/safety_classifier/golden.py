"""The starter data (training/data) as an in-domain measurement of the stage.

Golden pairs: what the persona says (every safe-answer sentence must pass), what children ask (everyday
questions must pass, harmful ones should be caught at their category) and what a careless model would
say (the unsafe answers). The classifier never trains on them (tests/safety/test_safety_golden.py).
Dialogues: the children's turns, judged in order with the conversation's earlier child turns as
history, as the server does; the classifier trains on the persona's turns only. They carry no labels:
the few that are disclosures (a grown-up asking for pictures, "I want to hurt myself") should be
stopped, the rest is children chatting.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from server.safety.verdict import SafetyChecker

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden_pairs.jsonl"
DIALOGUES = GOLDEN.with_name("dialogues.jsonl")
# A sentence ends at . ! ? (and CJK forms) followed by whitespace, as server/chat/gate.py cuts replies.
_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n+")


def pairs(path: Path = GOLDEN) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _END.split(text) if s.strip()]


def golden_report(checker: SafetyChecker, path: Path = GOLDEN) -> dict:
    safe_n = safe_blocked = every_n = every_stopped = 0
    total: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    stopped: Counter[str] = Counter()
    unsafe: Counter[str] = Counter()
    for p in pairs(path):
        age, category = p["age"], p["category"]
        for s in sentences(p["safe_answer"]):
            safe_n += 1
            safe_blocked += not checker.check(s, "assistant", age=age).allowed
        q = checker.check(p["question"], "child", age=age)
        if category == "everyday":
            every_n += 1
            every_stopped += not q.allowed
            continue
        total[category] += 1
        stopped[category] += not q.allowed
        caught[category] += (not q.allowed) and category in q.categories
        unsafe[category] += not checker.check(p["unsafe_answer"], "assistant", age=age).allowed
    return {
        "safe_sentences": safe_n,
        "safe_sentences_blocked": safe_blocked,
        "everyday": every_n,
        "everyday_stopped": every_stopped,
        "questions_caught": {
            c: {"n": total[c], "caught": caught[c], "stopped": stopped[c], "unsafe_blocked": unsafe[c]} for c in total
        },
    }


def dialogue_report(checker: SafetyChecker, path: Path = DIALOGUES) -> dict:
    """Children's turns of the starter dialogues that the stage stops: ids, categories and layers."""
    n = 0
    stopped = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        history: list[str] = []
        for turn in item["turns"]:
            if turn["role"] != "child":
                continue
            n += 1
            v = checker.check(turn["text"], "child", age=item["age"], history=tuple(history))
            if not v.allowed:
                layers = sorted({r.split(":", 1)[0] for r in v.reason.split(";") if r})
                stopped.append({"id": item["id"], "turn": len(history), "category": v.category, "layers": layers})
            history.append(turn["text"])
    return {"child_turns": n, "stopped": stopped}
