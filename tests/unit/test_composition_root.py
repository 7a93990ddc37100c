"""The composition root takes every adapter it is handed (issue 14, item 2): a hub built on
fakes uses them, touches no database and opens no connection."""

from __future__ import annotations

from pathlib import Path

from hub.bootstrap import build
from hub.settings import load_settings
from tests.conftest import FAST_HASHER
from tests.fakes import (
    FakeClock,
    FakeEventBus,
    FakeLedger,
    FakeNotifier,
    FakePlc,
    FakeUnitOfWorkFactory,
)


def test_a_hub_built_on_fakes_uses_them(tmp_path: Path) -> None:
    clock, bus, ledger, notifier, plc = (
        FakeClock(),
        FakeEventBus(),
        FakeLedger(),
        FakeNotifier(),
        FakePlc(),
    )
    uow = FakeUnitOfWorkFactory()
    hub = build(
        load_settings({"HUB_DATA_DIR": str(tmp_path)}),
        uow=uow,
        clock=clock,
        hasher=FAST_HASHER,
        bus=bus,
        plc_port=plc,
        ledger=ledger,
        notifier=notifier,
    )
    assert hub.engine is None  # no database engine was made
    assert (hub.uow, hub.clock, hub.bus, hub.notifier) == (uow, clock, bus, notifier)
    assert hub.anchors.ledger is ledger
    assert hub.plc.supervisor._port is plc
    assert hub.hasher is FAST_HASHER
