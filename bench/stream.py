"""Streaming benchmark: llama-cpp-python called directly vs the same turns through kidchat's websocket.

    .venv/bin/python bench/stream.py            # English default model (SmolLM2-135M-Instruct)
    .venv/bin/python bench/stream.py --language ko

Prints, in one run on the same model and prompts:
  (a) create_chat_completion(stream=True) called directly: time to first token, tokens per second;
  (b) the same turn through /ws/chat (safety pass and sentence hold-back included): time to first
      visible text, tokens per second; and the hold-back's share (first model token -> first visible text);
  (c) time to first token of turn 1 vs turn 8 of one conversation through the websocket (KV-cache reuse),
      and turn 8 again with llama.cpp's state reset before it (what a re-read of the whole history costs).
The last line is `ratio_tokens_per_s=<b/a> ratio_ttft=<b/a>`. Figures, not assertions: machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPTS = {
    "en": [
        "Why is the sky blue?",
        "Can you tell me a short story about a brave little turtle?",
        "What do bees do all day?",
        "I drew a picture of my dog today!",
        "How do fish breathe under water?",
    ],
    "ko": [
        "엄마, 나 오늘 받아쓰기 100점 맞았어!",
        "오늘 급식에 떡볶이 나왔어.",
        "친구가 나랑 안 놀아줬어.",
        "미술 시간에 고양이 그렸어!",
        "엄마 내일 소풍 가도 돼?",
    ],
}
PERSONA = {"en": "reading-buddy", "ko": "soeun-mom"}
FOLLOW_UPS = {
    "en": ["What else?", "Why?", "Tell me more!", "That is fun.", "Can you say it again?", "Okay!", "And then?"],
    "ko": ["그리고?", "왜?", "더 말해줘!", "재밌다.", "또 뭐 있어?", "응!", "그 다음은?"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def direct_runs(engine, persona, lang: str, prompts: list[str]) -> list[dict]:
    """(a) llama-cpp-python's own chat completion, streaming, on the same Llama object kidchat uses."""
    gen = persona.generation
    out = []
    for prompt in prompts:
        messages = [
            {"role": "system", "content": persona.system_prompt[lang]},
            {"role": "assistant", "content": persona.greeting[lang]},
            {"role": "user", "content": prompt},
        ]
        t0 = time.perf_counter()
        first = None
        tokens = 0
        if engine.prompt_style == "chat":
            stream = engine.llm.create_chat_completion(
                messages, stream=True, max_tokens=gen.max_tokens, temperature=gen.temperature,
                top_p=gen.top_p, repeat_penalty=gen.repeat_penalty,
            )
            pieces = (c["choices"][0]["delta"].get("content") for c in stream)
        else:  # a base model: the same transcript prompt kidchat writes, through create_completion
            from server.llm.base import ChatMessage, GenerationRequest

            labels = persona.labels(lang)
            req = GenerationRequest(
                messages=tuple(ChatMessage(m["role"], m["content"]) for m in messages),
                assistant_label=labels.persona, user_label=labels.child,
            )
            stream = engine.llm.create_completion(
                engine._render(req), stream=True, max_tokens=gen.max_tokens, temperature=gen.temperature,
                top_p=gen.top_p, repeat_penalty=gen.repeat_penalty, stop=["\n"],
            )
            pieces = (c["choices"][0]["text"] for c in stream)
        for piece in pieces:
            if piece:
                tokens += 1
                if first is None:
                    first = time.perf_counter()
        end = time.perf_counter()
        out.append({"ttft": (first or end) - t0, "tokens": tokens, "seconds": end - t0})
    return out


