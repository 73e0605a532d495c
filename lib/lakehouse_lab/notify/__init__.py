"""Notifications through real protocols to receivers on localhost.

Receivers (for the lab to deliver to, and for notebooks to show): :class:`SmtpReceiver` (``inbox``) and
:class:`WebhookReceiver` (``deliveries``). Senders: :func:`send_email` (SMTP), :func:`send_webhook` (HTTP POST of
JSON) with :func:`slack_payload` / :func:`pagerduty_payload` shapes.

Jobs name webhook destinations by id (``{"id": "team-slack"}``) as in Databricks; register each id with
:func:`register_destination`. Email goes to the SMTP server in ``$LAKEHOUSE_LAB_SMTP`` (``host:port``) or, by
default, to the process's own local inbox (:func:`local_inbox`).

>>> from lakehouse_lab import notify
>>> hooks = notify.local_webhooks()
>>> notify.register_destination("team-slack", hooks.url("/slack"), kind="slack")
>>> notify.deliver_webhook("team-slack", "Run 12 failed", details={"run_id": 12})
200
>>> hooks.wait_for(1)[-1].body["text"]
'Run 12 failed'
"""
from __future__ import annotations

import os
import threading

from .smtp import Mail, SmtpReceiver, send_email
from .webhook import Delivery, WebhookReceiver, pagerduty_payload, send_webhook, slack_payload

__all__ = ["SmtpReceiver", "WebhookReceiver", "Mail", "Delivery", "send_email", "send_webhook", "slack_payload",
           "pagerduty_payload", "local_inbox", "local_webhooks", "register_destination", "destinations",
           "deliver_email", "deliver_webhook"]

_lock = threading.Lock()
_local: dict[str, object] = {}
_destinations: dict[str, tuple[str, str]] = {}


def local_inbox() -> SmtpReceiver:
    """The process's local SMTP receiver (started on first call)."""
    with _lock:
        if "smtp" not in _local:
            _local["smtp"] = SmtpReceiver().start()
        return _local["smtp"]


def local_webhooks() -> WebhookReceiver:
    """The process's local webhook receiver (started on first call)."""
    with _lock:
        if "http" not in _local:
            _local["http"] = WebhookReceiver().start()
        return _local["http"]


def register_destination(destination_id: str, url: str, kind: str = "generic") -> None:
    """Name a webhook URL; ``kind`` is ``slack``, ``pagerduty`` or ``generic`` (the JSON as given)."""
    if kind not in {"slack", "pagerduty", "generic"}:
        raise ValueError(f"destination {destination_id!r}: kind must be slack, pagerduty or generic, not {kind!r}")
    _destinations[destination_id] = (url, kind)


def destinations() -> dict[str, tuple[str, str]]:
    """Registered webhook destinations: id -> (url, kind)."""
    return dict(_destinations)


def deliver_email(to: list[str], subject: str, body: str) -> None:
    """Send through ``$LAKEHOUSE_LAB_SMTP`` (``host:port``) or the local inbox."""
    if os.environ.get("LAKEHOUSE_LAB_SMTP"):
        host, _, port = os.environ["LAKEHOUSE_LAB_SMTP"].rpartition(":")
        send_email(to, subject, body, host=host, port=int(port))
    else:
        inbox = local_inbox()
        send_email(to, subject, body, host=inbox.host, port=inbox.port)


def deliver_webhook(destination_id: str, text: str, details: dict | None = None, severity: str = "error") -> int:
    """Send ``text`` to a registered destination in its kind's shape; returns the HTTP status."""
    if destination_id not in _destinations:
        raise KeyError(f"webhook destination {destination_id!r} is not registered "
                       f"(registered: {', '.join(_destinations) or 'none'}); use notify.register_destination")
    url, kind = _destinations[destination_id]
    if kind == "slack":
        payload = slack_payload(text)
    elif kind == "pagerduty":
        payload = pagerduty_payload(text, severity=severity, custom_details=details,
                                    dedup_key=str((details or {}).get("run_id") or "") or None)
    else:
        payload = {"text": text, **(details or {})}
    return send_webhook(url, payload)
