"""Retention: transcripts older than each child's retention window are deleted, for real (rows are
deleted with their messages, flags, alerts and view records by ON DELETE CASCADE; SQLite also runs with
secure_delete, so the freed pages are zeroed). `kidchat purge` runs it; so does the server, every
KIDCHAT_PURGE_INTERVAL_MINUTES. Expired sign-ins and old login-failure counts go too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from anyio import to_thread
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from server.db import accounts
from server.db.models import Child, Conversation, Message
from server.db.session import transaction

log = logging.getLogger("kidchat.retention")
FAILURES_KEPT = timedelta(days=1)


@dataclass
class PurgeReport:
    conversations: int = 0
    sessions: int = 0
    login_failures: int = 0


def expired_conversations(session: Session, child: Child, now: datetime) -> list[str]:
    """Conversations of this child with no message inside the retention window."""
    if child.retention_days is None:
        return []
    cutoff = now - timedelta(days=child.retention_days)
    recent = select(Message.id).where(Message.conversation_id == Conversation.id, Message.created_at >= cutoff)
    stmt = select(Conversation.id).where(
        Conversation.child_id == child.id, Conversation.created_at < cutoff, ~recent.exists()
    )
    return list(session.scalars(stmt))


def purge(session: Session, now: datetime, *, dry_run: bool = False) -> PurgeReport:
    report = PurgeReport()
    doomed: list[str] = []
    for child in session.scalars(select(Child).where(Child.retention_days.is_not(None))):
        doomed.extend(expired_conversations(session, child, now))
    report.conversations = len(doomed)
    if dry_run:
        return report
    for start in range(0, len(doomed), 500):
        session.execute(delete(Conversation).where(Conversation.id.in_(doomed[start : start + 500])))
    report.sessions = accounts.delete_expired_sessions(session, now)
    report.login_failures = accounts.prune_failures(session, now - FAILURES_KEPT)
    return report


async def purge_forever(sessions: sessionmaker[Session], clock: Callable[[], datetime], every_minutes: int) -> None:
    """The server's background purge (cancelled at shutdown)."""
    while True:
        try:
            def work() -> PurgeReport:
                with transaction(sessions) as s:
                    return purge(s, clock())

            report = await to_thread.run_sync(work)
            if report.conversations:
                log.info("retention: deleted %d conversations", report.conversations)
        except Exception as exc:  # noqa: BLE001 - keep purging on the next round
            log.error("retention purge failed (%s)", type(exc).__name__)
        await asyncio.sleep(every_minutes * 60)
