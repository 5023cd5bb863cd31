"""Stage 1, data: validate, clean, and turn golden pairs and dialogues into the SFT and DPO sets.

    kidchat train data --recipe cpu-small        # writes <build>/data/{sft,dpo}.jsonl and report.json

SFT examples are conversations in the chat format (``messages``: system?, user, assistant, ...): each golden
pair gives one (question -> safe answer) and each dialogue gives one with every persona turn trained. A
dialogue may open with the persona, as the server's history does (it starts with the persona's greeting).
DPO examples are ``prompt`` / ``chosen`` (the safe answer) / ``rejected`` (the unsafe answer).

Examples that repeat a held-out evaluation prompt are dropped so the evaluation stays honest.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from training.clean import Cleaner, NearDuplicates, clean_dialogues, clean_pairs, norm_key
from training.formats import DataError, load_dialogues, load_pairs, write_jsonl
from training.recipe import DataSection


@dataclass
class DataResult:
    sft_path: Path
    dpo_path: Path
    report: dict
    data_hash: str


def _order_key(ident: str) -> str:
    """A stable pseudo-random order (by hash of the id), so a capped subset mixes languages and personas."""
    return hashlib.sha256(ident.encode()).hexdigest()


def persona_prompts(mode: str, child_name: dict[str, str]) -> dict[tuple[str, str], str] | None:
    """(persona id, language) -> system prompt as the server would send it; None when not used."""
    if mode == "none":
        return None
    from server.config import Settings
    from server.personas import load_personas

    folder = Settings().personas_dir
    if not folder.is_dir() or not any(folder.glob("*.yaml")):
        if mode == "persona":
            raise DataError(f"system_prompt=persona but {folder} has no persona files")
        return None
    prompts = {}
    for pid, persona in load_personas(folder).items():
        for lang, text in persona.system_prompt.items():
            prompts[(pid, lang)] = text.replace("{child_name}", child_name.get(lang, ""))
    return prompts


def _system(prompts: dict | None, persona: str, lang: str) -> list[dict]:
    if prompts is None:
        return []
    text = prompts.get((persona, lang))
    return [{"role": "system", "content": text}] if text else []


def pair_messages(pair: dict, prompts: dict | None) -> list[dict]:
    return [
        *_system(prompts, pair["persona"], pair["language"]),
        {"role": "user", "content": pair["question"]},
        {"role": "assistant", "content": pair["safe_answer"]},
    ]


def dialogue_messages(dlg: dict, prompts: dict | None) -> list[dict]:
    role = {"child": "user", "persona": "assistant"}
    return [
        *_system(prompts, dlg["persona"], dlg["language"]),
        *({"role": role[t["role"]], "content": t["text"]} for t in dlg["turns"]),
    ]


def load_eval_questions(path: Path | None) -> list[tuple[str, str]]:
    if path is None or not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append((row["prompt"], row["language"]))
    return out


def file_hash(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def prepare_data(section: DataSection, out_dir: Path, eval_prompts: Path | None = None) -> DataResult:
    """Validate + clean the recipe's data files and write the SFT and DPO sets under ``out_dir``."""
    cleaner = Cleaner(max_chars=section.max_chars, near_dup_threshold=section.near_dup_threshold)
    pairs = load_pairs(section.golden_pairs) if section.golden_pairs else []
    dialogues = load_dialogues(section.dialogues) if section.dialogues else []
    for extra in section.extra:
        dialogues += load_dialogues(extra)
    if not pairs and not dialogues:
        raise DataError("the recipe names no data (data.golden_pairs and data.dialogues are both empty)")
    clean_p, rep_p = clean_pairs(pairs, cleaner)
    clean_d, rep_d = clean_dialogues(dialogues, cleaner)

    held_out = NearDuplicates(section.near_dup_threshold)
    for prompt, lang in load_eval_questions(eval_prompts):
        held_out.add(norm_key(prompt), lang)

    def overlaps(text: str, lang: str) -> bool:
        return held_out.match(norm_key(text), lang) is not None

    kept_p = [p for p in clean_p if not overlaps(p["question"], p["language"])]
    kept_d = [
        d
        for d in clean_d
        if not any(t["role"] == "child" and overlaps(t["text"], d["language"]) for t in d["turns"])
    ]
    rep_p.dropped["eval_overlap"] += len(clean_p) - len(kept_p)
    rep_d.dropped["eval_overlap"] += len(clean_d) - len(kept_d)
    rep_p.kept, rep_d.kept = len(kept_p), len(kept_d)
    for report, kept in ((rep_p, kept_p), (rep_d, kept_d)):
        report.by_band = Counter(row["age_band"] for row in kept)
        report.by_language = Counter(row["language"] for row in kept)

    prompts = persona_prompts(section.system_prompt, section.child_name)
    sft_rows = [
        {
            "id": p["id"],
            "language": p["language"],
            "age_band": p["age_band"],
            "messages": pair_messages(p, prompts),
        }
        for p in kept_p
    ] + [
        {
            "id": d["id"],
            "language": d["language"],
            "age_band": d["age_band"],
            "messages": dialogue_messages(d, prompts),
        }
        for d in kept_d
    ]
    sft_rows.sort(key=lambda r: _order_key(r["id"]))
    if section.max_examples:
        sft_rows = sft_rows[: section.max_examples]

    dpo_rows = []
    for p in sorted(kept_p, key=lambda r: _order_key(r["id"])):
        system = _system(prompts, p["persona"], p["language"])
        dpo_rows.append(
            {
                "id": p["id"],
                "language": p["language"],
                "prompt": [*system, {"role": "user", "content": p["question"]}],
                "chosen": [{"role": "assistant", "content": p["safe_answer"]}],
                "rejected": [{"role": "assistant", "content": p["unsafe_answer"]}],
            }
        )
    if section.max_pairs:
        dpo_rows = dpo_rows[: section.max_pairs]

    out_dir.mkdir(parents=True, exist_ok=True)
    sft_path, dpo_path = out_dir / "sft.jsonl", out_dir / "dpo.jsonl"
    write_jsonl(sft_path, sft_rows)
    write_jsonl(dpo_path, dpo_rows)
    data_hash = file_hash(sft_path, dpo_path)
    report = {
        "golden_pairs": rep_p.as_dict(),
        "dialogues": rep_d.as_dict(),
        "sft_examples": len(sft_rows),
        "dpo_pairs": len(dpo_rows),
        "system_prompt": "persona" if prompts else "none",
        "data_hash": data_hash,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return DataResult(sft_path, dpo_path, report, data_hash)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
