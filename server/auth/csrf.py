"""CSRF protection: a signed double-submit token.

Every browser gets a random `kidchat_csrf` cookie (HttpOnly). Forms carry `csrf_token`, the cookie's
value signed with the secret key (itsdangerous, timestamped); scripts send it as `X-CSRF-Token`. A
forged cross-site request has neither the cookie's value nor the key, so it cannot make a token that
verifies. Every unsafe method on the adult routers goes through `verify`.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "kidchat_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
MAX_AGE_S = 24 * 3600


class CsrfSigner:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="kidchat-csrf")

    @staticmethod
    def new_cookie_value() -> str:
        return secrets.token_urlsafe(24)

    def token_for(self, cookie_value: str) -> str:
        return self._serializer.dumps(cookie_value)

    def verify(self, cookie_value: str | None, token: str | None) -> bool:
        if not cookie_value or not token:
            return False
        try:
            signed = self._serializer.loads(token, max_age=MAX_AGE_S)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, cookie_value)
