"""A child telling the chat that someone hurts them, through the websocket with the real safety stage
and the scripted engine: the persona's own abuse_disclosure line in the child's language, the turn
stored as blocked (the model never sees it), and the conversation flagged high for the grown-ups."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.db.models import Conversation, Flag
from server.llm.fake import ScriptedEngine
from server.personas import load_personas
from server.safety import build_checker
from tests.test_chat_ws import messages, recv_until, rows, start


@pytest.fixture(scope="module")
def real_checker():
    return build_checker()


@pytest.fixture
def safety(real_checker):  # overrides conftest's word-matching checker for this module
    return real_checker


@pytest.fixture(scope="module")
def personas():
    return load_personas(Path(__file__).resolve().parents[1] / "personas")


@pytest.mark.parametrize(
    ("persona_id", "lang", "text"),
    [
        ("soeun-mom", "ko", "아빠가 나 때려"),
        ("teacher-hana", "ko", "친구들이 매일 나를 때려"),
        ("teacher-hana", "en", "they hit me every day at school"),
        ("reading-buddy", "en", "my dad hits me"),
    ],
)
def test_a_disclosure_gets_the_persona_line_and_a_high_flag(
    client: TestClient, engine: ScriptedEngine, database_url: str, personas, persona_id, lang, text
) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws, persona_id)["conversation"]
        ws.send_json({"type": "message", "text": text})
        frames = recv_until(ws, "done")
    assert [f["type"] for f in frames] == ["redirect", "done"]
    assert frames[0]["category"] == "abuse_disclosure"
    assert frames[0]["text"] == personas[persona_id].redirects[lang]["abuse_disclosure"]
    assert frames[1]["status"] == "blocked"
    assert engine.requests == []  # the model never saw it
    stored = messages(database_url, conv)
    assert [(m.role, m.status, m.safety_category) for m in stored[1:]] == [
        ("child", "blocked", "abuse_disclosure"), ("assistant", "blocked", "abuse_disclosure")
    ]
    flags = [f for f in rows(database_url, Flag) if f.conversation_id == conv]
    assert [(f.category, f.severity) for f in flags] == [("abuse_disclosure", "high")]
    conversation = [c for c in rows(database_url, Conversation) if c.id == conv][0]
    assert conversation.max_severity == "high"
