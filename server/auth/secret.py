"""The secret key that signs CSRF tokens: from KIDCHAT_SECRET_KEY, or generated once into data_dir.

Production (`KIDCHAT_ENV=production`) refuses a missing, short, well-known or guessable key (zxcvbn's
estimate below about 100 bits: repeated letters, keyboard runs, sequences, words), so a deployment
never runs on a key that someone else knows. In dev and test a fresh machine still starts: a random key
is written to `data_dir/secret_key` (mode 0600) on first run and read back afterwards.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat

from server.config import Settings
from server.db.session import private_dir

log = logging.getLogger("kidchat.auth")

MIN_KEY_LENGTH = 32
# zxcvbn's estimate of the guesses an attacker needs, as log10: 30 is about 100 bits. A random
# token_urlsafe(24) (32 characters) scores 32; 36 identical letters score 2.6, "abc...xyz0123456789" 4.3.
MIN_KEY_GUESSES_LOG10 = 30
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; the first 72 characters bound the estimate
WELL_KNOWN = {"", "change-me", "changeme", "secret", "dev", "development", "kidchat", "insecure", "test"}


class SecretKeyError(RuntimeError):
    """The configured secret key cannot be used; the message says how to fix it."""


def key_is_weak(key: str) -> bool:
    """Too short, a placeholder, or guessable (repeats, sequences, words: zxcvbn's pattern matching)."""
    from zxcvbn import zxcvbn

    if key.strip().lower() in WELL_KNOWN or len(key) < MIN_KEY_LENGTH:
        return True
    return zxcvbn(key[:ZXCVBN_MAX_LENGTH])["guesses_log10"] < MIN_KEY_GUESSES_LOG10


def resolve_secret_key(settings: Settings) -> str:
    key = settings.secret_key.get_secret_value()
    weak = key_is_weak(key)
    if settings.env == "production":
        if weak:
            raise SecretKeyError(
                "KIDCHAT_SECRET_KEY must be set to a random value of at least 32 characters in production, "
                "with no repeats, sequences or words "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
            )
        return key
    if key and not weak:
        return key
    if key:
        log.warning("KIDCHAT_SECRET_KEY is short or well known; allowed only because KIDCHAT_ENV=%s", settings.env)
        return key
    return _key_file(settings)


def _key_file(settings: Settings) -> str:
    path = settings.data_dir / "secret_key"
    if path.exists():
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
    private_dir(path.parent)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    log.info("generated a secret key into %s (set KIDCHAT_SECRET_KEY in production)", path)
    return key
