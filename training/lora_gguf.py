"""A peft LoRA adapter -> a GGUF LoRA adapter that llama.cpp applies at load (``Llama(lora_path=...)``).

The conversion is llama.cpp's own ``convert_lora_to_gguf.py`` (MIT), taken from the source of the
llama-cpp-python release that serves it (its sdist vendors llama.cpp), so the adapter's tensor names and
metadata are the ones that runtime reads. The script and its ``gguf-py`` and ``conversion`` packages are
extracted once into ``<cache>/llama.cpp-<version>/`` and run in a subprocess with them on the path (they
must not shadow the ``gguf`` package that transformers imports in this process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

MEMBERS = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


def llama_cpp_tools(cache: Path) -> Path:
    """The folder holding llama.cpp's conversion scripts for the installed llama-cpp-python."""
    ver = version("llama-cpp-python")
    target = cache / f"llama.cpp-{ver}"
    if (target / "convert_lora_to_gguf.py").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={ver}", "-d", tmp],
            check=True,
        )  # fmt: skip
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        partial = target.with_name(target.name + ".part")
        partial.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/", 3)  # <sdist>/vendor/llama.cpp/<path>
                if len(parts) < 4 or parts[1:3] != ["vendor", "llama.cpp"]:
                    continue
                rel = parts[3]
                if any(rel == m or (m.endswith("/") and rel.startswith(m)) for m in MEMBERS) and member.isfile():
                    member.name = rel
                    tar.extract(member, partial, filter="data")
        partial.rename(target)
    return target


def convert_adapter(peft_dir: Path, base_hf: Path, out: Path, *, outtype: str = "f16", cache: Path, log: Path | None = None) -> Path:
    tools = llama_cpp_tools(cache)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tools / "gguf-py"), str(tools)]), NO_LOCAL_GGUF="")
    cmd = [sys.executable, str(tools / "convert_lora_to_gguf.py"), "--base", str(base_hf), "--outtype", outtype,
           "--outfile", str(out), str(peft_dir)]  # fmt: skip
    if log is None:
        subprocess.run(cmd, check=True, env=env, cwd=tools)
    else:
        with log.open("w") as fh:
            result = subprocess.run(cmd, env=env, cwd=tools, stdout=fh, stderr=subprocess.STDOUT)
        if result.returncode:
            raise RuntimeError(f"convert_lora_to_gguf failed (exit {result.returncode}); see {log}")
    return out
