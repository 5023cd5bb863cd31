"""The prompt: system prompt always, history newest-first until the context is full."""

from __future__ import annotations

from server.chat.gate import SentenceGate
from server.chat.lang import detect_language
from server.chat.service import ChatService
from server.config import Settings
from server.db.models import Message
from server.llm.fake import ScriptedEngine
from server.personas import load_personas
from tests.fakes import WordChecker


def service(n_ctx: int) -> ChatService:
    personas = load_personas(Settings().personas_dir)
    return ChatService(
        engine=ScriptedEngine(n_ctx=n_ctx), safety=WordChecker(), personas=personas, sessions=None,  # type: ignore[arg-type]
        max_reply_tokens=50,
    )


def history(n: int) -> list[Message]:
    out = []
    for i in range(n):
        out.append(Message(role="child", text=f"question {i} " + "word " * 20, status="complete", seq=2 * i))
        out.append(Message(role="assistant", text=f"answer {i} " + "word " * 20, status="complete", seq=2 * i + 1))
    out.append(Message(role="child", text="the newest question", status="complete", seq=2 * n))
    return out


def test_everything_fits_in_a_big_context() -> None:
    svc = service(100_000)
    persona = svc.personas["reading-buddy"]
    msgs = svc.fit_prompt(persona, "en", history(10)).messages
    assert msgs[0].role == "system" and len(msgs) == 22


def test_oldest_turns_are_dropped_first_and_the_system_prompt_never() -> None:
    svc = service(400)
    persona = svc.personas["reading-buddy"]
    msgs = svc.fit_prompt(persona, "en", history(10)).messages
    assert msgs[0].role == "system"
    assert msgs[-1].content == "the newest question"
    assert 3 <= len(msgs) < 22
    assert sum(len(m.content.split()) + 4 for m in msgs) <= 400 - 50
    kept = [m.content.split()[1] for m in msgs[1:-1]]
    assert kept == sorted(kept, key=int)  # the kept turns are the most recent ones, in order
    assert "9" in kept


def test_blocked_and_pending_turns_are_not_in_the_prompt() -> None:
    svc = service(100_000)
    persona = svc.personas["reading-buddy"]
    hist = [
        Message(role="child", text="bad", status="blocked", seq=0),
        Message(role="assistant", text="redirect", status="blocked", seq=1),
        Message(role="child", text="good", status="complete", seq=2),
        Message(role="assistant", text="", status="pending", seq=3),
    ]
    msgs = svc.fit_prompt(persona, "en", hist).messages
    assert [m.content for m in msgs[1:]] == ["good"]


def test_sentence_gate_releases_whole_sentences_only() -> None:
    gate = SentenceGate()
    out = []
    for piece in ["Hi", " there", ".", " Pi", " is", " 3", ".", "14", ".", " 좋아", "!", " 너는", "?"]:
        out.extend("".join(p) for p in gate.feed(piece))
    assert out == ["Hi there. ", "Pi is 3.14. ", "좋아! "]
    assert gate.pending == "너는?"
    assert "".join(gate.flush()) == "너는?"


def test_sentence_gate_bounds_the_hold_back() -> None:
    gate = SentenceGate(max_chars=40)
    released = []
    for _ in range(30):
        released.extend("".join(p) for p in gate.feed("word "))
    assert released and all(len(s) <= 40 for s in released)


def test_language_detection() -> None:
    assert detect_language("엄마 나 오늘 Minecraft 했어") == "ko"
    assert detect_language("Can we read a book?") == "en"
    assert detect_language("123 🙂") is None
