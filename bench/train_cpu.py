"""CPU benchmark: the cpu-small recipe through every stage on the shipped base (Gemma 3 270M), printing
each stage's time. Target on this project's 2-core machine: <= 10 minutes in all. Not a timed test.

    python bench/train_cpu.py                       # recipe cpu-small into var/builds/cpu-small
    python bench/train_cpu.py --set sft.max_steps=6 --set data.golden_pairs=/path/pairs.jsonl

Prints one line per stage, then the build's figures (step time, quant kept-change, eval summary).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's packages, not an installed copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", nargs="?", default="cpu-small")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--measure-quants",
        default="q8_0,q5_k_m,q4_k_m",
        help="Quant types whose kept share of the tune is measured (timed apart from the export); '' for none.",
    )
    args = parser.parse_args()
    if args.measure_quants:
        args.overrides.append(f"export.measure_quants=[{args.measure_quants}]")

    from training.pipeline import Build, run_all
    from training.recipe import load_recipe, parse_overrides

    recipe = load_recipe(args.recipe, parse_overrides(args.overrides))
    build = Build.open(recipe)
    print(f"recipe {recipe.name}, base {recipe.base}, {build.threads} thread(s), build {build.dir}")
    start = time.perf_counter()
    timings = run_all(build, on_stage=lambda name, s: print(f"{name:<9} {s:7.1f} s", flush=True))
    total = time.perf_counter() - start
    manifest = json.loads((build.dir / "manifest.json").read_text())
    sft = manifest["metrics"].get("sft", {})
    dpo = manifest["metrics"].get("dpo", {})
    export = manifest["timings"]
    measure = manifest["timings"].get("measure_s", 0.0)
    print(
        f"{'total':<9} {total:7.1f} s  (without measuring quant types: {total - measure:.1f} s; "
        f"without preparing the base, cached after the first run: {total - measure - timings.get('base', 0):.1f} s)"
    )
    print(
        f"sft: {sft.get('steps')} steps, {sft.get('seconds_per_step', 0):.2f} s/step, "
        f"loss {sft.get('first_loss')} -> {sft.get('last_loss')}"
    )
    print(
        f"dpo: {dpo.get('steps')} steps, {dpo.get('seconds_per_step', 0):.2f} s/step, "
        f"loss {dpo.get('first_loss')} -> {dpo.get('last_loss')}"
    )
    print(
        f"export: merge {export.get('merge_s')} s, convert {export.get('convert_s')} s, "
        f"quantize {export.get('quantize_s')} s, smoke {export.get('smoke_s')} s, "
        f"measuring quant types {export.get('measure_s', 0)} s -> {manifest['gguf']} "
        f"({manifest['size_bytes'] / 2**20:.0f} MB)"
    )
    for qt, kept in manifest["metrics"].get("kept_change", {}).items():
        print(
            f"kept change {qt}: {kept['bytes_changed_in_trained']:.1%} of the trained tensors' bytes differ "
            f"(f16: {kept['f16_bytes_changed_in_trained']:.1%}) -> kept {kept['kept']:.2f}"
        )
    for name, summary in manifest["metrics"].get("eval", {}).items():
        print(f"eval {name}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
