"""PLC fixtures: a plant simulator (Modbus TCP, and OPC-UA where a test uses it, on free
loopback ports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.plc_sim import SimThread, running_plant, uses_opcua


@pytest.fixture
def plant(request: pytest.FixtureRequest) -> Iterator[SimThread]:
    options = {} if uses_opcua(request.node) else {"opcua_port": None}
    with running_plant(**options) as sim:
        yield sim
