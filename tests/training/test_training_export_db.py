"""Conversations marked good -> persona dialogues: only what the child saw, valid turns, ends with the persona."""

from types import SimpleNamespace as Row

from training.export_db import to_dialogue
from training.formats import Dialogue


def msg(role, text, status="complete", action="allow"):
    return Row(role=role, text=text, status=status, safety_action=action)


def test_to_dialogue_keeps_what_the_child_saw():
    conv = Row(id="abc", persona_id="soeun-mom", language="ko")
    messages = [
        msg("assistant", "소은아, 학교 어땠어?"),
        msg("child", "좋았어!"),
        msg("child", "그네 탔어."),
        msg("assistant", "이건 안전 검사에서 막혔어", status="blocked", action="block"),
        msg("assistant", "와, 그네 재밌었겠다! 누구랑 탔어?"),
        msg("child", "민지랑"),
        msg("assistant", "반쯤 하다 멈춘 답", status="interrupted"),
    ]
    row = to_dialogue(conv, messages, age=7)
    assert row is not None
    Dialogue.model_validate(row)
    assert [t["role"] for t in row["turns"]] == ["persona", "child", "persona"]
    assert row["turns"][1]["text"] == "좋았어!\n그네 탔어."
    assert all("막혔어" not in t["text"] and "멈춘" not in t["text"] for t in row["turns"])
    assert row["id"] == "db-abc" and row["age"] == 7


def test_to_dialogue_without_a_child_turn_is_dropped():
    conv = Row(id="x", persona_id="reading-buddy", language="en")
    assert to_dialogue(conv, [msg("assistant", "Hi! What shall we read?")], age=6) is None
    assert to_dialogue(conv, [msg("child", "hello")], age=6) is None


def test_export_marked_reads_the_migrated_database(tmp_path):
    import pytest

    models = pytest.importorskip("server.db.models")
    migrate = pytest.importorskip("server.db.migrate")
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from training.export_db import export_marked

    url = f"sqlite:///{tmp_path / 'kidchat.db'}"
    migrate.upgrade_head(url)
    with Session(create_engine(url)) as session:
        conv = models.Conversation(persona_id="reading-buddy", language="en", model="test")
        session.add(conv)
        session.flush()
        for seq, (role, text) in enumerate(
            [("assistant", "Hi! What shall we read?"), ("child", "Dinosaurs!"), ("assistant", "Which one?")]
        ):
            session.add(
                models.Message(conversation_id=conv.id, seq=seq, role=role, text=text, status="complete")
            )
        session.commit()
        rows = export_marked(session, [conv.id, conv.id, "no-such-id"], age=6)
    assert len(rows) == 1
    assert [t["role"] for t in rows[0]["turns"]] == ["persona", "child", "persona"]
    assert rows[0]["persona"] == "reading-buddy" and rows[0]["age"] == 6
