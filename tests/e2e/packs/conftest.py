"""Pack fixtures: the plant simulator beside the hub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.plc_sim import SimThread, running_plant


@pytest.fixture
def plant() -> Iterator[SimThread]:
    with running_plant() as sim:
        yield sim


from tests.support.receivers import smtp, webhook  # noqa: E402, F401  (fixtures)
