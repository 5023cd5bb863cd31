"""The llama.cpp engine (llama-cpp-python): one GGUF, its own chat template, streaming, KV-cache reuse."""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from server.llm.base import EngineError, GenerationRequest, GenerationStats
from server.llm.templates import pick_template, render_transcript

PromptStyle = Literal["auto", "chat", "transcript"]


class LlamaEngine:
    """Wraps one `llama_cpp.Llama`.

    The prompt is rendered with the GGUF's own chat template (or a fallback for GGUFs that carry none)
    and tokenized here, so the token count used to fit the history into the context is exactly what
    the model reads. Consecutive turns of one conversation share a token prefix, and llama.cpp then
    evaluates only the new tokens; a RAM cache of saved states keeps that true when other children's
    turns ran in between.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        n_gpu_layers: int = -1,
        n_threads: int = 1,
        chat_template: str | None = None,
        prompt_style: PromptStyle = "auto",
        kv_cache_mb: int = 256,
        seed: int = 0xC0FFEE,
        lora_path: Path | None = None,
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not Path(model_path).is_file():
            raise FileNotFoundError(f"model file not found: {model_path}")
        if lora_path is not None and not Path(lora_path).is_file():
            raise FileNotFoundError(f"LoRA adapter not found: {lora_path}")
        self.llm = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            seed=seed,
            lora_path=str(lora_path) if lora_path is not None else None,
            verbose=False,
        )
        self.states = StateCache(self.llm, kv_cache_mb << 20)
        self.name = Path(model_path).name + (f"+{Path(lora_path).name}" if lora_path is not None else "")
        self.n_ctx = self.llm.n_ctx()
        metadata = self.llm.metadata
        self.template, self.template_source = pick_template(metadata, chat_template)
        # A GGUF without a chat template is a base model (e.g. Gemma 3 270M): its turn tokens were never
        # trained, so it is prompted with a plain transcript ("Mom: ...\nChild: ...\nMom:") instead.
        if prompt_style == "auto":
            prompt_style = "chat" if self.template_source in ("gguf", "setting") or chat_template else "transcript"
        self.prompt_style = prompt_style
        eos_id = self.llm.token_eos()
        bos_id = self.llm.token_bos()
        eos = self.llm._model.token_get_text(eos_id) if eos_id >= 0 else ""
        bos = self.llm._model.token_get_text(bos_id) if bos_id >= 0 else ""
        self._formatter = Jinja2ChatFormatter(
            template=self.template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id] if eos_id >= 0 else None
        )
        # End-of-turn markers in text form, in case a model writes them as plain text.
        self._stop_strings = [s for s in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "</s>") if s in self.template]
        self._lock = threading.Lock()  # llama.cpp contexts are not thread-safe; the service also queues turns

    def _render(self, request: GenerationRequest) -> list[int]:
        if self.prompt_style == "transcript":
            prompt = render_transcript(request.messages, request.assistant_label, request.user_label)
            return self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        result = self._formatter(messages=[{"role": m.role, "content": m.content} for m in request.messages])
        return self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def _stops(self, request: GenerationRequest) -> list[str] | None:
        if self.prompt_style == "transcript":
            return ["\n"]  # one line is one turn; the next line would be the model playing the child
        return self._stop_strings or None

    def count_tokens(self, request: GenerationRequest) -> int:
        return len(self._render(request))

    def stream(self, request: GenerationRequest, stop: threading.Event, stats: GenerationStats) -> Iterator[str]:
        with self._lock:
            tokens = self._render(request)
            stats.model = self.name
            stats.prompt_tokens = len(tokens)
            stats.extra["restored_tokens"] = self.states.restore(tokens)
            max_tokens = max(1, min(request.max_tokens, self.n_ctx - len(tokens)))
            try:
                chunks = self.llm.create_completion(
                    tokens,
                    max_tokens=max_tokens,
                    temperature=request.temperature,
                    top_p=request.top_p,
                    repeat_penalty=request.repeat_penalty,
                    stop=self._stops(request),
                    stream=True,
                )
                for chunk in chunks:
                    if stop.is_set():
                        chunks.close()
                        return
                    text = chunk["choices"][0]["text"]
                    stats.completion_tokens += 1
                    if text:
                        yield text
            except (RuntimeError, ValueError) as exc:
                raise EngineError(type(exc).__name__) from exc
            finally:
                self.states.save()


class StateCache:
    """Saved llama.cpp states (the KV cache) of recent conversations, so a conversation's next turn
    reads only its new tokens even after other children's turns used the context in between.

    Written here rather than using llama-cpp-python's LlamaRAMCache: its save_state() also copies the
    logits of every evaluated token (n_tokens x vocabulary floats: ~240 MB per turn for Gemma's 262k
    vocabulary, ~0.5 s), and its capacity counts only the KV bytes, so memory grows without bound.
    The logits are not needed: llama-cpp-python always evaluates a prompt's last token again.
    """

    MIN_GAIN = 16  # tokens; restoring a state costs about as much as evaluating a few tokens

    def __init__(self, llm: object, capacity_bytes: int) -> None:
        self.llm = llm
        self.capacity = capacity_bytes
        self._states: OrderedDict[bytes, tuple[np.ndarray, bytes]] = OrderedDict()

    @property
    def size(self) -> int:
        return sum(len(data) for _, data in self._states.values())

    @staticmethod
    def _prefix(a: np.ndarray, b: np.ndarray) -> int:
        n = min(len(a), len(b))
        if n == 0:
            return 0
        diff = np.flatnonzero(a[:n] != b[:n])
        return int(diff[0]) if len(diff) else n

    def save(self) -> None:
        if self.capacity <= 0 or self.llm.n_tokens == 0:  # type: ignore[attr-defined]
            return
        import llama_cpp

        ctx = self.llm._ctx.ctx  # type: ignore[attr-defined]
        size = llama_cpp.llama_state_get_size(ctx)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buf, size)
        tokens = np.array(self.llm._input_ids, dtype=np.intc)  # type: ignore[attr-defined]
        key = tokens.tobytes()
        self._states.pop(key, None)
        self._states[key] = (tokens, bytes(memoryview(buf)[:written]))
        while self._states and self.size > self.capacity:
            self._states.popitem(last=False)

    def restore(self, prompt: Sequence[int]) -> int:
        """Load the saved state sharing the longest prefix with `prompt` when it beats the context's
        own; returns the number of prompt tokens llama.cpp can skip."""
        import llama_cpp

        want = np.asarray(prompt[:-1], dtype=np.intc)  # the last token is always evaluated again
        current = self._prefix(np.asarray(self.llm._input_ids, dtype=np.intc), want)  # type: ignore[attr-defined]
        best_key, best_len = None, current
        for key, (tokens, _) in self._states.items():
            shared = self._prefix(tokens, want)
            if shared > best_len:
                best_key, best_len = key, shared
        if best_key is None or best_len - current < self.MIN_GAIN:
            return current
        tokens, data = self._states[best_key]
        self._states.move_to_end(best_key)
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(self.llm._ctx.ctx, buf, len(data)) != len(data):  # type: ignore[attr-defined]
            self.llm.reset()  # type: ignore[attr-defined]
            return 0
        self.llm.input_ids[: len(tokens)] = tokens  # type: ignore[attr-defined]
        self.llm.n_tokens = len(tokens)  # type: ignore[attr-defined]
        return best_len
