"""A child's chat time: quiet hours and the daily limit, in the child's time zone.

Time spent chatting is counted from the stored messages of today (local midnight onwards): the gaps
between consecutive messages, each capped at IDLE_CAP_S (a pause longer than that is not chatting),
plus one minute for the first message. It needs no extra bookkeeping and survives restarts; it is an
estimate, generous to the child when replies are slow.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Child, Conversation, Message
from server.pages.filters import zone

IDLE_CAP_S = 120
FIRST_MESSAGE_S = 60


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(local: time, start: str | None, end: str | None) -> bool:
    """Quiet hours [start, end) may span midnight (21:00-07:00)."""
    if not start or not end:
        return False
    a, b = _clock(start), _clock(end)
    now = time(local.hour, local.minute)
    return a <= now < b if a < b else (now >= a or now < b)


def local_day_start(now: datetime, tz: str) -> datetime:
    local = now.astimezone(zone(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def seconds_used_today(session: Session, child: Child, now: datetime) -> int:
    since = local_day_start(now, child.timezone)
    stamps = list(
        session.scalars(
            select(Message.created_at)
            .join(Conversation, Message.conversation_id == Conversation.id)
            .where(Conversation.child_id == child.id, Message.created_at >= since)
            .order_by(Message.created_at)
        )
    )
    if not stamps:
        return 0
    stamps = [s if s.tzinfo else s.replace(tzinfo=UTC) for s in stamps]
    total = FIRST_MESSAGE_S
    for earlier, later in zip(stamps, stamps[1:], strict=False):
        total += min(IDLE_CAP_S, max(0, int((later - earlier).total_seconds())))
    return total


def rest_reason(session: Session, child: Child, now: datetime) -> str | None:
    """'quiet_hours', 'time_up', or None when the child may chat now."""
    if in_quiet_hours(now.astimezone(zone(child.timezone)).time(), child.quiet_start, child.quiet_end):
        return "quiet_hours"
    if child.daily_limit_minutes is not None:
        if seconds_used_today(session, child, now) >= child.daily_limit_minutes * 60:
            return "time_up"
    return None


def minutes_left(session: Session, child: Child, now: datetime) -> int | None:
    if child.daily_limit_minutes is None:
        return None
    left = child.daily_limit_minutes * 60 - seconds_used_today(session, child, now)
    return max(0, left // 60)


