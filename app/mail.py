"""E-mail copies of notifications, when an SMTP server is configured (SMTP_HOST; off by default).

Copies are queued on the database session and sent only after it commits, so a rolled-back change never
mails anyone. Sending is best effort: a mail server that fails is logged, and the user still has the
notification in the app.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from app.database import on_transaction_end

_KEY = "pending_mail"


def queue(session: Session, to: str, subject: str, body: str) -> None:
    if not to or not has_app_context() or not current_app.config.get("SMTP_HOST"):
        return
    session.info.setdefault(_KEY, []).append((to, subject, body))


def send(messages: list[tuple[str, str, str]]) -> None:
    config = current_app.config
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config.get("SMTP_PORT", 25), timeout=10) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls()
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD", ""))
            for to, subject, body in messages:
                message = EmailMessage()
                message["From"] = config.get("MAIL_FROM", "sfd@localhost")
                message["To"] = to
                message["Subject"] = subject
                message.set_content(body)
                smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        current_app.logger.exception("e-mail copies could not be sent")


def _send_committed(messages) -> None:
    if messages and has_app_context():
        send(messages)


# Sent once the transaction commits; a transaction that ends without committing mails nothing.
on_transaction_end(_KEY, committed=_send_committed)
