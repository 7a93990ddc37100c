"""The pure logic of the ingest, audit, audit_tree and anchor benches: settings read back,
durability facts, the calldata floor arithmetic, honest alarm tails, the per-leaf tree."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import _audit_bench
import _hub_settings
import anchor
import audit_tree
import ingest

from hub.bootstrap import Hub, build
from hub.settings import load_settings


def test_the_hubs_settings_are_read_back_from_its_own_connection(hub: Hub) -> None:
    async def read() -> dict[str, object]:
        try:
            return await _hub_settings.database_settings(hub)
        finally:
            await hub.uow.dispose()

    settings = asyncio.run(read())
    if settings["database"] == "sqlite":
        # The loop's write connection and the aiosqlite fallback agree (no second entry).
        assert settings == {"database": "sqlite", "journal_mode": "wal", "synchronous": "normal"}
    else:
        assert {"synchronous_commit", "fsync"} <= settings.keys()


def test_hubs_the_benches_build_run_at_the_level_the_user_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SQLITE_SYNCHRONOUS", "full")
    hub = build(load_settings(_hub_settings.hub_env(str(tmp_path))))

    async def read() -> dict[str, object]:
        try:
            return await _hub_settings.database_settings(hub)
        finally:
            await hub.uow.dispose()

    # Both connections the hub writes through, read back: no fallback entry that differs.
    wanted = {"database": "sqlite", "journal_mode": "wal", "synchronous": "full"}
    assert asyncio.run(read()) == wanted


def test_wal_with_normal_is_not_fsynced_on_commit_and_full_is() -> None:
    normal = _hub_settings.commit_facts(
        {"database": "sqlite", "journal_mode": "wal", "synchronous": "normal"}
    )
    full = _hub_settings.commit_facts(
        {"database": "sqlite", "journal_mode": "wal", "synchronous": "full"}
    )
    postgres = _hub_settings.commit_facts(
        {"database": "postgresql", "synchronous_commit": "off", "fsync": "on"}
    )
    assert normal["fsynced_on_commit"] is False and "not a power loss" in normal["commit_survives"]
    assert full["fsynced_on_commit"] is True
    assert postgres["fsynced_on_commit"] is False


def test_the_audit_peer_runs_with_the_durability_the_hub_reports(tmp_path: Path) -> None:
    hub = {"database": "sqlite", "journal_mode": "wal", "synchronous": "normal"}

    async def run() -> dict[str, object]:
        peer = _audit_bench.SqlitePeer(tmp_path / "peer.sqlite", hub)
        try:
            await peer.write(_audit_bench.peer_rows("log", 1, _audit_bench.items(3)))
            return await peer.settings()
        finally:
            await peer.close()

    assert asyncio.run(run()) == hub


def test_a_plain_transaction_pays_the_calldata_floor_and_the_anchor_call_does_not() -> None:
    # The anchor's calldata: 71 non-zero and 29 zero bytes, 313 tokens (figures from the
    # embedded chain: 24,130 gas for the plain transaction, 26,685 for the anchor).
    data = anchor.Calldata(b"\x01" * 71 + b"\x00" * 29)
    assert (data.tokens, data.standard, data.floor) == (313, 1252, 3130)
    assert data.gas(0) == 21_000 + 3130  # no execution: the floor
    assert data.gas(4433) == 21_000 + 1252 + 4433  # execution lifts it over the floor
    assert data.execution(26_685) == 4433


def test_alarm_tails_under_100_trips_are_called_max_and_time_outs_are_counted() -> None:
    few = ingest.Trips(latencies=[1.0, 2.0, 9.0], timed_out=2)
    out = ingest.alarm_summary([few, ingest.Trips(latencies=[float(i) for i in range(100)])])
    assert "alarm_latency_ms_p99" not in out
    assert out["alarm_latency_ms_max"] == 99.0
    assert out["alarm_trips_timed_out"] == 2
    assert out["alarm_trips_measured"] == 103
    full = [ingest.Trips(latencies=[float(i) for i in range(1, 101)]) for _ in range(3)]
    assert ingest.alarm_summary(full)["alarm_latency_ms_p99"] == 99.0


def test_alarm_summary_of_turns_that_all_timed_out_reports_only_the_failures() -> None:
    out = ingest.alarm_summary([ingest.Trips(timed_out=ingest.ALARM_TRIPS)])
    assert out["alarm_trips_timed_out"] == ingest.ALARM_TRIPS
    assert out["alarm_trips_measured"] == 0
    assert not any(key.startswith("alarm_latency") for key in out)


@pytest.mark.parametrize("leaves", [1, 2, 7, 64, 100])
def test_the_per_leaf_tree_agrees_with_the_batch_tree_and_pymerkle(leaves: int) -> None:
    rng = random.Random(leaves)
    entries = [rng.randbytes(32) for _ in range(leaves)]
    indices = [rng.randrange(leaves) for _ in range(10)]
    per_leaf = audit_tree.hub_per_leaf(entries, indices)
    for other in (audit_tree.hub_extend, audit_tree.peer):
        assert audit_tree.mismatch(entries, indices, per_leaf, other(entries, indices)) is None


def test_the_floor_figures_are_those_of_the_median_turn() -> None:
    # A root hash with a zero byte makes one turn's calldata three tokens lighter.
    usual = anchor.Calldata(b"\x01" * 71 + b"\x00" * 29)
    lighter = anchor.Calldata(b"\x01" * 70 + b"\x00" * 30)
    turns = [anchor.Anchored(d.gas(4433), d) for d in (lighter, usual, usual)]
    facts = anchor.floor_facts(turns, [d.gas(0) for d in (lighter, usual, usual)])
    assert facts["calldata_tokens"] == 313
    assert facts["floor_applies"] == {"hub": False, "peer": True}
    assert facts["peer_gas_without_floor"] == 22_252
    assert facts["ratio_without_floor"] == round(22_252 / 26_685, 4)
