"""The classifier's second look: the e5 network is asked only inside the n-gram score's unsure band,
its answer replaces the "harmful" probability there, and without an encoder the n-grams decide."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.safety import SafetySettings, build_checker
from server.safety.classifier import Classifier, default_artifact
from server.safety.encoder import DIM, Encoder


class CountingEncoder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def embed(self, text: str) -> np.ndarray:
        self.calls.append(text)
        v = np.zeros(DIM, np.float32)
        v[0] = 1.0
        return v


def _artifact_with_head(tmp_path: Path, *, bias: float, band: tuple[float, float]) -> Path:
    """The shipped n-gram weights with a stand-in second look that always answers `bias` (logit)."""
    with np.load(default_artifact(), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if not k.startswith("sem_")}
    hidden = 4
    arrays.update(
        sem_w1=np.zeros((DIM + 1, hidden), np.float16),
        sem_b1=np.zeros(hidden, np.float32),
        sem_w2=np.zeros(hidden, np.float32),
        sem_b2=np.array(bias, np.float32),
        sem_scale=np.array(10.0, np.float32),
        sem_band=np.array(band, np.float32),
        sem_encoder=np.array("test"),
    )
    out = tmp_path / "clf.npz"
    np.savez(out, **arrays)
    return out


def _sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def test_second_look_only_inside_the_band_and_it_replaces_the_harmful_score(tmp_path: Path):
    enc = CountingEncoder()
    clf = Classifier(_artifact_with_head(tmp_path, bias=4.0, band=(0.0, 0.999)), encoder=enc)
    text = "I like to read books about trains"
    ngram = _sigmoid(clf.ngram_logits(text)[0])
    assert ngram < 0.5
    scores = clf.scores(text)
    assert enc.calls == [text] and clf.second_looks == 1
    assert scores["harmful"] == pytest.approx(_sigmoid(4.0), abs=1e-5)
    # category heads are the n-grams' own
    logits = clf.ngram_logits(text)
    assert scores[clf.heads[1]] == pytest.approx(_sigmoid(logits[1]), abs=1e-5)

    # a band that excludes this text: no second look, the n-gram score stands
    enc2 = CountingEncoder()
    narrow = Classifier(_artifact_with_head(tmp_path, bias=4.0, band=(0.9, 0.95)), encoder=enc2)
    assert narrow.scores(text)["harmful"] == pytest.approx(ngram, abs=1e-5)
    assert enc2.calls == [] and narrow.second_looks == 0


def test_without_an_encoder_or_with_the_setting_off_the_ngrams_decide(tmp_path: Path, monkeypatch):
    path = _artifact_with_head(tmp_path, bias=4.0, band=(0.0, 1.0))
    text = "I like to read books about trains"
    import server.safety.classifier as module

    monkeypatch.setattr(module, "shared_encoder", lambda *a, **k: None)
    clf = Classifier(path)
    assert clf.semantic is not None
    assert clf.scores(text)["harmful"] == pytest.approx(_sigmoid(clf.ngram_logits(text)[0]), abs=1e-5)
    off = Classifier(path, semantic=False)
    assert off.semantic is None
    assert off.scores(text)["harmful"] == pytest.approx(_sigmoid(off.ngram_logits(text)[0]), abs=1e-5)


def test_the_real_encoder_embeds_korean_and_english_by_meaning():
    enc = Encoder(threads=1)
    a, b, c = (enc.embed(t) for t in ("나 오늘 친구랑 싸웠어", "오늘 학교에서 친구하고 다퉜어", "How many legs does a spider have?"))
    assert a.shape == (DIM,) and abs(float(np.linalg.norm(a)) - 1.0) < 1e-3
    assert float(a @ b) > float(a @ c)  # a paraphrase is closer than an unrelated question
    many = enc.embed_many(["나 오늘 친구랑 싸웠어", "How many legs does a spider have?"])
    assert np.allclose(many[0], a, atol=1e-4) and np.allclose(many[1], c, atol=1e-4)


def test_the_shipped_artifact_has_a_second_look_and_the_stage_uses_it():
    clf = Classifier(default_artifact())
    assert clf.semantic is not None and clf.semantic.low < 0.5 < clf.semantic.high
    stage = build_checker(SafetySettings())
    assert stage.classifier is not None and stage.classifier.encoder() is not None
    before = stage.classifier.second_looks
    # texts the n-grams alone are unsure about exist in both languages
    unsure = [t for t in ("걔네들은 다 똑같아, 원래 그런 애들이야", "People like them should just go away")
              if clf.semantic.low <= _sigmoid(clf.ngram_logits(t)[0]) <= clf.semantic.high]
    for t in unsure:
        stage.check(t, "child", age=7)
    assert stage.classifier.second_looks - before == len(unsure)
    # and plain chat does not need one
    stage.check("엄마, 오늘 받아쓰기 백 점 맞았어!", "child", age=7)
    stage.check("Can we read a story about a bunny?", "child", age=7)
    assert stage.classifier.second_looks - before == len(unsure)
