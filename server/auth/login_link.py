"""The e-mailed sign-in link: how the owner gets in from a new browser while someone guesses elsewhere.

Known devices (server/auth/devices.py) keep the owner's own browsers out of the lockout; a browser the
account never used is locked with the attacker. When kidchat can send e-mail, the login page offers a
sign-in link instead: one e-mail to the address whatever it is (a link to an account's address, a note
to any other, so the answer and its timing do not tell which), valid LINK_MINUTES, limited per address
and per client address.

The token is signed and timestamped (itsdangerous) and holds the address and the account's last login
time. Using it logs in, which moves that time, so a link works once and every older link dies with it
(as Django's password-reset tokens do with the password hash): no table of issued links. The link opens
a page with a button, so a mail scanner that fetches links does not spend it.
"""

from __future__ import annotations

from datetime import UTC
from email.message import EmailMessage

from itsdangerous import BadSignature, URLSafeTimedSerializer

from server.config import Settings
from server.db.models import User
from server.pages.i18n import Translator

LINK_MINUTES = 15
PATH = "/login/link/"
PER_ADDRESS_PER_HOUR = 3
PER_CLIENT_PER_HOUR = 10


def _state(user: User) -> str:
    """What a use of the link changes: the last login (SQLite hands back naive UTC datetimes)."""
    last = user.last_login_at
    if last is None:
        return ""
    return (last if last.tzinfo else last.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


class LoginLinks:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="kidchat-login-link")

    def make(self, user: User) -> str:
        return self._serializer.dumps([user.email, _state(user)])

    def address(self, token: str) -> str | None:
        """The address a link younger than LINK_MINUTES was made for (not yet checked against the account)."""
        value = self._load(token)
        return value[0] if value else None

    def valid_for(self, token: str, user: User | None) -> bool:
        """True when the link was made for this account and nobody logged in to it since."""
        value = self._load(token)
        return user is not None and value is not None and value == [user.email, _state(user)]

    def _load(self, token: str) -> list[str] | None:
        if len(token) > 1000:
            return None
        try:
            value = self._serializer.loads(token, max_age=LINK_MINUTES * 60)
        except BadSignature:
            return None
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return value
        return None


def _bilingual(settings: Settings, to: str, body_key: str, link: str) -> EmailMessage:
    ko, en = Translator("ko"), Translator("en")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = f"[kidchat] {en('login_link_mail_subject')} / {ko('login_link_mail_subject')}"
    message.set_content("\n".join([ko(body_key), link, "", en(body_key), link]))
    return message


def sign_in_mail(settings: Settings, to: str, token: str) -> EmailMessage:
    return _bilingual(settings, to, "login_link_mail", f"{settings.base_url}{PATH}{token}")


def no_account_mail(settings: Settings, to: str) -> EmailMessage:
    return _bilingual(settings, to, "login_link_mail_none", f"{settings.base_url}/signup")
