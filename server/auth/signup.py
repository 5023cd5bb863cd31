"""Sign-up by e-mail: the same answer for an address that has an account and one that has none.

When kidchat can send e-mail (KIDCHAT_SMTP_HOST), the sign-up form asks only for a name and an address,
and every accepted form gets the same page ("we sent you an e-mail") after sending exactly one e-mail: to a
new address, a link that finishes the account (the password is chosen there); to an address that has an
account, a note saying so, with the login page. Nothing on the page, its status or its timing says which.

The link is a signed, timestamped token (itsdangerous) holding the address and the name, nothing else:
no row is written until the link is opened, so nobody can take an address they cannot read mail for, and
an opened link cannot make a second account (the address is taken by then). Without SMTP, sign-up stays
immediate and "already an account" answers are limited per client address (server/pages/auth.py).
"""

from __future__ import annotations

from email.message import EmailMessage

from itsdangerous import BadSignature, URLSafeTimedSerializer

from server.config import Settings
from server.pages.i18n import Translator

LINK_HOURS = 24
PATH = "/signup/confirm/"


class SignupLinks:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="kidchat-signup")

    def make(self, email: str, display_name: str) -> str:
        return self._serializer.dumps([email.strip().lower(), display_name])

    def read(self, token: str) -> tuple[str, str] | None:
        """(address, name) from a link made in the last LINK_HOURS, else None."""
        if len(token) > 1000:
            return None
        try:
            value = self._serializer.loads(token, max_age=LINK_HOURS * 3600)
        except BadSignature:
            return None
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return value[0], value[1]
        return None


def _bilingual(settings: Settings, to: str, subject_key: str, body_key: str, link: str) -> EmailMessage:
    ko, en = Translator("ko"), Translator("en")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = f"[kidchat] {en(subject_key)} / {ko(subject_key)}"
    message.set_content("\n".join([ko(body_key), link, "", en(body_key), link]))
    return message


def invitation(settings: Settings, to: str, token: str) -> EmailMessage:
    """To a new address: the link that finishes the account."""
    return _bilingual(settings, to, "signup_mail_subject", "signup_mail_new", f"{settings.base_url}{PATH}{token}")


def already_registered(settings: Settings, to: str) -> EmailMessage:
    """To an address that has an account: no link that does anything, only the login page."""
    return _bilingual(settings, to, "signup_mail_subject", "signup_mail_known", f"{settings.base_url}/login")
