"""OPC-UA against a real asyncua Server: subscriptions through the hub, a server that
stops for seconds and comes back, browse, writes, and Basic256Sha256 Sign and
SignAndEncrypt with certificates made here, with username and certificate identities."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors.plc.opcua import OpcUaConnection
from connectors.plc.plant_sim import OPCUA_TAGS, OpcUaSecurity, plant
from hub.domain.plc import PlcError, PlcRefused, Quality
from hub.domain.plc_config import parse_device
from hub.ports import TagBatch
from tests.conftest import World
from tests.support.plc_sim import SimThread, wait_for

BASE = "/api/v1/tenants/acme/devices"


def _tags(world: World, device: str) -> dict[str, dict[str, Any]]:
    items = world.client.get(f"{BASE}/{device}/tags", headers=world.as_("acme-viewer")).json()[
        "items"
    ]
    return {t["name"]: t for t in items}


def _qualities(world: World, device: str) -> set[str]:
    return {t["quality"] for t in _tags(world, device).values()}


def test_subscription_write_browse_and_restart(world: World, plant: SimThread) -> None:
    engineer = world.as_("acme-engineer")
    created = world.client.post(
        BASE,
        json={
            "name": "plant-ua",
            "protocol": "opcua",
            "endpoint": plant.sim.opcua_endpoint,
            "poll_interval_ms": 100,
            "timeout_ms": 1000,
            "max_backoff_ms": 1000,
            "security": {"sampling_interval_ms": 50, "publishing_interval_ms": 100},
            "tags": OPCUA_TAGS,
        },
        headers=engineer,
    )
    assert created.status_code == 201, created.text
    device = created.json()["id"]
    wait_for(lambda: _qualities(world, device) == {"good"})
    assert abs(_tags(world, device)["pressure"]["value"] - 5.0) < 0.5

    write = world.client.post(
        f"{BASE}/plant-ua/tags/setpoint/write",
        json={"value": 6.5},
        headers=world.as_("acme-operator"),
    )
    assert write.status_code == 200 and write.json()["value"] == 6.5, write.text
    wait_for(
        lambda: abs(_tags(world, device)["pressure"]["value"] - 6.5) < 0.1
    )  # pushed by the subscription

    top = world.client.get(f"{BASE}/plant-ua/browse", headers=engineer).json()["items"]
    assert "ns=2;s=Plant" in {e["node_id"] for e in top}
    inside = world.client.get(f"{BASE}/plant-ua/browse?node=ns=2;s=Plant", headers=engineer).json()[
        "items"
    ]
    assert "ns=2;s=Plant.Pressure" in {e["node_id"] for e in inside}
    malformed = world.client.get(f"{BASE}/plant-ua/browse?node=ns=x;;", headers=engineer)
    assert malformed.status_code == 422

    plant.call(plant.sim.stop_opcua())
    wait_for(lambda: _qualities(world, device) == {"bad"}, timeout=4)
    # A sleep that asserts nothing happens: with the server gone, the tags must not flip
    # back to good over several reconnect attempts; no event marks "no flip yet".
    time.sleep(3)
    assert _qualities(world, device) == {"bad"}
    assert (
        world.client.post(
            f"{BASE}/plant-ua/tags/setpoint/write", json={"value": 6.0}, headers=engineer
        ).status_code
        == 503
    )
    plant.call(plant.sim.start_opcua())
    wait_for(lambda: _qualities(world, device) == {"good"}, timeout=6)  # server start-up + backoff
    status = world.client.get(f"{BASE}/plant-ua/status", headers=engineer).json()
    assert status["connected"] and status["reconnect_count"] >= 1
    plant.set(setpoint=4.0)  # values flow again after the re-subscription
    wait_for(lambda: abs(_tags(world, device)["pressure"]["value"] - 4.0) < 0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _cert(directory: Path, name: str, uri: str, use: Any) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.pem", directory / f"{name}.der"
    await setup_self_signed_certificate(
        key, cert, uri, socket.gethostname(), [use], {"organizationName": "hub tests"}
    )
    return cert, key


def _device(endpoint: str, security: dict[str, Any]) -> Any:
    return parse_device(
        {
            "name": "secure",
            "protocol": "opcua",
            "endpoint": endpoint,
            "timeout_ms": 3000,
            "security": security,
            "tags": OPCUA_TAGS,
        },
        id="0" * 32,
        tenant_id="t",
        at=datetime.now(UTC),
    )


async def _secure_checks(tmp: Path) -> None:
    server_cert, server_key = await _cert(
        tmp, "server", "urn:hub-tests:server", ExtendedKeyUsageOID.SERVER_AUTH
    )
    client_cert, client_key = await _cert(
        tmp, "client", "urn:hub-tests:client", ExtendedKeyUsageOID.CLIENT_AUTH
    )
    user_cert, user_key = await _cert(
        tmp, "user", "urn:hub-tests:user", ExtendedKeyUsageOID.CLIENT_AUTH
    )
    security = OpcUaSecurity(
        certificate=server_cert,
        private_key=server_key,
        allow_none=False,
        users={"operator": "s3cret-password"},
        user_certificates=[user_cert],
        allow_anonymous=False,
    )
    async with plant(modbus_port=None, opcua_port=_free_port(), opcua_security=security) as sim:
        base = {
            "policy": "Basic256Sha256",
            "certificate": str(client_cert),
            "private_key": str(client_key),
        }
        for mode in ("Sign", "SignAndEncrypt"):
            conn = OpcUaConnection(
                _device(
                    sim.opcua_endpoint,
                    {
                        **base,
                        "mode": mode,
                        "identity": "username",
                        "username": "operator",
                        "password": "s3cret-password",
                    },
                )
            )
            await conn.connect()
            batch = await conn.read(list(conn.device.tags))
            assert batch.qualities == [Quality.GOOD] * len(batch.tags)
            assert await conn.write(conn.device.tag("setpoint"), 5.5) == 5.5
            await conn.close()
        by_cert = OpcUaConnection(
            _device(
                sim.opcua_endpoint,
                {
                    **base,
                    "mode": "SignAndEncrypt",
                    "identity": "certificate",
                    "user_certificate": str(user_cert),
                    "user_private_key": str(user_key),
                },
            )
        )
        await by_cert.connect()
        assert (await by_cert.read([by_cert.device.tag("pressure")])).values[0] is not None
        await by_cert.close()
        for wrong in (
            {
                **base,
                "mode": "Sign",
                "identity": "username",
                "username": "operator",
                "password": "wrong-password",
            },
            {**base, "mode": "SignAndEncrypt"},  # anonymous is not allowed on this server
        ):
            with pytest.raises(PlcError):
                await OpcUaConnection(_device(sim.opcua_endpoint, wrong)).connect()
        with pytest.raises(PlcError):  # no security at all: the server offers no None endpoint
            await OpcUaConnection(_device(sim.opcua_endpoint, {})).connect()


def test_basic256sha256_sign_and_encrypt_with_identities(tmp_path: Path) -> None:
    asyncio.run(_secure_checks(tmp_path))


async def _deadband_and_refusals() -> None:
    async with plant(modbus_port=None, opcua_port=_free_port(), tick=0.05) as sim:
        conn = OpcUaConnection(
            _device(
                sim.opcua_endpoint,
                {
                    "deadband": 1.0,
                    "deadband_type": "absolute",
                    "sampling_interval_ms": 20,
                    "publishing_interval_ms": 50,
                },
            )
        )
        await conn.connect()
        seen: list[TagBatch] = []
        assert await conn.subscribe([conn.device.tag("temperature")], seen.append)
        await asyncio.sleep(1.5)  # temperature jitters by hundredths: inside the 1.0 deadband
        changes = sum(len(b.values) for b in seen)
        assert 1 <= changes <= 2, changes
        with pytest.raises(PlcRefused):
            await conn.write(conn.device.tag("pressure"), 1.0)  # not writable on the server
        await conn.close()


def test_absolute_deadband_filters_small_changes() -> None:
    asyncio.run(_deadband_and_refusals())
