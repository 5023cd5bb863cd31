"""SQLAlchemy 2 models. The schema changes only through Alembic revisions in alembic/versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    """Random, unguessable ids: a conversation id in a URL reveals nothing and can't be enumerated."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    persona_id: Mapped[str] = mapped_column(String(64))
    persona_version: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    model: Mapped[str] = mapped_column(String(200))
    # Highest severity raised by the safety stage in this conversation ("none" .. "high").
    max_severity: Mapped[str] = mapped_column(String(16), default="none")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.seq", cascade="all, delete-orphan"
    )
    flags: Mapped[list[Flag]] = relationship(back_populates="conversation", cascade="all, delete-orphan")


class Message(Base):
    """One turn. For the assistant, `text` is what the child saw (checked sentences, or the persona's
    redirect); `withheld_text` keeps what the safety stage stopped, for the parents' review only."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_seq", "conversation_id", "seq", unique=True),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # child | assistant
    text: Mapped[str] = mapped_column(Text, default="")
    # complete | interrupted | blocked | pending (a reply being generated) | error
    status: Mapped[str] = mapped_column(String(16))
    safety_action: Mapped[str] = mapped_column(String(16), default="allow")
    safety_category: Mapped[str | None] = mapped_column(String(32))
    safety_side: Mapped[str | None] = mapped_column(String(16))  # which side was stopped: child | assistant
    safety_severity: Mapped[str] = mapped_column(String(16), default="none")
    safety_scores: Mapped[dict | None] = mapped_column(JSON)
    withheld_text: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Flag(Base):
    """A safety event the parents should see (e.g. a self-harm disclosure is severity high)."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="flags")
