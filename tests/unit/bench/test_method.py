"""The benchmark method (bench/_method.py): turn order, medians and spreads, honest tails."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import _method


def test_sides_alternate_their_order_every_turn() -> None:
    calls: list[str] = []
    sides = {"hub": lambda t: calls.append(f"hub{t}"), "peer": lambda t: calls.append(f"peer{t}")}
    _method.alternate(sides, 4)
    assert calls == ["hub0", "peer0", "peer1", "hub1", "hub2", "peer2", "peer3", "hub3"]


def test_comparison_reports_medians_spreads_and_a_ratio_that_favours_the_better_side() -> None:
    out = _method.comparison(
        bench="b",
        metric="p99_ms",
        unit="ms",
        hub=[10.0, 30.0, 20.0],
        peer=[5.0, 6.0, 100.0],
        peer_name="raw",
        hub_settings={"synchronous": "normal"},
        peer_settings={"synchronous": "normal"},
        higher_is_better=False,
    )
    assert (out["hub"], out["peer"], out["runs"]) == (20.0, 6.0, 3)
    assert out["hub_spread"] == [10.0, 30.0] and out["peer_spread"] == [5.0, 100.0]
    assert out["ratio"] == pytest.approx(0.3)


def test_turns_are_never_fewer_than_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_BENCH_TURNS", "1")
    assert _method.turns() == 3
    monkeypatch.setenv("HUB_BENCH_TURNS", "5")
    assert _method.turns() == 5


def test_a_tail_over_few_samples_is_called_the_maximum() -> None:
    assert _method.tail([1.0, 9.0, 3.0]) == ("max", 9.0)
    name, value = _method.tail([float(i) for i in range(1, 201)])
    assert (name, value) == ("p99", 198.0)


def test_sqlite_settings_are_read_back_from_the_connection(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    assert _method.sqlite_settings(conn) == {"journal_mode": "wal", "synchronous": "normal"}
    conn.close()
