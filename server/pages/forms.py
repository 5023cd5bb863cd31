"""Validation of the parents' forms. Errors map a field name to (i18n key, values), shown next to it."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NAME_MAX = 60
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Errors = dict[str, tuple[str, dict]]


def valid_timezone(name: str) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def child_form_errors(values: dict[str, str]) -> Errors:
    errors: Errors = {}
    if not values.get("name") or len(values["name"]) > NAME_MAX:
        errors["name"] = ("err_name", {"max": NAME_MAX})
    try:
        age = int(values.get("age", ""))
        if not 3 <= age <= 14:
            raise ValueError
    except ValueError:
        errors["age"] = ("err_age", {})
    if values.get("language") not in ("ko", "en"):
        errors["language"] = ("err_choice", {})
    if values.get("timezone") and not valid_timezone(values["timezone"]):
        errors["timezone"] = ("err_timezone", {})
    return errors


def optional_int(raw: str, low: int, high: int) -> int | None:
    """'' -> None; a whole number in [low, high] -> it; anything else raises ValueError."""
    raw = raw.strip()
    if not raw:
        return None
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(raw)
    return value


def settings_form_errors(values: dict[str, str], persona_ids: list[str], chosen: list[str]) -> Errors:
    errors = child_form_errors(values)
    try:
        optional_int(values.get("daily_limit_minutes", ""), 0, 24 * 60)
    except ValueError:
        errors["daily_limit_minutes"] = ("err_minutes", {})
    try:
        optional_int(values.get("retention_days", ""), 1, 3650)
    except ValueError:
        errors["retention_days"] = ("err_days", {})
    start, end = values.get("quiet_start", ""), values.get("quiet_end", "")
    for key, value in (("quiet_start", start), ("quiet_end", end)):
        if value and not TIME_RE.match(value):
            errors[key] = ("err_time", {})
    if bool(start) != bool(end) and "quiet_start" not in errors and "quiet_end" not in errors:
        errors["quiet_end" if start else "quiet_start"] = ("err_quiet_both", {})
    if start and start == end:
        errors["quiet_end"] = ("err_quiet_same", {})
    if any(p not in persona_ids for p in chosen):
        errors["allowed_personas"] = ("err_choice", {})
    return errors
