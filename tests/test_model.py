"""The real default GGUFs through llama.cpp: a few tests, a few seconds each."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.app import build_engine, create_app
from server.chat.lang import detect_language
from server.config import Settings
from server.llm.base import ChatMessage, GenerationRequest, GenerationStats
from server.llm.llama import LlamaEngine
from tests.factories import sign_in_child
from tests.test_chat_ws import recv_until, start

pytestmark = pytest.mark.model

MODELS = Path(__file__).resolve().parent.parent / "var" / "models"


@pytest.fixture(scope="module")
def model_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # The default models are installed once into the project's var/ (as `make setup` does).
    data = MODELS.parent
    return Settings(data_dir=data, n_threads="auto", n_ctx=2048)


@pytest.fixture(scope="module")
def real_engine(model_settings: Settings) -> Iterator:
    yield build_engine(model_settings)


def test_english_reply_streams_from_smollm2(real_engine) -> None:
    engine = real_engine.pick("en")
    assert isinstance(engine, LlamaEngine) and engine.prompt_style == "chat" and engine.template_source == "gguf"
    request = GenerationRequest(
        messages=(
            ChatMessage("system", "You are a friendly reading buddy for a 6-year-old. Answer in two short sentences."),
            ChatMessage("user", "Why do cats purr?"),
        ),
        language="en",
        max_tokens=48,
        temperature=0.0,
    )
    stats = GenerationStats()
    pieces = list(real_engine.stream(request, threading.Event(), stats))
    text = "".join(pieces)
    assert len(pieces) > 3 and detect_language(text) == "en"
    assert stats.completion_tokens >= len(pieces) and stats.prompt_tokens > 20
    assert "<|im_end|>" not in text and "<|im_start|>" not in text


def test_korean_reply_streams_from_gemma_with_a_transcript_prompt(real_engine) -> None:
    engine = real_engine.pick("ko")
    assert isinstance(engine, LlamaEngine)
    assert engine.template_source.startswith("fallback:gemma3") and engine.prompt_style == "transcript"
    request = GenerationRequest(
        messages=(
            ChatMessage("system", "다음은 초등학교 1학년 소은이와 다정한 엄마의 대화입니다."),
            ChatMessage("assistant", "소은아, 학교 잘 다녀왔어? 오늘 뭐가 제일 재미있었어?"),
            ChatMessage("user", "오늘 미술 시간에 고양이 그렸어!"),
        ),
        language="ko",
        assistant_label="엄마",
        user_label="소은",
        max_tokens=40,
        temperature=0.0,
    )
    stats = GenerationStats()
    text = "".join(real_engine.stream(request, threading.Event(), stats))
    assert text.strip() and detect_language(text) == "ko"
    assert "\n" not in text.strip()  # one turn; it never goes on to write the child's line
    assert stats.model == engine.name


def test_stop_frees_the_model_within_a_token(real_engine) -> None:
    stop = threading.Event()
    request = GenerationRequest(
        messages=(ChatMessage("system", "Tell long stories."), ChatMessage("user", "Tell me a very long story.")),
        language="en",
        max_tokens=200,
    )
    stats = GenerationStats()
    got = 0
    for _ in real_engine.stream(request, stop, stats):
        got += 1
        if got == 3:
            stop.set()
    assert stats.completion_tokens <= 5


def test_a_later_turn_reuses_the_kv_cache_prefix(real_engine) -> None:
    """Turn 2's prompt extends turn 1's prompt and reply, so llama.cpp evaluates only the new tokens."""
    engine: LlamaEngine = real_engine.pick("en")
    system = ChatMessage("system", "You are a kind teacher. Answer in one sentence.")
    turn1 = GenerationRequest(messages=(system, ChatMessage("user", "What is two plus two?")), max_tokens=20, temperature=0.0)
    reply = "".join(engine.stream(turn1, threading.Event(), GenerationStats()))
    turn2 = GenerationRequest(
        messages=(system, ChatMessage("user", "What is two plus two?"), ChatMessage("assistant", reply),
                  ChatMessage("user", "And three plus three?")),
        max_tokens=20,
        temperature=0.0,
    )
    tokens2 = engine._render(turn2)
    reused = engine.llm.longest_token_prefix(engine.llm._input_ids.tolist(), tokens2)
    assert reused >= len(engine._render(turn1))
    assert reused > 0.7 * len(tokens2)


@pytest.mark.parametrize(
    ("persona", "text", "language"),
    [("reading-buddy", "Can you tell me about a friendly dragon?", "en"), ("soeun-mom", "엄마, 나 오늘 받아쓰기 100점 맞았어!", "ko")],
)
def test_real_replies_stream_through_the_websocket(model_settings, real_engine, tmp_path, persona, text, language) -> None:
    from server.safety import build_checker

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'k.db'}")
    from server.db.migrate import upgrade_head

    upgrade_head(settings.resolved_database_url)
    with TestClient(create_app(settings, engine=real_engine, safety=build_checker())) as client:
        sign_in_child(client)
        with client.websocket_connect("/ws/chat") as ws:
            start(ws, persona)
            ws.send_json({"type": "message", "text": text})
            frames = recv_until(ws, "done")
    assert frames[-1]["status"] in ("complete", "blocked")
    if frames[-1]["status"] == "complete":
        reply = "".join(f["text"] for f in frames if f["type"] == "delta")
        assert reply.strip() and detect_language(reply) == language


def test_interleaved_conversations_get_their_kv_cache_back(real_engine) -> None:
    """Child A, then child B, then A again: A's second turn restores A's saved state."""
    engine: LlamaEngine = real_engine.pick("en")
    sys_a = ChatMessage("system", "You are a reading buddy who loves stories about turtles. " * 5)
    sys_b = ChatMessage("system", "You are a patient teacher who explains numbers. " * 5)
    a1 = GenerationRequest(messages=(sys_a, ChatMessage("user", "Hi!")), max_tokens=8, temperature=0.0)
    b1 = GenerationRequest(messages=(sys_b, ChatMessage("user", "Hello!")), max_tokens=8, temperature=0.0)
    a_reply = "".join(engine.stream(a1, threading.Event(), GenerationStats()))
    "".join(engine.stream(b1, threading.Event(), GenerationStats()))
    a2 = GenerationRequest(
        messages=(sys_a, ChatMessage("user", "Hi!"), ChatMessage("assistant", a_reply), ChatMessage("user", "More?")),
        max_tokens=8,
        temperature=0.0,
    )
    stats = GenerationStats()
    list(engine.stream(a2, threading.Event(), stats))
    assert stats.extra["restored_tokens"] >= len(engine._render(a1)) - 1
    assert engine.states.size <= 256 << 20


def test_the_shipped_fine_tune_is_applied_over_the_base(real_engine) -> None:
    """make serve's Korean model is Gemma 3 270M with kidchat's adapter; it answers in the child's language."""
    from server.chat.prompt import persona_request
    from server.llm.default_model import ADAPTER_FILE, GEMMA3_FILE, shipped_adapter
    from server.personas import load_personas

    engine = real_engine.pick("ko")
    assert engine.name == f"{GEMMA3_FILE}+{ADAPTER_FILE}"
    personas = load_personas(Settings().personas_dir)
    tuned_en = LlamaEngine(MODELS / GEMMA3_FILE, lora_path=shipped_adapter(), n_ctx=1024, prompt_style="transcript")
    for eng, persona_id, lang, text in (
        (engine, "soeun-mom", "ko", "엄마, 나 오늘 넘어져서 무릎 다쳤어."),
        (tuned_en, "teacher-hana", "en", "How many legs does a spider have?"),
    ):
        persona = personas[persona_id]
        turns = (ChatMessage("assistant", persona.greeting[lang]), ChatMessage("user", text))
        request = persona_request(persona, lang, turns, 60)
        reply = "".join(eng.stream(request, threading.Event(), GenerationStats())).strip()
        assert reply and detect_language(reply) == lang, reply
        assert "\n" not in reply
