"""Register encoding: every datatype, byte and word order, scaling, block planning."""

from __future__ import annotations

import struct

import pytest

from connectors.plc.codec import decode, encode, plan_blocks
from hub.domain.plc import ByteOrder, Datatype, Register, Tag

CASES = [
    (Datatype.INT16, -12345),
    (Datatype.UINT16, 65535),
    (Datatype.INT32, -2_000_000_000),
    (Datatype.UINT32, 4_000_000_000),
    (Datatype.INT64, -(2**62) - 7),
    (Datatype.FLOAT32, 3.5),
    (Datatype.FLOAT64, -1234.56789012345),
]


@pytest.mark.parametrize("datatype,value", CASES, ids=[c[0].value for c in CASES])
@pytest.mark.parametrize("byte_order", list(ByteOrder))
@pytest.mark.parametrize("word_order", list(ByteOrder))
def test_round_trip(
    datatype: Datatype, value: float, byte_order: ByteOrder, word_order: ByteOrder
) -> None:
    tag = Tag("t", datatype, Register.HOLDING, 0, byte_order=byte_order, word_order=word_order)
    words = encode(tag, value)
    assert len(words) == tag.words
    assert decode(tag, words) == value


def test_word_and_byte_order_layouts() -> None:
    value = 0x11223344
    big = Tag("a", Datatype.UINT32, Register.HOLDING, 0)
    assert encode(big, value) == [0x1122, 0x3344]
    swapped = Tag("a", Datatype.UINT32, Register.HOLDING, 0, word_order=ByteOrder.LITTLE)
    assert encode(swapped, value) == [0x3344, 0x1122]
    bytes_swapped = Tag("a", Datatype.UINT32, Register.HOLDING, 0, byte_order=ByteOrder.LITTLE)
    assert encode(bytes_swapped, value) == [0x2211, 0x4433]
    # float32 1.0 is 0x3F800000; "CDAB" PLCs send the low word first
    cdab = Tag("f", Datatype.FLOAT32, Register.HOLDING, 0, word_order=ByteOrder.LITTLE)
    assert decode(cdab, [0x0000, 0x3F80]) == 1.0


def test_strings_pad_and_strip() -> None:
    tag = Tag("s", Datatype.STRING, Register.HOLDING, 0, length=4)
    words = encode(tag, "PUMP-1")
    assert len(words) == 4 and decode(tag, words) == "PUMP-1"
    assert words[0] == struct.unpack(">H", b"PU")[0]


def test_scaling_and_write_values() -> None:
    tag = Tag("p", Datatype.INT16, Register.HOLDING, 0, scale=0.1, offset=-10, writable=True)
    assert tag.scaled(250) == pytest.approx(15.0)
    assert tag.raw_of(15.0) == 250
    assert tag.value_problem(15.0) is None
    assert tag.value_problem(5000.0) is not None  # raw 50100 does not fit int16
    assert tag.value_problem("3") is not None and tag.value_problem(True) is not None
    plain = Tag("u", Datatype.UINT16, Register.HOLDING, 0)
    assert plain.value_problem(1.5) is not None and plain.value_problem(-1) is not None
    assert Tag("b", Datatype.BOOL, Register.COIL, 0).value_problem(1) is not None


def test_blocks_merge_adjacent_addresses_up_to_125_registers() -> None:
    tags = [Tag(f"t{i}", Datatype.FLOAT32, Register.HOLDING, i * 2) for i in range(100)]
    tags += [Tag("far", Datatype.UINT16, Register.HOLDING, 1000)]
    tags += [Tag(f"c{i}", Datatype.BOOL, Register.COIL, i) for i in range(10)]
    tags += [Tag("i", Datatype.INT32, Register.INPUT, 5)]
    plans = plan_blocks(tags)
    holding = [p for p in plans if p.register is Register.HOLDING]
    assert [(p.start, p.count) for p in holding] == [(0, 124), (124, 76), (1000, 1)]
    assert all(p.count <= 125 for p in plans)
    assert sum(len(p.tags) for p in holding) == 101
    coils = [p for p in plans if p.register is Register.COIL]
    assert [(p.start, p.count) for p in coils] == [(0, 10)]
    decoded = holding[0].decoder()(
        [w for i, t in enumerate(holding[0].tags) for w in encode(t, float(i))]
    )
    assert decoded == [float(i) for i in range(62)]
    gap = plan_blocks(
        [Tag("a", Datatype.UINT16, Register.INPUT, 0), Tag("b", Datatype.UINT16, Register.INPUT, 5)]
    )
    assert [(p.start, p.count) for p in gap] == [(0, 6)]  # a small gap is cheaper read than split
