"""Tokens per second of the Korean default with and without kidchat's LoRA adapter, on the same GGUF, in one
run (issue: the adapter must keep >= 0.85 of the base's speed). Prints figures; asserts nothing.

    .venv/bin/python bench/adapter_speed.py [--rounds 5] [--tokens 96] [--threads N]

Each round generates the same reply twice (greedy, fixed length, stop strings off), once per engine,
alternating, so that the machine's noise falls on both alike; the figure is decode tokens per second
(prompt evaluation timed apart).
"""

from __future__ import annotations

import argparse
import statistics
import time

from server.config import Settings, auto_threads
from server.llm.default_model import gemma3_path, install_default_models, shipped_adapter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    from llama_cpp import Llama

    settings = Settings()
    install_default_models(settings)
    threads = args.threads or auto_threads()
    base_path, adapter = gemma3_path(settings), shipped_adapter()
    kw = dict(n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False, seed=1)
    engines = {"base": Llama(str(base_path), **kw), "base+adapter": Llama(str(base_path), lora_path=str(adapter), **kw)}
    prompt = "다음은 초등학교 1학년 소은이와 다정한 엄마의 대화입니다.\n\n엄마: 소은아, 학교 잘 다녀왔어?\n소은: 응! 오늘 미술 시간에 고양이 그렸어.\n엄마:"
    figures: dict[str, list[float]] = {name: [] for name in engines}
    prompt_ms: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, llm in engines.items():
            llm.reset()
            tokens = llm.tokenize(prompt.encode(), add_bos=True)
            start = time.perf_counter()
            llm.eval(tokens)
            prompt_ms[name].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            n = 0
            for _token in llm.generate(tokens, temp=0.0, reset=False):
                n += 1
                if n >= args.tokens:
                    break
            figures[name].append(n / (time.perf_counter() - start))
    print(f"threads {threads}, {args.rounds} rounds of {args.tokens} tokens, adapter {adapter.name if adapter else None}")
    for name in engines:
        print(f"{name:14s} decode {statistics.median(figures[name]):6.1f} tok/s (median; all {', '.join(f'{x:.1f}' for x in figures[name])})"
              f"   prompt {statistics.median(prompt_ms[name]):6.1f} ms")
    ratio = statistics.median(figures["base+adapter"]) / statistics.median(figures["base"])
    print(f"adapter / base: {ratio:.2f}")


if __name__ == "__main__":
    main()
