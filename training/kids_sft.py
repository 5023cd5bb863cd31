"""The served fine-tune: a LoRA adapter over the shipped Gemma 3 270M base, trained on kidchat's corpus in
exactly the prompt the server sends (persona system prompt, speaker labels, greeting, one line per turn).

    kidchat train run kids-cpu           # examples -> LoRA SFT (checkpointed, resumable) -> GGUF adapter
    kidchat train run kids-cpu --set adapter.max_steps=50    # a short run

Resumable: the trainer saves a checkpoint every ``adapter.save_steps`` steps under
``<build>/adapter/trainer/``; running the same command again resumes from the newest one (same data, same
recipe). The result, ``<build>/kidchat-lora.gguf`` plus ``manifest.json``, is what the server applies over
the base GGUF at load time (``Llama(lora_path=...)``; ``KIDCHAT_LORA_PATH``); no merge, no re-quantization,
so the Q4_K_M base stays as shipped and the adapter (f16) keeps its full change.

Examples (``build_examples``):
- every corpus dialogue and golden pair (training/data/corpus) and the starter set (training/data), except
  the held-out split (``training.corpus.heldout``: sha256 of the id; fact pairs half);
- a dialogue that opens with the child first gets the persona's greeting in front, as every served
  conversation starts with it; a golden pair becomes greeting, question, safe answer;
- rendered by ``server.chat.prompt.persona_request`` and ``server.llm.templates.transcript_parts``, the
  functions the server renders every turn with; the loss covers the persona's lines (and the newline that
  ends each, where the server stops), nothing else.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from server.llm.base import ChatMessage

STARTER_DIR = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Example:
    id: str
    language: str
    persona: str
    kind: str  # dialogue | pair
    turns: tuple[ChatMessage, ...]  # user/assistant turns, greeting included
    greeted: bool = False  # the first turn is the persona's fixed greeting, put in front here: not trained


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_personas_for_training():
    from server.config import Settings
    from server.personas import load_personas

    return load_personas(Settings().personas_dir)


def _greeting(persona, lang: str) -> ChatMessage:
    return ChatMessage("assistant", persona.greeting[persona.language_for(lang)])


def dialogue_turns(row: dict, persona) -> tuple[ChatMessage, ...]:
    role = {"child": "user", "persona": "assistant"}
    turns = [ChatMessage(role[t["role"]], t["text"]) for t in row["turns"]]
    if turns[0].role == "user":
        turns.insert(0, _greeting(persona, row["language"]))
    return tuple(turns)


def pair_turns(row: dict, persona) -> tuple[ChatMessage, ...]:
    return (
        _greeting(persona, row["language"]),
        ChatMessage("user", row["question"]),
        ChatMessage("assistant", row["safe_answer"]),
    )


def build_examples(corpus_dir: Path | None = None, starter_dir: Path | None = STARTER_DIR, personas=None) -> dict:
    """{"train": [...], "heldout": [...]} of Examples, split by the documented hash."""
    from training import corpus

    personas = personas or load_personas_for_training()
    corpus_dir = corpus_dir or corpus.CORPUS_DIR
    dialogues = corpus.load("dialogues", corpus_dir)
    pairs = corpus.load("golden", corpus_dir)
    if starter_dir is not None:
        dialogues += _read_jsonl(starter_dir / "dialogues.jsonl")
        pairs += _read_jsonl(starter_dir / "golden_pairs.jsonl")
    out: dict[str, list[Example]] = {"train": [], "heldout": []}
    for row in dialogues:
        persona = personas[row["persona"]]
        split = "heldout" if corpus.heldout(row["id"]) else "train"
        turns = dialogue_turns(row, persona)
        greeted = row["turns"][0]["role"] == "child"
        out[split].append(Example(row["id"], row["language"], row["persona"], "dialogue", turns, greeted))
    for row in pairs:
        persona = personas[row["persona"]]
        split = "heldout" if corpus.pair_heldout(row) else "train"
        out[split].append(Example(row["id"], row["language"], row["persona"], "pair", pair_turns(row, persona), True))
    return out


def render_parts(example: Example, personas) -> list[tuple[str, bool]]:
    """The example as the server would prompt it, in (text, trained) pieces."""
    from server.chat.prompt import persona_request
    from server.llm.templates import transcript_parts

    request = persona_request(personas[example.persona], example.language, example.turns)
    parts = transcript_parts(request.messages, request.assistant_label, request.user_label)
    if example.greeted:  # the fixed greeting is the server's text, not the model's
        first = next(i for i, (_, trained) in enumerate(parts) if trained)
        parts[first] = (parts[first][0], False)
    return parts


def tokenize(parts: list[tuple[str, bool]], tokenizer, max_length: int) -> dict:
    """input_ids (BOS first) and labels (-100 outside the persona's lines), cut at max_length.

    Each piece is tokenized on its own, as llama.cpp reads the prompt up to the label and then writes
    the reply token by token."""
    ids = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    labels = [-100] * len(ids)
    for text, trained in parts:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [-100] * len(piece)
    ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}


def examples_hash(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.id):
        h.update(json.dumps([ex.id, ex.persona, ex.language, [(t.role, t.content) for t in ex.turns]], ensure_ascii=False).encode())
    return h.hexdigest()


def write_examples(examples: dict, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    for split, rows in examples.items():
        with (out_dir / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for ex in rows:
                fh.write(json.dumps({"id": ex.id, "language": ex.language, "persona": ex.persona, "kind": ex.kind,
                                     "greeted": ex.greeted, "turns": [[t.role, t.content] for t in ex.turns]},
                                    ensure_ascii=False) + "\n")
        report[split] = {"examples": len(rows), "hash": examples_hash(rows)}
        report[split]["by"] = {}
        for ex in rows:
            key = f"{ex.persona}/{ex.language}/{ex.kind}"
            report[split]["by"][key] = report[split]["by"].get(key, 0) + 1
    (out_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def cpu_has_bf16() -> bool:
    """avx512_bf16 or AMX: the CPU multiplies bf16 natively (oneDNN), about twice fp32's speed here."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def use_autocast_bf16(setting) -> bool:
    import torch

    if setting != "auto":
        return bool(setting)
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


def read_examples(path: Path) -> list[Example]:
    """Examples as write_examples stored them (a build's own copy of its data)."""
    out = []
    for row in _read_jsonl(path):
        turns = tuple(ChatMessage(role, text) for role, text in row["turns"])
        out.append(Example(row["id"], row["language"], row["persona"], row["kind"], turns, row.get("greeted", False)))
    return out


def latest_checkpoint(trainer_dir: Path) -> Path | None:
    found = sorted(trainer_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def train_adapter(recipe, prepared, out_dir: Path, *, personas=None, corpus_dir: Path | None = None, quiet: bool = False) -> dict:
    """LoRA SFT on the transcript examples; resumes from the newest checkpoint in out_dir/trainer."""
    import torch
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    from training.lora import load_model, load_tokenizer, lora_config, write_log
    from training.sft import answer_only_loss

    section = recipe.adapter
    personas = personas or load_personas_for_training()
    set_seed(recipe.seed)
    trainer_dir = out_dir / "trainer"
    resume = latest_checkpoint(trainer_dir)
    if resume is not None and (out_dir / "data" / "train.jsonl").exists():
        # A resumed run trains on the examples it started with, even if the corpus grew since.
        examples = {split: read_examples(out_dir / "data" / f"{split}.jsonl") for split in ("train", "heldout")}
        train = examples["train"]
    else:
        if not section.corpus and corpus_dir is None:
            raise ValueError("adapter.corpus is off and no corpus folder was given")
        examples = build_examples(corpus_dir, personas=personas)
        train = examples["train"]
        if section.max_examples:
            train = sorted(train, key=lambda e: hashlib.sha256(e.id.encode()).hexdigest())[: section.max_examples]
    data_report = write_examples({"train": train, "heldout": examples["heldout"]}, out_dir / "data")

    tokenizer = load_tokenizer(prepared.hf)
    rows = [tokenize(render_parts(ex, personas), tokenizer, section.max_length) for ex in train]
    rows = [r for r in rows if any(label != -100 for label in r["labels"])]
    random.Random(recipe.seed).shuffle(rows)
    dataset = Dataset.from_list(rows)
    n_tokens = sum(len(r["input_ids"]) for r in rows)

    model = load_model(prepared.hf)
    from peft import get_peft_model

    model = get_peft_model(model, lora_config(recipe.lora, list(section.target_modules)))
    args = TrainingArguments(
        output_dir=str(trainer_dir),
        max_steps=section.max_steps,
        num_train_epochs=section.epochs,
        per_device_train_batch_size=section.batch_size,
        gradient_accumulation_steps=section.grad_accum,
        learning_rate=section.learning_rate,
        warmup_steps=section.warmup_steps,
        lr_scheduler_type="cosine",
        logging_steps=section.logging_steps,
        save_strategy="steps",
        save_steps=section.save_steps,
        save_total_limit=2,
        report_to=[],
        seed=recipe.seed,
        data_seed=recipe.seed,
        train_sampling_strategy="group_by_length",  # batches of similar length: less padding, fewer wasted tokens on a CPU
        dataloader_num_workers=0,
        remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,  # autocast is applied around the loss below, where the backbone actually runs
        disable_tqdm=quiet,
    )

    autocast = use_autocast_bf16(section.bf16)

    class TranscriptTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # bf16 matmuls (the LoRA weights and the optimizer stay fp32): on a CPU with avx512_bf16 or
            # AMX a step took 12-13 s instead of 22-26 s here (8 examples, 2 threads).
            with torch.autocast("cuda" if torch.cuda.is_available() else "cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = answer_only_loss(model, inputs, num_items_in_batch)
            return (loss, None) if return_outputs else loss

    trainer = TranscriptTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True),
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    adapter = out_dir / "peft"
    trainer.model.save_pretrained(str(adapter))
    extra = {
        "examples": len(rows),
        "tokens_per_epoch": n_tokens,
        "resumed_from": resume.name if resume else None,
        "data": data_report,
    }
    return write_log(trainer.state.log_history, out_dir, f"LoRA SFT loss ({recipe.name})", extra)


def write_adapter_manifest(build, adapter: Path) -> dict:
    """manifest.json beside the adapter: base file hash, data hash, recipe, figures, and one turn per
    language through the server's own engine (the base GGUF with the adapter applied)."""
    import threading

    from server.llm.base import GenerationRequest, GenerationStats
    from server.llm.llama import LlamaEngine
    from training.bases import sha256_file
    from training.export import versions

    prepared = build.prepared()
    metrics_path = build.dir / "adapter" / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    data = metrics.pop("data", {})
    personas = load_personas_for_training()
    from server.chat.prompt import persona_request

    engine = LlamaEngine(Path(prepared.gguf), lora_path=adapter, n_threads=build.threads, n_ctx=1024, prompt_style="transcript")
    smoke = {}
    for lang, persona_id, text in (("ko", "soeun-mom", "엄마, 나 오늘 넘어져서 무릎 다쳤어."), ("en", "teacher-hana", "How many legs does a spider have?")):
        persona = personas[persona_id]
        turns = (_greeting(persona, lang), ChatMessage("user", text))
        request: GenerationRequest = persona_request(persona, lang, turns, 80)
        stats = GenerationStats()
        smoke[lang] = {"child": text, "reply": "".join(engine.stream(request, threading.Event(), stats)).strip()}
    del engine
    manifest = {
        "name": build.recipe.name,
        "adapter": adapter.name,
        "adapter_sha256": sha256_file(adapter),
        "size_bytes": adapter.stat().st_size,
        "base": {"name": prepared.name, "gguf": Path(prepared.gguf).name, "sha256": prepared.source_sha256},
        "data": {"train_hash": data.get("train", {}).get("hash"), "train_examples": data.get("train", {}).get("examples"),
                 "heldout_hash": data.get("heldout", {}).get("hash"), "heldout_examples": data.get("heldout", {}).get("examples")},
        "recipe": build.recipe.model_dump(mode="json"),
        "metrics": metrics,
        "smoke": smoke,
        "versions": versions(),
    }
    (build.dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest
