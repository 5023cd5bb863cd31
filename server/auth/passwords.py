"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's second recommendation)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()
# Verified against when the e-mail address is unknown, so a failed login takes as long either way.
_DUMMY_HASH = _hasher.hash("kidchat-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash, still spends the time of one verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str, email: str = "") -> str | None:
    """An i18n key naming what is wrong with a new password, or None (NIST 800-63B: length, not rules)."""
    if len(password) < MIN_LENGTH:
        return "err_password_short"
    if len(password) > MAX_LENGTH:
        return "err_password_long"
    if email and password.strip().lower() == email.strip().lower():
        return "err_password_email"
    return None
