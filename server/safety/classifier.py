"""The trained classifier at run time: TF-IDF features times linear weights, in numpy.

The artifact is a numpy `.npz` (no pickle): the vocabulary as UTF-8 text, the IDF weights, one weight
column and intercept per head ("harmful" and one per category), the names of the heads, whether the
features include Korean jamo n-grams (features.py), and the SHA-256 of the data it was built from. `kidchat safety train` writes it (server/safety/train.py).
"""

from __future__ import annotations

import math
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np

from server.safety.features import analyze
from server.safety.normalize import Normalizer

DEFAULT_ARTIFACT = "data/classifier.npz"


def default_artifact() -> Path:
    return Path(str(resources.files("server.safety").joinpath(DEFAULT_ARTIFACT)))


class Classifier:
    """Scores a text per head, each a probability in [0, 1]. Pure after construction."""

    def __init__(self, path: Path, normalizer: Normalizer | None = None) -> None:
        with np.load(path, allow_pickle=False) as z:
            vocab = bytes(z["vocab_utf8"]).decode("utf-8").split("\n")
            self.idf = z["idf"].astype(np.float32)
            self.coef = z["coef"].astype(np.float32)  # (n_features, n_heads)
            self.intercept = z["intercept"].astype(np.float32)
            self.heads: tuple[str, ...] = tuple(str(h) for h in z["heads"])
            self.data_sha256 = str(z["data_sha256"])
            self.jamo = bool(z["jamo"]) if "jamo" in z.files else False
        self.index = {f: i for i, f in enumerate(vocab)}
        self.normalizer = normalizer or Normalizer()

    def scores(self, text: str) -> dict[str, float]:
        counts = Counter(analyze(text, self.normalizer, jamo=self.jamo))
        idx = [self.index[f] for f in counts if f in self.index]
        if not idx:
            logits = self.intercept
        else:
            tf = np.fromiter(
                (1.0 + math.log(counts[f]) for f in counts if f in self.index), np.float32, len(idx)
            )
            rows = np.asarray(idx)
            x = tf * self.idf[rows]
            x /= np.sqrt(np.dot(x, x))
            logits = x @ self.coef[rows] + self.intercept
        probs = 1.0 / (1.0 + np.exp(-logits))
        return {h: float(p) for h, p in zip(self.heads, probs, strict=True)}
