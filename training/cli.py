"""`kidchat train ...` (one command per stage, and `run RECIPE` for all of them) and `kidchat models`.

    kidchat train run cpu-small                          # every stage, shipped base, CPU-sized
    kidchat train data --recipe cpu-small                # validate + clean only
    kidchat train sft --recipe cpu-small --set sft.max_steps=5
    kidchat models                                       # the builds the server can be pointed at

This module imports nothing heavy at import time; torch and friends load inside the stage commands.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

recipe_option = click.option(
    "--recipe",
    "-r",
    "recipe_name",
    default="cpu-small",
    show_default=True,
    help="A recipe name in training/recipes/ or a YAML path.",
)
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe field, e.g. --set sft.max_steps=5 (repeatable).",
)
out_option = click.option(
    "--output-dir",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Build folder (default: <data_dir>/builds/<recipe name>).",
)


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


def _build(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None):
    from training.compat import SetupError
    from training.formats import DataError
    from training.pipeline import Build
    from training.recipe import RecipeError, load_recipe, parse_overrides

    try:
        tree = parse_overrides(overrides)
        if output_dir is not None:
            tree["output_dir"] = str(output_dir)
        recipe = load_recipe(recipe_name, tree)
        return Build.open(recipe)
    except (RecipeError, DataError, SetupError) as exc:
        _fail(exc)


def _run_stage(stage: str, recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None) -> object:
    from training.compat import SetupError
    from training.formats import DataError
    from training.gguf_tools import ExportError
    from training.pipeline import STAGES

    build = _build(recipe_name, overrides, output_dir)
    try:
        result = STAGES[stage](build)
    except (DataError, SetupError, ExportError, FileNotFoundError, ValueError) as exc:
        _fail(exc)
    click.echo(f"{stage}: {build.timings.get(stage, 0):.1f}s -> {build.dir}")
    return result


@click.group()
def train() -> None:
    """Fine-tune a model for kidchat: data -> spectrum -> sft -> dpo -> export (GGUF) -> eval."""


@train.command()
@recipe_option
@set_option
@out_option
@click.option("--check", is_flag=True, help="Only validate the files; print every problem with its line.")
def data(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None, check: bool) -> None:
    """Validate and clean the golden pairs and dialogues; write the SFT and DPO sets."""
    if check:
        from training.formats import Dialogue, GoldenPair, validate_lines
        from training.recipe import RecipeError, load_recipe, parse_overrides

        try:
            recipe = load_recipe(recipe_name, parse_overrides(overrides))
        except RecipeError as exc:
            _fail(exc)
        problems = 0
        for path, model in ((recipe.data.golden_pairs, GoldenPair), (recipe.data.dialogues, Dialogue)):
            if path is None:
                continue
            with path.open(encoding="utf-8") as fh:
                result = validate_lines(fh, model, path.name)
            click.echo(f"{path}: {len(result.items)} valid, {len(result.errors)} problem(s)")
            for err in result.errors:
                click.echo(f"  {err}")
            problems += len(result.errors)
        sys.exit(1 if problems else 0)
    report = _run_stage("data", recipe_name, overrides, output_dir)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


@train.command()
@recipe_option
@set_option
@out_option
def spectrum(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None) -> None:
    """Per-layer SNR (Marchenko-Pastur) report and the layers the fine-tune trains."""
    selected = _run_stage("spectrum", recipe_name, overrides, output_dir)
    click.echo(f"selected {len(selected)} matrices")  # type: ignore[arg-type]


@train.command()
@recipe_option
@set_option
@out_option
def sft(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None) -> None:
    """Supervised fine-tune (LoRA, TRL) on the chat-formatted examples."""
    click.echo(json.dumps(_run_stage("sft", recipe_name, overrides, output_dir), indent=2))


@train.command()
@recipe_option
@set_option
@out_option
def dpo(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None) -> None:
    """DPO on the golden pairs: safe answer chosen, unsafe answer rejected."""
    click.echo(json.dumps(_run_stage("dpo", recipe_name, overrides, output_dir), indent=2))


@train.command()
@recipe_option
@set_option
@out_option
def export(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None) -> None:
    """Merge, convert to GGUF, quantize, smoke-test through llama.cpp, write the manifest."""
    result = _run_stage("export", recipe_name, overrides, output_dir)
    click.echo(json.dumps(result, indent=2))


@train.command("eval")
@recipe_option
@set_option
@out_option
def eval_(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None) -> None:
    """Base vs fine-tuned on the held-out prompts: JSON report and PNG."""
    click.echo(json.dumps(_run_stage("eval", recipe_name, overrides, output_dir), indent=2))


@train.command()
@click.argument("recipe_name", default="cpu-small")
@set_option
@out_option
def run(recipe_name: str, overrides: tuple[str, ...], output_dir: Path | None) -> None:
    """Run every enabled stage of RECIPE and print each stage's time."""
    from training.compat import SetupError
    from training.formats import DataError
    from training.gguf_tools import ExportError
    from training.pipeline import run_all

    build = _build(recipe_name, overrides, output_dir)
    click.echo(f"build {build.recipe.name} in {build.dir} ({build.threads} thread(s))")
    try:
        timings = run_all(build, on_stage=lambda name, s: click.echo(f"  {name:<9} {s:7.1f}s"))
    except (DataError, SetupError, ExportError, FileNotFoundError, ValueError) as exc:
        _fail(exc)
    manifest = json.loads((build.dir / "manifest.json").read_text())
    click.echo(f"total {sum(timings.values()):.1f}s")
    if build.recipe.adapter.enabled:
        click.echo(f"serve it: KIDCHAT_LORA_PATH={build.dir / manifest['adapter']} kidchat serve")
        click.echo(f"ship it as the default: kidchat train ship-adapter {build.dir}")
    else:
        click.echo(f"serve it: KIDCHAT_MODEL_PATH={manifest['path']} kidchat serve")


