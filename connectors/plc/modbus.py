"""Modbus adapter (pymodbus 3): TCP, or RTU over a serial port, behind PlcConnection.

Endpoints: `modbus-tcp://host:port`, `modbus-rtu:///dev/ttyUSB0?baudrate=9600&parity=N`.
pymodbus' own reconnecting is off (the hub's supervisor reconnects with backoff and
jitter and marks tags bad meanwhile); every request is bounded by the device timeout.
Tags of one register kind at adjacent addresses are read in one request (codec.plan_blocks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from connectors.plc.codec import BlockPlan, decode, encode, plan_blocks
from hub.domain.plc import (
    BrowseEntry,
    Device,
    PlcError,
    PlcRefused,
    PlcTimeout,
    PlcUnavailable,
    Register,
    Tag,
    modbus_exception,
)
from hub.ports import TagBatch

READERS = {
    Register.COIL: "read_coils",
    Register.DISCRETE: "read_discrete_inputs",
    Register.HOLDING: "read_holding_registers",
    Register.INPUT: "read_input_registers",
}


def _client(endpoint: str, timeout: float) -> Any:
    parts = urlsplit(endpoint)
    if parts.scheme == "modbus-rtu":
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return AsyncModbusSerialClient(
            parts.path,
            framer=FramerType.RTU,
            baudrate=int(query.get("baudrate", 19200)),
            bytesize=int(query.get("bytesize", 8)),
            parity=query.get("parity", "N"),
            stopbits=int(query.get("stopbits", 1)),
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
        )
    return AsyncModbusTcpClient(
        parts.hostname or "127.0.0.1",
        port=parts.port or 502,
        timeout=timeout,
        retries=0,
        reconnect_delay=0,
    )


class _Program:
    """How to read one group of tags: its block reads and where each value lands."""

    def __init__(self, tags: Sequence[Tag]) -> None:
        self.tags = tuple(tags)
        index = {t.name: i for i, t in enumerate(self.tags)}
        self.steps: list[tuple[BlockPlan, Callable[[Sequence[Any]], list[Any]], list[int]]] = []
        for plan in plan_blocks(self.tags):
            self.steps.append((plan, plan.decoder(), [index[t.name] for t in plan.tags]))
        # Fast path: one block holding every tag in the group's order needs no reshuffle.
        self.direct = len(self.steps) == 1 and self.steps[0][2] == list(range(len(self.tags)))


class ModbusConnection:
    def __init__(self, device: Device) -> None:
        self.device = device
        self.timeout = device.timeout_ms / 1000
        self.unit = device.unit_id
        self._client: Any = None
        self._programs: dict[int, tuple[Sequence[Tag], _Program]] = {}
        self.requests = 0

    async def connect(self) -> None:
        await self.close()
        self._client = _client(self.device.endpoint, self.timeout)
        try:
            ok = await asyncio.wait_for(self._client.connect(), self.timeout)
        except TimeoutError:
            raise PlcTimeout(f"connecting to {self.device.endpoint} timed out") from None
        except (OSError, ModbusException) as exc:
            raise PlcUnavailable(f"cannot connect to {self.device.endpoint}: {exc}") from None
        if not ok:
            raise PlcUnavailable(f"cannot connect to {self.device.endpoint}")

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _call(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        if self._client is None or not self._client.connected:
            raise PlcUnavailable(f"not connected to {self.device.endpoint}")
        self.requests += 1
        try:
            async with asyncio.timeout(self.timeout):  # no extra task per request
                response = await call()
        except TimeoutError:
            raise PlcTimeout(f"{what} on {self.device.endpoint} timed out") from None
        except (OSError, ModbusException) as exc:
            raise PlcUnavailable(f"{what} on {self.device.endpoint} failed: {exc}") from None
        if response.isError():
            code = getattr(response, "exception_code", None)
            if code is None:
                raise PlcRefused(f"{what} failed: {response}")
            raise modbus_exception(int(code))
        return response

    async def _read_block(self, plan: BlockPlan) -> Sequence[Any]:
        reader = getattr(self._client, READERS[plan.register]) if self._client else None
        if reader is None:
            raise PlcUnavailable(f"not connected to {self.device.endpoint}")
        response = await self._call(
            f"read {plan.register.value} {plan.start}+{plan.count}",
            lambda: reader(plan.start, count=plan.count, device_id=self.unit),
        )
        return response.bits if plan.register.is_bit else response.registers

    def _program(self, tags: Sequence[Tag]) -> _Program:
        # Keyed by the sequence's identity: a poll group passes the same list every time.
        cached = self._programs.get(id(tags))
        if cached is not None and cached[0] is tags:
            return cached[1]
        if len(self._programs) > 256:
            self._programs.clear()
        program = _Program(tags)
        self._programs[id(tags)] = (tags, program)
        return program

    def plan(self, tags: Sequence[Tag]) -> list[list[Tag]]:
        """The group's reads: one per block of adjacent registers."""
        return [list(plan.tags) for plan, _, _ in self._program(tags).steps]

    async def read(self, tags: Sequence[Tag]) -> TagBatch:
        program = self._program(tags)
        if program.direct:
            plan, decoder, _ = program.steps[0]
            return TagBatch(program.tags, decoder(await self._read_block(plan)), datetime.now(UTC))
        values: list[Any] = [None] * len(program.tags)
        for plan, decoder, slots in program.steps:
            for slot, value in zip(slots, decoder(await self._read_block(plan)), strict=True):
                values[slot] = value
        return TagBatch(program.tags, values, datetime.now(UTC))

    async def write(self, tag: Tag, raw: Any) -> Any:
        assert tag.register is not None and tag.address is not None
        client = self._client
        if client is None:
            raise PlcUnavailable(f"not connected to {self.device.endpoint}")
        what = f"write {tag.register.value} {tag.address}"
        if tag.register is Register.COIL:
            await self._call(
                what, lambda: client.write_coil(tag.address, bool(raw), device_id=self.unit)
            )
        elif tag.register is Register.HOLDING:
            words = encode(tag, raw)
            await self._call(
                what,
                lambda: (
                    client.write_register(tag.address, words[0], device_id=self.unit)
                    if len(words) == 1
                    else client.write_registers(tag.address, words, device_id=self.unit)
                ),
            )
        else:
            raise PlcRefused(f"{tag.register.value} registers are read-only")
        block = BlockPlan(
            tag.register, tag.address, 1 if tag.register.is_bit else tag.words, (tag,)
        )
        values = await self._read_block(block)
        return bool(values[0]) if tag.register.is_bit else decode(tag, values[: tag.words])

    async def subscribe(self, tags: Sequence[Tag], deliver: Callable[[TagBatch], None]) -> bool:
        return False  # Modbus has no subscriptions: the supervisor polls

    async def browse(self, node: str | None) -> list[BrowseEntry]:
        raise PlcRefused("Modbus devices have no address space to browse")

    async def check(self) -> None:
        if self._client is None or not self._client.connected:
            raise PlcUnavailable(f"connection to {self.device.endpoint} lost")

    def status(self) -> dict[str, Any]:
        return {"requests": self.requests}


class ModbusPort:
    def open(self, device: Device) -> ModbusConnection:
        return ModbusConnection(device)


__all__ = ["ModbusConnection", "ModbusPort", "PlcError"]
