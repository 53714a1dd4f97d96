"""Outgoing mail: queued in the ``email_outbox`` table inside the transaction that
decides to send it, delivered later by a ``Mailer`` (logged in development,
SMTP when configured). A crash between the two loses nothing."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenancy.db.base import utcnow
from tenancy.db.engine import Database
from tenancy.models import EmailOutbox

log = logging.getLogger("cap.mail")
MAX_DELIVERY_ATTEMPTS = 5
DELIVERY_BATCH = 50


def enqueue(session: AsyncSession, *, to: str, subject: str, body: str) -> EmailOutbox:
    mail = EmailOutbox(to_addr=to, subject=subject, body=body)
    session.add(mail)
    return mail


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class LogMailer:
    """Development delivery: the mail goes to the log (and so to the console)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))
        log.info("mail to %s: %s\n%s", to, subject, body)


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    sender: str = "cap@localhost"
    starttls: bool = True
    timeout: float = 10.0


class SmtpMailer:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, to: str, subject: str, body: str) -> None:
        await asyncio.to_thread(self._send, to, subject, body)

    def _send(self, to: str, subject: str, body: str) -> None:
        cfg = self.config
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = cfg.sender, to, subject
        message.set_content(body)
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
            smtp.send_message(message)


async def deliver_pending(db: Database, mailer: Mailer, *, batch: int = DELIVERY_BATCH) -> int:
    """Sends up to ``batch`` queued mails; returns how many went out."""
    async with db.global_() as session:
        pending = (
            await session.scalars(
                select(EmailOutbox)
                .where(EmailOutbox.sent_at.is_(None))
                .where(EmailOutbox.attempts < MAX_DELIVERY_ATTEMPTS)
                .order_by(EmailOutbox.created_at)
                .limit(batch)
            )
        ).all()
        sent = 0
        for mail in pending:
            mail.attempts += 1
            try:
                await mailer.send(mail.to_addr, mail.subject, mail.body)
            except (OSError, smtplib.SMTPException) as exc:
                mail.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                continue
            mail.sent_at = utcnow()
            sent += 1
        return sent
