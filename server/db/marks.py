"""Conversations a parent marked as a good example for training: set, clear, and the selection that the
training export (``training/export_db.py``) reads.

A mark covers the turns the parent saw when marking, up to message ``marked_good_seq``; turns the child
adds later are not part of it until the parent marks again. Marking is not chat activity: it leaves
``updated_at`` (the last activity, which orders the parents' list) as it was. None of these commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from server.db.models import Child, Conversation, Message, User


def last_shown_seq(messages: Sequence[Message]) -> int | None:
    """The seq of the last message a transcript page shows as settled (a reply still being written is
    not: what it will say has not been seen). None for an empty conversation."""
    settled = [m.seq for m in messages if m.status != "pending"]
    return max(settled) if settled else None


def _keep_activity_time(conv: Conversation) -> None:
    # Naming updated_at in the UPDATE keeps its onupdate default from firing.
    flag_modified(conv, "updated_at")


def mark_good(session: Session, conv: Conversation, user: User, through_seq: int, now: datetime) -> bool:
    """Mark (or mark again, to take in newer turns) up to message `through_seq`, clamped to the last
    message there is. Returns whether anything changed."""
    last = session.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conv.id))
    through = min(through_seq, last if last is not None else -1)
    if through < 0:
        return False
    if conv.marked_good_at is not None and conv.marked_good_seq == through:
        return False
    conv.marked_good_at = now
    conv.marked_good_by = user.id
    conv.marked_good_seq = through
    _keep_activity_time(conv)
    session.flush()
    return True


def unmark_good(session: Session, conv: Conversation) -> bool:
    """Clear the mark. Returns whether there was one."""
    if conv.marked_good_at is None:
        return False
    conv.marked_good_at = None
    conv.marked_good_by = None
    conv.marked_good_seq = None
    _keep_activity_time(conv)
    session.flush()
    return True


def newer_than_mark(conv: Conversation, messages: Sequence[Message]) -> int:
    """How many messages came after the mark (0 when not marked)."""
    if conv.marked_good_seq is None:
        return 0
    return sum(1 for m in messages if m.seq > conv.marked_good_seq)


def marked_conversations(
    session: Session, *, since: datetime | None = None, conversation_ids: Iterable[str] | None = None
) -> list[tuple[Conversation, Child]]:
    """Marked conversations of a child profile with that child, oldest mark first; `since` keeps marks
    made at or after it, `conversation_ids` narrows to those ids (unmarked ones among them are left out)."""
    stmt = (
        select(Conversation, Child)
        .join(Child, Conversation.child_id == Child.id)
        .where(Conversation.marked_good_at.is_not(None), Conversation.marked_good_seq.is_not(None))
    )
    if since is not None:
        # In UTC: SQLite keeps the UTC wall-clock fields and compares them as text.
        since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        stmt = stmt.where(Conversation.marked_good_at >= since)
    if conversation_ids is not None:
        stmt = stmt.where(Conversation.id.in_(list(dict.fromkeys(conversation_ids))))
    rows = session.execute(stmt.order_by(Conversation.marked_good_at, Conversation.id)).all()
    return [(conv, child) for conv, child in rows]


def marked_messages(session: Session, conv: Conversation) -> list[Message]:
    """The messages the mark covers, in order."""
    if conv.marked_good_seq is None:
        return []
    stmt = select(Message).where(Message.conversation_id == conv.id, Message.seq <= conv.marked_good_seq)
    return list(session.scalars(stmt.order_by(Message.seq)))
