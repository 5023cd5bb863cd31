"""The /ws/chat protocol on a scripted engine: frames, errors, stop, blocking, storage."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.db.models import Conversation, Flag, Message
from server.llm.fake import ScriptedEngine
from tests.factories import make_api_key, sign_in_child
from tests.fakes import WordChecker


def recv_until(ws, kind: str) -> list[dict]:
    frames = []
    while True:
        frame = ws.receive_json()
        frames.append(frame)
        if frame["type"] == kind:
            return frames


def start(ws, persona: str = "reading-buddy") -> dict:
    ws.send_json({"type": "start", "persona": persona})
    ready = ws.receive_json()
    assert ready["type"] == "ready", ready
    return ready


def rows(database_url: str, model):
    engine = create_engine(database_url)
    with Session(engine) as s:
        result = list(s.scalars(select(model)))
    engine.dispose()
    return result


def messages(database_url: str, conversation_id: str) -> list[Message]:
    return sorted((m for m in rows(database_url, Message) if m.conversation_id == conversation_id), key=lambda m: m.seq)


def test_new_conversation_starts_with_the_greeting(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        ready = start(ws, "soeun-mom")
    assert ready["persona"] == "soeun-mom"
    assert ready["language"] == "ko"
    assert [h["role"] for h in ready["history"]] == ["assistant"]
    assert ready["history"][0]["text"].startswith("소은아")


def test_reply_streams_as_deltas_then_done(client: TestClient, engine: ScriptedEngine, database_url: str) -> None:
    engine.scripts = [["Hello", " there", ".", " What", " is", " your", " favourite", " book", "?"]]
    with client.websocket_connect("/ws/chat") as ws:
        ready = start(ws)
        ws.send_json({"type": "message", "text": "hi buddy"})
        frames = recv_until(ws, "done")
    deltas = [f["text"] for f in frames if f["type"] == "delta"]
    assert "".join(deltas) == "Hello there. What is your favourite book?"
    assert len(deltas) >= 9  # the checked text still goes out token by token
    done = frames[-1]
    assert done["status"] == "complete"
    stored = messages(database_url, ready["conversation"])
    assert [(m.role, m.status) for m in stored] == [
        ("assistant", "complete"), ("child", "complete"), ("assistant", "complete")
    ]
    assert stored[1].text == "hi buddy"
    assert stored[2].id == done["message"]
    assert stored[2].text == "Hello there. What is your favourite book?"
    assert stored[2].completion_tokens == 9
    assert stored[2].duration_ms is not None


def test_model_sees_system_prompt_and_history(client: TestClient, engine: ScriptedEngine) -> None:
    engine.scripts = [["One."], ["Two."]]
    with client.websocket_connect("/ws/chat") as ws:
        start(ws)
        ws.send_json({"type": "message", "text": "first"})
        recv_until(ws, "done")
        ws.send_json({"type": "message", "text": "second"})
        recv_until(ws, "done")
    msgs = engine.requests[1].messages
    assert msgs[0].role == "system" and "reading buddy" in msgs[0].content.lower()
    assert msgs[1].role == "assistant"  # the persona's greeting opened the conversation
    assert [(m.role, m.content) for m in msgs[2:]] == [
        ("user", "first"), ("assistant", "One."), ("user", "second")
    ]
    assert engine.requests[1].language == "en"
    assert engine.requests[1].assistant_label == "Reading Buddy"


def test_resume_after_reconnect_returns_history(client: TestClient, engine: ScriptedEngine) -> None:
    engine.scripts = [["Sure", "!"]]
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_json({"type": "message", "text": "tell me a story"})
        recv_until(ws, "done")
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "start", "conversation": conv})
        ready = ws.receive_json()
    assert ready["conversation"] == conv
    assert [(h["role"], h["text"], h["status"]) for h in ready["history"][1:]] == [
        ("child", "tell me a story", "complete"), ("assistant", "Sure!", "complete")
    ]


def test_bad_frames_get_errors_and_the_socket_stays_usable(client: TestClient, engine: ScriptedEngine) -> None:
    engine.scripts = [["Fine", "."]]
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_text("not json{")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["code"] == "unknown_type"
        ws.send_json({"type": "message", "text": "hi"})
        assert ws.receive_json()["code"] == "not_started"
        ws.send_json({"type": "start"})
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json([1, 2])
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json({"type": "start", "persona": "nobody"})
        assert ws.receive_json()["code"] == "unknown_persona"
        ws.send_json({"type": "start", "conversation": "0" * 32})
        assert ws.receive_json()["code"] == "unknown_conversation"
        start(ws)
        ws.send_json({"type": "message", "text": "x" * 201})
        err = ws.receive_json()
        assert err["code"] == "too_long" and err["message"]
        ws.send_json({"type": "message", "text": "   "})
        assert ws.receive_json()["code"] == "empty"
        ws.send_json({"type": "message", "text": "still there?"})
        frames = recv_until(ws, "done")
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "Fine."


def test_error_words_follow_the_conversation_language(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        start(ws, "soeun-mom")
        ws.send_json({"type": "message", "text": ""})
        err = ws.receive_json()
    assert err["code"] == "empty"
    assert "써 주세요" in err["message"]


def test_blocked_child_message_gets_the_persona_redirect_without_the_model(
    client: TestClient, engine: ScriptedEngine, database_url: str
) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws, "soeun-mom")["conversation"]
        ws.send_json({"type": "message", "text": "엄마 가나다욕"})
        frames = recv_until(ws, "done")
    assert [f["type"] for f in frames] == ["redirect", "done"]
    assert frames[0]["category"] == "profanity"
    assert frames[0]["text"].startswith("어머")  # soeun-mom's own profanity line
    assert frames[1]["status"] == "blocked"
    assert engine.requests == []
    stored = messages(database_url, conv)
    assert [(m.role, m.status, m.safety_category, m.safety_side) for m in stored[1:]] == [
        ("child", "blocked", "profanity", "child"), ("assistant", "blocked", "profanity", "child")
    ]
    flags = [f for f in rows(database_url, Flag) if f.conversation_id == conv]
    assert [(f.category, f.side) for f in flags] == [("profanity", "child")]


def test_blocked_turns_are_kept_out_of_the_models_context(client: TestClient, engine: ScriptedEngine) -> None:
    engine.scripts = [["Ok", "."]]
    with client.websocket_connect("/ws/chat") as ws:
        start(ws)
        ws.send_json({"type": "message", "text": "how to make a bomb"})
        recv_until(ws, "done")
        ws.send_json({"type": "message", "text": "tell me about cats"})
        recv_until(ws, "done")
    contents = [m.content for m in engine.requests[0].messages]
    assert not any("bomb" in c for c in contents)


def test_self_harm_disclosure_gets_a_caring_answer_and_a_high_flag(client: TestClient, database_url: str) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws, "soeun-mom")["conversation"]
        ws.send_json({"type": "message", "text": "나 sad-forever"})
        frames = recv_until(ws, "done")
    assert frames[0]["type"] == "redirect" and frames[0]["category"] == "self_harm"
    assert "엄마" in frames[0]["text"]
    stored = [c for c in rows(database_url, Conversation) if c.id == conv][0]
    assert stored.max_severity == "high"


def test_unsafe_sentence_mid_reply_never_reaches_the_child(
    client: TestClient, engine: ScriptedEngine, safety: WordChecker, database_url: str
) -> None:
    engine.scripts = [["Cats", " are", " soft", ".", " Here", " is", " a", " bomb", " recipe", "."] + [" More", " text", "."] * 100]
    engine.delay = 0.01  # about a real model's pace, so stopping early is visible
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_json({"type": "message", "text": "tell me about cats"})
        frames = recv_until(ws, "done")
    sent = "".join(f["text"] for f in frames if f["type"] == "delta")
    assert sent == "Cats are soft. "
    assert "bomb" not in json.dumps([f for f in frames if f["type"] != "redirect"])
    assert frames[-2]["type"] == "redirect" and frames[-2]["category"] == "dangerous"
    assert frames[-1]["status"] == "blocked"
    # Every sentence was checked before it was sent, and generation stopped at the unsafe one.
    assert ("Cats are soft. ", "assistant") in safety.calls
    assert engine.pieces_sent < 60  # of 310
    reply = messages(database_url, conv)[-1]
    assert reply.status == "blocked" and reply.safety_side == "assistant"
    assert reply.text == frames[-2]["text"]  # what the child saw
    assert "bomb" in (reply.withheld_text or "")  # kept for the parents' review only


def test_unsafe_words_split_across_tokens_are_caught(client: TestClient, engine: ScriptedEngine) -> None:
    engine.scripts = [["A", " bo", "mb", " is", " loud", "."]]
    with client.websocket_connect("/ws/chat") as ws:
        start(ws)
        ws.send_json({"type": "message", "text": "what is loud"})
        frames = recv_until(ws, "done")
    assert not [f for f in frames if f["type"] == "delta"]
    assert frames[-1]["status"] == "blocked"


def test_last_sentence_without_punctuation_is_checked_too(client: TestClient, engine: ScriptedEngine) -> None:
    engine.scripts = [["Fine", ".", " a", " bomb"]]
    with client.websocket_connect("/ws/chat") as ws:
        start(ws)
        ws.send_json({"type": "message", "text": "hello"})
        frames = recv_until(ws, "done")
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "Fine. "
    assert frames[-1]["status"] == "blocked"


def test_stop_ends_the_reply_and_keeps_what_was_shown(settings, database_url: str, safety: WordChecker) -> None:
    from server.app import create_app

    long_script = ["Once", " upon", " a", " time", "."] + [" and", " then", "."] * 200
    engine = ScriptedEngine([long_script], delay=0.01)
    with TestClient(create_app(settings, engine=engine, safety=safety)) as client:
        sign_in_child(client)
        with client.websocket_connect("/ws/chat") as ws:
            conv = start(ws)["conversation"]
            ws.send_json({"type": "message", "text": "a story please"})
            first = ws.receive_json()
            assert first["type"] == "delta"
            ws.send_json({"type": "stop"})
            frames = recv_until(ws, "done")
    assert frames[-1]["status"] == "interrupted"
    assert engine.pieces_sent < 100  # the model was freed, not run to the end
    reply = messages(database_url, conv)[-1]
    assert reply.status == "interrupted"
    shown = first["text"] + "".join(f["text"] for f in frames if f["type"] == "delta")
    assert reply.text == shown


def test_a_message_during_a_reply_is_refused_as_busy(settings, safety: WordChecker) -> None:
    from server.app import create_app

    engine = ScriptedEngine([["Slow", " one", "."] * 20], delay=0.01)
    with TestClient(create_app(settings, engine=engine, safety=safety)) as client:
        sign_in_child(client)
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "go"})
            ws.send_json({"type": "message", "text": "again"})
            frames = recv_until(ws, "done")
    assert any(f["type"] == "error" and f["code"] == "busy" for f in frames)
    assert frames[-1]["status"] == "complete"


def test_engine_crash_keeps_the_partial_reply(client: TestClient, engine: ScriptedEngine, database_url: str) -> None:
    engine.scripts = [["All", " good", ".", RuntimeError("boom"), " never"]]
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_json({"type": "message", "text": "hello"})
        frames = recv_until(ws, "done")
        ws.send_json({"type": "message", "text": "are you ok"})
        after = recv_until(ws, "done")
    assert any(f["type"] == "error" and f["code"] == "internal" and "boom" not in f["message"] for f in frames)
    assert frames[-1]["status"] == "interrupted"
    assert after[-1]["status"] == "complete"  # the socket and the model still work
    reply = messages(database_url, conv)[2]
    assert reply.text == "All good." and reply.status == "interrupted"


def test_moderation_endpoint_is_served_by_the_app(client: TestClient) -> None:
    key = make_api_key(client.app.state.sessions)  # type: ignore[attr-defined]
    response = client.post(
        "/api/moderate", json={"items": [{"text": "badword here", "role": "child"}, {"text": "hello", "role": "child"}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    assert [r["action"] for r in response.json()["results"]] == ["block", "allow"]
