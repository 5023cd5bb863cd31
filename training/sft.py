"""Stage 4, SFT: LoRA (peft) through TRL's SFTTrainer on the chat-formatted examples of the data stage.

    kidchat train sft --recipe cpu-small --set sft.max_steps=20    # writes <build>/sft/adapter, loss.png

- The model's chat template formats every example; the loss covers the persona's (assistant's) tokens
  only (``assistant_only_loss``), and only those positions go through the output layer, the main cost
  with Gemma's 262k vocabulary (``AnswerOnlyLoss``; TRL's own fused head scores every position on a
  CPU and bypasses peft's trainable-token wrapper on a tied output layer).
- LoRA targets the layers the Spectrum stage selected. On a base whose chat turn tokens are untrained
  (Gemma 3 270M), their embeddings are trained too (peft ``trainable_token_indices``), or the tuned model
  would never emit ``<end_of_turn>`` and never stop.
- With CUDA: bf16 and, by default, QLoRA (4-bit NF4 base via bitsandbytes). On more than one GPU, launch
  through accelerate (``accelerate launch --config_file training/recipes/accelerate/fsdp.yaml -m
  training.cli run ...``); the trainer picks the distributed setup up from the launcher.
"""

from __future__ import annotations

from pathlib import Path

from training.bases import PreparedBase, train_template
from training.lora import (
    load_model,
    load_tokenizer,
    lora_config,
    resolve_train_tokens,
    trainer_args,
    use_bf16,
    use_qlora,
    write_log,
)
from training.recipe import Recipe


def run_sft(
    recipe: Recipe, prepared: PreparedBase, sft_jsonl: Path, targets: list[str], out_dir: Path
) -> dict:
    from datasets import load_dataset
    from transformers import set_seed
    from trl import SFTConfig

    section = recipe.sft
    set_seed(recipe.seed)
    qlora, bf16 = use_qlora(section), use_bf16(section)
    tokenizer = load_tokenizer(prepared.hf)
    template = train_template(prepared, tokenizer.chat_template)
    if template:  # ours carries {% generation %} markers; otherwise TRL swaps in its own training template
        tokenizer.chat_template = template
    model = load_model(prepared.hf, qlora=qlora, bf16=bf16)
    token_ids = resolve_train_tokens(recipe.lora, prepared, tokenizer)

    dataset = load_dataset("json", data_files=str(sft_jsonl), split="train")
    dataset = dataset.select_columns(["messages"])
    args = SFTConfig(
        **trainer_args(recipe, section, out_dir, bf16=bf16),
        assistant_only_loss=True,
    )
    # TRL's fused head where it compacts (CUDA) and no trained token rows; ours elsewhere.
    trainer = _trainer_class(answer_only=not _cuda() or bool(token_ids))(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.lora, targets, token_ids),
    )
    trainer.train()
    adapter = out_dir / "adapter"
    trainer.model.save_pretrained(str(adapter))
    extra = {
        "examples": len(dataset),
        "qlora": qlora,
        "bf16": bf16,
        "targets": len(targets),
        "trained_tokens": token_ids,
    }
    return write_log(trainer.state.log_history, out_dir, f"SFT loss ({recipe.name})", extra)


def answer_only_loss(model, inputs: dict, num_items_in_batch=None):
    """Causal-LM loss computed on the answer positions only: the backbone runs on the whole sequence, the
    output layer (through peft's wrappers, so trained token rows count) only where a label is set.

    Written here because TRL 1.16's fused head compacts positions only on Triton devices and reads the
    output weight directly, missing peft's trainable-token delta on tied embeddings (Gemma).
    """
    import torch
    import torch.nn.functional as F

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    keys = ("input_ids", "attention_mask", "position_ids")
    hidden = causal_lm.base_model(
        **{k: inputs[k] for k in keys if k in inputs}, use_cache=False
    ).last_hidden_state
    labels = inputs["labels"][:, 1:]
    mask = labels != -100
    logits = causal_lm.get_output_embeddings()(hidden[:, :-1][mask]).float()
    cap = getattr(causal_lm.config.get_text_config(), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    loss = F.cross_entropy(logits, labels[mask], reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else mask.sum()
    return loss / torch.as_tensor(count, device=loss.device).clamp(min=1)


def _trainer_class(answer_only: bool):
    from trl import SFTTrainer

    if not answer_only:
        return SFTTrainer

    class AnswerOnlySFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = answer_only_loss(model, inputs, num_items_in_batch)
            return (loss, None) if return_outputs else loss

    return AnswerOnlySFTTrainer


def _cuda() -> bool:
    from training.compat import cuda_available

    return cuda_available()
