"""Training and evaluation on ../shared/data/safety (skipped in a clone without it; CI has it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from server.safety.classifier import Classifier, default_artifact
from server.safety.encoder import Encoder

pytest.importorskip("sklearn", reason="training needs the safety-train extra (scikit-learn)")

from training.safety_classifier.data import DEFAULT_DATA, data_sha256, every_nth, load_examples, split  # noqa: E402

needs_data = pytest.mark.skipif(
    not DEFAULT_DATA.is_dir(), reason=f"public safety data not present at {DEFAULT_DATA} (a fresh clone has none)"
)


@needs_data
def test_committed_artifact_was_built_from_the_current_data():
    """Editing the data or kidchat's own lists without `kidchat safety train` fails here."""
    assert Classifier(default_artifact()).data_sha256 == data_sha256(DEFAULT_DATA)


@needs_data
def test_split_is_stable_and_keeps_texts_on_one_side():
    examples = load_examples(DEFAULT_DATA)
    train, test = split(examples)
    again_train, again_test = split(load_examples(DEFAULT_DATA))
    assert [e.text for e in test] == [e.text for e in again_test]
    assert len(again_train) == len(train)
    assert {e.text for e in train}.isdisjoint({e.text for e in test})
    assert 0.15 < len(test) / len(examples) < 0.25
    for lang in ("ko", "en"):
        # harmless request-shaped text is present in both languages
        assert any(not e.harmful and e.text.rstrip().endswith("?") and e.lang == lang for e in train)


@needs_data
def test_tiny_training_run_writes_a_working_artifact(tmp_path: Path):
    from training.safety_classifier.train import Recipe, train

    out = tmp_path / "tiny.npz"
    recipe = Recipe.load(max_features=3000, sample_every=40, curve_fractions=[0.5, 1.0], min_positives=20,
                         semantic_tune_layers=1, semantic_tune_epochs=1)
    meta = train(DEFAULT_DATA, out, recipe)
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert meta["data_sha256"] == data_sha256(DEFAULT_DATA)
    assert meta["runtime_max_abs_diff"] <= 0.02
    assert json.loads(out.with_suffix(".json").read_text("utf-8"))["recipe"]["max_features"] == 3000
    clf = Classifier(out)
    assert clf.heads[0] == "harmful" and len(clf.index) <= 3000
    with np.load(out) as z:
        assert np.abs(z["coef"].astype(np.float32)).max() > 0  # weights were learned
    assert clf.scores("fuck you, you fucking idiot")["harmful"] > clf.scores("I like to read books")["harmful"]
    # the second look was trained too, and the run-time arithmetic agrees with scikit-learn's
    assert clf.semantic is not None and meta["semantic"]["runtime_max_abs_diff"] <= 0.02
    assert 0.0 < meta["semantic"]["heldout_share_in_band"] < 1.0
    assert Classifier(out, semantic=False).semantic is None
    # e5's top layer was tuned: it ships in the artifact, and the engine runs it (patched in)
    assert "top 1 layers tuned" in meta["semantic"]["encoder"] and meta["semantic"]["engine_min_cosine"] >= 0.98
    assert set(clf.semantic.patch) >= {"l11.q.w", "l11.fo.w", "l11.oln.b"}
    assert not any(name.startswith("l10.") for name in clf.semantic.patch)
    text = "너 진짜 바보 같아"
    assert not np.allclose(clf.encoder().embed(text), Encoder(threads=1).embed(text), atol=1e-3)


