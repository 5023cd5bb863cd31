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


class User(Base):
    """A grown-up: a parent (signs up), an educator (made by an admin) or an admin (made by the CLI).
    Children are never users: they have no password and no e-mail address."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    role: Mapped[str] = mapped_column(String(16))  # parent | educator | admin
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    children: Mapped[list[Child]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", passive_deletes=True, order_by="Child.created_at"
    )


class Child(Base):
    """A child profile and the settings its parent chose. The child link's token is stored hashed."""

    __tablename__ = "children"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    parent_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    age: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))  # ko | en
    link_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Settings. allowed_personas None = every persona; limits None = no limit.
    allowed_personas: Mapped[list[str] | None] = mapped_column(JSON)
    daily_limit_minutes: Mapped[int | None] = mapped_column(Integer)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", local to `timezone`
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    parent: Mapped[User] = relationship(back_populates="children")


class AuthSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored here, so a
    database leak does not leak live sessions. kind: adult (user_id set) or child (child_id set)."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    child_id: Mapped[str | None] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """One failed login (or a signup), counted per key ("email:...", "ip:...") for rate limiting."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """A key for `POST /api/moderate`, issued by an admin (`kidchat apikey create NAME` or /admin). The key
    is shown once; only its SHA-256 is stored (like session tokens), with its first characters to tell keys
    apart. A revoked key keeps its row, so the admin page can say when it was revoked."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    child_id: Mapped[str | None] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    persona_id: Mapped[str] = mapped_column(String(64))
    persona_version: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    model: Mapped[str] = mapped_column(String(200))
    # Highest severity raised by the safety stage in this conversation ("none" .. "high").
    max_severity: Mapped[str] = mapped_column(String(16), default="none")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # Marked by a parent as a good example for training (server/db/marks.py). The mark covers the turns the
    # parent saw, up to message `marked_good_seq`; turns added later are not part of it.
    marked_good_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    marked_good_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    marked_good_seq: Mapped[int | None] = mapped_column(Integer)

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


class TranscriptView(Base):
    """Every time a grown-up opened or exported a transcript: who, when, how. Parents see this record."""

    __tablename__ = "transcript_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_label: Mapped[str] = mapped_column(String(300))  # name and e-mail at the time, kept if the user goes
    action: Mapped[str] = mapped_column(String(16))  # view | print | json
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Alert(Base):
    """A high-severity flag, for the parent: shown on their pages until seen, e-mailed when SMTP is set."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    child_id: Mapped[str] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id", ondelete="CASCADE"))
    message_id: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PersonaRecord(Base):
    """A persona's identity and which of its versions new conversations use."""

    __tablename__ = "personas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PersonaVersion(Base):
    """One saved version of a persona, never changed afterwards. `data` is the validated Persona as JSON;
    a rollback is a new version with an old version's data."""

    __tablename__ = "persona_versions"

    persona_id: Mapped[str] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
