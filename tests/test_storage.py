"""Migrations and storage: the schema comes from Alembic, and restarts lose nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from server.app import create_app
from server.db import repo
from server.db.migrate import downgrade, upgrade_head
from server.db.session import make_engine, make_sessionmaker, transaction
from server.llm.fake import ScriptedEngine
from tests.factories import make_family, sign_in_child
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
    family = make_family(sessions)
    with transaction(sessions) as s:
        conv = repo.create_conversation(
            s, persona_id="reading-buddy", persona_version=None, language="en", model="m", child_id=family.child_id
        )
        repo.add_message(s, conv.id, role="child", text="hi", status="complete")
        repo.add_message(s, conv.id, role="assistant", text="", status="pending")
        conv_id = conv.id
    # A new server process starts on the same database.
    engine = ScriptedEngine([["Welcome", " back", "."]])
    with TestClient(create_app(settings, engine=engine, safety=safety)) as client:
        client.get(f"/c/{family.link_token}")
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
        sign_in_child(client)
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "remember me"})
            recv_until(ws, "done")
    assert seen == [["remember me"]]


def test_persona_versions_saved_before_abuse_disclosure_get_a_caring_line(tmp_path) -> None:
    """Migration 0006: a version stored without the now-required line validates again afterwards."""
    import json

    from sqlalchemy import text

    from server.config import Settings
    from server.personas import Persona, load_personas

    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade_head(url, "0005")
    data = load_personas(Settings().personas_dir)["soeun-mom"].model_dump(mode="json")
    for lines in data["redirects"].values():
        lines.pop("abuse_disclosure", None)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO personas (id, current_version, created_at, updated_at) VALUES ('soeun-mom', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(
            text("INSERT INTO persona_versions (persona_id, version, data, author_label, note, created_at) "
                 "VALUES ('soeun-mom', 1, :data, 'test', '', CURRENT_TIMESTAMP)"),
            {"data": json.dumps(data, ensure_ascii=False)},
        )
    upgrade_head(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT data FROM persona_versions")).scalar_one()
    engine.dispose()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    persona = Persona.model_validate(stored)
    assert "1391" in persona.redirect("abuse_disclosure", "ko")
    assert persona.system_prompt == data["system_prompt"]
