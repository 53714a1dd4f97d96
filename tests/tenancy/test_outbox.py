"""Mail goes through the outbox: queued in the transaction, delivered later,
retried on failure up to a bound."""

from __future__ import annotations

import socket

from sqlalchemy import select

from tenancy import outbox
from tenancy.db.engine import Database
from tenancy.models import EmailOutbox
from tenancy.outbox import MAX_DELIVERY_ATTEMPTS, LogMailer, SmtpConfig, SmtpMailer


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_outbox_delivery_and_retries(db: Database) -> None:
    async with db.global_() as s:
        old = await s.scalars(select(EmailOutbox).where(EmailOutbox.sent_at.is_(None)))
        for earlier in old:  # earlier tests' mail: out of the way
            earlier.sent_at = earlier.created_at
        outbox.enqueue(s, to="a@example.com", subject="Hi", body="token=capm_1")
    mailer = LogMailer()
    assert await outbox.deliver_pending(db, mailer) == 1
    assert mailer.sent == [("a@example.com", "Hi", "token=capm_1")]
    assert await outbox.deliver_pending(db, mailer) == 0  # delivered once

    async with db.global_() as s:
        outbox.enqueue(s, to="b@example.com", subject="Hi", body="x")
    broken = SmtpMailer(SmtpConfig(host="127.0.0.1", port=_closed_port(), timeout=1.0))
    for _ in range(MAX_DELIVERY_ATTEMPTS + 2):
        assert await outbox.deliver_pending(db, broken) == 0
    async with db.global_() as s:
        mail = await s.scalar(select(EmailOutbox).where(EmailOutbox.to_addr == "b@example.com"))
    assert mail is not None and mail.sent_at is None
    assert mail.attempts == MAX_DELIVERY_ATTEMPTS and "Error" in (mail.last_error or "")
