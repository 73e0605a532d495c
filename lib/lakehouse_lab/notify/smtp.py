"""Email on localhost: an SMTP receiver (aiosmtpd) whose inbox a notebook can show, and an smtplib sender.

>>> inbox = SmtpReceiver().start()
>>> send_email(["team@company.com"], "Run failed", "details", host=inbox.host, port=inbox.port)
>>> inbox.wait_for(1)[0].subject
'Run failed'
>>> inbox.stop()
"""
from __future__ import annotations

import email
import smtplib
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import default as default_policy
from html import escape


@dataclass
class Mail:
    """One received message."""
    sender: str
    recipients: list[str]
    subject: str
    body: str
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class _Handler:
    def __init__(self, inbox: list[Mail], arrived: threading.Condition) -> None:
        self.inbox, self.arrived = inbox, arrived

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        body = message.get_body(preferencelist=("plain", "html"))
        with self.arrived:
            self.inbox.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), str(message["subject"] or ""),
                                   body.get_content() if body is not None else ""))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SmtpReceiver:
    """A local SMTP server; received mail is kept in ``inbox`` (shown as a table in notebooks)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port(host)
        self.inbox: list[Mail] = []
        self._arrived = threading.Condition()
        self._controller = None

    def start(self) -> "SmtpReceiver":
        from aiosmtpd.controller import Controller

        self._controller = Controller(_Handler(self.inbox, self._arrived), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        """Wait until the inbox holds at least ``count`` messages (or the timeout passes); return it."""
        end = time.monotonic() + timeout
        with self._arrived:
            while len(self.inbox) < count and time.monotonic() < end:
                self._arrived.wait(max(end - time.monotonic(), 0))
        return list(self.inbox)

    def to(self, address: str) -> list[Mail]:
        """Messages addressed to ``address``."""
        return [m for m in self.inbox if address in m.recipients]

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{m.received_at:%H:%M:%S}</td><td>{escape(', '.join(m.recipients))}</td>"
                       f"<td>{escape(m.subject)}</td><td><pre style='margin:0'>{escape(m.body[:300])}</pre></td></tr>"
                       for m in self.inbox)
        return (f"<b>Inbox</b> smtp://{self.host}:{self.port} — {len(self.inbox)} message(s)"
                f"<table><tr><th>time</th><th>to</th><th>subject</th><th>body</th></tr>{rows}</table>")


def send_email(to: list[str], subject: str, body: str, *, host: str, port: int,
               sender: str = "lakehouse-lab@localhost") -> None:
    """Send a plain-text email through the SMTP server at ``host:port``."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(to), subject
    message.set_content(body)
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(message)
