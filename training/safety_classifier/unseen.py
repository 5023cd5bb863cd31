"""How the classifier does on public sets it never trained on (`kidchat safety unseen`).

`kidchat safety eval` measures on a held-out split of every set, so the classifier has seen other
texts of the same set (same site, same annotators, same label rules). Here each group of sets is left
out of training entirely: the classifier is retrained on everything else with the same recipe, and
judged on the group's held-out rows (the very rows `kidchat safety eval` uses, so the two tables
compare row for row). Sets that share texts are left out together: korean_malicious_zizun is built
from BEEP! and curse_2runo; KoSBi's and SQuARe's English columns are translations of the Korean ones.

Each group costs one training run: about a minute and a half here with e5 as shipped (the recipe's
default; the whole table 10-15 minutes on this 2-core machine), about 40 minutes with
`--tune-layers 3`. Writes metrics JSON; prints one line per set and per language.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import click

from server.safety.checker import SafetyStage
from server.safety.classifier import Classifier, default_artifact
from server.safety.normalize import Normalizer
from server.safety.policy import load_policy
from training.safety_classifier.data import Example, every_nth, load_examples, split
from training.safety_classifier.evaluate import _counts, _prf
from training.safety_classifier.train import Recipe, train

# left out together; a group's sets never reach that run's training split
GROUPS: dict[str, tuple[str, ...]] = {
    "beep+2runo+zizun": ("beep", "curse_2runo", "zizun"),
    "hatescore": ("hatescore",),
    "kmhas": ("kmhas",),
    "kosbi": ("kosbi", "kosbi_en"),
    "square": ("square", "square_en"),
    "davidson": ("davidson",),
    "toxigen": ("toxigen",),
    "prompt sets": ("ailuminate", "simplesafetytests", "safe_child_llm"),
}


def _judge(stage: SafetyStage, classifier: Classifier, rows: list[Example], age: int) -> dict[str, list]:
    policy = stage.policy
    bar = policy.harmful(policy.band(age), "child")
    out: dict[str, list] = {"classifier": [], "stage": []}
    for e in rows:
        out["classifier"].append((e.harmful, classifier.scores(e.text)["harmful"] >= bar))
        out["stage"].append((e.harmful, not stage.check(e.text, "child", age=age).allowed))
    return out


def unseen(data: Path, out: Path, *, age: int = 7, groups: list[str] | None = None, every: int = 1,
           recipe: Recipe | None = None) -> dict:
    """Retrain without each group in turn (with `recipe`, default the shipped one without its training
    curve) and compare with the shipped classifier on the same rows; writes out/unseen.json."""
    policy = load_policy()
    normalizer = Normalizer()
    shipped = Classifier(default_artifact(), normalizer)
    shipped_stage = SafetyStage(policy, classifier=shipped, normalizer=normalizer)
    _, test = split(load_examples(data))
    by_source: dict[str, list[Example]] = defaultdict(list)
    for e in every_nth(test, every):
        by_source[e.source].append(e)

    recipe = recipe or Recipe.load(curve_fractions=[])
    chosen = groups or list(GROUPS)
    started = time.time()
    pairs: dict[str, dict[str, list]] = {}  # source -> system -> [(truth, predicted)]
    seen_pairs: dict[str, dict[str, list]] = {}
    for name in chosen:
        sources = GROUPS[name]
        click.echo(f"group {name}: training without {', '.join(sources)} ...", err=True)
        with tempfile.TemporaryDirectory() as tmp:
            artifact = Path(tmp) / "classifier.npz"
            meta = train(data, artifact, recipe, exclude=frozenset(sources))
            assert meta["excluded_sets"] == sorted(sources)
            classifier = Classifier(artifact, normalizer)
        stage = SafetyStage(policy, classifier=classifier, normalizer=normalizer)
        for source in sources:
            rows = by_source.get(source, [])
            if rows:
                pairs[source] = _judge(stage, classifier, rows, age)
                seen_pairs[source] = _judge(shipped_stage, shipped, rows, age)
                u, k = (_prf(*_counts(p[source]["stage"])) for p in (pairs, seen_pairs))
                click.echo(f"  {source}: stage F1 seen {k['f1']:.3f} (FPR {k['fpr']:.3f}), "
                           f"unseen {u['f1']:.3f} (FPR {u['fpr']:.3f})", err=True)

    def table(p: dict[str, dict[str, list]]) -> dict:
        per_set = {s: {k: _prf(*_counts(v)) for k, v in systems.items()} for s, systems in sorted(p.items())}
        per_lang: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for source, systems in p.items():
            lang = by_source[source][0].lang
            for k, v in systems.items():
                per_lang[lang][k].extend(v)
        return {"per_set": per_set,
                "per_language": {lang: {k: _prf(*_counts(v)) for k, v in s.items()} for lang, s in sorted(per_lang.items())}}

    report = {
        "age": age,
        "groups": {g: list(GROUPS[g]) for g in chosen},
        "unseen": table(pairs),
        "seen": table(seen_pairs),
        "seconds": round(time.time() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "unseen.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return report


def print_unseen(report: dict) -> None:
    click.echo(f"held-out rows of each set, child messages at age {report['age']}: F1 (FPR) when the set was "
               "in training (seen) vs left out of it (unseen)")
    for level in ("per_language", "per_set"):
        click.echo(f"\n{level.replace('_', ' ')}")
        click.echo(f"{'':<20} {'n':>6} {'pos':>6}  {'classifier seen':>16} {'unseen':>14}  {'stage seen':>14} {'unseen':>14}")
        for name, m in report["unseen"][level].items():
            s = report["seen"][level][name]
            cells = [f"{x[k]['f1']:.3f} ({x[k]['fpr']:.3f})" for k in ("classifier",) for x in (s, m)]
            cells += [f"{x[k]['f1']:.3f} ({x[k]['fpr']:.3f})" for k in ("stage",) for x in (s, m)]
            click.echo(f"{name:<20} {m['stage']['n']:>6} {m['stage']['positives']:>6}  {cells[0]:>16} {cells[1]:>14}  "
                       f"{cells[2]:>14} {cells[3]:>14}")
    click.echo(f"\n{report['seconds']} s", file=sys.stderr)