@train.command("eval-kids")
@click.option("--adapter", type=click.Path(path_type=Path, exists=True), default=None,
              help="GGUF LoRA adapter to evaluate (default: the shipped one).")  # fmt: skip
@click.option("--smollm2/--no-smollm2", default=True, show_default=True, help="Also SmolLM2 on the English probes.")
@click.option("--references/--no-references", default=True, show_default=True,
              help="Also the tuned model with educators' golden answers as references, on the fact probes.")  # fmt: skip
@click.option("--turns", "turn_limit", type=int, default=None, help="At most N child turns per language.")
@click.option("--limit", type=int, default=None, help="At most N probes per kind and language (quick runs).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report JSON (default var/eval-kids/report.json).")
@click.option("--threads", type=int, default=None, help="llama.cpp threads (default: auto).")
def eval_kids(adapter: Path | None, smollm2: bool, references: bool, turn_limit: int | None, limit: int | None,
              out: Path | None, threads: int | None) -> None:  # fmt: skip
    """Base vs tuned on the held-out children's turns, facts and memory probes, through the server's path."""
    from server.chat.reference import References
    from server.config import Settings, auto_threads
    from server.llm.default_model import gemma3_path, install_default_models, shipped_adapter, smollm2_path
    from server.llm.llama import LlamaEngine
    from server.safety import build_checker
    from server.safety.encoder import shared_encoder
    from training.kids_eval import build_probes, evaluate
    from training.kids_sft import load_personas_for_training

    settings = Settings()
    install_default_models(settings)
    adapter = adapter or shipped_adapter()
    if adapter is None:
        _fail(FileNotFoundError("no adapter: pass --adapter or ship one (kidchat train ship-adapter)"))
    n = threads or auto_threads()
    kw = dict(n_ctx=2048, n_threads=n, prompt_style="transcript", kv_cache_mb=0)
    base = LlamaEngine(gemma3_path(settings), **kw)
    tuned = LlamaEngine(gemma3_path(settings), lora_path=adapter, **kw)
    engines: dict = {"gemma-base": (base, None, None), "gemma-tuned": (tuned, None, None)}
    if smollm2:  # English as served before the fine-tune (SmolLM2's own chat template)
        small = LlamaEngine(smollm2_path(settings), n_ctx=2048, n_threads=n, kv_cache_mb=0)
        engines["smollm2"] = (small, None, lambda p: p.language == "en")
    if references:
        refs = References.build(shared_encoder(), settings.data_dir / "references", settings.reference_threshold)
        engines["gemma-tuned+refs"] = (tuned, refs, lambda p: p.kind == "fact")
    personas = load_personas_for_training()
    probes = build_probes(limit, personas, turn_limit)
    click.echo(f"{len(probes)} probes, engines: {', '.join(engines)} ({n} thread(s))")
    result = evaluate(engines, probes, build_checker(), personas)
    out = out or settings.data_dir / "eval-kids" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    click.echo(json.dumps({k: v["summary"]["all"] for k, v in result.items()}, indent=1, ensure_ascii=False))
    click.echo(f"report: {out}")


@train.command("ship-adapter")
@click.argument("build_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
def ship_adapter(build_dir: Path) -> None:
    """Copy a build's GGUF adapter and manifest to server/llm/adapter/ (the default `make serve` runs)."""
    import shutil

    from server.llm.default_model import ADAPTER_DIR, ADAPTER_FILE

    manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    ADAPTER_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(build_dir / manifest["adapter"], ADAPTER_DIR / ADAPTER_FILE)
    manifest["adapter"] = ADAPTER_FILE
    (ADAPTER_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"shipped {ADAPTER_DIR / ADAPTER_FILE} ({manifest['size_bytes'] / 1e6:.1f} MB)")


@train.command("export-db")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="JSONL file to write.")
@click.option(
    "--conversation", "ids", multiple=True,
    help="Only this marked conversation (repeatable). Without it: every marked conversation.",
)
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]), default=None,
    help="Only conversations marked at or after this time (UTC).",
)
def export_db(out: Path, ids: tuple[str, ...], since: datetime | None) -> None:
    """Export the conversations parents marked as good examples as persona dialogues (JSONL, for
    data.extra). The file holds children's words: it is written readable by its owner only."""
    from sqlalchemy.orm import Session

    from server.config import Settings
    from server.db.session import make_engine
    from training.export_db import export_marked
    from training.formats import write_jsonl

    engine = make_engine(Settings().resolved_database_url)
    try:
        with Session(engine) as session:
            rows = export_marked(
                session, since=since.replace(tzinfo=UTC) if since else None, conversation_ids=ids or None
            )
    finally:
        engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600, exist_ok=True)
    out.chmod(0o600)
    n = write_jsonl(out, rows)
    asked = f" of {len(set(ids))} requested" if ids else ""
    click.echo(f"{n}{asked} marked conversation(s) exported to {out}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(as_json: bool) -> None:
    """List the model builds (path, base, quant type, size, date, manifest summary)."""
    from server.config import Settings
    from training.builds import list_builds

    rows = list_builds(Settings().data_dir)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no builds yet: kidchat train run cpu-small")
        return
    for r in rows:
        summary = ", ".join(f"{k}={v}" for k, v in r["summary"].items() if v is not None)
        click.echo(
            f"{r['name']}\t{r['base'] or '-'}\t{r['quant'] or '-'}\t{r['size_mb']} MB\t{r['created']}\n"
            f"    {r['path']}{'' if r['exists'] else ' (missing)'}\n    {summary}"
        )


if __name__ == "__main__":  # `accelerate launch -m training.cli run RECIPE` on several GPUs
    train()
