"""The stages in order, each reading what the previous one left in the build folder:

    <build>/recipe.yaml           the resolved recipe (YAML + --set overrides)
    <build>/data/                 sft.jsonl, dpo.jsonl, report.json          (data)
    <build>/spectrum.json|png     per-layer SNR and the selected layers      (spectrum)
    <build>/sft/, <build>/dpo/    adapter/, log.json, loss.png, metrics.json (sft, dpo)
    <build>/merged/               the merged Hugging Face checkpoint         (export)
    <build>/<name>-<quant>.gguf   the served file, and manifest.json        (export)
    <build>/eval/                 report.json, report.png                    (eval)
    <build>/timings.json          seconds per stage

``run_all`` runs every enabled stage; the CLI runs one stage per command.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from training.recipe import Recipe, save_recipe


@dataclass
class Build:
    recipe: Recipe
    dir: Path
    cache: Path
    threads: int = 1
    quiet: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def open(cls, recipe: Recipe, data_dir: Path | None = None, quiet: bool = False) -> Build:
        """The build folder of ``recipe`` under ``data_dir`` (default: Settings().data_dir)."""
        from server.config import Settings
        from training.compat import set_threads

        data_dir = data_dir or Settings().data_dir
        build = recipe.build_dir(data_dir)
        build.mkdir(parents=True, exist_ok=True)
        save_recipe(recipe, build / "recipe.yaml")
        b = cls(recipe, build, data_dir / "training" / "bases", set_threads(recipe.threads), quiet)
        timings = build / "timings.json"
        if timings.exists():
            b.timings = json.loads(timings.read_text())
        return b

    def timed(self, stage: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = fn()
        self.timings[stage] = round(time.perf_counter() - start, 2)
        (self.dir / "timings.json").write_text(json.dumps(self.timings, indent=2))
        return result

    def prepared(self):
        from training.bases import prepare_base

        if not hasattr(self, "_prepared"):
            self._prepared = prepare_base(self.recipe.base, self.cache)
        return self._prepared

    def adapters(self) -> list[Path]:
        out = []
        for stage in ("sft", "dpo"):
            section = getattr(self.recipe, stage)
            adapter = self.dir / stage / "adapter"
            if section.enabled:
                if not (adapter / "adapter_config.json").exists():
                    raise FileNotFoundError(f"{adapter} is missing: run `kidchat train {stage}` first")
                out.append(adapter)
        return out

    def metrics(self) -> dict:
        out = {}
        for stage in ("sft", "dpo"):
            path = self.dir / stage / "metrics.json"
            if path.exists():
                out[stage] = json.loads(path.read_text())
        return out


def stage_base(b: Build) -> dict:
    return b.timed("base", b.prepared).as_dict()  # type: ignore[union-attr]


def stage_data(b: Build) -> dict:
    from training.data import prepare_data

    r = b.recipe
    result = b.timed("data", lambda: prepare_data(r.data, b.dir / "data", r.eval.prompts))
    return result.report  # type: ignore[union-attr]


def stage_spectrum(b: Build) -> list[str]:
    def work() -> list[str]:
        from training.lora import load_model
        from training.spectrum import scan, select, write_report

        model = load_model(b.prepared().hf)
        scores = scan(model, b.recipe.spectrum.modules, progress=not b.quiet)
        selected = select(scores, b.recipe.spectrum.top_fraction)
        write_report(scores, selected, b.dir, b.prepared().name)
        return selected

    return b.timed("spectrum", work)  # type: ignore[return-value]


def _targets(b: Build) -> list[str]:
    from training.lora import resolve_targets

    return resolve_targets(b.recipe, b.dir / "spectrum.json")


def stage_sft(b: Build) -> dict:
    from training.sft import run_sft

    def work() -> dict:
        targets = _targets(b)  # before loading the base: a missing Spectrum report fails fast
        return run_sft(b.recipe, b.prepared(), b.dir / "data" / "sft.jsonl", targets, b.dir / "sft")

    return b.timed("sft", work)  # type: ignore[return-value]


def stage_dpo(b: Build) -> dict:
    from training.dpo import run_dpo

    def work() -> dict:
        targets = _targets(b)
        sft = b.dir / "sft" / "adapter" if b.recipe.sft.enabled else None
        if sft is not None and not (sft / "adapter_config.json").exists():
            raise FileNotFoundError(f"{sft} is missing: run `kidchat train sft` first")
        return run_dpo(b.recipe, b.prepared(), b.dir / "data" / "dpo.jsonl", targets, sft, b.dir / "dpo")

    return b.timed("dpo", work)  # type: ignore[return-value]


def stage_export(b: Build) -> dict:
    from training.export import run_export, write_manifest

    def work() -> dict:
        adapters = b.adapters()  # before loading the base: missing stages fail fast
        return run_export(b.recipe, b.prepared(), adapters, b.dir, threads=b.threads, quiet=b.quiet)

    export = b.timed("export", work)
    data_report = b.dir / "data" / "report.json"
    data = json.loads(data_report.read_text()) if data_report.exists() else {}
    write_manifest(b.dir, b.recipe, b.prepared(), export, b.metrics(), data)  # type: ignore[arg-type]
    return export  # type: ignore[return-value]


def stage_eval(b: Build, checker=None) -> dict:
    from training.evaluate import evaluate_build

    return b.timed("eval", lambda: evaluate_build(b, checker=checker))  # type: ignore[return-value]


def stage_adapter(b: Build) -> dict:
    from training.kids_sft import train_adapter

    return b.timed(  # type: ignore[return-value]
        "adapter", lambda: train_adapter(b.recipe, b.prepared(), b.dir / "adapter", quiet=b.quiet)
    )


ADAPTER_FILE = "kidchat-lora.gguf"


def stage_adapter_export(b: Build) -> dict:
    """peft adapter -> GGUF LoRA, a llama.cpp smoke turn per language over the base GGUF, manifest."""
    from training.kids_sft import write_adapter_manifest
    from training.lora_gguf import convert_adapter

    def work() -> dict:
        peft = b.dir / "adapter" / "peft"
        if not (peft / "adapter_config.json").exists():
            raise FileNotFoundError(f"{peft} is missing: run the adapter stage first")
        out = b.dir / ADAPTER_FILE
        convert_adapter(peft, Path(b.prepared().hf), out, outtype=b.recipe.adapter.outtype, cache=b.cache.parent,
                        log=b.dir / "adapter" / "convert.log" if b.quiet else None)  # fmt: skip
        return write_adapter_manifest(b, out)

    return b.timed("adapter_export", work)  # type: ignore[return-value]


ADAPTER_STAGES: dict[str, Callable[[Build], object]] = {
    "adapter": stage_adapter,
    "adapter_export": stage_adapter_export,
}

STAGES: dict[str, Callable[[Build], object]] = {
    "data": stage_data,
    "spectrum": stage_spectrum,
    "sft": stage_sft,
    "dpo": stage_dpo,
    "export": stage_export,
    "eval": stage_eval,
}


def enabled(recipe: Recipe, stage: str) -> bool:
    section = getattr(recipe, stage, None)
    return getattr(section, "enabled", True)


def run_all(b: Build, on_stage: Callable[[str, float], None] | None = None) -> dict[str, float]:
    """Every enabled stage in order; returns seconds per stage."""
    stage_base(b)
    if on_stage:
        on_stage("base", b.timings["base"])
    stages = ADAPTER_STAGES if b.recipe.adapter.enabled else STAGES
    for name, fn in stages.items():
        if not enabled(b.recipe, name):
            continue
        fn(b)
        if on_stage:
            on_stage(name, b.timings[name])
    return dict(b.timings)
