"""Real peers on loopback for notification tests: an SMTP server (aiosmtpd) and an HTTP
receiver that records what it got (and can refuse the first N deliveries)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from connectors.plc.plant_sim import free_port

WEBHOOK_SECRET = "a-webhook-secret-of-some-length"


@dataclass
class SmtpSink:
    port: int
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookSink:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    refuse: int = 0  # answer 503 to this many deliveries first


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    port = free_port()
    sink = WebhookSink(f"http://127.0.0.1:{port}/hooks/safety")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if sink.refuse > 0:
                sink.refuse -= 1
                self.send_response(503)
            else:
                sink.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
                self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
