"""Evaluate the safety stage on the held-out split (`kidchat safety eval`).

Three systems are compared on each held-out set, harmful vs harmless: the word lists and detectors
alone, the classifier alone (its "harmful" head at the age band's threshold), and the whole stage
(everything, as it judges a child's message). Per category, the stage's categories are compared with
the data's. The share of held-out harmless look-alike questions that the stage stops is reported per
language. Writes metrics.json, confusion_matrix.png and training_curve.png.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import click

from server.safety.checker import PRIORITY, SafetyStage
from server.safety.classifier import Classifier, default_artifact
from server.safety.normalize import Normalizer
from server.safety.policy import load_policy
from training.safety_classifier.children import children_report
from training.safety_classifier.data import every_nth, load_examples, lookalikes, split
from training.safety_classifier.golden import dialogue_report, golden_report

SYSTEMS = ("wordlists", "classifier", "stage")
LAYERS = ("wordlist", "pii", "classifier", "conversation", "children")


def _layers(reason: str) -> set[str]:
    """Which layers stopped a text, from the verdict's reason ("wordlist:hate;classifier:hate")."""
    return {r.split(":", 1)[0] for r in reason.split(";") if r} & set(LAYERS)


def _prf(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return {"n": tp + fp + fn + tn, "positives": tp + fn, "precision": round(p, 4), "recall": round(r, 4),
            "f1": round(f, 4), "fpr": round(fpr, 4)}


def _counts(pairs: list[tuple[bool, bool]]) -> tuple[int, int, int, int]:
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    tn = sum(not t and not p for t, p in pairs)
    return tp, fp, fn, tn


def evaluate(data: Path, out: Path, *, age: int = 7, every: int = 1, artifact: Path | None = None,
             children: bool = True) -> dict:
    """The stage as the server builds it (`children`: with the children's layer, server/safety/children.py)."""
    from server.safety.children import ChildrenHead
    from server.safety.children import default_artifact as children_artifact

    policy = load_policy()
    normalizer = Normalizer()
    artifact = artifact or default_artifact()
    classifier = Classifier(artifact, normalizer)
    layer = ChildrenHead(children_artifact(), normalizer) if children else None
    stage = SafetyStage(policy, classifier=classifier, children=layer, normalizer=normalizer)
    words = SafetyStage(policy, classifier=None, normalizer=normalizer)
    band = policy.band(age)
    _, test = split(load_examples(data))
    test = every_nth(test, every)

    started = time.time()
    rows = []
    with click.progressbar(test, label="held-out split", file=sys.stderr) as bar:
        for e in bar:
            v = stage.check(e.text, "child", age=age)
            w = words.check(e.text, "child", age=age)
            harm = classifier.scores(e.text)["harmful"] >= policy.harmful(band, "child")
            rows.append((e, {"wordlists": not w.allowed, "classifier": harm, "stage": not v.allowed}, v))
    seconds = time.time() - started

    per_set: dict[str, dict[str, dict]] = {}
    per_lang: dict[str, dict[str, dict]] = {}
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for e, pred, _ in rows:
        groups[("set", e.source)].append((e, pred))
        groups[("lang", e.lang)].append((e, pred))
    for (kind, name), items in sorted(groups.items()):
        metrics = {s: _prf(*_counts([(e.harmful, p[s]) for e, p in items])) for s in SYSTEMS}
        (per_set if kind == "set" else per_lang)[name] = metrics

    # harmless held-out texts the stage stopped, per set, by the layer that stopped them
    false_positives: dict[str, dict[str, int]] = {}
    for e, _, v in rows:
        if e.harmful:
            continue
        fp = false_positives.setdefault(e.source, {"harmless": 0, "stopped": 0, **{f"by_{x}": 0 for x in LAYERS},
                                                   **{f"only_{x}": 0 for x in LAYERS}})
        fp["harmless"] += 1
        if v.allowed:
            continue
        fp["stopped"] += 1
        layers = _layers(v.reason)
        for x in layers:
            fp[f"by_{x}"] += 1
        if len(layers) == 1:
            fp[f"only_{next(iter(layers))}"] += 1

    per_category = {}
    for c in PRIORITY:
        pairs = [(c in e.categories, c in v.categories) for e, _, v in rows]
        if any(t for t, _ in pairs):
            per_category[c] = _prf(*_counts(pairs))

    look = {}
    for lang in ("en", "ko"):
        texts = lookalikes(lang)
        stopped = [t for t in texts if not stage.check(t, "child", age=age).allowed]
        look[lang] = {"n": len(texts), "blocked": len(stopped), "rate": round(len(stopped) / len(texts), 4)}

    labels = ["harmless", *[c for c in PRIORITY if c in per_category]]
    matrix = [[0] * len(labels) for _ in labels]
    for e, _, v in rows:
        truth = next((c for c in PRIORITY if c in e.categories), "harmless")
        guess = v.category if v.category in labels else ("harmless" if v.allowed else labels[-1])
        if truth in labels:
            matrix[labels.index(truth)][labels.index(guess)] += 1

    report = {
        "age": age,
        "band": band,
        "heldout_examples": len(rows),
        "ms_per_message_all_systems": round(1000 * seconds / max(1, len(rows)), 3),
        "per_language": per_lang,
        "per_set": per_set,
        "per_category_stage": per_category,
        "lookalikes_blocked": look,
        "harmless_stopped_by_layer": false_positives,
        "golden_pairs": golden_report(stage),
        "children": children_report(stage, policy),
        "dialogue_child_turns": dialogue_report(stage),
        "confusion": {"labels": labels, "matrix": matrix},
        "data_sha256_of_artifact": classifier.data_sha256,
        "children_layer": layer.data_sha256 if layer else None,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    _plots(report, out, artifact)
    return report


def _plots(report: dict, out: Path, artifact: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, matrix = report["confusion"]["labels"], report["confusion"]["matrix"]
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.imshow([[x / max(1, sum(row)) for x in row] for row in matrix], cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(matrix):
        for j, x in enumerate(row):
            ax.text(j, i, str(x), ha="center", va="center", fontsize=8)
    ax.set_xlabel("stage's main category")
    ax.set_ylabel("data's category")
    ax.set_title("Held-out split: confusion (row-normalised colour, counts)")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=120)
    plt.close(fig)

    meta = json.loads(artifact.with_suffix(".json").read_text("utf-8"))
    curve = meta["training_curve"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [p["examples"] for p in curve]
    ax.plot(xs, [p["train_f1"] for p in curve], "o-", label="training F1 (subset)")
    ax.plot(xs, [p["heldout_f1_ko"] for p in curve], "o-", label="held-out F1, Korean")
    ax.plot(xs, [p["heldout_f1_en"] for p in curve], "o-", label="held-out F1, English")
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel("F1 (harmful head, threshold 0.5)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Training curve of the safety classifier")
    fig.tight_layout()
    fig.savefig(out / "training_curve.png", dpi=120)
    plt.close(fig)


def print_report(report: dict) -> None:
    def line(name: str, m: dict) -> str:
        return (f"{name:<22} n={m['n']:>6} pos={m['positives']:>6}  P={m['precision']:.3f} R={m['recall']:.3f} "
                f"F1={m['f1']:.3f} FPR={m['fpr']:.3f}")

    click.echo(f"held-out split, child messages judged at age {report['age']} ({report['band']} band)")
    for title, table in (("per language", report["per_language"]), ("per data set", report["per_set"])):
        for system in SYSTEMS:
            click.echo(f"\n{title} - {system}")
            for name, metrics in table.items():
                click.echo(line(name, metrics[system]))
    click.echo("\nper category (stage)")
    for name, m in report["per_category_stage"].items():
        click.echo(line(name, m))
    click.echo("\nheld-out harmless look-alike questions stopped by the stage")
    for lang, m in report["lookalikes_blocked"].items():
        click.echo(f"{lang}: {m['blocked']}/{m['n']} = {100 * m['rate']:.1f}%")
    click.echo("\nharmless held-out texts stopped by the stage, by layer (by = among the causes, only = the sole cause)")
    for name, fp in report["harmless_stopped_by_layer"].items():
        causes = " ".join(f"{x}={fp['by_' + x]}/{fp['only_' + x]}" for x in LAYERS)
        click.echo(f"{name:<22} {fp['stopped']:>5}/{fp['harmless']:<5} = {100 * fp['stopped'] / max(1, fp['harmless']):5.1f}%  {causes}")
    g = report["golden_pairs"]
    click.echo("\nstarter golden pairs (training/data/golden_pairs.jsonl; never trained on)")
    click.echo(f"safe-answer sentences blocked (assistant): {g['safe_sentences_blocked']}/{g['safe_sentences']}")
    click.echo(f"everyday questions stopped (child): {g['everyday_stopped']}/{g['everyday']}")
    for c, m in g["questions_caught"].items():
        click.echo(f"{c:<14} questions caught at the category {m['caught']:>2}/{m['n']}, stopped {m['stopped']:>2}/{m['n']}; "
                   f"unsafe answers blocked {m['unsafe_blocked']:>2}/{m['n']}")
    d = report["dialogue_child_turns"]
    click.echo(f"\nstarter dialogues: children's turns stopped {len(d['stopped'])}/{d['child_turns']} (with history)")
    for s in d["stopped"]:
        click.echo(f"  {s['id']} child turn {s['turn']}: {s['category']} by {'+'.join(s['layers'])}")
    c = report.get("children")
    if c:
        click.echo("\nchildren's own words: held-out corpus messages (training/data/corpus/safety; never trained on)")
        o = c["overall"]
        click.echo(f"harmful {o['harmful']}: stopped {o['recall']:.3f}, category right {o['category_right']:.3f}, "
                   f"severity right {o['severity_right']:.3f}")
        for name, m in c["per_category"].items():
            click.echo(f"{name:<22} n={m['n']:>3} recall={m['recall']:.3f} category={m['category_right']:.3f} "
                       f"severity={m['severity_right']:.3f}")
        for lang, m in c["lookalikes"].items():
            click.echo(f"look-alikes stopped {lang}: {m['stopped']}/{m['n']} = {100 * m['rate']:.1f}%")
    click.echo(f"\n{report['ms_per_message_all_systems']} ms per message for all three systems together")
