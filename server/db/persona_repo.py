"""Queries for versioned personas. Flush, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import PersonaRecord, PersonaVersion, User


def author_label(user: User | None, fallback: str) -> str:
    return f"{user.display_name} <{user.email}>" if user is not None else fallback


def get_record(session: Session, persona_id: str) -> PersonaRecord | None:
    return session.get(PersonaRecord, persona_id)


def list_records(session: Session) -> list[PersonaRecord]:
    return list(session.scalars(select(PersonaRecord).order_by(PersonaRecord.created_at, PersonaRecord.id)))


def get_version(session: Session, persona_id: str, version: int) -> PersonaVersion | None:
    return session.get(PersonaVersion, (persona_id, version))


def versions_of(session: Session, persona_id: str) -> list[PersonaVersion]:
    stmt = select(PersonaVersion).where(PersonaVersion.persona_id == persona_id).order_by(PersonaVersion.version.desc())
    return list(session.scalars(stmt))


def add_version(
    session: Session, persona_id: str, data: dict, *, author: User | None, label: str, note: str, now: datetime
) -> PersonaVersion:
    """Append a version and make it current (a new persona starts at version 1). The record row is
    locked first, so two educators saving at once get versions n+1 and n+2, never the same number."""
    record = session.get(PersonaRecord, persona_id, with_for_update=True)
    if record is None:
        record = PersonaRecord(id=persona_id, current_version=0, created_at=now, updated_at=now)
        session.add(record)
        session.flush()
    latest = session.scalar(
        select(PersonaVersion.version).where(PersonaVersion.persona_id == persona_id).order_by(PersonaVersion.version.desc()).limit(1)
    ) or 0
    version = PersonaVersion(
        persona_id=persona_id, version=latest + 1, data=data, author_id=author.id if author else None,
        author_label=label[:300], note=note[:300], created_at=now,
    )
    session.add(version)
    record.current_version = version.version
    record.updated_at = now
    session.flush()
    return version
