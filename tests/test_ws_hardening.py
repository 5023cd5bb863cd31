"""Issue 13's websocket findings, kept fixed: text that cannot be stored (1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.models import Conversation
from server.llm.fake import ScriptedEngine
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
