"""Queries for the parents' pages: conversations with their flags, search, transcript views, alerts.
Every function takes the parent or child it works for; none commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from server.db.models import Alert, Child, Conversation, Flag, Message, TranscriptView, User

SNIPPET_CHARS = 60


@dataclass
class ConversationRow:
    conversation: Conversation
    messages: int
    blocked: int
    categories: list[str] = field(default_factory=list)
    last_at: datetime | None = None
    snippets: list[tuple[str, str, str]] = field(default_factory=list)  # (before, match, after)


def _like(term: str) -> str:
    return "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conversations_of(
    session: Session, child_id: str, *, flagged: bool = False, query: str = "", limit: int = 200
) -> list[ConversationRow]:
    """A child's conversations, newest activity first, with message counts and flags at a glance."""
    stmt = select(Conversation).where(Conversation.child_id == child_id)
    if flagged:
        stmt = stmt.where(select(Flag.id).where(Flag.conversation_id == Conversation.id).exists())
    query = query.strip()
    if query:
        pattern = _like(query)
        stmt = stmt.where(
            select(Message.id)
            .where(
                Message.conversation_id == Conversation.id,
                or_(
                    func.lower(Message.text).like(pattern, escape="\\"),
                    func.lower(Message.withheld_text).like(pattern, escape="\\"),
                ),
            )
            .exists()
        )
    convs = list(session.scalars(stmt.order_by(Conversation.updated_at.desc(), Conversation.created_at.desc()).limit(limit)))
    if not convs:
        return []
    ids = [c.id for c in convs]
    counts = dict(
        session.execute(
            select(Message.conversation_id, func.count()).where(Message.conversation_id.in_(ids)).group_by(Message.conversation_id)
        ).all()
    )
    blocked = dict(
        session.execute(
            select(Message.conversation_id, func.count())
            .where(Message.conversation_id.in_(ids), Message.role == "child", Message.status == "blocked")
            .group_by(Message.conversation_id)
        ).all()
    )
    last = dict(
        session.execute(
            select(Message.conversation_id, func.max(Message.created_at))
            .where(Message.conversation_id.in_(ids))
            .group_by(Message.conversation_id)
        ).all()
    )
    categories: dict[str, list[str]] = {}
    for conv_id, category in session.execute(
        select(Flag.conversation_id, Flag.category).where(Flag.conversation_id.in_(ids)).order_by(Flag.id)
    ):
        seen = categories.setdefault(conv_id, [])
        if category not in seen:
            seen.append(category)
    rows = []
    for c in convs:
        row = ConversationRow(c, counts.get(c.id, 0), blocked.get(c.id, 0), categories.get(c.id, []), last.get(c.id))
        if query:
            row.snippets = _snippets(session, c.id, query)
        rows.append(row)
    return rows


def _snippets(session: Session, conversation_id: str, query: str, most: int = 3) -> list[tuple[str, str, str]]:
    out = []
    needle = query.lower()
    for msg in session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)):
        for text in (msg.text, msg.withheld_text or ""):
            at = text.lower().find(needle)
            if at >= 0:
                start = max(0, at - SNIPPET_CHARS)
                end = at + len(query)
                out.append(
                    (("…" if start else "") + text[start:at], text[at:end], text[end : end + SNIPPET_CHARS] + ("…" if end + SNIPPET_CHARS < len(text) else ""))
                )
                break
        if len(out) >= most:
            break
    return out


def conversation_of_parent(session: Session, parent_id: str, conversation_id: str) -> tuple[Conversation, Child] | None:
    """The conversation and its child, only when the child is this parent's."""
    row = session.execute(
        select(Conversation, Child)
        .join(Child, Conversation.child_id == Child.id)
        .where(Conversation.id == conversation_id, Child.parent_id == parent_id)
    ).first()
    return (row[0], row[1]) if row else None


def record_view(session: Session, conversation_id: str, user: User, action: str, now: datetime) -> None:
    session.add(
        TranscriptView(
            conversation_id=conversation_id, user_id=user.id, user_label=f"{user.display_name} <{user.email}>",
            action=action, created_at=now,
        )
    )
    session.flush()


def views_of(session: Session, conversation_id: str) -> list[TranscriptView]:
    stmt = select(TranscriptView).where(TranscriptView.conversation_id == conversation_id)
    return list(session.scalars(stmt.order_by(TranscriptView.id.desc())))


def flagged_count(session: Session, child_id: str) -> int:
    stmt = (
        select(func.count(func.distinct(Flag.conversation_id)))
        .join(Conversation, Flag.conversation_id == Conversation.id)
        .where(Conversation.child_id == child_id)
    )
    return session.scalar(stmt) or 0


def last_activity(session: Session, child_id: str) -> datetime | None:
    return session.scalar(select(func.max(Conversation.updated_at)).where(Conversation.child_id == child_id))


def delete_conversations(session: Session, child_id: str) -> int:
    """Really delete a child's conversations; messages, flags, views and alerts go with them (ON DELETE
    CASCADE in the schema)."""
    result = session.execute(delete(Conversation).where(Conversation.child_id == child_id))
    return result.rowcount or 0


# -- alerts -------------------------------------------------------------------------------------------
def alert_for_flag(session: Session, conversation: Conversation, flag: Flag) -> Alert | None:
    """A high-severity flag in a child's conversation becomes an alert for the parent."""
    if flag.severity != "high" or conversation.child_id is None:
        return None
    child = session.get(Child, conversation.child_id)
    if child is None:
        return None
    alert = Alert(
        parent_id=child.parent_id, child_id=child.id, conversation_id=conversation.id, flag_id=flag.id,
        message_id=flag.message_id, category=flag.category, severity=flag.severity, created_at=flag.created_at,
    )
    session.add(alert)
    session.flush()
    return alert


@dataclass
class AlertView:
    id: int
    child_name: str
    child_id: str
    conversation_id: str
    message_id: str | None
    category: str
    created_at: datetime
    seen: bool


def alerts_of(session: Session, parent_id: str, *, unseen_only: bool = False, after_id: int = 0, limit: int = 100) -> list[AlertView]:
    stmt = (
        select(Alert, Child.name)
        .join(Child, Alert.child_id == Child.id)
        .where(Alert.parent_id == parent_id, Alert.id > after_id)
    )
    if unseen_only:
        stmt = stmt.where(Alert.seen_at.is_(None))
    rows = session.execute(stmt.order_by(Alert.id.desc()).limit(limit)).all()
    return [
        AlertView(a.id, name, a.child_id, a.conversation_id, a.message_id, a.category, a.created_at, a.seen_at is not None)
        for a, name in rows
    ]


def mark_alerts_seen(
    session: Session, parent_id: str, now: datetime, *, alert_id: int | None = None, conversation_id: str | None = None
) -> int:
    """Mark this parent's unseen alerts seen: one, those of one conversation, or all."""
    stmt = select(Alert).where(Alert.parent_id == parent_id, Alert.seen_at.is_(None))
    if alert_id is not None:
        stmt = stmt.where(Alert.id == alert_id)
    if conversation_id is not None:
        stmt = stmt.where(Alert.conversation_id == conversation_id)
    marked = 0
    for alert in session.scalars(stmt):
        alert.seen_at = now
        marked += 1
    session.flush()
    return marked
