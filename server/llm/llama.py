"""The llama.cpp engine (llama-cpp-python): one GGUF, its own chat template, streaming, KV-cache reuse."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

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
    ) -> None:
        from llama_cpp import Llama, LlamaRAMCache
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not Path(model_path).is_file():
            raise FileNotFoundError(f"model file not found: {model_path}")
        self.llm = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            seed=seed,
            verbose=False,
        )
        if kv_cache_mb > 0:
            self.llm.set_cache(LlamaRAMCache(capacity_bytes=kv_cache_mb << 20))
        self.name = Path(model_path).name
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
