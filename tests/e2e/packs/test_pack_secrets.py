"""Write-only pack parameters (issue 12, item 12): webhook secrets and SMTP passwords are
kept encrypted under HUB_SECRET_KEY, never answered, and still used by the notifier."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from litestar.testing import TestClient
from sqlalchemy import select, update

from connectors.outbound.notify import verify
from connectors.plc.plant_sim import free_port
from hub.api.app import create_app
from hub.bootstrap import Hub, build
from hub.domain.packs import SEALED, SealBroken
from hub.security.sealing import AeadSealer
from hub.services.packs.catalog import DEFAULT_ROOT, PackInvalid, load_pack
from hub.settings import Settings
from hub.store.database import create_engine
from hub.store.tables.packs import pack_installations
from tests.conftest import FAST_HASHER, World
from tests.support import raw_plc
from tests.support.pack_helpers import PACK, add_device, eventually, install, parameters
from tests.support.plc_sim import SimThread
from tests.support.receivers import WEBHOOK_SECRET, WebhookSink

# the SMTP server on loopback takes AUTH without TLS, as a test peer may
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

BASE = "/api/v1/tenants/acme"
SMTP_PASSWORD = "smtp-password-in-the-clear"


@dataclass
class AuthSmtp:
    """An SMTP server that requires AUTH and records the credentials it was given."""

    port: int
    logins: list[tuple[str, str]] = field(default_factory=list)
    messages: list[list[str]] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=password == SMTP_PASSWORD)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def auth_smtp() -> Iterator[AuthSmtp]:
    sink = AuthSmtp(free_port())
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=sink.port,
        authenticator=sink,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def _channels(webhook: WebhookSink, smtp: AuthSmtp) -> list[dict[str, Any]]:
    return [
        {"type": "webhook", "url": webhook.url, "secret": WEBHOOK_SECRET},
        {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "sender": "hub@acme.test",
            "recipients": ["control-room@acme.test"],
            "username": "hub",
            "password": SMTP_PASSWORD,
        },
    ]


def _stored(settings: Settings) -> str:
    """The installation row's parameters column, as the database holds it."""

    async def read() -> str:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                query = select(pack_installations.c.parameters).where(
                    pack_installations.c.pack == PACK
                )
                return str((await conn.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _store_clear(settings: Settings, params: dict[str, Any]) -> None:
    """What an install made before sealing left in the row."""

    async def write() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    update(pack_installations)
                    .where(pack_installations.c.pack == PACK)
                    .values(parameters=json.dumps(params))
                )
        finally:
            await engine.dispose()

    asyncio.run(write())


def _revealed(hub: Hub, client: TestClient[Any], tenant_id: str) -> Any:
    with client.portal() as portal:
        return portal.call(hub.packs.reveal, tenant_id, PACK, "notification_channels")


def _tenant_id(world: World) -> str:
    admin = world.as_("platform_admin")
    return str(world.client.get(BASE, headers=admin).json()["id"])


def _audit_text(world: World) -> str:
    entries = world.client.get(f"{BASE}/audit?limit=500", headers=world.as_("acme-auditor"))
    assert entries.status_code == 200, entries.text
    return entries.text


def test_webhook_secret_and_smtp_password_are_stored_encrypted_never_answered_and_used(
    world: World,
    plant: SimThread,
    settings: Settings,
    webhook: WebhookSink,
    auth_smtp: AuthSmtp,
) -> None:
    add_device(world, plant)
    params = parameters(
        notification_channels=_channels(webhook, auth_smtp), authority_contacts=["fire@city.test"]
    )
    installed = install(world, params)
    assert installed.status_code == 201, installed.text
    for secret in (WEBHOOK_SECRET, SMTP_PASSWORD):
        assert secret not in installed.text
        assert secret not in _stored(settings)
    assert json.loads(_stored(settings))["notification_channels"].keys() == {SEALED}
    shown = world.client.get(f"{BASE}/packs/{PACK}", headers=world.as_("acme-tenant_admin"))
    assert shown.json()["parameters"]["notification_channels"] == "***"
    assert WEBHOOK_SECRET not in shown.text and SMTP_PASSWORD not in shown.text

    plant.set(setpoint=12.0)  # past HiHi: the run trips the interlock and tells everyone
    eventually(lambda: raw_plc.interlock(plant, "modbus") is True, timeout=30)
    hook = eventually(lambda: [d for d in webhook.deliveries if b'"emergency"' in d.body])[0]
    assert verify(
        WEBHOOK_SECRET,
        hook.headers["X-Hub-Timestamp"],
        hook.body,
        hook.headers["X-Hub-Signature-256"],
    )
    eventually(lambda: auth_smtp.messages)
    assert ("hub", SMTP_PASSWORD) in auth_smtp.logins
    audit = _audit_text(world)
    assert WEBHOOK_SECRET not in audit and SMTP_PASSWORD not in audit
    runs = world.client.get(f"{BASE}/runs?limit=100", headers=world.as_("acme-engineer")).json()
    for run in runs["items"]:
        history = world.client.get(
            f"{BASE}/runs/{run['id']}/history", headers=world.as_("acme-engineer")
        )
        assert WEBHOOK_SECRET not in history.text and SMTP_PASSWORD not in history.text


def test_upgrade_without_write_only_parameters_keeps_the_stored_ones(
    world: World,
    plant: SimThread,
    settings: Settings,
    tmp_path: Path,
    webhook: WebhookSink,
    auth_smtp: AuthSmtp,
) -> None:
    add_device(world, plant)
    channels = _channels(webhook, auth_smtp)
    assert install(world, parameters(notification_channels=channels)).status_code == 201
    before = _stored(settings)
    newer = build(
        dataclasses.replace(settings, packs_dir=_newer_pack(tmp_path)), hasher=FAST_HASHER
    )
    admin = world.as_("acme-tenant_admin")
    with TestClient(create_app(newer), raise_server_exceptions=False) as client:
        # "***" is what an answer shows: sending it back keeps the stored value too
        up = client.post(
            f"{BASE}/packs/{PACK}/upgrade",
            json={"parameters": {"safety_level": "critical", "notification_channels": "***"}},
            headers=admin,
        )
        assert up.status_code == 200, up.text
        assert up.json()["parameters"]["notification_channels"] == "***"
        assert WEBHOOK_SECRET not in _stored(settings) and _stored(settings) != before
        assert _revealed(newer, client, _tenant_id(world)) == channels


def test_clear_secrets_of_older_installs_are_sealed_at_start(
    world: World,
    plant: SimThread,
    settings: Settings,
    webhook: WebhookSink,
    auth_smtp: AuthSmtp,
) -> None:
    add_device(world, plant)
    assert install(world, parameters()).status_code == 201
    stored = json.loads(_stored(settings))
    channels = _channels(webhook, auth_smtp)
    _store_clear(settings, {**stored, "notification_channels": channels})
    assert WEBHOOK_SECRET in _stored(settings)
    restarted = build(settings, hasher=FAST_HASHER)
    with TestClient(create_app(restarted), raise_server_exceptions=False) as client:
        assert WEBHOOK_SECRET not in _stored(settings)
        assert SMTP_PASSWORD not in _stored(settings)
        assert _revealed(restarted, client, _tenant_id(world)) == channels
    sealed = world.client.get(
        f"{BASE}/audit?action=pack.parameters_sealed", headers=world.as_("acme-auditor")
    ).json()["items"]
    assert [e["details"]["parameters"] for e in sealed] == [["notification_channels"]]


def test_channels_sealed_under_another_secret_key_must_be_given_again(
    world: World, plant: SimThread, settings: Settings, tmp_path: Path, webhook: WebhookSink
) -> None:
    add_device(world, plant)
    channels = [{"type": "webhook", "url": webhook.url, "secret": WEBHOOK_SECRET}]
    assert install(world, parameters(notification_channels=channels)).status_code == 201
    rekeyed = dataclasses.replace(
        settings, secret_key="another-secret-key-" * 3, packs_dir=_newer_pack(tmp_path)
    )
    newer = build(rekeyed, hasher=FAST_HASHER)
    admin = world.as_("acme-tenant_admin")
    with TestClient(create_app(newer), raise_server_exceptions=False) as client:
        with client.portal() as portal, pytest.raises(SealBroken):
            portal.call(newer.packs.reveal, _tenant_id(world), PACK, "notification_channels")
        kept = client.post(f"{BASE}/packs/{PACK}/upgrade", json={}, headers=admin)
        assert kept.status_code == 422, kept.text
        assert kept.json()["errors"][0]["field"] == "parameters.notification_channels"
        given = client.post(
            f"{BASE}/packs/{PACK}/upgrade",
            json={"parameters": {"notification_channels": channels}},
            headers=admin,
        )
        assert given.status_code == 200, given.text
        assert _revealed(newer, client, _tenant_id(world)) == channels


def test_a_bad_write_only_value_is_not_echoed_in_the_answer_or_the_audit_log(
    world: World, plant: SimThread
) -> None:
    add_device(world, plant)
    short = "short-secret"  # under the schema's 16 characters
    channels = [{"type": "webhook", "url": "http://127.0.0.1:9/h", "secret": short}]
    refused = install(world, parameters(notification_channels=channels))
    assert refused.status_code == 422, refused.text
    assert short not in refused.text
    assert any(
        e["field"].startswith("parameters.notification_channels") for e in refused.json()["errors"]
    )
    assert short not in _audit_text(world)
    key = install(world, parameters(override_key="tiny"))
    assert key.status_code == 422 and "tiny" not in key.text
    assert "minLength" in key.json()["errors"][0]["message"]


def test_a_sealed_value_opens_only_under_its_key_and_in_its_place() -> None:
    sealer = AeadSealer(b"k" * 64)
    sealed = sealer.seal({"secret": WEBHOOK_SECRET}, "tenant-a/pack/channels")
    assert WEBHOOK_SECRET not in json.dumps(sealed)
    assert sealer.unseal(sealed, "tenant-a/pack/channels") == {"secret": WEBHOOK_SECRET}
    with pytest.raises(SealBroken):
        sealer.unseal(sealed, "tenant-b/pack/channels")  # copied into another tenant's row
    with pytest.raises(SealBroken):
        AeadSealer(b"j" * 64).unseal(sealed, "tenant-a/pack/channels")
    with pytest.raises(SealBroken):
        sealer.unseal({SEALED: "v1.not-base64!"}, "tenant-a/pack/channels")
    assert sealer.seal(1, "c") != sealer.seal(1, "c")  # a fresh nonce each time


def test_a_write_only_part_needs_its_parameter_write_only(tmp_path: Path) -> None:
    folder = tmp_path / "leaky"
    folder.mkdir()
    (folder / "pack.yaml").write_text(
        "name: leaky\nversion: 1.0.0\nparameters:\n  type: object\n  properties:\n"
        "    hooks:\n      type: array\n      items:\n        type: object\n"
        "        properties: {secret: {type: string, writeOnly: true}}\n"
    )
    with pytest.raises(PackInvalid, match="'hooks' has a writeOnly part"):
        load_pack(folder)


def _newer_pack(tmp_path: Path) -> Path:
    root = tmp_path / "packs"
    shutil.copytree(DEFAULT_ROOT / "safety_monitoring", root / "safety_monitoring")
    manifest = root / "safety_monitoring" / "pack.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    return root
