"""The production bench's peers and its plain-script side (bench/production.py).

- `LineProcess`: the plant simulator's production line (connectors/plc/plant_sim.py, Modbus
  only) in a process of its own, as a PLC is a machine of its own (in the bench's process
  it would take the GIL from whichever side runs); its model a `TimedLine` that notes,
  on the simulator's side, when the first START of each batch arrives (perf_counter, when
  the server receives the write: CLOCK_MONOTONIC, the same clock in every process).
- `ErpOrders`: the untimed setup through the sample ERP's own API: component stock, and
  each turn's released production orders with their components (fresh ids).
- `ScriptSide`: the peer, a plain async script (httpx + pymodbus, no durability, no audit)
  making per order the requests the production-control pack makes, one after the other.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from pymodbus.client import AsyncModbusTcpClient

from connectors.enterprise.sample_server import SampleErp
from connectors.plc.codec import decode, encode
from connectors.plc.line_sim import LineModel, LineState
from connectors.plc.plant_sim import LINE_MODBUS_TAGS, PlantSimulator, free_port
from hub.domain.plc import Datatype, Register, Tag

PLANT = "1000"
MATERIAL = "FG-BENCH"
# Two components per order, as the sample ERP's seeded orders have; stock for every turn.
COMPONENTS = {"RM-BENCH-A": 20.0, "RM-BENCH-B": 5.0}
STOCK = 100_000_000
POLL_S = 0.05  # the pack's own wait between readings (activities.POLL_S)
TIMEOUT_S = 30.0
TAGS = {
    t["name"]: Tag(t["name"], Datatype(t["datatype"]), Register(t["register"]), t["address"])
    for t in LINE_MODBUS_TAGS
}
RECIPE_TAGS = ("speed_sp", "temperature_sp", "target_qty", "batch_id")
# good_count .. active_batch: one block of input registers (100-107)
STATUS_START, STATUS_WORDS = 100, 8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_loop(loop: asyncio.AbstractEventLoop) -> threading.Thread:
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return thread


class LoopThread:
    """An event loop on a thread of its own; `call(coro)` waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = _run_loop(self.loop)

    def call(self, coro: Any, timeout: float | None = 600) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


# --- the line --------------------------------------------------------------------------


class TimedLine(LineModel):
    """The line's model, noting when each batch's first START reaches the PLC."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.start_seen: dict[int, float] = {}

    def write(self, name: str, value: Any) -> None:
        if name == "start" and value:
            self.start_seen.setdefault(self.batch_id, time.perf_counter())
        super().write(name, value)


class LineProcess:
    """The line in a child process (`python bench/_production_line.py line SCALE`): it
    prints its Modbus endpoint, then answers each `starts` line on its stdin with the
    START times seen since the last ask (JSON: batch id -> perf_counter)."""

    def __init__(self, time_scale: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "line", repr(time_scale)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()
        if not self.endpoint.startswith("modbus-tcp://"):
            self.stop()
            raise RuntimeError(f"the line did not start: {self.endpoint!r}")

    def starts(self) -> dict[int, float]:
        """The first START of each batch since the last call, as the PLC received it."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write("starts\n")
        stdin.flush()
        return {int(batch): at for batch, at in json.loads(stdout.readline()).items()}

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve_line(time_scale: float) -> None:
    """The child's side of LineProcess."""
    server = LoopThread()
    line = TimedLine(time_scale=time_scale)
    sim = PlantSimulator(modbus_port=free_port(), line=line)
    server.call(sim.start())
    print(sim.modbus_endpoint, flush=True)
    try:
        for command in sys.stdin:
            if command.strip() == "starts":
                seen, line.start_seen = line.start_seen, {}
                print(json.dumps(seen), flush=True)
    finally:
        server.call(sim.stop())
        server.close()


# --- the ERP, untimed --------------------------------------------------------------------


def odata_filter(text: str) -> str:
    """A $filter value for a URL: %20, not '+' (OData wants no form encoding)."""
    return quote(text, safe="'()")


