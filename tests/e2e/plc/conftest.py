"""PLC fixtures: a plant simulator (Modbus TCP and OPC-UA on free loopback ports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.plc_sim import SimThread, running_plant


@pytest.fixture
def plant() -> Iterator[SimThread]:
    with running_plant() as sim:
        yield sim
