"""Webhook and SMTP destinations under the egress policy (issue 12, item 3): refused at
install and upgrade (422 naming the parameter) and at send (no retry), against a real
HTTP receiver and a real SMTP server on loopback, which must receive nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from connectors.outbound.notify import ChannelNotifier
from connectors.outbound.pinned import SystemResolver
from connectors.plc.plant_sim import free_port
from hub.api.app import create_app
from hub.bootstrap import build
from hub.domain.egress import EgressPolicy, EgressRefused
from hub.ports import Notification
from hub.services.egress.rules import StaticEgress
from hub.services.packs.catalog import DEFAULT_ROOT
from hub.settings import Settings
from tests.conftest import FAST_HASHER, World
from tests.support.pack_helpers import PACK, add_device, eventually, install, parameters
from tests.support.plc_sim import SimThread
from tests.support.receivers import WEBHOOK_SECRET, SmtpSink, WebhookSink
from tests.support.workflow_helpers import history

BASE = "/api/v1/tenants/acme"
MESSAGE = Notification("[high] emergency in area a1", {"kind": "emergency"}, "run:step:0")


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


@pytest.fixture
def settings(settings: Settings, webhook: WebhookSink, smtp: SmtpSink) -> Settings:
    """The platform opens the receiver's and the mail server's ports, nothing else local."""
    allow = (f"127.0.0.1:{_port(webhook.url)}", f"127.0.0.1:{smtp.port}")
    return dataclasses.replace(settings, egress_allow=allow)


def _hook(url: str) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": WEBHOOK_SECRET}


def _mail(host: str, port: int) -> dict[str, Any]:
    return {"type": "email", "host": host, "port": port, "sender": "hub@acme.test",
            "recipients": ["control-room@acme.test"]}  # fmt: skip


def _fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_webhook_and_smtp_on_loopback_are_refused_at_send(
    webhook: WebhookSink, smtp: SmtpSink
) -> None:
    """The default policy (no HUB_EGRESS_ALLOW): the notifier never connects."""
    notifier = ChannelNotifier(StaticEgress(EgressPolicy(), SystemResolver()).destination)
    port = _port(webhook.url)
    channels = [
        _hook(webhook.url),
        _hook(f"http://localhost:{port}/hooks"),
        _hook(f"http://2130706433:{port}/hooks"),
        _mail("127.0.0.1", smtp.port),
        _mail("localhost", smtp.port),
    ]
    for channel in channels:
        with pytest.raises(EgressRefused, match="is loopback"):
            asyncio.run(notifier.send(channel, MESSAGE, tenant="t"))
    assert webhook.deliveries == [] and smtp.messages == []


def test_pack_install_with_a_refused_webhook_or_mail_server_is_422(
    world: World, webhook: WebhookSink, smtp: SmtpSink
) -> None:
    other = free_port()
    channels = [
        _hook(webhook.url),
        _hook(f"http://localhost:{other}/hooks"),
        _mail("127.0.0.1", other),
        _hook(f"http://[::ffff:127.0.0.1]:{other}/"),
        _mail("127.0.0.1", smtp.port),
        _hook("http://169.254.169.254/latest/meta-data/"),
    ]
    fields = _fields(install(world, parameters(notification_channels=channels)))
    assert list(fields) == [
        "parameters.notification_channels[1].url",
        "parameters.notification_channels[2].host",
        "parameters.notification_channels[3].url",
        "parameters.notification_channels[5].url",
    ]
    assert "is loopback" in fields["parameters.notification_channels[1].url"]
    assert "is cloud metadata" in fields["parameters.notification_channels[5].url"]
    packs = world.client.get(f"{BASE}/packs", headers=world.as_("acme-tenant_admin")).json()
    assert packs["items"][0]["status"] == "available"  # nothing installed


def test_pack_upgrade_with_a_refused_webhook_is_422(
    world: World, plant: SimThread, webhook: WebhookSink, tmp_path: Path, settings: Settings
) -> None:
    add_device(world, plant)
    installed = install(world, parameters(notification_channels=[_hook(webhook.url)]))
    assert installed.status_code == 201, installed.text
    root = tmp_path / "packs"
    shutil.copytree(DEFAULT_ROOT / "safety_monitoring", root / "safety_monitoring")
    manifest = root / "safety_monitoring" / "pack.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    newer = build(dataclasses.replace(settings, packs_dir=root), hasher=FAST_HASHER)
    admin = world.as_("acme-tenant_admin")
    with TestClient(create_app(newer), raise_server_exceptions=False) as client:
        channels = [_hook(f"http://127.0.0.1:{free_port()}/hooks")]
        body = {"parameters": {"notification_channels": channels}}
        up = client.post(f"{BASE}/packs/{PACK}/upgrade", json=body, headers=admin)
        assert list(_fields(up)) == ["parameters.notification_channels[0].url"]
        # a tenant rule can refuse what was installed: the upgrade names it too
        deny = client.put(f"{BASE}/egress", json={"deny": ["127.0.0.1"]}, headers=admin)
        assert deny.status_code == 200, deny.text
        up = client.post(f"{BASE}/packs/{PACK}/upgrade", json={}, headers=admin)
        assert "denied by the tenant" in _fields(up)["parameters.notification_channels[0].url"]
        got = client.get(f"{BASE}/packs/{PACK}", headers=admin).json()
        assert got["installed_version"] == "1.0.0"


def test_refused_notification_fails_at_send_without_retry(
    world: World, plant: SimThread, webhook: WebhookSink, smtp: SmtpSink
) -> None:
    add_device(world, plant)
    channels = [_hook(webhook.url), _mail("127.0.0.1", smtp.port)]
    installed = install(world, parameters(notification_channels=channels))
    assert installed.status_code == 201, installed.text
    # the tenant later refuses every loopback destination
    admin = world.as_("acme-tenant_admin")
    deny = world.client.put(f"{BASE}/egress", json={"deny": ["127.0.0.0/8"]}, headers=admin)
    assert deny.status_code == 200, deny.text

    plant.set(setpoint=12.0)  # pressure past Hi: a safety run notifies (operators first)
    eng = world.as_("acme-engineer")

    def emergency_run() -> list[Any] | None:
        runs = world.client.get(f"{BASE}/runs?workflow=safety-monitoring", headers=eng).json()
        for run in runs["items"]:
            events = history(world.client, eng, run["id"])
            # the run went on past the notification (on_error: continue)
            if any(e["type"] == "WaitStarted" for e in events):
                return list(events)
        return None

    events = eventually(emergency_run, timeout=40)
    notify = [e for e in events if e["step"] in ("alert_operators", "notify_authorities")]
    [failure] = [e["data"] for e in notify if e["type"] == "ActivityFailed"]  # tried once
    assert not [e for e in notify if e["type"] == "RetryScheduled"]
    assert failure["error_type"] == "EgressRefused", failure
    assert "denied by the tenant's egress rules" in failure["message"]
    assert failure["message"].count("egress refused") == 2  # the webhook and the mail server
    assert webhook.deliveries == [] and smtp.messages == []
