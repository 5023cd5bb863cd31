"""Features of a text for the classifier: word unigrams and bigrams and character 2-4-grams inside
words, computed on the normalised leet view (normalize.py), so "f4ck" and "ｆｕｃｋ" look like "fuck"
to the model too; and, for Korean words, 3-5-grams of their jamo (letters), so that spelling variants
that change one letter of a syllable ("씨발", "씨빨", "시발"), and a stem with different endings, share
features. The same function runs at training time (as the TfidfVectorizer analyzer) and at run time,
so the two can never disagree; the artifact records whether it was trained with jamo features."""

from __future__ import annotations

import re

from hangul_jamo import decompose

from server.safety.normalize import WILD, Normalizer

_WORD = re.compile(f"[\\w{WILD}]+")
_HANGUL = re.compile("[\uac00-\ud7a3]+")
MAX_WORDS = 200  # longer texts are cut: features of the first 200 words
JAMO_SIZES = (3, 4, 5)


def analyze(text: str, normalizer: Normalizer, *, jamo: bool = False) -> list[str]:
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
        if jamo:
            for run in _HANGUL.findall(w):
                letters = f" {decompose(run)} "
                for n in JAMO_SIZES:
                    for i in range(len(letters) - n + 1):
                        out.append("j:" + letters[i : i + n])
    for a, b in zip(words, words[1:], strict=False):
        out.append(f"b:{a} {b}")
    return out
