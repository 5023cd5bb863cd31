"""Latency of the safety stage per message (a benchmark, not a test).

    python bench/safety_latency.py [--n 2000]

Times `checker.check` on a mix of Korean and English child messages and assistant sentences (the
held-out split of ../shared/data/safety when present, else kidchat's own look-alike lists), with one
thread, and prints the median and p95 in milliseconds for: the whole stage, the stage without the
classifier, and the classifier alone, with and without its second look (the e5 network, asked only
when the n-gram score is unsure), and how many texts got that second look. The same for kidchat's own
texts (the starter golden pairs' questions and safe answers, and the dialogues' turns), which are
closer to what a child and a persona write than the public comment sets are. Then issue 12's figures:
the whole stage on children's messages (the corpus's labelled child messages and the dialogues' child
turns, all at most 500 characters) with median, p95 and p99, and one text each of 500 to 5,000
characters, to show that the cost grows linearly with length.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.safety import SafetySettings, build_checker  # noqa: E402
from server.safety.classifier import Classifier, default_artifact  # noqa: E402


def texts(n: int) -> list[str]:
    from training.safety_classifier.data import DEFAULT_DATA, load_examples, lookalikes, split

    pool = lookalikes("en") + lookalikes("ko")
    if DEFAULT_DATA.is_dir():
        pool += [e.text for e in split(load_examples(DEFAULT_DATA))[1]]
    random.Random(0).shuffle(pool)
    return (pool * (n // len(pool) + 1))[:n]


def own_texts(n: int) -> list[str]:
    import json

    root = Path(__file__).resolve().parent.parent / "training" / "data"
    pool: list[str] = []
    for line in (root / "golden_pairs.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        pool += [row["question"], row["safe_answer"]]
    for line in (root / "dialogues.jsonl").read_text("utf-8").splitlines():
        pool += [t["text"] for t in json.loads(line)["turns"]]
    random.Random(0).shuffle(pool)
    return (pool * (n // len(pool) + 1))[:n]


def children_texts(n: int) -> list[str]:
    from training import corpus

    pool = [m["text"] for m in corpus.load("safety")]
    pool += [t["text"] for d in corpus.load("dialogues") for t in d["turns"] if t["role"] == "child"]
    pool = [t for t in pool if len(t) <= 500]
    random.Random(0).shuffle(pool)
    return pool[:n]


def timed(fn, items: list[str], *, p99: bool = False):
    for t in items[:50]:
        fn(t)  # warm up
    ms = []
    for t in items:
        start = time.perf_counter()
        fn(t)
        ms.append(1000 * (time.perf_counter() - start))
    ms.sort()
    out = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]
    return (*out, ms[int(0.99 * (len(ms) - 1))]) if p99 else out


def children_section(full, n: int) -> None:
    items = children_texts(n)
    chars = statistics.median(len(t) for t in items)
    print(f"children's messages: {len(items)}, median {chars:.0f} characters (max {max(map(len, items))}), one thread")
    median, p95, p99 = timed(lambda t: full.check(t, "child", age=7, history=("hi", "I like cats")), items, p99=True)
    print(f"{'stage, child message':<28} median_ms={median:.3f} p95_ms={p95:.3f} p99_ms={p99:.3f}")
    story = ("오늘 학교에서 친구랑 놀았는데 재미있었어. We played tag and then read a book about whales. " * 200)
    for size in (500, 1000, 2000, 5000):
        text = story[:size]
        ms = []
        for _ in range(5):
            start = time.perf_counter()
            full.check(text, "child", age=7)
            ms.append(1000 * (time.perf_counter() - start))
        print(f"{size:>5} characters: median_ms={statistics.median(ms):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    full = build_checker(SafetySettings())
    rules = build_checker(SafetySettings(classifier=False, children=False))
    clf = Classifier(default_artifact())
    children_section(full, args.n)
    for title, items in (("public held-out texts", texts(args.n)), ("kidchat's own texts", own_texts(args.n))):
        chars = statistics.median(len(t) for t in items)
        print(f"{title}: {len(items)} messages, median {chars:.0f} characters, one thread")
        for name, fn in (
            ("stage, child message", lambda t: full.check(t, "child", age=7, history=("hi", "I like cats"))),
            ("stage, assistant sentence", lambda t: full.check(t, "assistant", age=7)),
            ("word lists + detectors only", lambda t: rules.check(t, "child", age=7)),
            ("classifier, n-grams only", clf.ngram_logits),
            ("classifier", clf.scores),
        ):
            before = clf.second_looks
            median, p95 = timed(fn, items)
            looked = f" second_look_share={(clf.second_looks - before) / (len(items) + 50):.3f}" if fn == clf.scores else ""
            print(f"{name:<28} median_ms={median:.3f} p95_ms={p95:.3f}{looked}")


if __name__ == "__main__":
    main()
