"""The trained classifier at run time: TF-IDF features times linear weights, in numpy, and for texts
the n-grams are unsure about, a second look by a small network over the text's meaning.

The artifact is a numpy `.npz` (no pickle): the vocabulary as UTF-8 text, the IDF weights, one weight
column and intercept per head ("harmful" and one per category), the names of the heads, whether the
features include Korean jamo n-grams (features.py), and the SHA-256 of the data it was built from.
`kidchat safety train` writes it (training/safety_classifier/train.py).

The second look ("semantic" arrays, optional): when the n-gram "harmful" probability lies inside the
band `sem_band`, the text's multilingual-e5-small embedding (encoder.py) and the n-gram logit go through
a one-hidden-layer network trained on the same split, and its probability replaces the n-gram one for
the "harmful" head. Outside the band (most texts: clearly harmless chat, clearly abusive comments)
nothing more is computed, which keeps the median cost per message low. The category heads stay n-gram.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np

from server.safety.encoder import Encoder, shared_encoder
from server.safety.features import analyze
from server.safety.normalize import Normalizer

DEFAULT_ARTIFACT = "data/classifier.npz"
PATCH_PREFIX = "enc__"  # artifact arrays holding the encoder's tuned tensors (name after the prefix)


def default_artifact() -> Path:
    return Path(str(resources.files("server.safety").joinpath(DEFAULT_ARTIFACT)))


class Classifier:
    """Scores a text per head, each a probability in [0, 1]. Pure after construction, but for the
    encoder, which is loaded on first need (or by `encoder()`) and shared by the process."""

    def __init__(
        self,
        path: Path,
        normalizer: Normalizer | None = None,
        *,
        semantic: bool = True,
        encoder: Encoder | None = None,
        encoder_threads: int | None = 1,
    ) -> None:
        self.semantic: SemanticHead | None = None
        with np.load(path, allow_pickle=False) as z:
            if semantic and "sem_w1" in z.files:
                self.semantic = SemanticHead(z)
            vocab = bytes(z["vocab_utf8"]).decode("utf-8").split("\n")
            self.idf = z["idf"].astype(np.float32)
            self.coef = z["coef"].astype(np.float32)  # (n_features, n_heads)
            self.intercept = z["intercept"].astype(np.float32)
            self.heads: tuple[str, ...] = tuple(str(h) for h in z["heads"])
            self.data_sha256 = str(z["data_sha256"])
            self.jamo = bool(z["jamo"]) if "jamo" in z.files else False
        self.index = {f: i for i, f in enumerate(vocab)}
        self.normalizer = normalizer or Normalizer()
        self._encoder = encoder
        self._encoder_threads = encoder_threads
        self._encoder_asked = False
        self.second_looks = 0  # how many texts the semantic head was asked about (bench, tests)

    def encoder(self) -> Encoder | None:
        # asked once: where the encoder cannot load, later messages do not hash the tuned tensors again
        if self._encoder is None and self.semantic is not None and not self._encoder_asked:
            self._encoder_asked = True
            head = self.semantic
            self._encoder = shared_encoder(self._encoder_threads, head.patch, head.base_sha256)
        return self._encoder

    def scores(self, text: str, *, second_look: bool = True) -> dict[str, float]:
        """`second_look` False: the n-gram heads alone (the stage passes it for a child's message that the
        children's layer reads with its own e5 pass)."""
        logits = self.ngram_logits(text)
        head = self.semantic
        if second_look and head is not None and head.low <= sigmoid(logits[0]) <= head.high:
            encoder = self.encoder()
            if encoder is not None:
                self.second_looks += 1
                logits = logits.copy()
                logits[0] = head.logit(encoder.embed(text), float(logits[0]))
        probs = sigmoid(logits)
        return {h: float(p) for h, p in zip(self.heads, probs, strict=True)}

    def ngram_logits(self, text: str) -> np.ndarray:
        """One logit per head from the n-gram features alone."""
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
        return np.asarray(logits, dtype=np.float32)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float32)))


class SemanticHead:
    """x = [embedding * scale, n-gram logit]; h = relu(x W1 + b1); logit = h w2 + b2 (scikit-learn's
    MLPClassifier, exported as arrays)."""

    def __init__(self, z: Mapping[str, np.ndarray]) -> None:
        """`z`: the artifact's arrays (the open .npz, or the dict training writes into it)."""
        self.w1 = z["sem_w1"].astype(np.float32)
        self.b1 = z["sem_b1"].astype(np.float32)
        self.w2 = z["sem_w2"].astype(np.float32)
        self.b2 = float(z["sem_b2"])
        self.scale = float(z["sem_scale"])
        self.low, self.high = (float(v) for v in z["sem_band"])
        self.encoder_name = str(z["sem_encoder"])
        # e5's tuned top-layer tensors, if the artifact carries them (encoder.py patches them in)
        self.patch: dict[str, bytes] = {k[len(PATCH_PREFIX):]: np.asarray(z[k]).tobytes() for k in z
                                        if k.startswith(PATCH_PREFIX)}
        self.base_sha256: str | None = str(z["sem_base_sha256"]) if "sem_base_sha256" in z else None

    def logit(self, embedding: np.ndarray, ngram_logit: float) -> float:
        return float(self.logits(embedding[None, :], np.float32([ngram_logit]))[0])

    def logits(self, embeddings: np.ndarray, ngram_logits: np.ndarray) -> np.ndarray:
        """Row by row: embeddings (n, dim), n-gram logits (n,)."""
        x = np.hstack([embeddings * self.scale, np.asarray(ngram_logits, np.float32)[:, None]]).astype(np.float32)
        return np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2