@needs_data
def test_eval_writes_metrics_and_plots(tmp_path: Path):
    from training.safety_classifier.evaluate import evaluate

    report = evaluate(DEFAULT_DATA, tmp_path, age=7, every=25)
    for name in ("metrics.json", "confusion_matrix.png", "training_curve.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert set(report["per_language"]) == {"ko", "en"}
    for metrics in report["per_language"].values():
        assert set(metrics) == {"wordlists", "classifier", "stage"}
        assert 0.0 <= metrics["stage"]["f1"] <= 1.0
    assert report["lookalikes_blocked"]["en"]["n"] > 50
    # in-domain figures: the golden pairs and the dialogues' child turns
    golden = report["golden_pairs"]
    assert golden["safe_sentences"] > 1000 and golden["everyday"] == 113
    assert golden["questions_caught"]["self_harm"]["n"] == 24
    assert report["dialogue_child_turns"]["child_turns"] > 300
    # every harmless text the stage stopped is put down to at least one layer
    for fp in report["harmless_stopped_by_layer"].values():
        assert fp["stopped"] <= sum(fp[f"by_{x}"] for x in ("wordlist", "pii", "classifier", "conversation", "children"))


@needs_data
def test_unseen_leaves_a_group_out_of_training_and_judges_it(tmp_path: Path):
    from training.safety_classifier.train import Recipe, train
    from training.safety_classifier.unseen import unseen

    recipe = Recipe.load(max_features=3000, sample_every=40, curve_fractions=[], min_positives=20, semantic=False)
    full = train(DEFAULT_DATA, tmp_path / "full.npz", recipe)
    without = train(DEFAULT_DATA, tmp_path / "without.npz", recipe, exclude=frozenset({"kmhas"}))
    assert without["excluded_sets"] == ["kmhas"]
    kmhas = sum(1 for e in every_nth(load_examples(DEFAULT_DATA), 40) if e.source == "kmhas")
    assert kmhas > 0
    total = lambda m: m["examples"]["train"] + m["examples"]["heldout"]  # noqa: E731
    assert total(full) - total(without) == pytest.approx(kmhas, abs=kmhas // 2 + 5)

    report = unseen(DEFAULT_DATA, tmp_path, groups=["kmhas"], every=10, recipe=recipe)
    assert (tmp_path / "unseen.json").is_file()
    assert set(report["unseen"]["per_set"]) == {"kmhas"} == set(report["seen"]["per_set"])
    m = report["unseen"]["per_set"]["kmhas"]
    assert m["stage"]["n"] == report["seen"]["per_set"]["kmhas"]["stage"]["n"] > 50
    assert m["stage"]["positives"] > 0 and 0.0 <= m["classifier"]["f1"] <= 1.0
    assert set(report["unseen"]["per_language"]) == {"ko"}


def test_train_command_passes_its_flags_to_the_recipe_and_prints_the_heldout_figures(monkeypatch, tmp_path: Path):
    """`kidchat safety train --every N --tune-layers K` trains on every N-th example with K layers tuned
    (the depth comparison in docs/safety.md) and prints the held-out F1 lines it was run for."""
    from click.testing import CliRunner

    from server.safety.cli import safety
    from training.safety_classifier import train as train_module

    seen = {}

    def fake_train(data, out, recipe):
        seen.update(data=data, out=out, recipe=recipe)
        sem = {f"heldout_f1_{lang}_{k}": v for lang, base in (("ko", 0.7), ("en", 0.8))
               for k, v in (("ngram", base), ("with_second_look", base + 0.01), ("network_on_every_text", base + 0.02))}
        return {"data_sha256": "ab" * 32, "features": 10, "heads": ["harmful"], "semantic": sem}

    monkeypatch.setattr(train_module, "train", fake_train)
    result = CliRunner().invoke(safety, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "c.npz"),
                                         "--every", "4", "--tune-layers", "12"])
    assert result.exit_code == 0, result.output
    assert seen["recipe"].sample_every == 4 and seen["recipe"].semantic_tune_layers == 12
    assert seen["out"] == tmp_path / "c.npz"
    assert "held-out ko harmful F1 at 0.5: n-grams 0.7, with the second look 0.71, network on every text 0.72" \
        in result.output
    assert "held-out en harmful F1" in result.output

    CliRunner().invoke(safety, ["train", "--data", str(tmp_path)])
    assert seen["recipe"].sample_every == 1  # the recipe's own value when the flag is absent


def test_every_nth_keeps_every_set_and_both_languages_of_a_translated_set():
    """KoSBi yields each Korean sentence then its English translation; `[::4]` kept only the English."""
    from training.safety_classifier.data import Example

    rows = [Example(f"t{i}", "ko", "kmhas", ()) for i in range(3)]
    for i in range(8):
        rows += [Example(f"k{i}", "ko", "kosbi", ("hate",)), Example(f"e{i}", "en", "kosbi_en", ("hate",))]
    assert {e.source for e in rows[::4]} == {"kmhas", "kosbi_en"}  # what the plain slice did
    kept = every_nth(rows, 4)
    assert [e.text for e in kept] == ["t0", "k0", "e0", "k4", "e4"]
    assert every_nth(rows, 1) == rows
