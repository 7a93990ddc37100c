"""The Notifier adapter: signed webhooks (httpx) and email (SMTP, stdlib smtplib).

Webhooks POST the JSON body with

    X-Hub-Timestamp: <unix seconds>
    X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    Idempotency-Key: <the same on every retry>

so a receiver checks the signature over exactly the bytes it got and rejects old
timestamps (replays). Email goes through smtplib in a worker thread, off the event loop.

Both go only where the sending tenant's egress policy allows (issue 12, item 3): the
destination is resolved and checked once and the connection pinned to the address
checked (connectors/outbound/pinned.py); a refusal raises EgressRefused.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import time
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any

import httpx

from connectors.outbound.pinned import Destination, PinnedSMTP, pinned_client, tenant_pin
from hub.domain.egress import channel_target
from hub.domain.packs import NotificationFailed
from hub.ports import Notification

SIGNATURE_HEADER = "X-Hub-Signature-256"
TIMESTAMP_HEADER = "X-Hub-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age: float = 300) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class ChannelNotifier:
    def __init__(self, egress: Destination, timeout: float = 10.0) -> None:
        self._egress = egress
        self._timeout = timeout

    async def send(
        self,
        channel: Mapping[str, Any],
        message: Notification,
        recipients: Sequence[str] = (),
        *,
        tenant: str | None = None,
    ) -> None:
        kind = channel.get("type")
        if kind == "webhook":
            await self._webhook(channel, message, tenant)
        elif kind == "email":
            to = list(dict.fromkeys([*channel.get("recipients", []), *recipients]))
            if to:
                address = await self._mail_server(channel, tenant)
                await asyncio.to_thread(self._email, channel, message, to, address)
        else:
            raise NotificationFailed(f"unknown channel type {kind!r}")

    async def close(self) -> None:
        """Nothing is kept open: each webhook has a client of its own (see below)."""

    async def _webhook(
        self, channel: Mapping[str, Any], message: Notification, tenant: str | None
    ) -> None:
        url = str(channel["url"])
        body = json.dumps(
            {"subject": message.subject, **message.body}, default=str, sort_keys=True
        ).encode()
        stamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(str(channel["secret"]), stamp, body),
            "Idempotency-Key": message.idempotency_key,
        }
        # A client per delivery: a pooled connection must not carry one tenant's egress
        # check over to another tenant's webhook on the same host.
        client = pinned_client(tenant_pin(self._egress, tenant), timeout=self._timeout)
        try:
            async with client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NotificationFailed(f"webhook {_origin(url)}: {exc!r}") from None
        if not response.is_success:
            raise NotificationFailed(f"webhook {_origin(url)} answered {response.status_code}")

    async def _mail_server(self, channel: Mapping[str, Any], tenant: str | None) -> str:
        target = channel_target(channel)
        if target is None:
            raise NotificationFailed("email channel without a host")
        try:
            return await self._egress(tenant, target.host, target.port)
        except OSError as exc:
            raise NotificationFailed(f"email via {target.host}: {exc!r}") from None

    def _email(
        self,
        channel: Mapping[str, Any],
        message: Notification,
        to: list[str],
        address: str,
    ) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = str(channel["sender"])
        mail["To"] = ", ".join(to)
        mail["Message-ID"] = f"<{message.idempotency_key.replace(':', '.')}@industrial-hub>"
        mail.set_content(json.dumps(message.body, indent=2, default=str, sort_keys=True))
        try:
            with PinnedSMTP(address, self._timeout) as smtp:
                smtp.connect(str(channel["host"]), int(channel.get("port", 25)))
                if channel.get("starttls"):
                    smtp.starttls()
                if channel.get("username"):
                    smtp.login(str(channel["username"]), str(channel.get("password", "")))
                smtp.send_message(mail, to_addrs=to)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationFailed(f"email via {channel['host']}: {exc!r}") from None


def _origin(url: object) -> str:
    """Scheme, host and port only: a webhook's path often holds its own secret (issue 12),
    and failures end up in the run history."""
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        return "(an invalid URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
