"""Sample chunks: packing, unpacking, aggregation; device definitions' checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.domain.errors import ValidationFailed
from hub.domain.plc_config import device_dict, parse_device, patch_device
from hub.domain.samples import (
    BOOL,
    MINUTE_US,
    NUMBER,
    TEXT,
    aggregate,
    pack,
    pack_chunks,
    pack_column,
    runs,
    unpack,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "kind,values",
    [(NUMBER, [1.5, None, -2.0]), (BOOL, [True, False, None]), (TEXT, ["a", None, "ü"])],
)
def test_pack_round_trip(kind: int, values: list[object]) -> None:
    samples = [(1000 + i, v, i % 3) for i, v in enumerate(values)]
    first, last, count, ts, vals, texts, quality, *_ = pack(kind, samples)
    assert (first, last, count) == (1000, 1002, 3)
    assert unpack(kind, ts, vals, texts, quality) == samples


def test_a_chunk_summarises_its_usable_samples() -> None:
    # (ts, value, quality): the bad 100.0 and the empty value are not usable
    samples = [(1, 4.0, 0), (2, None, 0), (3, -1.0, 1), (4, 100.0, 2), (5, 2.5, 0)]
    assert pack(NUMBER, samples)[7:] == (3, -1.0, 4.0, 5.5, 2.5, 5)
    assert pack(NUMBER, [(1, 1.0, 2)])[7:] == (0, None, None, None, None, None)
    assert pack(TEXT, [(1, "a", 0), (2, "b", 2), (3, None, 0)])[7:] == (1, *[None] * 4, 1)


def test_columns_are_scaled_and_summarised() -> None:
    vals, texts, summary = pack_column(NUMBER, (100, 200, None), [1, 2, 3], 0.1, 1.0, True)
    stamps = pack(NUMBER, [(1, 0.0, 0), (2, 0.0, 0), (3, 0.0, 0)])[3]
    decoded = [v for _, v, _ in unpack(NUMBER, stamps, vals, texts, bytes(3))]
    assert decoded[:2] == pytest.approx([11.0, 21.0]) and decoded[2] is None
    assert summary == (2, pytest.approx(11.0), pytest.approx(21.0), pytest.approx(32.0), 21.0, 2)
    assert pack_column(NUMBER, (3, 1, 2), [1, 2, 3], 1.0, 0.0, False)[2] == (3, 1, 3, 6, 2, 3)


def test_chunks_are_in_time_order_within_a_minute() -> None:
    late, early = (MINUTE_US + 10, 2.0, 0), (5, 1.0, 0)
    chunks = pack_chunks(NUMBER, [late, (7, 3.0, 0), early])
    assert [(c[0], c[1], c[2]) for c in chunks] == [(5, 7, 2), (late[0], late[0], 1)]
    assert unpack(NUMBER, *chunks[0][3:7]) == [early, (7, 3.0, 0)]
    assert runs([3, 1, 2], lambda t: t) == [[1, 2, 3]]
    assert runs([1, MINUTE_US - 1, MINUTE_US, 3 * MINUTE_US], lambda t: t) == [
        [1, MINUTE_US - 1],
        [MINUTE_US],
        [3 * MINUTE_US],
    ]


def test_aggregate_skips_bad_samples() -> None:
    minute = 60_000_000
    samples = [(0, 1.0, 0), (1, 3.0, 0), (2, 100.0, 2), (minute, 5.0, 1)]
    assert aggregate(samples, minute, "avg") == [(0, 2.0, 2), (minute, 5.0, 1)]
    assert aggregate(samples, minute, "max")[0] == (0, 3.0, 2)
    assert aggregate(samples, minute, "last")[0] == (0, 3.0, 2)


@pytest.mark.parametrize(
    "agg,figure,expected", [("avg", 9.0, 2.5), ("min", -1.0, -1.0), ("max", 8.0, 8.0)]
)
def test_aggregate_merges_whole_chunks_figures(agg: str, figure: float, expected: float) -> None:
    """Bucket 0 has whole chunks' figures (3 samples) and one decoded sample (1.0)."""
    merged = aggregate([(10, 1.0, 0), (70, 4.0, 0)], 60, agg, [(0, 3, figure, 50)])
    assert merged == [(0, expected, 4), (60, 4.0, 1)]


def test_the_last_value_is_the_newest_of_figures_and_samples() -> None:
    assert aggregate([(10, 1.0, 0)], 60, "last", [(0, 3, 7.0, 50)]) == [(0, 7.0, 4)]
    assert aggregate([(55, 1.0, 0)], 60, "last", [(0, 3, 7.0, 50)]) == [(0, 1.0, 4)]
    assert aggregate([(5, "on", 0)], 60, "avg", [(0, 2, None, 3)]) == [(0, None, 3)]


def test_device_definition_checks_and_masks_secrets() -> None:
    raw = {
        "name": "ua",
        "protocol": "opcua",
        "endpoint": "opc.tcp://plc:4840",
        "security": {
            "policy": "Basic256Sha256",
            "mode": "Sign",
            "certificate": "c.der",
            "private_key": "k.pem",
            "identity": "username",
            "username": "u",
            "password": "secret",
        },
        "tags": [{"name": "p", "node_id": "ns=2;s=P", "datatype": "float64"}],
    }
    device = parse_device(raw, id="0" * 32, tenant_id="t", at=NOW)
    assert device_dict(device)["security"]["password"] == "***"
    assert device_dict(device, secrets=True)["security"]["password"] == "secret"
    with pytest.raises(ValidationFailed) as bad:
        parse_device(
            {**raw, "security": {"policy": "Basic256Sha256", "mode": "None"}},
            id="0" * 32,
            tenant_id="t",
            at=NOW,
        )
    assert {p.field for p in bad.value.problems} >= {"security.mode", "security.certificate"}
    with pytest.raises(ValidationFailed):
        patch_device(device, {"protocol": "modbus"})
    assert patch_device(device, {"poll_interval_ms": 250}).poll_interval_ms == 250
