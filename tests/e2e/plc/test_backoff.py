"""Reconnect backoff (issue 12, item 15): a PLC that accepts connections and then fails
every time is retried ever more slowly; a connection that worked for a while starts the
backoff again from the bottom."""

from __future__ import annotations

import logging
import re
import socketserver
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from connectors.plc.plant_sim import MODBUS_TAGS
from hub.services.plc import supervisor as plc_supervisor
from tests.conftest import World
from tests.support.plc_sim import SimThread, wait_for

BASE = "/api/v1/tenants/acme/devices"
DELAY = re.compile(r"reconnecting in ([0-9.]+)s")


class _Silent(socketserver.BaseRequestHandler):
    """Takes a connection and every request on it, and never answers."""

    def handle(self) -> None:
        self.server.accepted += 1  # type: ignore[attr-defined]
        while self.request.recv(256):
            pass


class _SilentServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    accepted = 0


@pytest.fixture
def silent_plc() -> Iterator[_SilentServer]:
    server = _SilentServer(("127.0.0.1", 0), _Silent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _delays(caplog: pytest.LogCaptureFixture, device: str, endpoint: str = "") -> list[float]:
    """The reconnect delays logged for `device`, leaving out lines naming an endpoint other
    than `endpoint` (another hub in this test process, such as the console tests' server,
    may have a device of the same name)."""
    return [
        float(match[1])
        for r in caplog.records
        if r.name == "hub.plc"
        and f"device {device}:" in r.getMessage()
        and (endpoint in r.getMessage() or "://" not in r.getMessage())
        and (match := DELAY.search(r.getMessage()))
    ]


def _create(world: World, **body: Any) -> None:
    response = world.client.post(BASE, json=body, headers=world.as_("acme-engineer"))
    assert response.status_code == 201, response.text


def test_failure_after_every_connect_backs_off(
    world: World, silent_plc: _SilentServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.plc")
    port = silent_plc.server_address[1]
    _create(
        world,
        name="mute",
        protocol="modbus",
        endpoint=f"modbus-tcp://127.0.0.1:{port}",
        poll_interval_ms=50,
        timeout_ms=50,
        max_backoff_ms=2000,
        tags=MODBUS_TAGS[:1],
    )
    # Every connect succeeds and every read then times out.
    delays = wait_for(lambda: (d := _delays(caplog, "mute")) and len(d) >= 6 and d, timeout=30)
    assert silent_plc.accepted >= 6
    # Attempt n waits at least half of min(max, 100 ms * 2**n): the sixth at least 1 s.
    for attempt, delay in enumerate(delays[:6]):
        ceiling = min(2000, 100 * 2**attempt) / 1000
        assert ceiling / 2 <= delay <= ceiling, (attempt, delays)
    status = world.client.get(f"{BASE}/mute/status", headers=world.as_("acme-viewer")).json()
    assert "timed out" in status["last_error"]


def test_backoff_restarts_after_a_healthy_connection(
    world: World,
    plant: SimThread,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plc_supervisor, "HEALTHY_SECONDS", 0.5)
    caplog.set_level(logging.INFO, logger="hub.plc")
    _create(
        world,
        name="boiler-1",
        protocol="modbus",
        endpoint=plant.sim.modbus_endpoint,
        poll_interval_ms=100,
        timeout_ms=500,
        max_backoff_ms=5000,
        tags=MODBUS_TAGS,
    )

    def status() -> dict[str, Any]:
        return world.client.get(f"{BASE}/boiler-1/status", headers=world.as_("acme-viewer")).json()

    def healthy_for(seconds: float) -> None:
        """Wait until data has flowed for `seconds` on the current connection."""
        wait_for(lambda: status()["connected"], timeout=15)
        since = _time(status()["last_seen"])
        wait_for(lambda: _time(status()["last_seen"]) - since >= seconds, timeout=15)

    mine = plant.sim.modbus_endpoint
    healthy_for(0.1)
    plant.call(plant.sim.stop_modbus())
    wait_for(lambda: len(_delays(caplog, "boiler-1", mine)) >= 3, timeout=15)  # backing off
    plant.call(plant.sim.start_modbus())
    healthy_for(0.6)  # past HEALTHY_SECONDS, with data
    seen = len(_delays(caplog, "boiler-1", mine))
    plant.call(plant.sim.stop_modbus())
    delays = wait_for(lambda: _delays(caplog, "boiler-1", mine)[seen:])
    assert delays[0] <= 0.1, delays  # attempt 0 again: at most 100 ms


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
