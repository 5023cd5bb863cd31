"""Migrations and storage: the schema comes from Alembic, and restarts lose nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from server.app import create_app
from server.db import repo
from server.db.migrate import downgrade, upgrade_head
from server.db.session import make_engine, make_sessionmaker, transaction
from server.llm.fake import ScriptedEngine
from tests.test_chat_ws import recv_until, start


def test_migrations_create_the_schema_and_downgrade_cleanly(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_head(url)
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"conversations", "messages", "flags", "alembic_version"} <= tables
    downgrade(url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_models_match_the_migrations(database_url: str) -> None:
    """Autogenerate against the migrated database finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.db.models import Base

    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_reply_cut_off_by_a_restart_is_marked_interrupted_and_resumable(settings, safety, database_url) -> None:
    sessions = make_sessionmaker(make_engine(database_url))
    with transaction(sessions) as s:
        conv = repo.create_conversation(s, persona_id="reading-buddy", persona_version=None, language="en", model="m")
        repo.add_message(s, conv.id, role="child", text="hi", status="complete")
        repo.add_message(s, conv.id, role="assistant", text="", status="pending")
        conv_id = conv.id
    # A new server process starts on the same database.
    engine = ScriptedEngine([["Welcome", " back", "."]])
    with TestClient(create_app(settings, engine=engine, safety=safety)) as client:
        with client.websocket_connect("/ws/chat") as ws:
            ws.send_json({"type": "start", "conversation": conv_id})
            ready = ws.receive_json()
            assert [h["status"] for h in ready["history"]] == ["complete", "interrupted"]
            ws.send_json({"type": "message", "text": "hello again"})
            frames = recv_until(ws, "done")
    assert frames[-1]["status"] == "complete"


def test_child_message_is_committed_before_the_model_starts(settings, safety, database_url) -> None:
    seen: list[list[str]] = []

    class Peek(ScriptedEngine):
        def stream(self, request, stop, stats):  # type: ignore[no-untyped-def]
            s2 = make_sessionmaker(make_engine(database_url))
            with transaction(s2) as s:
                from sqlalchemy import select

                from server.db.models import Message

                seen.append([m.text for m in s.scalars(select(Message).where(Message.role == "child"))])
            yield from super().stream(request, stop, stats)

    with TestClient(create_app(settings, engine=Peek([["Ok", "."]]), safety=safety)) as client:
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "remember me"})
            recv_until(ws, "done")
    assert seen == [["remember me"]]
