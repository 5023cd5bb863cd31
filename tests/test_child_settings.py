"""Per-child settings: personas allowed, daily limit and quiet hours (the websocket refuses a new turn,
the kids' page says so kindly), retention (really deleted by `kidchat purge` and the server), deleting a
child's data, and alert e-mails through a real local SMTP server."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.chat.limits import in_quiet_hours
from server.db import repo
from server.db.models import Alert, Child, Conversation, Message
from server.db.session import make_engine, make_sessionmaker, transaction
from server.llm.fake import ScriptedEngine
from tests.factories import log_in, make_family
from tests.test_chat_ws import recv_until, start

NOON = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)  # 21:30 in Seoul


def csrf_of(client: TestClient, path: str) -> str:
    return client.get(path).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def count(database_url: str, table: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return n


def old_conversation(sessions, child_id: str, when: datetime, words: str = "old words") -> str:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        conv = repo.create_conversation(s, persona_id="reading-buddy", persona_version=1, language="en", model="m", child_id=child_id)
        conv.created_at = when
        for i, role in enumerate(("assistant", "child", "assistant")):
            msg = repo.add_message(s, conv.id, role=role, text=f"{words} {i}", status="complete")
            msg.created_at = when + timedelta(minutes=i)
        return conv.id


def test_quiet_hours_can_span_midnight() -> None:
    from datetime import time as t

    assert in_quiet_hours(t(22, 0), "21:00", "07:00") and in_quiet_hours(t(6, 59), "21:00", "07:00")
    assert not in_quiet_hours(t(7, 0), "21:00", "07:00") and not in_quiet_hours(t(12, 0), "21:00", "07:00")
    assert in_quiet_hours(t(13, 0), "12:00", "14:00") and not in_quiet_hours(t(14, 0), "12:00", "14:00")
    assert not in_quiet_hours(t(13, 0), None, None)


def clocked_app(settings, safety, engine=None):  # type: ignore[no-untyped-def]
    return create_app(settings, engine=engine or ScriptedEngine(), safety=safety, clock=lambda: NOON)


def test_time_up_refuses_a_new_turn_kindly(settings, safety, database_url) -> None:  # type: ignore[no-untyped-def]
    with TestClient(clocked_app(settings, safety)) as client:
        family = make_family(client.app.state.sessions, daily_limit_minutes=2)
        # Three minutes of chatting earlier today: 60 s for the first message + two 60 s gaps.
        old_conversation(client.app.state.sessions, family.child_id, NOON - timedelta(minutes=30))
        client.get(f"/c/{family.link_token}")
        page = client.get("/")
        assert '"rest": "time_up"' in page.text and "That&#39;s all the chat time for today" in page.text
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "one more please"})
            err = ws.receive_json()
        assert err["type"] == "error" and err["code"] == "time_up" and "tomorrow" in err["message"]
    assert count(database_url, "messages") == 4  # 3 old + the greeting; the refused message is not stored


def test_quiet_hours_follow_the_childs_time_zone(settings, safety) -> None:  # type: ignore[no-untyped-def]
    engine = ScriptedEngine([["Hi", "."]])
    with TestClient(clocked_app(settings, safety, engine)) as client:
        family = make_family(client.app.state.sessions, quiet_start="21:00", quiet_end="07:00", timezone="Asia/Seoul")
        client.get(f"/c/{family.link_token}")
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "hello"})
            assert ws.receive_json()["code"] == "quiet_hours"
        with transaction(client.app.state.sessions) as s:
            s.get(Child, family.child_id).timezone = "Europe/London"  # 12:30 there: not quiet
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "hello"})
            assert recv_until(ws, "done")[-1]["status"] == "complete"


def test_settings_form_saves_and_limits_personas(client: TestClient) -> None:
    family = make_family(client.app.state.sessions, child_name="Rin")
    parent = TestClient(client.app)
    log_in(parent, family.email)
    url = f"/parent/children/{family.child_id}/settings"
    token = csrf_of(parent, url)
    bad = parent.post(url, data={"name": "Rin", "age": "7", "language": "en", "timezone": "Mars/Base",
                                 "daily_limit_minutes": "-5", "quiet_start": "25:00", "quiet_end": "",
                                 "retention_days": "0", "csrf_token": token})
    assert bad.status_code == 400
    for field in ("timezone", "daily_limit_minutes", "quiet_start", "retention_days"):
        assert f'id="f-{field}-err"' in bad.text, field
    ok = parent.post(url, data={"name": "Rin", "age": "8", "language": "en", "timezone": "Asia/Seoul",
                                "daily_limit_minutes": "30", "quiet_start": "20:30", "quiet_end": "07:00",
                                "retention_days": "30", "allowed": ["reading-buddy"], "csrf_token": token},
                     follow_redirects=False)
    assert ok.status_code == 303
    with transaction(client.app.state.sessions) as s:
        child = s.get(Child, family.child_id)
        assert (child.age, child.daily_limit_minutes, child.quiet_start, child.retention_days) == (8, 30, "20:30", 30)
        assert child.allowed_personas == ["reading-buddy"]
    kid = TestClient(client.app)
    kid.get(f"/c/{family.link_token}")
    page = kid.get("/").text
    assert 'data-persona="reading-buddy"' in page and 'data-persona="soeun-mom"' not in page
    with kid.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "start", "persona": "soeun-mom"})
        assert ws.receive_json()["code"] == "unknown_persona"


def test_purge_really_deletes_what_is_past_the_window(settings, database_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from server.cli import main

    sessions = make_sessionmaker(make_engine(database_url))
    family = make_family(sessions, retention_days=7)
    keeper = make_family(sessions)  # no retention window: kept
    now = datetime.now(UTC)
    old = old_conversation(sessions, family.child_id, now - timedelta(days=10), words="secret old")
    recent = old_conversation(sessions, family.child_id, now - timedelta(days=2))
    kept = old_conversation(sessions, keeper.child_id, now - timedelta(days=400))
    monkeypatch.setenv("KIDCHAT_DATABASE_URL", database_url)
    dry = CliRunner().invoke(main, ["purge", "--dry-run"])
    assert "would delete 1 conversations" in dry.output and count(database_url, "conversations") == 3
    done = CliRunner().invoke(main, ["purge"])
    assert done.exit_code == 0 and "deleted 1 conversations" in done.output
    engine = create_engine(database_url)
    with Session(engine) as s:
        ids = set(s.scalars(select(Conversation.id)))
        leftovers = s.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == old))
        found = s.scalar(select(func.count()).select_from(Message).where(Message.text.like("secret old%")))
    engine.dispose()
    assert ids == {recent, kept} and leftovers == 0 and found == 0


def test_the_server_purges_in_the_background(settings, safety, database_url) -> None:  # type: ignore[no-untyped-def]
    sessions = make_sessionmaker(make_engine(database_url))
    family = make_family(sessions, retention_days=1)
    old_conversation(sessions, family.child_id, datetime.now(UTC) - timedelta(days=5))
    with TestClient(create_app(settings.model_copy(update={"purge_interval_minutes": 60}), engine=ScriptedEngine(), safety=safety)):
        for _ in range(100):
            if count(database_url, "conversations") == 0:
                break
            time.sleep(0.05)
    assert count(database_url, "conversations") == 0


def test_deleting_a_child_deletes_everything_and_signs_the_device_out(client: TestClient, database_url: str) -> None:
    family = make_family(client.app.state.sessions, child_name="Hana")
    kid = TestClient(client.app)
    kid.get(f"/c/{family.link_token}")
    with kid.websocket_connect("/ws/chat") as ws:
        start(ws)
        ws.send_json({"type": "message", "text": "sad-forever"})  # an alert and a flag too
        recv_until(ws, "done")
    parent = TestClient(client.app)
    log_in(parent, family.email)
    token = csrf_of(parent, f"/parent/children/{family.child_id}/delete")
    unconfirmed = parent.post(f"/parent/children/{family.child_id}/delete", data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    before = {t: count(database_url, t) for t in ("conversations", "messages", "flags", "alerts", "transcript_views")}
    assert before["messages"] > 0 and before["alerts"] == 1
    only_talk = parent.post(f"/parent/children/{family.child_id}/delete-conversations",
                            data={"csrf_token": token, "confirm": "yes"}, follow_redirects=False)
    assert only_talk.status_code == 303
    assert count(database_url, "messages") == count(database_url, "alerts") == 0
    assert count(database_url, "children") >= 1
    gone = parent.post(f"/parent/children/{family.child_id}/delete", data={"csrf_token": token, "confirm": "yes"},
                       follow_redirects=False)
    assert gone.status_code == 303
    engine = create_engine(database_url)
    with Session(engine) as s:
        assert s.get(Child, family.child_id) is None
    engine.dispose()
    with kid.websocket_connect("/ws/chat") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    assert parent.get(f"/parent/children/{family.child_id}").status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_high_alerts_are_emailed_through_smtp_without_the_childs_words(settings, safety, database_url) -> None:  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    received = []

    class Collect(MessageHandler):
        def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
            received.append(message)

    port = _free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail_settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "public_url": "https://kidchat.example"})
        with TestClient(create_app(mail_settings, engine=ScriptedEngine(), safety=safety)) as client:
            family = make_family(client.app.state.sessions, child_name="Mina")
            client.get(f"/c/{family.link_token}")
            with client.websocket_connect("/ws/chat") as ws:
                conv = start(ws)["conversation"]
                ws.send_json({"type": "message", "text": "badword"})  # medium: no e-mail
                recv_until(ws, "done")
                ws.send_json({"type": "message", "text": "I feel sad-forever"})  # high: e-mail
                recv_until(ws, "done")
            for _ in range(100):
                if received:
                    break
                time.sleep(0.05)
    finally:
        controller.stop()
    assert len(received) == 1
    mail = received[0]
    assert mail["To"] == family.email and "Mina" in mail["Subject"]
    body = mail.get_payload(decode=True).decode("utf-8")
    assert f"https://kidchat.example/parent/conversations/{conv}" in body and "self-harm" in body and "자해" in body
    assert "sad-forever" not in body and "badword" not in body
    engine = create_engine(database_url)
    with Session(engine) as s:
        assert s.scalars(select(Alert)).one().notified_at is not None
    engine.dispose()


def test_email_is_off_by_default(client: TestClient) -> None:
    assert client.app.state.notifier is None
