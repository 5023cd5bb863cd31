"""One model, many children: turns queue in order, nobody's reply is cut off, disconnects free the model."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.app import create_app
from server.db.models import Message
from server.llm.fake import ScriptedEngine
from tests.test_chat_ws import recv_until, start


def test_two_children_each_get_their_whole_reply(settings, safety) -> None:
    story = ["Word", " by", " word", "."] * 10
    engine = ScriptedEngine([story, story], delay=0.005)
    results: dict[str, list[dict]] = {}
    with TestClient(create_app(settings, engine=engine, safety=safety)) as client:

        def child(name: str) -> None:
            with client.websocket_connect("/ws/chat") as ws:
                start(ws)
                ws.send_json({"type": "message", "text": f"hello from {name}"})
                results[name] = recv_until(ws, "done")

        threads = [threading.Thread(target=child, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    expected = "".join(story)
    for name in ("a", "b"):
        assert results[name][-1]["status"] == "complete"
        assert "".join(f["text"] for f in results[name] if f["type"] == "delta") == expected
    assert engine.max_active == 1  # the model ran one generation at a time


def test_disconnect_mid_reply_frees_the_model_and_stores_the_partial_reply(settings, safety, database_url) -> None:
    long_script = ["Hello", "."] + [" more", "."] * 500
    engine = ScriptedEngine([long_script, ["Next", " child", "."]], delay=0.01)
    with TestClient(create_app(settings, engine=engine, safety=safety)) as client:
        with client.websocket_connect("/ws/chat") as ws:
            conv = start(ws)["conversation"]
            ws.send_json({"type": "message", "text": "go on and on"})
            assert ws.receive_json()["type"] == "delta"
        # The socket is closed; the next child's turn must not wait for 500 more tokens.
        began = time.perf_counter()
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "my turn"})
            frames = recv_until(ws, "done")
        waited = time.perf_counter() - began
    assert frames[-1]["status"] == "complete"
    assert engine.pieces_sent < 200
    assert waited < 3.0
    engine_db = create_engine(database_url)
    with Session(engine_db) as s:
        reply = s.scalars(
            select(Message).where(Message.conversation_id == conv).order_by(Message.seq.desc())
        ).first()
    engine_db.dispose()
    assert reply is not None and reply.status == "interrupted" and reply.text.startswith("Hello.")
