"""What the SFT and DPO stages share: loading the base for training (fp32 on CPU, bf16 or 4-bit QLoRA on
CUDA), the LoRA config (Spectrum's layers, the chat turn tokens), merging adapters, and the loss plot."""

from __future__ import annotations

import json
from pathlib import Path

from training.bases import PreparedBase
from training.recipe import LoraSection, Recipe, TrainSection


def use_qlora(section: TrainSection) -> bool:
    from training.compat import cuda_available

    if section.qlora == "auto":
        return cuda_available()
    if section.qlora and not cuda_available():
        raise RuntimeError("qlora=true needs CUDA (bitsandbytes 4-bit); set qlora: auto or false on a CPU")
    return bool(section.qlora)


def use_bf16(section: TrainSection) -> bool:
    from training.compat import bf16_supported

    return bf16_supported() if section.bf16 == "auto" else bool(section.bf16)


def load_model(hf: str, *, qlora: bool = False, bf16: bool = False):
    """The base model for training or merging; 4-bit NF4 with bf16 compute under QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"dtype": torch.bfloat16 if bf16 else torch.float32}
    if qlora:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = "auto"
    model = AutoModelForCausalLM.from_pretrained(hf, **kwargs)
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return model


def load_tokenizer(hf: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def resolve_targets(recipe: Recipe, spectrum_json: Path | None) -> list[str]:
    lora = recipe.lora
    if isinstance(lora.target_modules, list):
        return lora.target_modules
    if lora.target_modules == "spectrum" and recipe.spectrum.enabled:
        if spectrum_json is None or not spectrum_json.exists():
            raise FileNotFoundError(
                "lora.target_modules is 'spectrum' but the Spectrum stage has not run (kidchat train spectrum)"
            )
        from training.spectrum import load_selection

        return load_selection(spectrum_json)
    return list(recipe.spectrum.modules)


def resolve_train_tokens(section: LoraSection, prepared: PreparedBase, tokenizer) -> list[int]:
    names = list(prepared.spec.turn_tokens) if prepared.spec else []
    if isinstance(section.train_tokens, list):
        names = section.train_tokens
    ids = []
    for name in names:
        idx = tokenizer.convert_tokens_to_ids(name)
        if idx is None or idx == tokenizer.unk_token_id:
            raise ValueError(f"lora.train_tokens: {name!r} is not a single token of this tokenizer")
        ids.append(int(idx))
    return ids


def lora_config(section: LoraSection, targets: list[str], token_ids: list[int] | None = None):
    from peft import LoraConfig

    return LoraConfig(
        r=section.r,
        lora_alpha=section.alpha,
        lora_dropout=section.dropout,
        target_modules=targets,
        trainable_token_indices=token_ids or None,
        bias="none",
        task_type="CAUSAL_LM",
    )


def merge_adapters(model, adapters: list[Path]):
    """Apply each adapter in order and fold it into the weights (merge first, then convert)."""
    from peft import PeftModel

    for adapter in adapters:
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model


def write_log(log_history: list[dict], out_dir: Path, title: str, extra: dict | None = None) -> dict:
    """Save the trainer's log and a loss-curve PNG; returns the summary metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out_dir / "log.json").write_text(json.dumps(log_history, indent=2), encoding="utf-8")
    points = [(e["step"], e["loss"]) for e in log_history if "loss" in e]
    summary = next((e for e in reversed(log_history) if "train_runtime" in e), {})
    metrics = {
        "steps": points[-1][0] if points else 0,
        "first_loss": points[0][1] if points else None,
        "last_loss": points[-1][1] if points else None,
        "runtime_s": summary.get("train_runtime"),
        "seconds_per_step": (summary.get("train_runtime", 0) / points[-1][0]) if points else None,
        **(extra or {}),
    }
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "loss.png", dpi=110)
    plt.close(fig)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


def trainer_args(recipe, section, out_dir, *, bf16: bool) -> dict:
    """The TrainingArguments that SFT and DPO share (their configs add their own: the loss mask, beta)."""
    from training.compat import cuda_available

    return {
        "output_dir": str(out_dir / "trainer"),
        "max_steps": section.max_steps,
        "num_train_epochs": section.epochs,
        "per_device_train_batch_size": section.batch_size,
        "gradient_accumulation_steps": section.grad_accum,
        "learning_rate": section.learning_rate,
        "warmup_steps": section.warmup,
        "lr_scheduler_type": "cosine",
        "logging_steps": section.logging_steps,
        "save_strategy": "no",
        "report_to": [],
        "max_length": section.max_length,
        "bf16": bf16,
        "gradient_checkpointing": section.gradient_checkpointing,
        "seed": recipe.seed,
        "data_seed": recipe.seed,
        "dataloader_num_workers": 0,
        "use_cpu": not cuda_available(),
    }
