"""Latency of the safety stage per message (a benchmark, not a test).

    python bench/safety_latency.py [--n 2000]

Times `checker.check` on a mix of Korean and English child messages and assistant sentences (the
held-out split of ../shared/data/safety when present, else kidchat's own look-alike lists), with one
thread, and prints the median and p95 in milliseconds for: the whole stage, the stage without the
classifier, and the classifier alone.
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


def timed(fn, items: list[str]) -> tuple[float, float]:
    for t in items[:50]:
        fn(t)  # warm up
    ms = []
    for t in items:
        start = time.perf_counter()
        fn(t)
        ms.append(1000 * (time.perf_counter() - start))
    ms.sort()
    return statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    items = texts(args.n)
    chars = statistics.median(len(t) for t in items)
    full = build_checker(SafetySettings())
    rules = build_checker(SafetySettings(classifier=False))
    clf = Classifier(default_artifact())
    print(f"{len(items)} messages, median {chars:.0f} characters, one thread")
    for name, fn in (
        ("stage, child message", lambda t: full.check(t, "child", age=7, history=("hi", "I like cats"))),
        ("stage, assistant sentence", lambda t: full.check(t, "assistant", age=7)),
        ("word lists + detectors only", lambda t: rules.check(t, "child", age=7)),
        ("classifier only", clf.scores),
    ):
        median, p95 = timed(fn, items)
        print(f"{name:<28} median_ms={median:.3f} p95_ms={p95:.3f}")


if __name__ == "__main__":
    main()