class ErpOrders:
    """Orders and stock through the sample ERP's API (CSRF token fetched once)."""

    def __init__(self, erp: SampleErp) -> None:
        self.erp = erp
        self.root = erp.v4_url + "/"
        self.block = 0

    async def _client(self) -> tuple[httpx.AsyncClient, str]:
        http = httpx.AsyncClient(auth=self.erp.auth, timeout=30, trust_env=False)
        fetched = await http.get(self.root, headers={"x-csrf-token": "Fetch"})
        return http, fetched.headers.get("x-csrf-token", "")

    async def stock(self) -> None:
        http, token = await self._client()
        try:
            for material in (*COMPONENTS, MATERIAL):
                body = {"Material": material, "Plant": PLANT, "Quantity": STOCK}
                made = await http.post(
                    self.root + "postGoodsMovement", json=body, headers={"x-csrf-token": token}
                )
                if made.status_code >= 300:
                    raise RuntimeError(f"stock of {material}: {made.status_code} {made.text}")
        finally:
            await http.aclose()

    def fresh_ids(self, count: int) -> list[str]:
        """Order ids never used before in this ERP: digits, so each is its own batch id."""
        self.block += 1
        base = 50_000_000 + self.block * 10_000
        return [str(base + i) for i in range(count)]

    async def create(self, ids: list[str], quantity: int, in_flight: int = 8) -> None:
        """Released orders with their components. No work center: the pack's release
        poller and reconcile (crons, listing the line's work center) never see them, so
        they arrive only by the release the bench publishes, one at a time."""
        http, token = await self._client()
        headers = {"x-csrf-token": token}
        pending: Iterator[str] = iter(ids)

        async def post(path: str, body: dict[str, Any]) -> None:
            made = await http.post(self.root + path, json=body, headers=headers)
            if made.status_code != 201:
                raise RuntimeError(f"POST {path}: {made.status_code} {made.text}")

        async def worker() -> None:
            for order_id in pending:
                await post(
                    "ProductionOrders",
                    {
                        "ID": order_id,
                        "Material": MATERIAL,
                        "Plant": PLANT,
                        "Quantity": quantity,
                        "Unit": "PC",
                        "Status": "RELEASED",
                        "ScheduledStart": "2026-12-03T06:00:00Z",
                    },
                )
                for material, per_unit in COMPONENTS.items():
                    body = {
                        "OrderID": order_id,
                        "Material": material,
                        "Plant": PLANT,
                        "RequiredQuantity": per_unit * quantity / 10,
                        "Unit": "PC",
                    }
                    await post("ProductionOrderComponents", body)

        try:
            await asyncio.gather(*(worker() for _ in range(in_flight)))
        finally:
            await http.aclose()


# --- the plain script --------------------------------------------------------------------


@dataclass
class ScriptOrder:
    order_id: str
    began: float  # perf_counter as the script takes the order (its release)
    total_s: float
    phases: dict[str, float] = field(default_factory=dict)


