"""The Notifier adapter against real peers: a local HTTP receiver and an SMTP server."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from connectors.outbound.notify import ChannelNotifier, sign, verify
from connectors.outbound.pinned import SystemResolver
from hub.domain.egress import EgressPolicy, parse_allow_list
from hub.domain.packs import NotificationFailed
from hub.ports import Notification
from hub.services.egress.rules import StaticEgress
from tests.conftest import LOOPBACK
from tests.support.receivers import WEBHOOK_SECRET, SmtpSink, WebhookSink

MESSAGE = Notification("[high] emergency in area a1", {"kind": "emergency"}, "run:step:0")


def _send(channel: dict[str, object], recipients: tuple[str, ...] = ()) -> None:
    async def go() -> None:
        # the receivers listen on loopback, which the egress policy refuses unless allowed
        egress = StaticEgress(EgressPolicy(parse_allow_list(LOOPBACK)), SystemResolver())
        notifier = ChannelNotifier(egress.destination, timeout=2)
        try:
            await notifier.send(channel, MESSAGE, recipients)
        finally:
            await notifier.close()

    asyncio.run(go())


def test_webhook_is_signed_over_the_body_with_a_timestamp(webhook: WebhookSink) -> None:
    _send({"type": "webhook", "url": webhook.url, "secret": WEBHOOK_SECRET})
    [got] = webhook.deliveries
    assert json.loads(got.body) == {"subject": MESSAGE.subject, "kind": "emergency"}
    stamp, signature = got.headers["X-Hub-Timestamp"], got.headers["X-Hub-Signature-256"]
    assert signature == sign(WEBHOOK_SECRET, stamp, got.body)
    assert verify(WEBHOOK_SECRET, stamp, got.body, signature)
    assert not verify(WEBHOOK_SECRET, stamp, got.body + b" ", signature)  # tampered body
    old = str(int(time.time()) - 3600)
    assert not verify(WEBHOOK_SECRET, old, got.body, sign(WEBHOOK_SECRET, old, got.body))
    assert got.headers["Idempotency-Key"] == "run:step:0"


def test_webhook_refusal_and_unreachable_receiver_fail(webhook: WebhookSink) -> None:
    webhook.refuse = 1
    with pytest.raises(NotificationFailed, match="503"):
        _send({"type": "webhook", "url": webhook.url, "secret": WEBHOOK_SECRET})
    with pytest.raises(NotificationFailed):
        _send({"type": "webhook", "url": "http://127.0.0.1:9/none", "secret": WEBHOOK_SECRET})


def test_a_failed_webhook_is_named_by_its_origin_not_its_secret_path(
    webhook: WebhookSink,
) -> None:
    # Many webhook URLs carry their own secret in the path; failures reach run histories.
    webhook.refuse = 1
    url = webhook.url + "/T000/secret-path-token"
    with pytest.raises(NotificationFailed) as failed:
        _send({"type": "webhook", "url": url, "secret": WEBHOOK_SECRET})
    assert "secret-path-token" not in str(failed.value)
    assert webhook.url.rsplit("/hooks", 1)[0] in str(failed.value)


def test_email_reaches_the_smtp_server(smtp: SmtpSink) -> None:
    channel = {"type": "email", "host": "127.0.0.1", "port": smtp.port,
               "sender": "hub@acme.test", "recipients": ["ops@acme.test"]}  # fmt: skip
    _send(channel, ("fire@city.test", "ops@acme.test"))
    [(to, mail)] = smtp.messages
    assert sorted(to) == ["fire@city.test", "ops@acme.test"]
    assert mail["Subject"] == MESSAGE.subject and mail["From"] == "hub@acme.test"
    assert json.loads(mail.get_payload()) == {"kind": "emergency"}


def test_email_to_a_closed_port_fails() -> None:
    channel = {"type": "email", "host": "127.0.0.1", "port": 9, "sender": "hub@acme.test",
               "recipients": ["ops@acme.test"]}  # fmt: skip
    with pytest.raises(NotificationFailed):
        _send(channel)
