"""Stage 3, Spectrum: rank the layers by the signal-to-noise ratio of their weight matrices and pick the
top ones per module type; the LoRA of the SFT and DPO stages targets only those (KidSmart's "spectrum"
layer selection, after Hartford et al., "Spectrum: Targeted Training on Signal to Noise Ratio", 2024).

    kidchat train spectrum --recipe cpu-small     # writes <build>/spectrum.json and spectrum.png

For a weight matrix W (m x n, m >= n) the singular values of a pure-noise matrix with entry deviation
sigma stay below the Marchenko-Pastur edge sigma * (sqrt(m) + sqrt(n)). sigma is estimated robustly from
the median singular value, which for noise is sigma * sqrt(m * mu_beta) with mu_beta the median of the MP
law of aspect ratio beta = n / m (Gavish & Donoho, 2014). Singular values above the edge are signal:
SNR = (sum of singular values above the edge) / (sum of those at or below it).

The MP median is computed here by integrating the MP density (a few lines of numpy): no
maintained package exposes it, and scipy is not otherwise needed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

_LAYER = re.compile(r"\.(\d+)\.")


@lru_cache(maxsize=64)
def mp_median(beta: float) -> float:
    """Median of the Marchenko-Pastur law with aspect ratio 0 < beta <= 1 (unit variance)."""
    import numpy as np

    lo, hi = (1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2
    # x = lo + (hi - lo) sin^2(t) removes the square-root edges (and the 1/x pole at beta = 1).
    t = np.linspace(0.0, math.pi / 2, 20001)
    x = lo + (hi - lo) * np.sin(t) ** 2
    sc = np.sin(t) ** 2 * np.cos(t) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(x > 0, (hi - lo) ** 2 * sc / (math.pi * beta * x), 4 * np.cos(t) ** 2 / math.pi)
    cdf = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * np.diff(t))])
    cdf /= cdf[-1]
    return float(x[np.searchsorted(cdf, 0.5)])


@dataclass
class LayerScore:
    name: str
    module: str
    layer: int
    shape: tuple[int, int]
    snr: float
    signal_values: int
    edge: float
    top_singular: float


def score_matrix(weight) -> tuple[float, int, float, float]:
    """(snr, number of singular values above the MP edge, the edge, the largest singular value)."""
    import torch

    w = weight.detach().float()
    m, n = w.shape
    if m < n:
        w, (m, n) = w.T, (n, m)
    s = torch.linalg.svdvals(w)
    beta = n / m
    sigma = float(s.median()) / math.sqrt(m * mp_median(round(beta, 4)))
    edge = sigma * (math.sqrt(m) + math.sqrt(n))
    above = s > edge
    signal, noise = float(s[above].sum()), float(s[~above].sum())
    snr = signal / noise if noise > 0 else float("inf")
    return snr, int(above.sum()), edge, float(s[0])


def scan(model, modules: list[str], progress: bool = True) -> list[LayerScore]:
    """Score every linear layer whose last name part is in ``modules``."""
    import torch
    from tqdm import tqdm

    targets = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Linear) and name.rsplit(".", 1)[-1] in modules and _LAYER.search(name)
    ]
    scores = []
    with torch.no_grad():
        for name, mod in tqdm(targets, desc="spectrum", unit="matrix", disable=not progress):
            snr, k, edge, top = score_matrix(mod.weight)
            scores.append(
                LayerScore(
                    name=name,
                    module=name.rsplit(".", 1)[-1],
                    layer=int(_LAYER.search(name).group(1)),  # type: ignore[union-attr]
                    shape=tuple(mod.weight.shape),  # type: ignore[arg-type]
                    snr=snr,
                    signal_values=k,
                    edge=edge,
                    top_singular=top,
                )
            )
    return scores


def select(scores: list[LayerScore], top_fraction: float) -> list[str]:
    """The top ``top_fraction`` of layers by SNR within each module type (at least one per type)."""
    chosen: list[str] = []
    for module in sorted({s.module for s in scores}):
        group = sorted((s for s in scores if s.module == module), key=lambda s: s.snr, reverse=True)
        keep = max(1, math.ceil(len(group) * top_fraction))
        chosen += [s.name for s in group[:keep]]
    return sorted(chosen, key=lambda n: (int(_LAYER.search(n).group(1)), n))  # type: ignore[union-attr]


def write_report(scores: list[LayerScore], selected: list[str], out_dir: Path, base: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "base": base,
        "method": "SNR of singular values vs the Marchenko-Pastur edge (sigma from the MP median)",
        "selected": selected,
        "layers": [asdict(s) | {"selected": s.name in selected} for s in scores],
    }
    path = out_dir / "spectrum.json"
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    _plot(scores, selected, out_dir / "spectrum.png", base)
    return path


def _plot(scores: list[LayerScore], selected: list[str], path: Path, base: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    modules = sorted({s.module for s in scores})
    layers = sorted({s.layer for s in scores})
    grid = np.full((len(modules), len(layers)), np.nan)
    for s in scores:
        grid[modules.index(s.module), layers.index(s.layer)] = s.snr
    fig, ax = plt.subplots(figsize=(max(6, len(layers) * 0.45), 1.2 + 0.5 * len(modules)))
    im = ax.imshow(grid, aspect="auto", cmap="viridis")
    for s in scores:
        if s.name in selected:
            ax.text(layers.index(s.layer), modules.index(s.module), "●", ha="center", va="center", color="w")
    ax.set_xticks(range(len(layers)), [str(x) for x in layers])
    ax.set_yticks(range(len(modules)), modules)
    ax.set_xlabel("layer")
    ax.set_title(f"Spectrum SNR per layer ({base}); ● = trained")
    fig.colorbar(im, ax=ax, label="SNR")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_selection(path: Path) -> list[str]:
    return json.loads(path.read_text(encoding="utf-8"))["selected"]
