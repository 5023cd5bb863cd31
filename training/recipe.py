"""Training recipes: one YAML per run (training/recipes/*.yaml), overridden by CLI flags, saved resolved
beside the build as ``recipe.yaml`` (the alignment-handbook habit).

Overrides use dotted keys: ``--set sft.max_steps=5 --set export.quant=q8_0``; values are parsed as YAML
scalars, so ``5`` is an int and ``null`` is None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.config import ROOT

RECIPES_DIR = Path(__file__).with_name("recipes")
DATA_DIR = Path(__file__).with_name("data")
EVAL_PROMPTS = Path(__file__).parent / "eval" / "prompts.jsonl"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(_Section):
    golden_pairs: Path | None = Field(DATA_DIR / "golden_pairs.jsonl", description="Golden pairs JSONL.")
    dialogues: Path | None = Field(DATA_DIR / "dialogues.jsonl", description="Persona dialogues JSONL.")
    extra: list[Path] = Field(
        default_factory=list, description="More dialogue JSONL files (e.g. DB exports)."
    )
    max_examples: int | None = Field(None, ge=1, description="Cap on SFT examples (a deterministic subset).")
    max_pairs: int | None = Field(None, ge=1, description="Cap on DPO pairs (a deterministic subset).")
    max_chars: int = Field(600, ge=20, description="Longest text kept after cleaning.")
    near_dup_threshold: float = Field(92.0, ge=50, le=100, description="RapidFuzz ratio that marks a repeat.")
    system_prompt: Literal["auto", "persona", "none"] = Field(
        "auto",
        description="persona: each example gets its persona's system prompt (as the server sends it); "
        "none: no system turn (cheaper on CPU); auto: persona when personas/*.yaml exist.",
    )
    child_name: dict[str, str] = Field(
        default_factory=lambda: {"ko": "친구", "en": "friend"},
        description="Replaces {child_name} in persona prompts, per language.",
    )


class SpectrumSection(_Section):
    enabled: bool = True
    top_fraction: float = Field(0.5, gt=0, le=1, description="Share of layers kept per module type.")
    modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Linear module names scanned (and trained when selected).",
    )


class LoraSection(_Section):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | Literal["spectrum", "all"] = Field(
        "spectrum", description="spectrum: the layers the Spectrum stage selected; all: every scanned module."
    )
    train_tokens: list[str] | Literal["auto"] = Field(
        "auto",
        description="Tokens whose embeddings are trained too (peft trainable_token_indices); auto: the "
        "base's chat turn tokens when it is a base model whose turn tokens are untrained.",
    )


class TrainSection(_Section):
    enabled: bool = True
    max_steps: int = Field(-1, description="Stop after this many optimizer steps (-1: epochs decide).")
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    warmup: float = Field(0.0, ge=0, description="Warm-up steps (an int), or a share of all steps when < 1.")
    max_length: int = Field(256, ge=16, description="Tokens per example; longer ones are truncated.")
    bf16: bool | Literal["auto"] = Field("auto", description="auto: on when CUDA supports it.")
    gradient_checkpointing: bool = False
    qlora: bool | Literal["auto"] = Field(
        "auto", description="4-bit base (bitsandbytes); auto: when CUDA is present."
    )
    logging_steps: int = Field(1, ge=1)


class DpoSection(TrainSection):
    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0)


class ExportSection(_Section):
    quant: str = Field(
        "auto", description="llama.cpp type (q8_0, q5_k_m, q4_k_m, ...) or auto (by model size)."
    )
    measure_quants: list[str] = Field(
        default_factory=list,
        description="Types to measure: the share of the tune's change each keeps (written to the manifest).",
    )
    keep_f16: bool = Field(False, description="Keep the unquantized GGUF beside the quantized one.")
    smoke_prompt: dict[str, str] = Field(
        default_factory=lambda: {"en": "Why do cats purr?", "ko": "고양이는 왜 그르렁거려요?"}
    )


class EvalSection(_Section):
    enabled: bool = True
    prompts: Path = EVAL_PROMPTS
    max_tokens: int = Field(96, ge=8)
    limit: int | None = Field(None, ge=1, description="Evaluate only the first N prompts.")
    compare_base: bool = Field(True, description="Also evaluate the base model, side by side.")


class AdapterSection(_Section):
    """The served fine-tune (training/kids_sft.py): LoRA SFT on the corpus in the server's own transcript
    prompt, checkpointed and resumable, exported as a GGUF LoRA adapter that llama.cpp applies at load."""

    enabled: bool = Field(False, description="Run the adapter stages (and not the merge-and-quantize chain).")
    corpus: bool = Field(True, description="Train on training/data/corpus plus the starter set.")
    max_examples: int | None = Field(None, ge=1, description="Cap on training examples (a deterministic subset).")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Linear modules given a LoRA (every layer).",
    )
    max_steps: int = Field(-1, description="Stop after this many optimizer steps (-1: epochs decide).")
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: float = Field(3e-4, gt=0)
    warmup_steps: int = Field(20, ge=0)
    max_length: int = Field(384, ge=32, description="Tokens per example (system prompt included).")
    save_steps: int = Field(25, ge=1, description="A resumable checkpoint every this many steps.")
    logging_steps: int = Field(5, ge=1)
    outtype: Literal["f16", "f32", "q8_0"] = Field("f16", description="Tensor type of the GGUF adapter.")
    bf16: bool | Literal["auto"] = Field(
        "auto", description="bf16 autocast; auto: on a GPU that supports it, or a CPU with avx512_bf16/AMX."
    )


class Recipe(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,60}$")
    description: str = ""
    base: str = Field(
        "gemma3-270m",
        description="A base name (training/bases.py), a local HF checkpoint folder, a .gguf file, or a hub id.",
    )
    output_dir: Path | None = Field(None, description="Build folder; default var/builds/<name>.")
    seed: int = 0
    threads: int | Literal["auto"] = "auto"
    data: DataSection = Field(default_factory=DataSection)
    spectrum: SpectrumSection = Field(default_factory=SpectrumSection)
    lora: LoraSection = Field(default_factory=LoraSection)
    sft: TrainSection = Field(default_factory=TrainSection)
    dpo: DpoSection = Field(default_factory=DpoSection)
    export: ExportSection = Field(default_factory=ExportSection)
    adapter: AdapterSection = Field(default_factory=AdapterSection)
    eval: EvalSection = Field(default_factory=EvalSection)

    def build_dir(self, data_dir: Path | None = None) -> Path:
        if self.output_dir is not None:
            return self.output_dir
        return (data_dir or ROOT / "var") / "builds" / self.name


class RecipeError(ValueError):
    pass


def _set_dotted(tree: dict, key: str, value: object) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"--set {key}: {part} is not a section")
    node[parts[-1]] = value


def parse_overrides(items: tuple[str, ...] | list[str]) -> dict:
    tree: dict = {}
    for item in items:
        if "=" not in item:
            raise RecipeError(f"--set {item}: expected key=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw.strip() else None)
    return tree


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    for candidate in (RECIPES_DIR / f"{name_or_path}.yaml", RECIPES_DIR / str(name_or_path)):
        if candidate.exists():
            return candidate
    known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
    raise RecipeError(f"no recipe {name_or_path!s} (a path, or one of: {known})")


def load_recipe(name_or_path: str | Path | None = None, overrides: dict | None = None) -> Recipe:
    """Load a recipe YAML (or the defaults when None) and apply overrides (a nested dict)."""
    raw: dict = {}
    source = "<defaults>"
    if name_or_path is not None:
        path = resolve_recipe_path(name_or_path)
        source = str(path)
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise RecipeError(f"{source}: expected a mapping")
    raw = _merge(raw, overrides or {})
    raw.setdefault("name", "custom")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise RecipeError(f"{source}: {problems}") from exc


def save_recipe(recipe: Recipe, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = recipe.model_dump(mode="json")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
