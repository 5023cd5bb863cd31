"""Stage 5, DPO on the golden pairs: the safe answer is chosen, the unsafe one rejected (the
constitutional-AI seed's SFT-then-DPO recipe, through TRL's DPOTrainer).

    kidchat train dpo --recipe cpu-small     # writes <build>/dpo/adapter, loss.png

The SFT adapter is merged into the base first; a fresh LoRA on the same Spectrum layers is then trained,
with the merged SFT model (the LoRA switched off) as the reference policy, so no second copy of the
model is held in memory.
"""

from __future__ import annotations

from pathlib import Path

from training.bases import PreparedBase
from training.lora import (
    load_model,
    load_tokenizer,
    lora_config,
    merge_adapters,
    trainer_args,
    use_bf16,
    use_qlora,
    write_log,
)
from training.recipe import Recipe


def run_dpo(
    recipe: Recipe,
    prepared: PreparedBase,
    dpo_jsonl: Path,
    targets: list[str],
    sft_adapter: Path | None,
    out_dir: Path,
) -> dict:
    from datasets import load_dataset
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer


    section = recipe.dpo
    set_seed(recipe.seed)
    qlora, bf16 = use_qlora(section), use_bf16(section)
    tokenizer = load_tokenizer(prepared.hf)
    if sft_adapter is not None and qlora:
        # A 4-bit base cannot take a merged adapter: merge in bf16, then quantize on load of the merged copy.
        merged = out_dir / "sft-merged"
        model = merge_adapters(load_model(prepared.hf, bf16=True), [sft_adapter])
        model.save_pretrained(str(merged))
        tokenizer.save_pretrained(str(merged))
        model = load_model(str(merged), qlora=True, bf16=True)
    else:
        model = load_model(prepared.hf, qlora=qlora, bf16=bf16)
        if sft_adapter is not None:
            model = merge_adapters(model, [sft_adapter])

    dataset = load_dataset("json", data_files=str(dpo_jsonl), split="train")
    dataset = dataset.select_columns(["prompt", "chosen", "rejected"])
    args = DPOConfig(
        **trainer_args(recipe, section, out_dir, bf16=bf16),
        beta=section.beta,
    )
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.lora, targets),
    )
    trainer.train()
    adapter = out_dir / "adapter"
    trainer.model.save_pretrained(str(adapter))
    rewards = [e for e in trainer.state.log_history if "rewards/accuracies" in e]
    extra = {"pairs": len(dataset), "qlora": qlora, "bf16": bf16}
    if rewards:
        extra["last_reward_accuracy"] = rewards[-1]["rewards/accuracies"]
        extra["last_reward_margin"] = rewards[-1].get("rewards/margins")
    return write_log(trainer.state.log_history, out_dir, f"DPO loss ({recipe.name})", extra)
