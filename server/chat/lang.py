"""Which language a child wrote in: Hangul vs Latin letters is all kidchat needs (ko or en)."""

from __future__ import annotations


def _is_hangul(ch: str) -> bool:
    code = ord(ch)
    return 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def detect_language(text: str) -> str | None:
    """'ko' or 'en', or None when the text has no letters to tell by (e.g. only emoji or digits)."""
    hangul = sum(1 for ch in text if _is_hangul(ch))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if hangul == 0 and latin == 0:
        return None
    return "ko" if hangul >= latin * 0.5 else "en"
