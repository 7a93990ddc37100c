"""Modbus register encoding: datatypes over 16-bit words, byte and word order, blocks.

Pure code (no pymodbus). A `BlockPlan` is built once per polling block; decoding a block
packs its registers into bytes once and unpacks each tag with a precompiled Struct, so a
poll costs a few hundred nanoseconds per tag.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.domain.plc import (
    MAX_BLOCK_BITS,
    MAX_BLOCK_REGISTERS,
    ByteOrder,
    Datatype,
    Register,
    Tag,
)

FORMATS = {
    Datatype.INT16: "h",
    Datatype.UINT16: "H",
    Datatype.INT32: "i",
    Datatype.UINT32: "I",
    Datatype.INT64: "q",
    Datatype.FLOAT32: "f",
    Datatype.FLOAT64: "d",
}
MAX_GAP = 8  # merge tags into one read across gaps of up to this many unused registers


def _address(tag: Tag) -> int:
    """The address of a tag in a block: plan_blocks takes only tags that have one."""
    if tag.address is None:
        raise TypeError(f"tag {tag.name} has no address")
    return tag.address


def _reorder(raw: bytes, tag: Tag) -> bytes:
    """Bytes as the PLC sent them -> big-endian bytes of the value."""
    if tag.byte_order is ByteOrder.LITTLE:
        raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
    if tag.word_order is ByteOrder.LITTLE and tag.datatype is not Datatype.STRING:
        raw = b"".join(raw[i : i + 2] for i in range(len(raw) - 2, -1, -2))
    return raw


def decode(tag: Tag, registers: Sequence[int]) -> Any:
    """One tag's raw value from its registers (exactly `tag.words` of them)."""
    raw = struct.pack(f">{len(registers)}H", *registers)
    return _decode_bytes(tag, raw, 0)


def _decode_bytes(tag: Tag, buf: bytes, offset: int) -> Any:
    size = tag.words * 2
    raw = buf[offset : offset + size]
    if tag.byte_order is not ByteOrder.BIG or tag.word_order is not ByteOrder.BIG:
        raw = _reorder(raw, tag)
    if tag.datatype is Datatype.STRING:
        return raw.rstrip(b"\x00").decode("utf-8", "replace")
    return struct.unpack(">" + FORMATS[tag.datatype], raw)[0]


def encode(tag: Tag, value: Any) -> list[int]:
    """Registers holding `value` (a raw value: scaling is undone by the caller)."""
    if tag.datatype is Datatype.STRING:
        data = str(value).encode("utf-8")[: tag.words * 2].ljust(tag.words * 2, b"\x00")
    else:
        number = (
            float(value) if tag.datatype in (Datatype.FLOAT32, Datatype.FLOAT64) else int(value)
        )
        data = struct.pack(">" + FORMATS[tag.datatype], number)
    if tag.word_order is ByteOrder.LITTLE and tag.datatype is not Datatype.STRING:
        data = b"".join(data[i : i + 2] for i in range(len(data) - 2, -1, -2))
    if tag.byte_order is ByteOrder.LITTLE:
        data = b"".join(data[i + 1 : i + 2] + data[i : i + 1] for i in range(0, len(data), 2))
    return list(struct.unpack(f">{len(data) // 2}H", data))


@dataclass(frozen=True)
class BlockPlan:
    """One read request: `count` registers (or bits) of `register` from `start`."""

    register: Register
    start: int
    count: int
    tags: tuple[Tag, ...]

    def decoder(self) -> Callable[[Sequence[Any]], list[Any]]:
        """A function from the block's registers (or bits) to each tag's raw value, in order."""
        if self.register.is_bit:
            offsets = [_address(t) - self.start for t in self.tags]

            def bits(values: Sequence[Any]) -> list[Any]:
                return [bool(values[o]) for o in offsets]

            return bits
        packer = struct.Struct(f">{self.count}H")
        whole = self._whole_block_format()
        if whole is not None:
            if whole == "uint16":  # the registers are the values

                def as_is(values: Sequence[int]) -> list[Any]:
                    return list(values)

                return as_is
            unpacker = struct.Struct(whole)

            def at_once(values: Sequence[int]) -> list[Any]:
                return list(unpacker.unpack(packer.pack(*values)))

            return at_once
        fast: list[tuple[int, Any]] = []
        for tag in self.tags:
            off = (_address(tag) - self.start) * 2
            simple = (
                tag.datatype in FORMATS
                and tag.byte_order is ByteOrder.BIG
                and tag.word_order is ByteOrder.BIG
            )
            fast.append((off, struct.Struct(">" + FORMATS[tag.datatype]) if simple else tag))

        def registers(values: Sequence[int]) -> list[Any]:
            buf = packer.pack(*values)
            out = []
            for off, how in fast:
                if isinstance(how, struct.Struct):
                    out.append(how.unpack_from(buf, off)[0])
                else:
                    out.append(_decode_bytes(how, buf, off))
            return out

        return registers

    def _whole_block_format(self) -> str | None:
        """One struct format decoding every tag of the block in one C call, when the tags
        are plain big-endian numbers in address order that do not overlap ("uint16" when
        the block is nothing but consecutive uint16 registers)."""
        parts, at = [">"], self.start
        for tag in self.tags:
            if (
                tag.datatype not in FORMATS
                or tag.byte_order is not ByteOrder.BIG
                or tag.word_order is not ByteOrder.BIG
                or tag.address is None
                or tag.address < at
            ):
                return None
            if tag.address > at:
                parts.append(f"{(tag.address - at) * 2}x")
            parts.append(FORMATS[tag.datatype])
            at = tag.address + tag.words
        if at < self.start + self.count:
            parts.append(f"{(self.start + self.count - at) * 2}x")
        fmt = "".join(parts)
        if fmt == ">" + "H" * self.count and len(self.tags) == self.count:
            return "uint16"
        return fmt


def plan_blocks(tags: Sequence[Tag], *, max_gap: int = MAX_GAP) -> list[BlockPlan]:
    """Adjacent addresses of one register kind merged into reads of at most 125 registers."""
    plans: list[BlockPlan] = []
    by_kind: dict[Register, list[Tag]] = {}
    for tag in tags:
        if tag.register is not None and tag.address is not None:
            by_kind.setdefault(tag.register, []).append(tag)
    for kind in Register:
        limit = MAX_BLOCK_BITS if kind.is_bit else MAX_BLOCK_REGISTERS
        width: Callable[[Tag], int] = (lambda t: 1) if kind.is_bit else (lambda t: t.words)
        members: list[Tag] = []
        start = end = 0
        for tag in sorted(by_kind.get(kind, []), key=lambda t: (t.address, t.name)):
            first = _address(tag)
            last = first + width(tag)
            if members and first - end <= max_gap and max(end, last) - start <= limit:
                members.append(tag)
                end = max(end, last)
                continue
            if members:
                plans.append(BlockPlan(kind, start, end - start, tuple(members)))
            members, start, end = [tag], first, last
        if members:
            plans.append(BlockPlan(kind, start, end - start, tuple(members)))
    return plans
