"""Known devices: how a parent stays able to log in while someone guesses their password elsewhere.

OWASP's "device cookies" scheme. A browser that logged in to an account gets a signed `kidchat_device`
cookie naming that account (a digest of its address) and a random device id. At the next login for that
address, a valid device cookie means the failures that count are that device's own
(`device:<id>`); a browser without one is counted per address (`email:...`) and per client address
(`ip:...`). Guesses from anywhere else can lock out only browsers the account never used: the owner's own
devices keep logging in, and a device that itself fails too often is locked like any other key.
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

from server.config import Settings

COOKIE = "kidchat_device"


def _digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:32]


class DeviceCookies:
    def __init__(self, secret_key: str, max_age_days: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="kidchat-device")
        self.max_age_s = max_age_days * 86400

    def issue(self, email: str) -> str:
        """A new cookie value for a browser that just logged in to `email`'s account."""
        return self._serializer.dumps([_digest(email), secrets.token_urlsafe(16)])

    def device_id(self, cookie: str | None, email: str) -> str | None:
        """The device id when `cookie` is a valid device cookie issued for `email`, else None."""
        if not cookie or len(cookie) > 200:
            return None
        try:
            value = self._serializer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            return None
        digest, device = value
        return device if secrets.compare_digest(digest, _digest(email)) else None


def throttle_keys(settings: Settings, email: str, client: str, device: str | None) -> list[tuple[str, int]]:
    """The failure counters a login attempt is checked against and adds to, with their limits; the first
    is the one a successful login clears."""
    if device is not None:
        return [(f"device:{device}", settings.login_max_failures)]
    return [
        (f"email:{email.strip().lower()}", settings.login_max_failures),
        (f"ip:{client}", settings.login_max_failures_per_ip),
    ]