class ScriptSide(LoopThread):
    """The peer: one httpx client and one pymodbus client for the turn, each order's
    requests one after the other, as the pack makes them:

    ERP: read the order (its ETag), its components, the stock of each component;
    PLC: the four recipe registers written and each read back, the state read until
    READY, START written and read back, the counters and state polled until COMPLETE;
    ERP: the confirmation posted (a client reference), the order completed with If-Match
    of the ETag read first (the confirmation moved it: 412, the order read again, the
    PATCH again with the new ETag, as the pack's complete_production does), the stock of
    the produced material read (complete_production's last part)."""

    def __init__(self, erp: SampleErp, endpoint: str, recipe: dict[str, float]) -> None:
        super().__init__()
        self.erp = erp
        self.root = erp.v4_url + "/"
        self.recipe = recipe
        host, port = endpoint.removeprefix("modbus-tcp://").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.http: httpx.AsyncClient | None = None
        self.plc: AsyncModbusTcpClient | None = None
        self.token = ""

    async def open(self) -> None:
        basic = httpx.BasicAuth(self.erp.user, self.erp.password)._auth_header
        self.http = httpx.AsyncClient(
            headers={"Authorization": basic, "Accept": "application/json"},
            timeout=TIMEOUT_S,
            trust_env=False,
        )
        fetched = await self.http.get(self.root, headers={"x-csrf-token": "Fetch"})
        fetched.raise_for_status()
        self.token = fetched.headers.get("x-csrf-token", "")
        self.plc = AsyncModbusTcpClient(self.host, port=self.port, timeout=5, retries=0)
        if not await self.plc.connect():
            raise RuntimeError(f"cannot connect to the line at {self.host}:{self.port}")

    async def close_clients(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.plc is not None:
            self.plc.close()
        self.http, self.plc = None, None

    async def _get(self, path: str) -> httpx.Response:
        assert self.http is not None
        response = await self.http.get(self.root + path)
        response.raise_for_status()
        return response

    async def _write(self, name: str, value: Any) -> Any:
        """Write a recipe register or a command coil, then read it back."""
        plc, tag = self.plc, TAGS[name]
        assert plc is not None and tag.address is not None
        if tag.register is Register.COIL:
            _check(await plc.write_coil(tag.address, bool(value), device_id=1))
            read = _check(await plc.read_coils(tag.address, count=1, device_id=1))
            return bool(read.bits[0])
        words = encode(tag, value)
        _check(await plc.write_registers(tag.address, words, device_id=1))
        read = _check(await plc.read_holding_registers(tag.address, count=len(words), device_id=1))
        return decode(tag, read.registers)

    async def _status(self) -> dict[str, Any]:
        plc = self.plc
        assert plc is not None
        read = _check(await plc.read_input_registers(STATUS_START, count=STATUS_WORDS, device_id=1))
        words = read.registers
        return {
            "good": decode(TAGS["good_count"], words[0:2]),
            "scrap": decode(TAGS["scrap_count"], words[2:4]),
            "state": words[4],
            "fault_code": words[5],
            "active_batch": decode(TAGS["active_batch"], words[6:8]),
        }

    async def order(self, order_id: str) -> ScriptOrder:
        http = self.http
        assert http is not None
        phases: dict[str, float] = {}
        began = mark = time.perf_counter()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            phases[name] = now - mark
            mark = now

        # the order, its components, the stock of each
        order = (await self._get(f"ProductionOrders('{order_id}')")).json()
        etag = order["@odata.etag"]
        if order["Status"] != "RELEASED":
            raise RuntimeError(f"order {order_id} is {order['Status']}")
        mine = f"OrderID eq '{order_id}'"
        query = (
            f"$filter={odata_filter(mine)}"
            "&$select=OrderID,Material,Plant,RequiredQuantity,Unit"
            f"&$orderby={odata_filter('Material asc')}&$top=500"
        )
        components = (await self._get(f"ProductionOrderComponents?{query}")).json()["value"]
        for component in components:
            where = f"Material eq '{component['Material']}' and Plant eq '{component['Plant']}'"
            found = (await self._get(f"MaterialStock?$filter={odata_filter(where)}&$top=1")).json()
            stock = float(found["value"][0]["Quantity"]) if found["value"] else 0.0
            if stock < float(component["RequiredQuantity"]):
                raise RuntimeError(f"order {order_id}: {component['Material']} is short")
        phase("erp_prepare")

        # the recipe on the line, each register read back; the line's verdict
        batch = int(order_id)
        values = {**self.recipe, "target_qty": int(float(order["Quantity"])), "batch_id": batch}
        for name in RECIPE_TAGS:
            back = await self._write(name, values[name])
            if back != values[name]:
                raise RuntimeError(f"{name}: wrote {values[name]!r}, read back {back!r}")
        phase("plc_configure")
        deadline = time.monotonic() + TIMEOUT_S
        while (status := await self._status())["state"] != LineState.READY:
            if status["state"] == LineState.CONFIG_ERROR or time.monotonic() > deadline:
                raise RuntimeError(f"the line did not take batch {batch}: {status}")
            await asyncio.sleep(POLL_S)
        phase("plc_verify")

        # START, then the counters until the batch is complete
        await self._write("start", True)  # a command coil: it may read back false already
        phase("plc_start")
        started_at = datetime.now(UTC).isoformat()
        while True:
            status = await self._status()
            if status["active_batch"] == batch and status["state"] == LineState.COMPLETE:
                break
            if status["state"] == LineState.FAULT or time.monotonic() > deadline:
                raise RuntimeError(f"batch {batch} did not complete: {status}")
            await asyncio.sleep(POLL_S)
        phase("plc_monitor")

        # the confirmation, then the order completed with its ETag
        headers = {"x-csrf-token": self.token}
        confirmation = {
            "OrderID": order_id,
            "Yield": status["good"],
            "Scrap": status["scrap"],
            "StartedAt": started_at,
            "FinishedAt": datetime.now(UTC).isoformat(),
            "ClientReference": f"script:{order_id}:cf",
        }
        made = await http.post(self.root + "ProductionConfirmations", json=confirmation,
                               headers=headers)  # fmt: skip
        if made.status_code != 201:
            raise RuntimeError(f"confirmation of {order_id}: {made.status_code} {made.text}")
        phase("erp_confirm")
        body = {"Status": "COMPLETED", "ConfirmedYield": status["good"],
                "ConfirmedScrap": status["scrap"]}  # fmt: skip
        for _ in range(5):
            done = await http.patch(
                f"{self.root}ProductionOrders('{order_id}')",
                json=body,
                headers={**headers, "If-Match": etag, "Prefer": "return=representation"},
            )
            if done.status_code != 412:
                break
            etag = (await self._get(f"ProductionOrders('{order_id}')")).json()["@odata.etag"]
        if done.status_code != 200:
            raise RuntimeError(f"completing {order_id}: {done.status_code} {done.text}")
        where = f"Material eq '{order['Material']}' and Plant eq '{order['Plant']}'"
        await self._get(f"MaterialStock?$filter={odata_filter(where)}&$top=1")
        phase("erp_complete")
        return ScriptOrder(order_id, began, time.perf_counter() - began, phases)

    async def run(self, ids: list[str]) -> tuple[float, float, list[ScriptOrder]]:
        """The orders one after the other: wall seconds, this process's CPU seconds, each
        order's figures."""
        await self.open()
        try:
            cpu, began = time.process_time(), time.perf_counter()
            done = [await self.order(order_id) for order_id in ids]
            return time.perf_counter() - began, time.process_time() - cpu, done
        finally:
            await self.close_clients()


def _check(response: Any) -> Any:
    if response.isError():
        raise RuntimeError(f"the PLC answered {response}")
    return response


if __name__ == "__main__":
    if sys.argv[1:2] != ["line"]:
        sys.exit("usage: _production_line.py line TIME_SCALE")
    serve_line(float(sys.argv[2]))
