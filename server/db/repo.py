"""Every query kidchat runs. Functions flush but never commit: the caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.db.models import Conversation, Flag, Message, utcnow

SEVERITY_ORDER = {"none": 0, "low": 1, "medium": 2, "high": 3}


def create_conversation(
    session: Session, *, persona_id: str, persona_version: int | None, language: str, model: str,
    child_id: str | None = None,
) -> Conversation:
    conv = Conversation(
        persona_id=persona_id, persona_version=persona_version, language=language, model=model, child_id=child_id
    )
    session.add(conv)
    session.flush()
    return conv


def get_conversation(session: Session, conversation_id: str) -> Conversation | None:
    return session.get(Conversation, conversation_id)


def list_messages(session: Session, conversation_id: str) -> list[Message]:
    stmt = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)
    return list(session.scalars(stmt))


def next_seq(session: Session, conversation_id: str) -> int:
    current = session.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conversation_id))
    return 0 if current is None else current + 1


def add_message(session: Session, conversation_id: str, **fields: object) -> Message:
    msg = Message(conversation_id=conversation_id, seq=next_seq(session, conversation_id), **fields)
    session.add(msg)
    conv = session.get(Conversation, conversation_id)
    if conv is not None:  # "newest first" on the parents' pages means the latest message
        conv.updated_at = utcnow()
    session.flush()
    return msg


def get_message(session: Session, message_id: str) -> Message | None:
    return session.get(Message, message_id)


def raise_flag(
    session: Session, conversation: Conversation, *, message_id: str | None, category: str, severity: str, side: str
) -> Flag:
    flag = Flag(
        conversation_id=conversation.id, message_id=message_id, category=category, severity=severity, side=side
    )
    session.add(flag)
    if SEVERITY_ORDER.get(severity, 0) > SEVERITY_ORDER.get(conversation.max_severity, 0):
        conversation.max_severity = severity
    session.flush()
    return flag


def list_flags(session: Session, conversation_id: str) -> list[Flag]:
    return list(session.scalars(select(Flag).where(Flag.conversation_id == conversation_id).order_by(Flag.id)))


def set_reply_text(session: Session, reply_id: str, text: str) -> None:
    """The checked reply so far, written before it is sent (the row stays 'pending' until the turn ends)."""
    session.execute(update(Message).where(Message.id == reply_id).values(text=text))


def close_pending_replies(
    session: Session, *, conversation_id: str | None = None, keep: tuple[str, ...] = ()
) -> int:
    """Replies left 'pending' become 'interrupted', keeping the text the child saw: at start-up all of them
    (the server stopped or was killed mid-reply), during a turn those of its conversation that no running
    turn is writing (`keep`), left by a turn that could not finish (the database was unreachable)."""
    stmt = update(Message).where(Message.status == "pending")
    if conversation_id is not None:
        stmt = stmt.where(Message.conversation_id == conversation_id)
    if keep:
        stmt = stmt.where(Message.id.not_in(keep))
    result = session.execute(stmt.values(status="interrupted"))
    return result.rowcount or 0
