"""Features of a text for the classifier: word unigrams and bigrams and character 2-4-grams inside
words, computed on the normalised leet view (normalize.py), so "f4ck" and "ｆｕｃｋ" look like "fuck"
to the model too. The same function runs at training time (as the TfidfVectorizer analyzer) and at
run time, so the two can never disagree."""

from __future__ import annotations

import re

from server.safety.normalize import WILD, Normalizer

_WORD = re.compile(f"[\\w{WILD}]+")
MAX_WORDS = 200  # longer texts are cut: features of the first 200 words


def analyze(text: str, normalizer: Normalizer) -> list[str]:
    view = normalizer.leet(normalizer.base(text))
    words = _WORD.findall(view)[:MAX_WORDS]
    out: list[str] = []
    for w in words:
        out.append("w:" + w)
        padded = f" {w} "
        size = len(padded)
        for n in (2, 3, 4):
            for i in range(size - n + 1):
                out.append(padded[i : i + n])
    for a, b in zip(words, words[1:], strict=False):
        out.append(f"b:{a} {b}")
    return out
