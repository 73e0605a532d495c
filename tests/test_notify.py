"""Local receivers and senders: real SMTP and HTTP on localhost."""
from __future__ import annotations

import pytest

from lakehouse_lab import notify


def test_email_reaches_the_local_smtp_inbox():
    inbox = notify.SmtpReceiver().start()
    try:
        notify.send_email(["data-team@company.com", "ops@company.com"], "Run 7 failed", "task ingest: boom",
                          host=inbox.host, port=inbox.port)
        mail = inbox.wait_for(1)[0]
        assert mail.subject == "Run 7 failed" and "task ingest: boom" in mail.body
        assert set(mail.recipients) == {"data-team@company.com", "ops@company.com"}
        assert inbox.to("ops@company.com") == [mail] and inbox.to("nobody@x") == []
        assert "Run 7 failed" in inbox._repr_html_()
    finally:
        inbox.stop()


def test_webhooks_in_slack_and_pagerduty_shapes():
    hooks = notify.WebhookReceiver().start()
    try:
        assert notify.send_webhook(hooks.url("/slack"), notify.slack_payload("hello")) == 200
        event = notify.pagerduty_payload("job failed", severity="critical", dedup_key="run-9",
                                         custom_details={"run_id": 9})
        assert notify.send_webhook(hooks.url("/pd"), event) == 200
        got = hooks.wait_for(2)
        assert got[0].path == "/slack" and got[0].body == {"text": "hello"}
        body = hooks.at("/pd")[0].body
        assert body["event_action"] == "trigger" and body["dedup_key"] == "run-9"
        assert body["payload"]["severity"] == "critical" and body["payload"]["custom_details"] == {"run_id": 9}
    finally:
        hooks.stop()


def test_destinations_by_id():
    hooks = notify.local_webhooks()
    notify.register_destination("test-pd", hooks.url("/pagerduty"), kind="pagerduty")
    before = len(hooks.deliveries)
    assert notify.deliver_webhook("test-pd", "Run 3 failed", {"run_id": 3}) == 200
    body = hooks.wait_for(before + 1)[-1].body
    assert body["payload"]["summary"] == "Run 3 failed" and body["dedup_key"] == "3"
    with pytest.raises(KeyError, match="not registered"):
        notify.deliver_webhook("missing", "x")
    with pytest.raises(ValueError, match="kind must be"):
        notify.register_destination("bad", hooks.url(), kind="teams")


def test_deliver_email_uses_the_local_inbox(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_LAB_SMTP", raising=False)
    inbox = notify.local_inbox()
    before = len(inbox.inbox)
    notify.deliver_email(["a@b.c"], "subject line", "body")
    assert inbox.wait_for(before + 1)[-1].subject == "subject line"
