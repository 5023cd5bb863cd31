"""The secret key that signs CSRF tokens: from KIDCHAT_SECRET_KEY, or generated once into data_dir.

Production (`KIDCHAT_ENV=production`) refuses a missing, short or well-known key, so a deployment
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
WELL_KNOWN = {"", "change-me", "changeme", "secret", "dev", "development", "kidchat", "insecure", "test"}


class SecretKeyError(RuntimeError):
    """The configured secret key cannot be used; the message says how to fix it."""


def resolve_secret_key(settings: Settings) -> str:
    key = settings.secret_key.get_secret_value()
    weak = key.strip().lower() in WELL_KNOWN or len(key) < MIN_KEY_LENGTH
    if settings.env == "production":
        if weak:
            raise SecretKeyError(
                "KIDCHAT_SECRET_KEY must be set to a random value of at least 32 characters in production "
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
