"""A small plant for demos and tests: a tank and a production line over Modbus TCP and OPC-UA.

The model: a pump fills a tank (level, %), the pressure follows its setpoint (bar) with a
lag, the temperature drifts slowly. Writing `interlock` true stops the pump and vents the
pressure to 0; writing a setpoint above the alarm limit pushes the pressure past it.

Modbus (unit 1):             OPC-UA (ns=urn:industrial-hub:plant, ns=2 on a fresh server):
  input 0-1  pressure f32      ns=2;s=Plant.Pressure          Double
  input 2-3  level f32         ns=2;s=Plant.Level             Double
  input 4-5  temperature f32   ns=2;s=Plant.Temperature       Double
  input 6    pressure x100 i16
  holding 0-1 setpoint f32 rw  ns=2;s=Plant.PressureSetpoint  Double, writable
  holding 2  pump speed u16 rw ns=2;s=Plant.PumpSpeed         UInt16, writable
  coil 0     interlock rw      ns=2;s=Plant.Interlock         Boolean, writable
  discrete 0 high level        ns=2;s=Plant.HighLevel         Boolean

The production line "line-1" (model and behaviour in line_sim.py; `sim.line` is its model
and its test hooks) on the same servers:

Modbus (unit 1):                  OPC-UA (ns=2):
  holding 100-101 speed_sp f32 rw   ns=2;s=Line1.SpeedSetpoint  Double, writable
  holding 102-103 temp_sp f32 rw    ns=2;s=Line1.TempSetpoint   Double, writable
  holding 104-105 target_qty u32 rw ns=2;s=Line1.TargetQty      UInt32, writable
  holding 106-107 batch_id u32 rw   ns=2;s=Line1.BatchId        UInt32, writable
  coil 10 start rw                  ns=2;s=Line1.Start          Boolean, writable
  coil 11 reset rw                  ns=2;s=Line1.Reset          Boolean, writable
  input 100-101 good_count u32      ns=2;s=Line1.GoodCount      UInt32
  input 102-103 scrap_count u32     ns=2;s=Line1.ScrapCount     UInt32
  input 104 state u16               ns=2;s=Line1.State          UInt16
  input 105 fault_code u16          ns=2;s=Line1.FaultCode      UInt16
  input 106-107 active_batch u32    ns=2;s=Line1.ActiveBatch    UInt32
  input 108-109 speed_pv f32        ns=2;s=Line1.Speed          Double
  input 110-111 temperature_pv f32  ns=2;s=Line1.Temperature    Double

Every write of a line tag (any Modbus write function, or an OPC-UA write) reaches the
model when the server receives it, and the model's values are published at once and on
every tick. `time_scale` speeds the line up (100: a minute of production in 0.6 s).

`async with plant(...) as sim:` runs both servers in-process; `sim.stop_modbus()` /
`sim.start_modbus()` (and the OPC-UA pair) take a PLC down and bring it back on the same
port. `hub simulate plant` runs it as a command.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.callback import CallbackType
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography import x509
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from connectors.plc.codec import decode, encode
from connectors.plc.line_sim import COMMANDS, RECIPE, LineModel
from connectors.plc.plant_tags import LINE_MODBUS_TAGS, LINE_OPCUA_TAGS, MODBUS_TAGS, OPCUA_TAGS
from hub.domain.plc import Datatype, Register, Tag

__all__ = [
    "LINE_MODBUS_TAGS",
    "LINE_OPCUA_TAGS",
    "MODBUS_TAGS",
    "OPCUA_TAGS",
    "LineModel",
    "OpcUaSecurity",
    "PlantSimulator",
    "TankModel",
    "plant",
]
log = logging.getLogger("hub.simulator")
NAMESPACE = "urn:industrial-hub:plant"
F32 = Tag("f", Datatype.FLOAT32)
REGISTERS = 200  # every kind: addresses 0..199 exist
# The line's Modbus map, from its tag list: one source for the server and the clients.
LINE_TAGS = {
    t["name"]: Tag(t["name"], Datatype(t["datatype"]), Register(t["register"]), t["address"])
    for t in LINE_MODBUS_TAGS
}
LINE_HOLDINGS = [t for t in LINE_TAGS.values() if t.register is Register.HOLDING]
LINE_COILS = [t for t in LINE_TAGS.values() if t.register is Register.COIL]
LINE_INPUTS = sorted(
    (t for t in LINE_TAGS.values() if t.register is Register.INPUT), key=lambda t: t.address or 0
)
LINE_INPUT_START = LINE_INPUTS[0].address or 0
LINE_HOLDING_WORDS = {  # holding address -> (tag, word index within it)
    (t.address or 0) + i: (t, i) for t in LINE_HOLDINGS for i in range(t.words)
}
LINE_COIL_AT = {t.address: t for t in LINE_COILS}
LINE_NODES = {  # tag name -> (OPC-UA node name under Line1, variant type)
    t["name"]: (
        t["node_id"].removeprefix("ns=2;s=Line1."),
        {
            "float64": ua.VariantType.Double,
            "uint32": ua.VariantType.UInt32,
            "uint16": ua.VariantType.UInt16,
            "bool": ua.VariantType.Boolean,
        }[t["datatype"]],
    )
    for t in LINE_OPCUA_TAGS
}
LINE_WRITABLE = frozenset(RECIPE + COMMANDS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TankModel:
    setpoint: float = 5.0  # bar
    pump_speed: int = 50  # %
    interlock: bool = False
    pressure: float = 5.0
    level: float = 50.0
    temperature: float = 40.0
    t: float = 0.0

    def step(self, dt: float) -> None:
        self.t += dt
        target = 0.0 if self.interlock else self.setpoint
        self.pressure += (target - self.pressure) * min(1.0, dt * 2.0)  # ~0.5 s lag
        inflow = 0.0 if self.interlock else self.pump_speed / 100 * 2.0
        self.level = min(100.0, max(0.0, self.level + (inflow - 1.0) * dt))
        self.temperature = 40.0 + 2.0 * math.sin(self.t / 30) + random.uniform(-0.05, 0.05)

    @property
    def high_level(self) -> bool:
        return self.level >= 90.0


@dataclass
class OpcUaSecurity:
    """Server security for tests: a certificate enables Basic256Sha256 endpoints."""

    certificate: Path | None = None
    private_key: Path | None = None
    allow_none: bool = True
    users: dict[str, str] = field(default_factory=dict)  # username -> password
    user_certificates: Sequence[Path] = ()
    allow_anonymous: bool = True


class _Users(UserManager):
    def __init__(self, security: OpcUaSecurity, on_session: Callable[[], None]) -> None:
        self._security = security
        self._certs = {_der(Path(p).read_bytes()) for p in security.user_certificates}
        self._on_session = on_session

    def get_user(
        self, iserver: Any, username: Any = None, password: Any = None, certificate: Any = None
    ) -> User | None:
        self._on_session()  # asyncua asks once per ActivateSession
        # asyncua passes the secure channel's certificate with every token type, so a
        # certificate that is not a known user certificate may still be an anonymous login.
        if username:
            ok = self._security.users.get(username) == password
            return User(role=UserRole.User) if ok else None
        if certificate is not None and _der(certificate) in self._certs:
            return User(role=UserRole.User)
        return User(role=UserRole.User) if self._security.allow_anonymous else None


def _der(data: Any) -> bytes:
    if isinstance(data, x509.Certificate):
        from cryptography.hazmat.primitives.serialization import Encoding

        return data.public_bytes(Encoding.DER)
    data = bytes(data)
    if data.startswith(b"-----"):
        from cryptography.hazmat.primitives.serialization import Encoding

        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data


class PlantSimulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        modbus_port: int | None = None,
        opcua_port: int | None = None,
        tick: float = 0.1,
        model: TankModel | None = None,
        opcua_security: OpcUaSecurity | None = None,
        line: LineModel | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.host = host
        self.modbus_port = modbus_port
        self.opcua_port = opcua_port
        self.tick = tick
        self.model = model or TankModel()
        # The production line: its model is also its test hooks (fault, starts, ...).
        self.line = line or LineModel(time_scale=time_scale)
        self._line_mb: dict[str, Any] = {}  # line values the Modbus datastore holds
        self._line_words: dict[int, int] = {}  # its holding registers, word by word
        self._line_inputs: list[int] = []
        self._line_ua: dict[str, Any] = {}  # line values the OPC-UA nodes hold
        self._line_nodes: dict[str, Any] = {}
        self._line_by_node: dict[Any, str] = {}
        self._wake = asyncio.Event()  # a client wrote to the line: publish now
        self.security = opcua_security or OpcUaSecurity()
        self._modbus: ModbusTcpServer | None = None
        self._opcua: Server | None = None
        self._nodes: dict[str, Any] = {}
        self._written: dict[str, Any] = {}
        self._mb_written: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        # Seen from the PLC's side, for tests and benches: client writes per model
        # attribute, a hook called on each, and a fault mode for the Modbus interlock coil:
        # "exception" answers its writes with exception 4 (device failure) and keeps the
        # coil; "mismatch" keeps the coil false whatever is written (a stuck output).
        self.writes: Counter[str] = Counter()
        self.on_write: Callable[[str, Any], None] | None = None
        self.refuse_interlock: str | None = None
        # OPC-UA sessions clients have activated, and how long the server holds a client's
        # write before applying and answering it (a slow PLC: the client may time out).
        self.opcua_sessions = 0
        self.opcua_write_delay = 0.0

    def _session_opened(self) -> None:
        self.opcua_sessions += 1

    def _client_wrote(self, attr: str, value: Any) -> None:
        self.writes[attr] += 1
        if self.on_write is not None:
            self.on_write(attr, value)

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        """Hand writes of the line to its model; count writes of the interlock coil, and
        refuse them in a fault mode."""
        if not sending and pdu.function_code in (5, 6, 15, 16, 23):
            self._line_from_modbus(pdu)
        if pdu.function_code not in (5, 15) or pdu.address != 0:
            return pdu
        if not sending:
            self._client_wrote("interlock", bool(pdu.bits[0]) if pdu.bits else None)
            if self.refuse_interlock is not None:
                held = self.model.interlock if self.refuse_interlock == "exception" else False
                pdu.bits = [held] * len(pdu.bits or [held])
            return pdu
        if self.refuse_interlock == "exception":
            return ExceptionResponse(pdu.function_code, 4, pdu.dev_id, pdu.transaction_id)
        return pdu

    def _line_from_modbus(self, pdu: Any) -> None:
        """A client's write as the server receives it (before it stores it)."""
        fc = pdu.function_code
        if fc in (5, 15):
            bits = list(pdu.bits or [])[: pdu.count if fc == 15 else 1]
            for offset, bit in enumerate(bits):
                tag = LINE_COIL_AT.get(pdu.address + offset)
                if tag is not None:
                    self._line_mb[tag.name] = bool(bit)
                    self.line.write(tag.name, bool(bit))
                    self._wake.set()
            return
        address, words = (
            (pdu.write_address, pdu.write_registers) if fc == 23 else (pdu.address, pdu.registers)
        )
        touched: dict[str, Tag] = {}
        for offset, word in enumerate(words or []):
            at = LINE_HOLDING_WORDS.get(address + offset)
            if at is not None:
                self._line_words[address + offset] = word
                touched[at[0].name] = at[0]
        for name, tag in touched.items():
            first = tag.address or 0
            value = decode(tag, [self._line_words.get(first + i, 0) for i in range(tag.words)])
            self._line_mb[name] = value
            self.line.write(name, value)
            self._wake.set()

    @property
    def modbus_endpoint(self) -> str:
        return f"modbus-tcp://{self.host}:{self.modbus_port}"

    @property
    def opcua_endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.opcua_port}/hub/plant"

    # --- lifecycle ---

    async def start(self) -> None:
        if self.modbus_port is not None:
            await self.start_modbus()
        if self.opcua_port is not None:
            await self.start_opcua()
        self._task = asyncio.create_task(self._run(), name="plant-model")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.stop_modbus()
        await self.stop_opcua()

    async def start_modbus(self) -> None:
        zero_bits = [SimData(0, count=REGISTERS, values=False, datatype=DataType.BITS)]
        zero_regs = [SimData(0, count=REGISTERS, values=0, datatype=DataType.REGISTERS)]
        device = SimDevice(id=1, simdata=(zero_bits, list(zero_bits), zero_regs, list(zero_regs)))
        server = ModbusTcpServer(
            [device], address=(self.host, self.modbus_port or 502), trace_pdu=self._trace_pdu
        )
        await server.serve_forever(background=True)
        self._modbus = server
        self._mb_written = {}  # a fresh server holds zeros: write everything
        self._line_mb, self._line_inputs = {}, []
        self._line_words = dict.fromkeys(LINE_HOLDING_WORDS, 0)
        await self._write_modbus()

    async def stop_modbus(self) -> None:
        server, self._modbus = self._modbus, None
        if server is not None:
            await server.shutdown()

    async def start_opcua(self) -> None:
        server = Server(user_manager=_Users(self.security, self._session_opened))
        await server.init()
        server.set_endpoint(self.opcua_endpoint)
        server.set_server_name("industrial-hub plant simulator")
        policies = [ua.SecurityPolicyType.NoSecurity] if self.security.allow_none else []
        if self.security.certificate is not None:
            await server.load_certificate(str(self.security.certificate))
            await server.load_private_key(str(self.security.private_key))
            policies += [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        server.set_security_policy(policies)
        tokens: list[type] = [ua.UserNameIdentityToken, ua.X509IdentityToken]
        if self.security.allow_anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        idx = await server.register_namespace(NAMESPACE)
        # (NodeId: asyncua annotates its fields with its Int32/String/Int16 marker classes,
        # yet takes and itself passes plain int and str)
        plant = await server.nodes.objects.add_object(
            ua.NodeId("Plant", idx),  # type: ignore[arg-type]  # see above
            ua.QualifiedName("Plant", idx),
        )
        specs = [
            ("Pressure", self.model.pressure, ua.VariantType.Double, False),
            ("Level", self.model.level, ua.VariantType.Double, False),
            ("Temperature", self.model.temperature, ua.VariantType.Double, False),
            ("PressureSetpoint", self.model.setpoint, ua.VariantType.Double, True),
            ("PumpSpeed", self.model.pump_speed, ua.VariantType.UInt16, True),
            ("Interlock", self.model.interlock, ua.VariantType.Boolean, True),
            ("HighLevel", self.model.high_level, ua.VariantType.Boolean, False),
        ]
        self._nodes = {}
        for name, value, kind, writable in specs:
            node = await plant.add_variable(
                ua.NodeId(f"Plant.{name}", idx),  # type: ignore[arg-type]  # see above
                ua.QualifiedName(name, idx),
                ua.Variant(value, kind),
            )
            if writable:
                await node.set_writable()
            self._nodes[name] = node
        self._written = {n: None for n in ("PressureSetpoint", "PumpSpeed", "Interlock")}
        await self._add_line_nodes(server, idx)
        server.subscribe_server_callback(CallbackType.PreWrite, self._hold_opcua_write)
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_opcua_write)
        await server.start()
        self._opcua = server

    async def _add_line_nodes(self, server: Server, idx: int) -> None:
        line = await server.nodes.objects.add_object(
            ua.NodeId("Line1", idx),  # type: ignore[arg-type]  # see start_opcua
            ua.QualifiedName("Line1", idx),
        )
        values = self.line.values()
        self._line_nodes, self._line_ua = {}, {}
        for name, (node_name, kind) in LINE_NODES.items():
            node = await line.add_variable(
                ua.NodeId(f"Line1.{node_name}", idx),  # type: ignore[arg-type]  # see start_opcua
                ua.QualifiedName(node_name, idx),
                ua.Variant(values[name], kind),
            )
            if name in LINE_WRITABLE:
                await node.set_writable()
            self._line_nodes[name] = node
            self._line_ua[name] = values[name]
        self._line_by_node = {node.nodeid: name for name, node in self._line_nodes.items()}

    async def _hold_opcua_write(self, event: Any, _dispatcher: Any) -> None:
        """asyncua awaits this before it applies a write: a slow PLC, when asked."""
        if event.is_external and self.opcua_write_delay > 0:
            await asyncio.sleep(self.opcua_write_delay)

    def _on_opcua_write(self, event: Any, _dispatcher: Any) -> None:
        """A client's write reaches the model at once, before the write is answered."""
        by_node = {node.nodeid: name for name, node in self._nodes.items()}
        attrs = {
            "PressureSetpoint": "setpoint",
            "PumpSpeed": "pump_speed",
            "Interlock": "interlock",
        }
        for item, status in zip(
            event.request_params.NodesToWrite, event.response_params, strict=False
        ):
            line_tag = self._line_by_node.get(item.NodeId)
            if line_tag is not None and event.is_external and status.is_good():
                value = item.Value.Value.Value
                self._line_ua[line_tag] = value
                self.line.write(line_tag, value)
                self._wake.set()
                continue
            name = by_node.get(item.NodeId)
            if name in attrs and status.is_good():
                value = item.Value.Value.Value
                setattr(self.model, attrs[name], value)
                self._written[name] = value
                if event.is_external:  # not the model's own update of the node
                    self._client_wrote(attrs[name], value)

    async def stop_opcua(self) -> None:
        server, self._opcua = self._opcua, None
        if server is not None:
            with suppress(Exception):
                await server.stop()

    # --- the model loop ---

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            with suppress(TimeoutError):  # a tick, or sooner when a client wrote to the line
                async with asyncio.timeout(self.tick):
                    await self._wake.wait()
            self._wake.clear()
            now = loop.time()
            try:
                await self._take_writes()
                self.model.step(now - last)
                self.line.step()
                await self._write_modbus()
                await self._write_opcua()
            except Exception:  # a server going down mid-tick is what tests do
                log.debug("plant tick failed", exc_info=True)
            last = now

    async def _take_writes(self) -> None:
        """Apply what clients wrote since the last tick, from either protocol."""
        model = self.model
        server = self._modbus
        if server is not None and self._mb_written:
            current = {
                "setpoint": decode(F32, await server.async_getValues(1, 3, 0, 2)),
                "pump_speed": (await server.async_getValues(1, 3, 2, 1))[0],
                "interlock": bool((await server.async_getValues(1, 1, 0, 1))[0]),
            }
            for attr, value in current.items():
                if value != self._mb_written.get(attr):  # a client wrote it since the last tick
                    setattr(model, attr, value)
        if self._opcua is not None and self._nodes:
            for name, attr in (
                ("PressureSetpoint", "setpoint"),
                ("PumpSpeed", "pump_speed"),
                ("Interlock", "interlock"),
            ):
                value = await self._nodes[name].read_value()
                if self._written.get(name) is not None and value != self._written[name]:
                    setattr(self.model, attr, value)

    async def _write_modbus(self) -> None:
        server, m = self._modbus, self.model
        if server is None:
            return
        await self._write_line_modbus(server)
        inputs = encode(F32, m.pressure) + encode(F32, m.level) + encode(F32, m.temperature)
        inputs.append(max(-32768, min(32767, round(m.pressure * 100))) & 0xFFFF)
        await server.async_setValues(1, 4, 0, inputs)
        await server.async_setValues(1, 2, 0, [m.high_level])
        # Settable values are written only when the model moved them, so a client's write
        # that lands during a tick is never overwritten by the value it replaced.
        held = {
            "setpoint": decode(F32, encode(F32, m.setpoint)),  # float32 rounds
            "pump_speed": m.pump_speed,
            "interlock": m.interlock,
        }
        last = self._mb_written
        if held["setpoint"] != last.get("setpoint"):
            await server.async_setValues(1, 3, 0, encode(F32, m.setpoint))
        if held["pump_speed"] != last.get("pump_speed"):
            await server.async_setValues(1, 3, 2, [m.pump_speed])
        if held["interlock"] != last.get("interlock"):
            await server.async_setValues(1, 5, 0, [m.interlock])
        self._mb_written = held

    async def _write_line_modbus(self, server: ModbusTcpServer) -> None:
        values = self.line.values()
        inputs = [word for tag in LINE_INPUTS for word in encode(tag, values[tag.name])]
        if inputs != self._line_inputs:
            await server.async_setValues(1, 4, LINE_INPUT_START, inputs)
            self._line_inputs = inputs
        # Settable values only when the model's differ from what the server holds (a
        # client's write is taken by the model as the server receives it, see _trace_pdu).
        for tag in LINE_HOLDINGS:
            value = values[tag.name]
            if value != self._line_mb.get(tag.name):
                words, first = encode(tag, value), tag.address or 0
                await server.async_setValues(1, 3, first, words)
                self._line_words.update(zip(range(first, first + len(words)), words, strict=True))
                self._line_mb[tag.name] = value
        for tag in LINE_COILS:
            value = values[tag.name]
            if value != self._line_mb.get(tag.name):
                await server.async_setValues(1, 5, tag.address or 0, [value])
                self._line_mb[tag.name] = value

    async def _write_opcua(self) -> None:
        if self._opcua is None or not self._nodes:
            return
        await self._write_line_opcua()
        m = self.model
        values = {
            "Pressure": ua.Variant(m.pressure, ua.VariantType.Double),
            "Level": ua.Variant(m.level, ua.VariantType.Double),
            "Temperature": ua.Variant(m.temperature, ua.VariantType.Double),
            "HighLevel": ua.Variant(m.high_level, ua.VariantType.Boolean),
        }
        settable = {
            "PressureSetpoint": (m.setpoint, ua.VariantType.Double),
            "PumpSpeed": (m.pump_speed, ua.VariantType.UInt16),
            "Interlock": (m.interlock, ua.VariantType.Boolean),
        }
        for name, (value, kind) in settable.items():
            if self._written.get(name) != value:  # only what the model moved (see Modbus)
                values[name] = ua.Variant(value, kind)
        for name, variant in values.items():
            await self._nodes[name].write_value(variant)
        self._written = {
            "PressureSetpoint": m.setpoint,
            "PumpSpeed": m.pump_speed,
            "Interlock": m.interlock,
        }

    async def _write_line_opcua(self) -> None:
        for name, value in self.line.values().items():
            if value != self._line_ua.get(name) and name in self._line_nodes:
                kind = LINE_NODES[name][1]
                await self._line_nodes[name].write_value(ua.Variant(value, kind))
                self._line_ua[name] = value


@asynccontextmanager
async def plant(**options: Any) -> AsyncIterator[PlantSimulator]:
    """Run the simulator for the duration of the block (ports default to free ones)."""
    options.setdefault("modbus_port", free_port())
    options.setdefault("opcua_port", free_port())
    sim = PlantSimulator(**options)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
