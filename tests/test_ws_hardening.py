"""Issue 13's websocket findings, kept fixed: text that cannot be stored (1), frames too deep or too big to
parse (4), big frames below the transport limit (5), turns whose socket dropped while queued and limits per
child and per address (12). Frame sizes go through a real uvicorn (tests/live.py): the TestClient has no
transport limit."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed

from server.app import create_app
from server.chat.protocol import screen
from server.cli import uvicorn_options
from server.config import Settings
from server.db.models import Conversation
from server.llm.fake import ScriptedEngine
from tests.factories import sign_in_child
from tests.fakes import WordChecker
from tests.live import serve
from tests.test_chat_ws import messages, recv_until, start


def with_settings(settings: Settings, **changes: object) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


def conversations_of(database_url: str, child_id: str) -> list[Conversation]:
    engine = create_engine(database_url)
    with Session(engine) as s:
        found = list(s.scalars(select(Conversation).where(Conversation.child_id == child_id)))
    engine.dispose()
    return found


# -- 1. text that cannot be stored gets bad_frame, and nothing is stored ---------------------------------
BAD_TEXT = {  # as it appears inside the frame's JSON string
    "lone high surrogate": r"hi \ud800 there",
    "lone low surrogate": r"\udfff",
    "pair in the wrong order": r"\ude00\ud83d",
    "NUL escaped": r"hi \u0000 there",
    "non-character U+FFFE": r"\ufffe",
    "non-character U+FDD0, raw": "a \ufdd0 b",
    "non-character U+10FFFF, raw": "\U0010ffff",
    "non-character U+1FFFE, escaped": r"\ud83f\udffe",
}


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_text_that_cannot_be_stored_gets_bad_frame_and_nothing_is_stored(
    client: TestClient, engine: ScriptedEngine, database_url: str, text: str
) -> None:
    engine.scripts = [["Fine", "."]]
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_text('{"type":"message","text":"' + text + '"}')
        assert ws.receive_json()["code"] == "bad_frame"
        assert [m.role for m in messages(database_url, conv)] == ["assistant"]  # the greeting only
        for field in ("persona", "conversation"):
            ws.send_text('{"type":"start","' + field + '":"' + text + '"}')
            assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json({"type": "message", "text": "still there?"})  # the socket stays usable
        frames = recv_until(ws, "done")
    assert frames[-1]["status"] == "complete"
    assert [(m.role, m.text) for m in messages(database_url, conv)] == [
        ("assistant", messages(database_url, conv)[0].text), ("child", "still there?"), ("assistant", "Fine.")
    ]
    assert len(engine.requests) == 1


def test_a_surrogate_pair_sent_as_escapes_is_one_character_and_accepted(client: TestClient, database_url: str) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_text(r'{"type":"message","text":"I like \ud83e\udd95 dinosaurs"}')
        assert recv_until(ws, "done")[-1]["status"] == "complete"
    assert messages(database_url, conv)[1].text == "I like \U0001f995 dinosaurs"


# -- 4. nesting is checked before parsing ----------------------------------------------------------------
DEEP = {
    "arrays 1000 deep": "[" * 1000 + "]" * 1000,
    "objects 3000 deep, unclosed": '{"a":' * 3000,
    "a deep field in a message": '{"type":"message","text":"hi","x":' + "[" * 5000 + "]" * 5000 + "}",
    "nine levels": '{"type":"message","text":' + "[" * 8 + '"hi"' + "]" * 8 + "}",
}


@pytest.mark.parametrize("frame", DEEP.values(), ids=DEEP.keys())
def test_deep_json_is_refused_unparsed_and_the_socket_stays_open(
    client: TestClient, caplog: pytest.LogCaptureFixture, frame: str
) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        start(ws)
        ws.send_text(frame)
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json({"type": "message", "text": "hello"})
        assert recv_until(ws, "done")[-1]["status"] == "complete"
    assert "RecursionError" not in caplog.text


ADVERSARIAL = {  # 16 KiB each; the first two took 0.5 s each with a regex that retried at every quote
    "escaped quotes in an unclosed string": '"' + '\\"' * 8191,
    "quote, backslash, repeated": '"\\' * 8192,
    "empty pairs": "[]" * 8192,
    "openings only": "[" * 16384,
    "strings only": '"a",' * 4096,
}


@pytest.mark.parametrize("frame", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_screening_a_frame_takes_one_linear_pass(frame: str) -> None:
    began = time.perf_counter()
    screen(frame, 16384)
    assert time.perf_counter() - began < 0.1  # about 0.2 ms here: a generous bound, not a benchmark


def test_brackets_inside_strings_do_not_count_as_nesting(client: TestClient, database_url: str) -> None:
    text = '[[[[[[[[[[ {{{{{{{{{{ \\" ]]]] [[[[[[[[[['
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_text('{"type":"message","text":"' + text + '"}')
        assert recv_until(ws, "done")[-1]["status"] == "complete"
    assert messages(database_url, conv)[1].text == json.loads('"' + text + '"')

def test_a_failure_while_handling_a_frame_is_answered_and_the_socket_stays(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    service = client.app.state.chat  # type: ignore[attr-defined]
    real = service.start_new

    async def broken(persona_id, child):  # type: ignore[no-untyped-def]
        raise RuntimeError("the child's words: purple elephant")

    service.start_new = broken
    try:
        with client.websocket_connect("/ws/chat") as ws:
            ws.send_json({"type": "start", "persona": "reading-buddy"})
            assert ws.receive_json()["code"] == "internal"
            service.start_new = real
            start(ws)
    finally:
        service.start_new = real
    assert "RuntimeError" in caplog.text and "purple elephant" not in caplog.text



# -- 5. frame size: too_long below the transport limit, whatever the frame holds --------------------------
def test_frames_over_the_protocol_limit_get_too_long_counted_in_utf8_bytes(
    client: TestClient, settings: Settings, database_url: str
) -> None:
    limit = settings.max_frame_bytes
    message = '{"type":"message","text":"hi"}'
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_text(message + " " * (limit - len(message) + 1))  # one byte over
        assert ws.receive_json()["code"] == "too_long"
        korean = '{"type":"message","text":"' + "가" * (limit // 3) + '"}'  # fewer characters than bytes
        assert len(korean) < limit < len(korean.encode())
        ws.send_text(korean)
        assert ws.receive_json()["code"] == "too_long"
        ws.send_text(message + " " * (limit - len(message)))  # exactly the limit: read
        assert recv_until(ws, "done")[-1]["status"] == "complete"
    assert [m.text for m in messages(database_url, conv)[1:2]] == ["hi"]


def test_a_message_at_the_character_limit_fits_the_frame_limit_however_it_is_escaped(
    client: TestClient, settings: Settings, database_url: str
) -> None:
    text = "\U0001f995" * settings.max_message_chars  # 12 bytes a character as JSON escapes
    frame = json.dumps({"type": "message", "text": text}, ensure_ascii=True)
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_text(frame)
        assert recv_until(ws, "done")[-1]["status"] == "complete"
    assert messages(database_url, conv)[1].text == text


def test_settings_keep_the_transport_limit_above_the_protocols(settings: Settings) -> None:
    assert uvicorn_options(settings)["ws_max_size"] == settings.ws_transport_max_bytes > settings.max_frame_bytes
    with pytest.raises(ValueError, match="ws_transport_max_bytes"):
        with_settings(settings, max_frame_bytes=65536, ws_transport_max_bytes=65536)
    with pytest.raises(ValueError, match="max_frame_bytes"):
        with_settings(settings, max_message_chars=2000, max_frame_bytes=16384)


def test_a_real_server_answers_big_frames_with_too_long_and_keeps_the_socket(
    settings: Settings, safety: WordChecker, database_url: str
) -> None:
    app = create_app(settings, engine=ScriptedEngine(), safety=safety)
    with serve(app, settings) as live:
        family, cookie = live.child()
        with live.socket(cookie) as ws:
            ws.send(json.dumps({"type": "start", "persona": "reading-buddy"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            for size in (70_000, 500_000, settings.ws_transport_max_bytes):  # over uvicorn's old 64 KiB
                ws.send(json.dumps({"type": "message", "text": "x" * (size - 31)}).ljust(size))
                assert json.loads(ws.recv(timeout=10))["code"] == "too_long"
            ws.send(json.dumps({"type": "message", "text": "hello"}))
            frames = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
            assert [f["type"] for f in frames] == ["delta", "delta", "done"]
        with live.socket(cookie) as ws:  # over the transport limit: uvicorn closes (1009), as documented
            ws.send("x" * (settings.ws_transport_max_bytes + 1))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    conv = conversations_of(database_url, family.child_id)[0]
    assert [m.text for m in messages(database_url, conv.id) if m.role == "child"] == ["hello"]


# -- 12. a turn whose socket dropped while it waited for the model never reaches it --------------------
def test_a_turn_whose_socket_dropped_while_queued_never_reaches_the_model(
    settings: Settings, safety: WordChecker, database_url: str
) -> None:
    engine = ScriptedEngine([["Long", " story", "."] * 50], delay=0.01)
    with TestClient(create_app(settings, engine=engine, safety=safety)) as client:
        sign_in_child(client)
        with client.websocket_connect("/ws/chat") as first:
            start(first)
            first.send_json({"type": "message", "text": "tell me a long story"})
            assert first.receive_json()["type"] == "delta"  # the model is busy with this one
            second = client.websocket_connect("/ws/chat").__enter__()
            conv = start(second)["conversation"]
            second.send_json({"type": "message", "text": "my turn please"})
            deadline = time.monotonic() + 10
            while [m.status for m in messages(database_url, conv)] != ["complete", "complete", "pending"]:
                assert time.monotonic() < deadline, "the second turn never reached the queue"
                time.sleep(0.02)
            closing = threading.Thread(target=second.__exit__, args=(None, None, None))
            closing.start()  # the second child's socket drops while its turn waits for the model
            closing.join(timeout=10)
            assert recv_until(first, "done")[-1]["status"] == "complete"
        deadline = time.monotonic() + 10
        while messages(database_url, conv)[-1].status == "pending":
            assert time.monotonic() < deadline, "the dropped turn never ended"
            time.sleep(0.02)
    assert len(engine.requests) == 1  # only the first child's turn ran through the model
    stored = messages(database_url, conv)
    assert [(m.role, m.text, m.status) for m in stored[1:]] == [
        ("child", "my turn please", "complete"), ("assistant", "", "interrupted")
    ]


# -- 12. limits per child and per address: conversations per minute, frames per second, open sockets -----
def limited_client(settings: Settings, safety: WordChecker, engine: ScriptedEngine | None = None, **limits: int) -> TestClient:
    return TestClient(create_app(with_settings(settings, **limits), engine=engine or ScriptedEngine(), safety=safety))


def test_new_conversations_are_limited_per_child_and_per_address(
    settings: Settings, safety: WordChecker, database_url: str
) -> None:
    with limited_client(settings, safety, conversations_per_minute=3, conversations_per_minute_per_ip=4) as client:
        first = sign_in_child(client)
        with client.websocket_connect("/ws/chat") as ws:
            made = [start(ws)["conversation"] for _ in range(3)]
            ws.send_json({"type": "start", "persona": "reading-buddy"})
            refused = ws.receive_json()
            assert refused["code"] == "rate_limited" and refused["message"]
            ws.send_json({"type": "start", "conversation": made[0]})  # resuming is not a new conversation
            assert ws.receive_json()["type"] == "ready"
        second = sign_in_child(client)  # another child at the same address (a classroom)
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "start", "persona": "reading-buddy"})
            assert ws.receive_json()["code"] == "rate_limited"  # the address's 4 are used
    assert len(conversations_of(database_url, first.child_id)) == 3
    assert len(conversations_of(database_url, second.child_id)) == 1


def test_frames_are_limited_per_second_per_child_and_per_address(settings: Settings, safety: WordChecker) -> None:
    with limited_client(settings, safety, ws_frames_per_second=5, ws_frames_per_second_per_ip=8) as client:
        sign_in_child(client)
        with client.websocket_connect("/ws/chat") as ws:
            sign_in_child(client)  # another child at the same address; its socket opens below
            began = time.monotonic()
            codes = []
            for _ in range(7):
                ws.send_text("not json")
                codes.append(ws.receive_json()["code"])
            with client.websocket_connect("/ws/chat") as other:  # the address has 3 of its 8 left
                answers = []
                for _ in range(4):
                    other.send_text("not json")
                    answers.append(other.receive_json()["code"])
            assert time.monotonic() - began < 1.0, "too slow to test a one-second window"
            assert codes == ["bad_json"] * 5 + ["rate_limited"] * 2  # refused frames are not counted
            assert answers == ["bad_json"] * 3 + ["rate_limited"]
            time.sleep(1.05)
            ws.send_text("not json")  # a second later the child may talk again
            assert ws.receive_json()["code"] == "bad_json"


def test_open_sockets_are_limited_per_child_and_per_address(settings: Settings, safety: WordChecker) -> None:
    with limited_client(settings, safety, ws_sockets_per_child=2, ws_sockets_per_ip=3) as client:
        family = sign_in_child(client)
        guard = client.app.state.socket_guard  # type: ignore[attr-defined]
        with client.websocket_connect("/ws/chat") as a, client.websocket_connect("/ws/chat") as b:
            start(a), start(b)
            with client.websocket_connect("/ws/chat") as c:
                with pytest.raises(WebSocketDisconnect) as closed:
                    c.receive_json()
            assert (closed.value.code, closed.value.reason) == (1013, "too_many_sockets")
            sign_in_child(client)
            with client.websocket_connect("/ws/chat") as d:
                start(d)  # the address's third
                with client.websocket_connect("/ws/chat") as e:
                    with pytest.raises(WebSocketDisconnect) as closed:
                        e.receive_json()
                assert closed.value.code == 1013
        assert guard.open_sockets(family.child_id, "testclient") == (0, 0)  # closed sockets are uncounted
        with client.websocket_connect("/ws/chat") as again:
            start(again)


def test_the_chat_socket_settings_have_sensible_defaults() -> None:
    defaults = Settings()
    assert defaults.max_frame_bytes == 16_384 and defaults.ws_transport_max_bytes == 1_048_576
    assert (defaults.ws_frames_per_second, defaults.ws_frames_per_second_per_ip) == (20, 100)
    assert (defaults.conversations_per_minute, defaults.conversations_per_minute_per_ip) == (10, 100)
    assert (defaults.ws_sockets_per_child, defaults.ws_sockets_per_ip) == (5, 100)
