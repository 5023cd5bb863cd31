"""Jinja filters for the grown-ups' pages (dates in a time zone, in the interface language)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment

from server.config import Settings


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def localtime_text(value: datetime | None, lang: str, tz: str | None, fallback: str = "UTC") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite returns naive UTC
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone(tz, fallback))
    if lang == "ko":
        return f"{local.year}년 {local.month}월 {local.day}일 {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def install_filters(env: Environment, settings: Settings) -> None:
    def localtime(value: datetime | None, lang: str = "en", tz: str | None = None) -> str:
        return localtime_text(value, lang, tz, settings.default_timezone)

    env.filters["localtime"] = localtime
