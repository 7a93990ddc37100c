"""The plant simulator's production line ("line-1") as pure code: no I/O, no event loop.

A recipe (speed and temperature setpoints, a target quantity, a batch id) configures the
line; a START command runs one batch; good and scrap counters advance while it runs;
faults come on demand. `PlantSimulator` (plant_sim.py) serves it over Modbus and OPC-UA:
clients' writes reach `LineModel.write`, the simulator calls `step()` every tick and
publishes `values()`. Tests drive the model directly with an injected clock.

States: 0 IDLE, 1 READY, 2 RUNNING, 3 COMPLETE, 4 FAULT, 5 CONFIG_ERROR.

- Every write of a recipe tag re-evaluates the configuration (except while RUNNING or in
  FAULT, when it is only stored): a setpoint out of its machine limits -> CONFIG_ERROR;
  every setpoint written and within limits, target_qty > 0 and batch_id > 0 -> READY;
  otherwise IDLE (a setpoint never written since power-up is not configured yet).
- A configuration is a run of recipe writes in which no tag repeats: writing a tag that
  was already written in the current configuration, or a START, begins the next one.
  `reject_next_configuration()` makes every evaluation of the next configuration
  CONFIG_ERROR, within limits or not; the one after evaluates normally again.
- START (a command coil: written true, it reads true for `command_hold` seconds, so a
  client's read-back sees its write, then the line resets it to false) while READY for a
  batch never started -> RUNNING, active_batch = batch_id, counters from 0. Any other
  START is ignored. `starts[b]` counts the batches that started (never more than 1 per
  batch); `start_commands[b]` counts every START received while batch_id was b.
- RUNNING: units are made at the running speed (speed_sp units/min, times `time_scale`);
  a `scrap_rate` share of them is scrap; at good + scrap == target_qty -> COMPLETE.
  A speed_sp write within limits while running changes the running speed.
- `fault(code)` -> FAULT with fault_code, counters hold; RESET (a command coil, as START)
  clears it: back to RUNNING if a batch was running, else IDLE.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from enum import IntEnum
from typing import Any

__all__ = [
    "COMMANDS",
    "RECIPE",
    "SPEED_LIMITS",
    "TEMPERATURE_LIMITS",
    "LineModel",
    "LineState",
]


class LineState(IntEnum):
    IDLE = 0
    READY = 1
    RUNNING = 2
    COMPLETE = 3
    FAULT = 4
    CONFIG_ERROR = 5


SPEED_LIMITS = (1.0, 1200.0)  # units/min
TEMPERATURE_LIMITS = (20.0, 250.0)  # degC
RECIPE = ("speed_sp", "temperature_sp", "target_qty", "batch_id")
COMMANDS = ("start", "reset")
READINGS = (
    "good_count",
    "scrap_count",
    "state",
    "fault_code",
    "active_batch",
    "speed_pv",
    "temperature_pv",
)
AMBIENT = 20.0  # degC, where the temperature settles when the line is not configured
HEAT_TIME = 10.0  # s (before time_scale), the temperature's time constant
COMMAND_HOLD = 0.25  # s a command coil reads true after a write, before the line resets it
U32 = 0xFFFFFFFF


class LineModel:
    """One production line. Thread-safe: tests call the hooks from another thread than the
    simulator's loop."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        scrap_rate: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
        command_hold: float = COMMAND_HOLD,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if not 0.0 <= scrap_rate <= 1.0:
            raise ValueError("scrap_rate must be within 0..1")
        self.time_scale = time_scale
        self.scrap_rate = scrap_rate
        self.command_hold = command_hold
        self._clock = clock
        self._lock = threading.RLock()
        # what clients write (the PLC's holding registers and command coils)
        self.speed_sp = 0.0
        self.temperature_sp = 0.0
        self.target_qty = 0
        self.batch_id = 0
        self.start = False
        self.reset = False
        # what the line reports
        self.state = LineState.IDLE
        self.fault_code = 0
        self.active_batch = 0
        self.good = 0
        self.scrap = 0
        self.speed_pv = 0.0
        self.temperature_pv = AMBIENT
        # test hooks and bookkeeping
        self.starts: Counter[int] = Counter()
        self.start_commands: Counter[int] = Counter()
        self.config_problem: str | None = None  # why the state is CONFIG_ERROR
        self._written: set[str] = set()  # recipe tags ever written
        # recipe tags written in this configuration; None: the next write begins one
        self._configuration: set[str] | None = None
        self._reject_armed = False  # the next configuration is to be rejected
        self._rejecting = False  # this configuration is rejected
        self._commands_at: dict[str, float] = {}  # command -> when it was written
        self._running = False  # a batch is running (RUNNING, or FAULT during a run)
        self._run_speed = 0.0
        self._run_target = 0
        self._made = 0.0  # units made in this run (fractional)
        self._last = clock()

    # --- clients' writes ---

    def write(self, name: str, value: Any) -> None:
        """A client's write of a recipe tag or a command coil (from either protocol)."""
        with self._lock:
            if name in COMMANDS:
                self._command(name, bool(value))
            elif name in RECIPE:
                self._recipe(name, value)
            else:
                raise KeyError(f"{name!r} is not a writable tag of the line")

    def _recipe(self, name: str, value: Any) -> None:
        if name in ("speed_sp", "temperature_sp"):
            setattr(self, name, float(value))
        else:
            setattr(self, name, int(value) & U32)
        self._written.add(name)
        if self._configuration is None or name in self._configuration:
            self._configuration = set()  # a tag again (or the first): a configuration begins
            self._rejecting, self._reject_armed = self._reject_armed, False
        self._configuration.add(name)
        if self.state is LineState.RUNNING and name == "speed_sp" and self._within_limits():
            self._run_speed = self.speed_sp
        if self.state not in (LineState.RUNNING, LineState.FAULT):
            self._evaluate()

    def _within_limits(self) -> bool:
        return self._problem() is None

    def _problem(self) -> str | None:
        for name, (low, high) in (
            ("speed_sp", SPEED_LIMITS),
            ("temperature_sp", TEMPERATURE_LIMITS),
        ):
            value = getattr(self, name)
            if name in self._written and not low <= value <= high:
                return f"{name} {value:g} is outside {low:g}..{high:g}"
        return None

    def _evaluate(self) -> None:
        problem = "rejected (reject_next_configuration)" if self._rejecting else self._problem()
        if problem is not None:
            self.state, self.config_problem = LineState.CONFIG_ERROR, problem
            return
        self.config_problem = None
        complete = {"speed_sp", "temperature_sp"} <= self._written
        if complete and self.target_qty > 0 and self.batch_id > 0:
            self.state = LineState.READY
        else:
            self.state = LineState.IDLE

    def _command(self, name: str, value: bool) -> None:
        setattr(self, name, value)
        if not value:
            self._commands_at.pop(name, None)
            return
        self._commands_at[name] = self._clock()
        if name == "start":
            self._start()
        elif self.state is LineState.FAULT:  # reset
            self.fault_code = 0
            self.state = LineState.RUNNING if self._running else LineState.IDLE

    def _start(self) -> None:
        batch = self.batch_id
        self.start_commands[batch] += 1
        self._configuration = None  # the next recipe write begins the next configuration
        if self.state is not LineState.READY or self.starts[batch] > 0:
            return  # one start per batch, and only a READY line starts
        self.starts[batch] += 1
        self.state = LineState.RUNNING
        self.active_batch = batch
        self.good = self.scrap = 0
        self._made = 0.0
        self._running = True
        self._run_speed = self.speed_sp
        self._run_target = self.target_qty
        self.speed_pv = self._run_speed

    # --- test hooks ---

    def fault(self, code: int = 1) -> None:
        """A machine fault: FAULT with this code (1..65535) until a RESET; counters hold."""
        if not 1 <= code <= 0xFFFF:
            raise ValueError("a fault code is 1..65535")
        with self._lock:
            self.state = LineState.FAULT
            self.fault_code = code
            self.speed_pv = 0.0

    def reject_next_configuration(self) -> None:
        """The next configuration ends in CONFIG_ERROR even within limits (see the module
        docstring for where a configuration begins); the one after is fine."""
        with self._lock:
            self._configuration = None  # the next recipe write begins the rejected one
            self._reject_armed = True

    # --- time ---

    def step(self) -> None:
        """Advance the line to the clock's now."""
        with self._lock:
            now = self._clock()
            dt, self._last = max(0.0, now - self._last), now
            for name, at in list(self._commands_at.items()):
                if now - at >= self.command_hold:  # the line acted: the coil drops
                    setattr(self, name, False)
                    del self._commands_at[name]
            scaled = dt * self.time_scale
            if self.state is LineState.RUNNING:
                self._produce(scaled)
            configured = self.state in (
                LineState.READY,
                LineState.RUNNING,
                LineState.COMPLETE,
                LineState.FAULT,
            )
            target = self.temperature_sp if configured and self._within_limits() else AMBIENT
            self.temperature_pv += (target - self.temperature_pv) * min(1.0, scaled / HEAT_TIME)

    def _produce(self, scaled_dt: float) -> None:
        self._made += self._run_speed / 60.0 * scaled_dt
        total = min(self._run_target, math.floor(self._made + 1e-9))
        self.scrap = math.floor(total * self.scrap_rate + 1e-9)
        self.good = total - self.scrap
        self.speed_pv = self._run_speed
        if total >= self._run_target:
            self.state = LineState.COMPLETE
            self._running = False
            self.speed_pv = 0.0

    # --- what the PLC shows ---

    def values(self) -> dict[str, Any]:
        """Every tag of the line by its name in the tag lists (plant_tags.LINE_*_TAGS)."""
        with self._lock:
            return {
                "speed_sp": self.speed_sp,
                "temperature_sp": self.temperature_sp,
                "target_qty": self.target_qty,
                "batch_id": self.batch_id,
                "start": self.start,
                "reset": self.reset,
                "good_count": self.good,
                "scrap_count": self.scrap,
                "state": int(self.state),
                "fault_code": self.fault_code,
                "active_batch": self.active_batch,
                "speed_pv": self.speed_pv,
                "temperature_pv": self.temperature_pv,
            }
