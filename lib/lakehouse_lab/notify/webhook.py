"""Webhooks on localhost: an HTTP receiver that keeps every JSON it is sent, a sender, and payload shapes
for Slack (incoming webhook) and PagerDuty (Events API v2).

>>> hooks = WebhookReceiver().start()
>>> send_webhook(hooks.url("/slack"), slack_payload("Run failed"))
200
>>> hooks.wait_for(1)[0].body["text"]
'Run failed'
>>> hooks.stop()
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    """One request the receiver got."""
    path: str
    body: object
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class WebhookReceiver:
    """A local HTTP server on a free port that answers 200 to POSTs and keeps them in ``deliveries``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
                with receiver._arrived:
                    receiver.deliveries.append(Delivery(self.path, body))
                    receiver._arrived.notify_all()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-receiver")

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        end = time.monotonic() + timeout
        with self._arrived:
            while len(self.deliveries) < count and time.monotonic() < end:
                self._arrived.wait(max(end - time.monotonic(), 0))
        return list(self.deliveries)

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == "/" + path.lstrip("/")]

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{d.received_at:%H:%M:%S}</td><td>{escape(d.path)}</td>"
                       f"<td><pre style='margin:0'>{escape(json.dumps(d.body)[:300])}</pre></td></tr>"
                       for d in self.deliveries)
        return (f"<b>Webhooks</b> {self.url()} — {len(self.deliveries)} delivery(ies)"
                f"<table><tr><th>time</th><th>path</th><th>body</th></tr>{rows}</table>")


def send_webhook(url: str, payload, timeout: float = 10.0) -> int:
    """POST ``payload`` as JSON to ``url``; returns the HTTP status."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def slack_payload(text: str) -> dict:
    """A Slack incoming-webhook message."""
    return {"text": text}


def pagerduty_payload(summary: str, *, source: str = "lakehouse-lab", severity: str = "error",
                      routing_key: str = "lakehouse-lab", dedup_key: str | None = None,
                      event_action: str = "trigger", custom_details: dict | None = None) -> dict:
    """A PagerDuty Events API v2 event (``severity``: critical, error, warning, info)."""
    event = {"routing_key": routing_key, "event_action": event_action,
             "payload": {"summary": summary[:1024], "source": source, "severity": severity,
                         "timestamp": datetime.now(timezone.utc).isoformat(), "custom_details": custom_details or {}}}
    if dedup_key:
        event["dedup_key"] = dedup_key
    return event
