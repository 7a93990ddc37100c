"""A small plant for demos and tests: one tank model served over Modbus TCP and OPC-UA.

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
from connectors.plc.plant_tags import MODBUS_TAGS, OPCUA_TAGS
from hub.domain.plc import Datatype, Tag

__all__ = ["MODBUS_TAGS", "OPCUA_TAGS", "OpcUaSecurity", "PlantSimulator", "TankModel", "plant"]
log = logging.getLogger("hub.simulator")
NAMESPACE = "urn:industrial-hub:plant"
F32 = Tag("f", Datatype.FLOAT32)
REGISTERS = 200  # every kind: addresses 0..199 exist


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
    ) -> None:
        self.host = host
        self.modbus_port = modbus_port
        self.opcua_port = opcua_port
        self.tick = tick
        self.model = model or TankModel()
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
        """Count writes of the interlock coil, and refuse them in a fault mode."""
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
        server.subscribe_server_callback(CallbackType.PreWrite, self._hold_opcua_write)
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_opcua_write)
        await server.start()
        self._opcua = server

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
            await asyncio.sleep(self.tick)
            now = loop.time()
            try:
                await self._take_writes()
                self.model.step(now - last)
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

    async def _write_opcua(self) -> None:
        if self._opcua is None or not self._nodes:
            return
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
