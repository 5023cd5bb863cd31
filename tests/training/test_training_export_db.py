"""Conversations marked good -> persona dialogues: only marked ones, only what the child saw and the
parent vouched for, valid turns ending with the persona, the child's age from the profile; and the
`kidchat train export-db` command. The database tests run on SQLite and, with KIDCHAT_TEST_DATABASE_URL,
on PostgreSQL."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace as Row

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from server.db import accounts, marks, repo
from server.db.session import make_engine, make_sessionmaker, transaction
from tests.factories import make_family
from training.cli import train
from training.export_db import export_marked, to_dialogue
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


# -- from the migrated database ------------------------------------------------------------------------
CHAT = [("assistant", "Hi! What shall we read?"), ("child", "Dinosaurs!"), ("assistant", "Which one do you like?")]


def conversation(sessions, family, turns=CHAT, *, persona="reading-buddy", language="en",
                 marked_at: datetime | None = None) -> str:
    """A stored conversation of the family's child; marked by the parent (up to its last turn) when
    `marked_at` is given. A turn is (role, text) or (role, text, message fields)."""
    with transaction(sessions) as s:
        conv = repo.create_conversation(
            s, persona_id=persona, persona_version=1, language=language, model="test", child_id=family.child_id
        )
        for role, text, *fields in turns:
            repo.add_message(s, conv.id, role=role, text=text, **{"status": "complete", **(fields[0] if fields else {})})
        if marked_at is not None:
            assert marks.mark_good(s, conv, accounts.get_user(s, family.parent_id), 10_000, marked_at)
        return conv.id


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def export(database_url, **kwargs):
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as s:
            return export_marked(s, **kwargs)
    finally:
        engine.dispose()


def test_only_marked_conversations_are_exported(sessions, database_url):
    family = make_family(sessions)
    marked = conversation(sessions, family, marked_at=datetime(2026, 1, 5, tzinfo=UTC))
    conversation(sessions, family)  # not marked
    conversation(sessions, family, CHAT[:1], marked_at=datetime(2026, 1, 6, tzinfo=UTC))  # nothing trainable
    other_family = make_family(sessions)
    theirs = conversation(sessions, other_family, marked_at=datetime(2026, 1, 4, tzinfo=UTC))
    # Marked, then unmarked.
    gone = conversation(sessions, family, marked_at=datetime(2026, 1, 7, tzinfo=UTC))
    with transaction(sessions) as s:
        assert marks.unmark_good(s, repo.get_conversation(s, gone))
    rows = export(database_url)
    assert [r["id"] for r in rows] == [f"db-{theirs}", f"db-{marked}"]  # oldest mark first
    assert [t["role"] for t in rows[1]["turns"]] == ["persona", "child", "persona"]
    assert rows[1]["turns"][1]["text"] == "Dinosaurs!"
    assert rows[1]["persona"] == "reading-buddy" and rows[1]["language"] == "en"
    for row in rows:
        Dialogue.model_validate(row)


def test_the_childs_age_comes_from_the_profile_clamped_to_5_to_10(sessions, database_url):
    ids = {}
    for day, age in enumerate((3, 8, 13), start=1):
        family = make_family(sessions, age=age)
        ids[conversation(sessions, family, marked_at=datetime(2026, 2, day, tzinfo=UTC))] = age
    assert {r["id"]: r["age"] for r in export(database_url)} == {
        f"db-{cid}": {3: 5, 8: 8, 13: 10}[age] for cid, age in ids.items()
    }


def test_blocked_turns_and_withheld_text_are_left_out(sessions, database_url):
    family = make_family(sessions, age=7)
    blocked_child = {"status": "blocked", "safety_action": "block", "safety_category": "profanity", "safety_side": "child"}
    redirect = {"status": "blocked", "safety_action": "redirect", "safety_category": "profanity", "safety_side": "child"}
    cut_reply = {"safety_action": "block", "safety_category": "dangerous", "safety_side": "assistant",
                 "withheld_text": "how to make a bomb"}
    turns = [
        ("assistant", "소은아, 오늘 학교 어땠어?"),
        ("child", "나쁜말 [masked]", blocked_child),
        ("assistant", "우리 예쁜 말로 이야기하자. 오늘 뭐 했어?", redirect),
        ("child", "그네 탔어"),
        ("assistant", "와, 재밌었겠다! 누구랑 탔어?"),
        ("child", "폭탄 얘기 해줘"),
        ("assistant", "그건", cut_reply),
        ("child", "민지랑 탔어"),
        ("assistant", "민지랑 타서 더 신났겠네! 다음엔 뭐 하고 놀고 싶어?"),
        ("child", "모르겠어", {"status": "complete"}),
        ("assistant", "반쯤 쓰다", {"status": "interrupted"}),
    ]
    cid = conversation(sessions, family, turns, persona="soeun-mom", language="ko",
                       marked_at=datetime(2026, 3, 1, tzinfo=UTC))
    [row] = export(database_url)
    assert row["id"] == f"db-{cid}" and row["persona"] == "soeun-mom" and row["language"] == "ko"
    assert [t["text"] for t in row["turns"]] == [
        "소은아, 오늘 학교 어땠어?",
        "그네 탔어",
        "와, 재밌었겠다! 누구랑 탔어?",
        "폭탄 얘기 해줘\n민지랑 탔어",
        "민지랑 타서 더 신났겠네! 다음엔 뭐 하고 놀고 싶어?",
    ]
    text = json.dumps(row, ensure_ascii=False)
    assert "나쁜말" not in text and "예쁜 말로" not in text and "bomb" not in text and "반쯤" not in text


def test_turns_after_the_mark_are_not_exported(sessions, database_url):
    family = make_family(sessions)
    cid = conversation(sessions, family, marked_at=datetime(2026, 4, 1, tzinfo=UTC))
    with transaction(sessions) as s:
        repo.add_message(s, cid, role="child", text="My address is ...", status="complete")
        repo.add_message(s, cid, role="assistant", text="Let's keep that private!", status="complete")
    [row] = export(database_url)
    assert [t["text"] for t in row["turns"]] == [text for _role, text in CHAT]
    with transaction(sessions) as s:  # the parent marks again after reading the new turns
        conv = repo.get_conversation(s, cid)
        assert marks.mark_good(s, conv, accounts.get_user(s, family.parent_id), 4, datetime(2026, 4, 2, tzinfo=UTC))
    [row] = export(database_url)
    assert row["turns"][-1]["text"] == "Let's keep that private!"


def test_narrowed_to_ids_and_to_marks_since(sessions, database_url):
    family = make_family(sessions)
    january = conversation(sessions, family, marked_at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
    february = conversation(sessions, family, marked_at=datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    unmarked = conversation(sessions, family)
    assert [r["id"] for r in export(database_url, conversation_ids=[february, february, unmarked, "nope"])] == [
        f"db-{february}"
    ]
    assert [r["id"] for r in export(database_url, since=datetime(2026, 2, 1, tzinfo=UTC))] == [f"db-{february}"]
    seoul = datetime.fromisoformat("2026-02-01T08:00:00+09:00")  # 2026-01-31 23:00 UTC
    assert [r["id"] for r in export(database_url, since=seoul)] == [f"db-{january}", f"db-{february}"]
    assert export(database_url, since=datetime(2026, 2, 1, tzinfo=UTC), conversation_ids=[january]) == []


def test_export_db_command_writes_every_marked_conversation(sessions, database_url, tmp_path, monkeypatch):
    family = make_family(sessions, age=6)
    first = conversation(sessions, family, marked_at=datetime(2026, 5, 1, tzinfo=UTC))
    second = conversation(sessions, family, marked_at=datetime(2026, 5, 3, tzinfo=UTC))
    conversation(sessions, family)
    monkeypatch.setenv("KIDCHAT_DATABASE_URL", database_url)
    monkeypatch.setenv("KIDCHAT_DATA_DIR", str(tmp_path))
    out = tmp_path / "exports" / "marked.jsonl"
    runner = CliRunner()

    result = runner.invoke(train, ["export-db", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"2 marked conversation(s) exported to {out}"
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in lines] == [f"db-{first}", f"db-{second}"] and {r["age"] for r in lines} == {6}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # children's words: readable by the owner only
    assert "Dinosaurs" not in result.output

    result = runner.invoke(train, ["export-db", "--out", str(out), "--conversation", second, "--conversation", "nope"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"1 of 2 requested marked conversation(s) exported to {out}"
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"db-{second}"]

    result = runner.invoke(train, ["export-db", "--out", str(out), "--since", "2026-05-02"])
    assert result.exit_code == 0 and result.output.startswith("1 marked")
