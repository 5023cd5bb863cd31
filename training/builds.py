"""The builds `kidchat models` lists: every ``<data_dir>/builds/*/manifest.json``, plus the GGUFs of
the shipped bases that are in place, so a person sees what the server can be pointed at."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path


def list_builds(data_dir: Path) -> list[dict]:
    rows = []
    for manifest_path in sorted((data_dir / "builds").glob("*/manifest.json")):
        try:
            m = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        gguf = manifest_path.parent / m.get("gguf", "")
        ev = (m.get("metrics") or {}).get("eval") or {}
        tuned = ev.get("tuned") or {}
        sft = (m.get("metrics") or {}).get("sft") or {}
        rows.append(
            {
                "name": m.get("name"),
                "path": str(gguf.resolve()),
                "exists": gguf.is_file(),
                "base": (m.get("base") or {}).get("name"),
                "quant": m.get("quant"),
                "size_mb": round(gguf.stat().st_size / 2**20, 1) if gguf.is_file() else None,
                "created": m.get("created"),
                "summary": {
                    "sft_steps": sft.get("steps"),
                    "sft_last_loss": sft.get("last_loss"),
                    "dpo_pairs": (m.get("data") or {}).get("dpo_pairs"),
                    "sft_examples": (m.get("data") or {}).get("sft_examples"),
                    "eval_safe": tuned.get("safe"),
                    "eval_refusal_correct": tuned.get("refusal_correct"),
                },
            }
        )
    for gguf in sorted((data_dir / "models").glob("*.gguf")) if (data_dir / "models").is_dir() else []:
        stat = gguf.stat()
        rows.append(
            {
                "name": gguf.stem,
                "path": str(gguf.resolve()),
                "exists": True,
                "base": None,
                "quant": None,
                "size_mb": round(stat.st_size / 2**20, 1),
                "created": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
                "summary": {"note": "installed model (no manifest)"},
            }
        )
    return rows
