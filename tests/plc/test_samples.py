"""Sample chunks: packing, unpacking, aggregation; device definitions' checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.domain.errors import ValidationFailed
from hub.domain.plc_config import device_dict, parse_device, patch_device
from hub.domain.samples import BOOL, NUMBER, TEXT, aggregate, pack, pack_column, unpack

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "kind,values",
    [(NUMBER, [1.5, None, -2.0]), (BOOL, [True, False, None]), (TEXT, ["a", None, "ü"])],
)
def test_pack_round_trip(kind: int, values: list[object]) -> None:
    samples = [(1000 + i, v, i % 3) for i, v in enumerate(values)]
    first, last, count, ts, vals, texts, quality = pack(kind, samples)
    assert (first, last, count) == (1000, 1002, 3)
    assert unpack(kind, ts, vals, texts, quality) == samples


def test_columns_are_scaled() -> None:
    vals, texts = pack_column(NUMBER, (100, 200, None), 0.1, 1.0, True)
    stamps = pack(NUMBER, [(1, 0.0, 0), (2, 0.0, 0), (3, 0.0, 0)])[3]
    decoded = [v for _, v, _ in unpack(NUMBER, stamps, vals, texts, bytes(3))]
    assert decoded[:2] == pytest.approx([11.0, 21.0]) and decoded[2] is None


def test_aggregate_skips_bad_samples() -> None:
    minute = 60_000_000
    samples = [(0, 1.0, 0), (1, 3.0, 0), (2, 100.0, 2), (minute, 5.0, 1)]
    assert aggregate(samples, minute, "avg") == [(0, 2.0, 2), (minute, 5.0, 1)]
    assert aggregate(samples, minute, "max")[0] == (0, 3.0, 2)
    assert aggregate(samples, minute, "last")[0] == (0, 3.0, 2)


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