def websocket_runs(url: str, persona_id: str, prompts: list[str], db_url: str, headers: dict) -> list[dict]:
    """(b) one new conversation per prompt through /ws/chat; token counts come from the stored reply."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session
    from websockets.sync.client import connect

    from server.db.models import Message

    out = []
    db = create_engine(db_url)
    for prompt in prompts:
        with connect(url, additional_headers=headers) as ws:
            ws.send(json.dumps({"type": "start", "persona": persona_id}))
            json.loads(ws.recv())
            t0 = time.perf_counter()
            ws.send(json.dumps({"type": "message", "text": prompt}))
            first = None
            while True:
                frame = json.loads(ws.recv())
                if frame["type"] in ("delta", "redirect") and first is None:
                    first = time.perf_counter()
                if frame["type"] == "done":
                    break
            end = time.perf_counter()
        with Session(db) as s:
            msg = s.get(Message, frame["message"])
            tokens, model_ttft = msg.completion_tokens or 0, (msg.ttft_ms or 0) / 1000
        out.append({"ttft": (first or end) - t0, "tokens": tokens, "seconds": end - t0,
                    "model_ttft": model_ttft, "status": frame["status"]})
    db.dispose()
    return out


def conversation_ttfts(url: str, persona_id: str, first: str, follow_ups: list[str], headers: dict) -> tuple[str, list[float]]:
    """(c) time to first visible text of each turn of one conversation."""
    from websockets.sync.client import connect

    ttfts = []
    with connect(url, additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "start", "persona": persona_id}))
        conv_id = json.loads(ws.recv())["conversation"]
        for text in [first, *follow_ups]:
            t0 = time.perf_counter()
            ws.send(json.dumps({"type": "message", "text": text}))
            seen = None
            while True:
                frame = json.loads(ws.recv())
                if frame["type"] in ("delta", "redirect") and seen is None:
                    seen = time.perf_counter() - t0
                if frame["type"] == "done":
                    break
            ttfts.append(seen if seen is not None else time.perf_counter() - t0)
    return conv_id, ttfts


def eighth_turn_cold_vs_warm(app, engine, persona, lang: str, conv_id: str) -> tuple[float, float, int]:
    """The last turn's prompt, once with llama.cpp's state reset (the whole history read again) and once
    right after (the shared prefix reused)."""
    from server.db import repo
    from server.db.session import transaction
    from server.llm.base import GenerationStats

    with transaction(app.state.sessions) as s:
        history = [m for m in repo.list_messages(s, conv_id)][:-1]  # up to the 8th child message
    request = app.state.chat.fit_prompt(persona, lang, history)

    def first_token() -> float:
        stop = threading.Event()
        t0 = time.perf_counter()
        for _ in engine.stream(request, stop, GenerationStats()):
            stop.set()
        return time.perf_counter() - t0

    saved, engine.states.capacity = engine.states.capacity, 0
    engine.states._states.clear()
    engine.llm.reset()
    cold = first_token()  # nothing to reuse: the whole history is read
    warm = first_token()  # the same prompt again: only its last token is read
    engine.states.capacity = saved
    return cold, warm, engine.count_tokens(request)


def rate(runs: list[dict]) -> float:
    return sum(r["tokens"] for r in runs) / sum(r["seconds"] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language", choices=["en", "ko"], default="en")
    parser.add_argument("--threads", default="auto")
    args = parser.parse_args()

    import uvicorn

    from server.app import build_engine, create_app
    from server.config import Settings
    from server.db.migrate import upgrade_head
    from server.safety import build_checker

    lang = args.language
    tmp = Path(tempfile.mkdtemp(prefix="kidchat-bench-"))
    settings = Settings(database_url=f"sqlite:///{tmp / 'bench.db'}", n_threads=args.threads, log_level="warning")
    upgrade_head(settings.resolved_database_url)
    routed = build_engine(settings)
    engine = routed.pick(lang) if hasattr(routed, "pick") else routed
    print(f"model={engine.name} prompt_style={engine.prompt_style} threads={settings.threads} language={lang}")

    app = create_app(settings, engine=engine, safety=build_checker())
    from server.personas import load_personas

    persona = load_personas(settings.personas_dir)[PERSONA[lang]]  # the YAML the database is seeded from
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"ws://127.0.0.1:{port}/ws/chat"
    from bench.family import child_session_headers

    headers = child_session_headers(app.state.sessions, f"http://127.0.0.1:{port}", language=lang)
    prompts = PROMPTS[lang]

    # Warm both paths once, then measure them interleaved so machine noise hits both alike.
    direct_runs(engine, persona, lang, prompts[:1])
    websocket_runs(url, persona.id, prompts[:1], settings.resolved_database_url, headers)
    direct, through = [], []
    for prompt in prompts:
        direct += direct_runs(engine, persona, lang, [prompt])
        through += websocket_runs(url, persona.id, [prompt], settings.resolved_database_url, headers)

    a_ttft = statistics.median(r["ttft"] for r in direct)
    b_ttft = statistics.median(r["ttft"] for r in through)
    a_rate, b_rate = rate(direct), rate(through)
    hold = statistics.median(r["ttft"] - r["model_ttft"] for r in through)
    print(f"(a) direct      ttft_median={a_ttft * 1000:.0f}ms tokens_per_s={a_rate:.1f} "
          f"tokens={sum(r['tokens'] for r in direct)}")
    print(f"(b) websocket   ttft_median={b_ttft * 1000:.0f}ms tokens_per_s={b_rate:.1f} "
          f"tokens={sum(r['tokens'] for r in through)} statuses={[r['status'] for r in through]}")
    print(f"    hold-back (first model token -> first visible text) median={hold * 1000:.0f}ms")

    conv_id, ttfts = conversation_ttfts(url, persona.id, prompts[0], FOLLOW_UPS[lang], headers)
    print("(c) ttft per turn of one conversation: " + " ".join(f"{t * 1000:.0f}ms" for t in ttfts))
    print(f"    turn1={ttfts[0] * 1000:.0f}ms turn8={ttfts[-1] * 1000:.0f}ms")
    server.should_exit = True
    thread.join(timeout=10)
    cold, warm, n_prompt = eighth_turn_cold_vs_warm(app, engine, persona, lang, conv_id)
    print(f"    turn-8 prompt ({n_prompt} tokens) first token: state reset={cold * 1000:.0f}ms "
          f"prefix reused={warm * 1000:.0f}ms")
    print(f"ratio_tokens_per_s={b_rate / a_rate:.3f} ratio_ttft={b_ttft / a_ttft:.3f}")


if __name__ == "__main__":
    main()
