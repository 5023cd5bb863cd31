"""The alert notifier: e-mails a parent when a high-severity alert is raised (off unless
KIDCHAT_SMTP_HOST is set). It runs on its own worker thread, after the turn has committed, so a slow
mail server never delays a child's reply. The e-mail names the child, the kind of alert and a link;
it never quotes the child's words (those stay in the access-controlled database)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.db.models import Alert, Child, User
from server.db.session import transaction
from server.pages.i18n import Translator

log = logging.getLogger("kidchat.notify")


class EmailNotifier:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        smtp_factory: Callable[..., smtplib.SMTP] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.smtp_factory = smtp_factory or (smtplib.SMTP_SSL if settings.smtp_security == "tls" else smtplib.SMTP)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kidchat-notify")

    def submit(self, alert_ids: list[int]) -> Future[int]:
        """The ChatService's hook: queue the e-mails and return at once."""
        return self._worker.submit(self.send, list(alert_ids))

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def send(self, alert_ids: list[int]) -> int:
        sent = 0
        for alert_id in alert_ids:
            try:
                sent += self._send_one(alert_id)
            except (OSError, smtplib.SMTPException) as exc:
                log.error("alert %s: e-mail failed (%s)", alert_id, type(exc).__name__)
        return sent

    def _send_one(self, alert_id: int) -> int:
        with transaction(self.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None or alert.notified_at is not None:
                return 0
            parent = s.get(User, alert.parent_id)
            child = s.get(Child, alert.child_id)
            if parent is None or child is None:
                return 0
            message = self.compose(parent.email, child.name, alert.category, alert.conversation_id)
            self.deliver(message)
            alert.notified_at = self.clock()
        return 1

    def compose(self, to: str, child_name: str, category: str, conversation_id: str) -> EmailMessage:
        ko, en = Translator("ko"), Translator("en")
        link = f"{self.settings.base_url}/parent/conversations/{conversation_id}"
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = f"[kidchat] {en('email_subject', child=child_name)} / {ko('email_subject', child=child_name)}"
        message.set_content(
            "\n".join(
                [
                    ko("email_body", child=child_name, category=ko(f"cat_{category}")),
                    link,
                    "",
                    en("email_body", child=child_name, category=en(f"cat_{category}")),
                    link,
                ]
            )
        )
        return message

    def deliver(self, message: EmailMessage) -> None:
        """Send one message now (on the calling thread)."""
        s = self.settings
        with self.smtp_factory(s.smtp_host, s.smtp_port, timeout=15) as smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def build_notifier(settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> EmailNotifier | None:
    return EmailNotifier(settings, sessions, clock=clock) if settings.smtp_host else None
