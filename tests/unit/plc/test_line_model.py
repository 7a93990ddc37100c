"""The production line's model (connectors/plc/line_sim.py) with an injected clock:
configuration and limits, one start per batch, counters, faults, rejected configurations,
and the line's tag lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.plc.line_sim import COMMAND_HOLD, LineModel, LineState
from connectors.plc.plant_tags import LINE_MODBUS_TAGS, LINE_OPCUA_TAGS
from hub.domain.plc import Datatype
from hub.domain.plc_config import parse_device


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _line(**options: float) -> tuple[LineModel, Clock]:
    clock = Clock()
    return LineModel(clock=clock, **options), clock


def _run(line: LineModel, clock: Clock, seconds: float, every: float = 0.1) -> None:
    for _ in range(round(seconds / every)):
        clock.now += every
        line.step()


def _configure(
    line: LineModel, speed: float = 600, temp: float = 180, qty: int = 100, batch: int = 7
) -> None:
    for name, value in (
        ("speed_sp", speed),
        ("temperature_sp", temp),
        ("target_qty", qty),
        ("batch_id", batch),
    ):
        line.write(name, value)


def test_configuration_within_limits_is_ready_and_out_of_limits_an_error() -> None:
    line, _ = _line()
    assert line.state is LineState.IDLE
    line.write("speed_sp", 600)
    assert line.state is LineState.IDLE  # the temperature is not configured yet
    _configure(line)
    assert line.state is LineState.READY and line.config_problem is None
    line.write("speed_sp", 1500)
    assert line.state is LineState.CONFIG_ERROR
    assert line.config_problem == "speed_sp 1500 is outside 1..1200"
    line.write("speed_sp", 1200)
    assert line.state is LineState.READY
    line.write("temperature_sp", 19.5)
    assert line.state is LineState.CONFIG_ERROR
    line.write("temperature_sp", 20)
    line.write("target_qty", 0)
    assert line.state is LineState.IDLE  # within limits, nothing to make
    line.write("target_qty", 5)
    line.write("batch_id", 0)
    assert line.state is LineState.IDLE


def test_a_batch_runs_to_complete_at_speed_per_minute() -> None:
    line, clock = _line()
    _configure(line, speed=600, qty=100)  # 10 units/s: 10 s
    line.write("start", True)
    assert line.state is LineState.RUNNING and line.active_batch == 7
    assert line.starts[7] == 1 and line.speed_pv == 600
    _run(line, clock, 5.0)
    assert line.state is LineState.RUNNING
    assert line.good + line.scrap == 50 and line.scrap == 1  # 2 % of 50
    _run(line, clock, 6.0)
    assert line.state is LineState.COMPLETE
    assert (line.good, line.scrap) == (98, 2) and line.speed_pv == 0
    _run(line, clock, 5.0)
    assert (line.good, line.scrap) == (98, 2)  # counters hold once complete


def test_time_scale_speeds_the_line_up() -> None:
    line, clock = _line(time_scale=100, scrap_rate=0.1)
    _configure(line, speed=600, qty=1000)  # 1000 units/s at time_scale 100
    line.write("start", True)
    _run(line, clock, 0.5)
    assert line.good + line.scrap == 500 and line.scrap == 50
    _run(line, clock, 0.6)
    assert line.state is LineState.COMPLETE and (line.good, line.scrap) == (900, 100)


def test_one_start_per_batch() -> None:
    line, clock = _line()
    _configure(line, qty=10)
    line.write("start", True)
    line.write("start", True)  # a second START while running: ignored
    _run(line, clock, 2.0)
    assert line.state is LineState.COMPLETE
    line.write("speed_sp", 300)  # the same batch configured again: READY, but started already
    assert line.state is LineState.READY
    line.write("start", True)
    assert line.state is LineState.READY and line.good + line.scrap == 10
    assert line.starts[7] == 1 and line.start_commands[7] == 3
    line.write("batch_id", 8)
    line.write("start", True)
    assert line.state is LineState.RUNNING and line.active_batch == 8
    assert line.good == line.scrap == 0 and line.starts == {7: 1, 8: 1}


def test_start_only_from_ready() -> None:
    line, _ = _line()
    line.write("start", True)  # nothing configured
    assert line.state is LineState.IDLE and line.starts == {}
    _configure(line, speed=5000)
    line.write("start", True)
    assert line.state is LineState.CONFIG_ERROR and line.starts == {}
    assert line.start_commands == {0: 1, 7: 1}


def test_command_coils_read_true_until_the_line_acted() -> None:
    line, clock = _line()
    _configure(line)
    line.write("start", True)
    clock.now += COMMAND_HOLD / 2
    line.step()
    assert line.start is True  # a client's read-back right after its write sees true
    clock.now += COMMAND_HOLD
    line.step()
    assert line.start is False
    line.write("reset", True)
    assert line.reset is True and line.state is LineState.RUNNING  # no fault: nothing to do
    clock.now += COMMAND_HOLD
    line.step()
    assert line.reset is False


def test_fault_holds_counters_and_reset_resumes_the_run() -> None:
    line, clock = _line()
    _configure(line, speed=600, qty=100)
    line.write("start", True)
    _run(line, clock, 3.0)
    made = line.good + line.scrap
    line.fault(42)
    assert line.state is LineState.FAULT and line.fault_code == 42 and line.speed_pv == 0
    _run(line, clock, 3.0)
    assert line.good + line.scrap == made
    line.write("batch_id", 9)  # stored, no evaluation while faulted
    line.write("start", True)  # and no start
    assert line.state is LineState.FAULT and line.starts[9] == 0
    line.write("reset", True)
    assert line.state is LineState.RUNNING and line.fault_code == 0 and line.active_batch == 7
    _run(line, clock, 8.0)
    assert line.state is LineState.COMPLETE and line.good + line.scrap == 100


def test_reset_without_a_running_batch_goes_idle() -> None:
    line, _ = _line()
    _configure(line)
    line.fault(3)
    line.write("reset", True)
    assert line.state is LineState.IDLE and line.fault_code == 0
    with pytest.raises(ValueError):
        line.fault(0)


def test_rejected_configuration_then_the_next_one_is_fine() -> None:
    line, _ = _line()
    _configure(line, batch=1)
    assert line.state is LineState.READY
    line.reject_next_configuration()
    assert line.state is LineState.READY  # the next configuration, not the current state
    _configure(line, batch=2)
    assert line.state is LineState.CONFIG_ERROR
    assert line.config_problem == "rejected (reject_next_configuration)"
    line.write("start", True)
    assert line.starts[2] == 0
    _configure(line, batch=2)  # the reconfiguration: within limits, READY
    assert line.state is LineState.READY and line.config_problem is None


def test_a_configuration_ends_where_a_tag_repeats() -> None:
    line, _ = _line()
    line.reject_next_configuration()
    line.write("speed_sp", 600)
    line.write("temperature_sp", 180)
    line.write("target_qty", 10)
    line.write("batch_id", 3)
    assert line.state is LineState.CONFIG_ERROR
    line.write("target_qty", 10)  # written again: the next configuration
    assert line.state is LineState.READY
    line.reject_next_configuration()
    line.write("batch_id", 4)  # a rejection in force until the configuration is over
    line.write("speed_sp", 700)
    assert line.state is LineState.CONFIG_ERROR
    line.write("speed_sp", 700)
    assert line.state is LineState.READY


def test_speed_written_while_running_changes_the_rate_out_of_limits_does_not() -> None:
    line, clock = _line()
    _configure(line, speed=60, qty=1000)  # 1 unit/s
    line.write("start", True)
    _run(line, clock, 10.0)
    assert line.good + line.scrap == 10
    line.write("speed_sp", 600)
    _run(line, clock, 1.0)
    assert line.good + line.scrap == 20 and line.state is LineState.RUNNING
    line.write("speed_sp", 9000)  # ignored by the run, and no CONFIG_ERROR mid-run
    _run(line, clock, 1.0)
    assert line.good + line.scrap == 30 and line.state is LineState.RUNNING


def test_temperature_follows_its_setpoint() -> None:
    line, clock = _line(time_scale=10)
    _run(line, clock, 1.0)
    assert line.temperature_pv == 20.0
    _configure(line, temp=200)
    _run(line, clock, 10.0)  # 100 s of line time, ten time constants
    assert abs(line.temperature_pv - 200) < 0.1


def test_values_and_writes_by_tag_name() -> None:
    line, _ = _line()
    _configure(line, speed=600.5, qty=2**32 - 1)
    values = line.values()
    assert values["speed_sp"] == 600.5 and values["target_qty"] == 2**32 - 1
    assert values["state"] == LineState.READY and isinstance(values["state"], int)
    names = {t["name"] for t in LINE_MODBUS_TAGS}
    assert names == set(values) == {t["name"] for t in LINE_OPCUA_TAGS}
    with pytest.raises(KeyError):
        line.write("good_count", 5)
    with pytest.raises(ValueError):
        LineModel(time_scale=0)


@pytest.mark.parametrize(
    ("protocol", "endpoint", "tags"),
    [
        ("modbus", "modbus-tcp://127.0.0.1:5020", LINE_MODBUS_TAGS),
        ("opcua", "opc.tcp://127.0.0.1:4840/hub/plant", LINE_OPCUA_TAGS),
    ],
)
def test_line_tag_lists_are_valid_devices(
    protocol: str, endpoint: str, tags: list[dict[str, object]]
) -> None:
    device = parse_device(
        {"name": "line-1", "protocol": protocol, "endpoint": endpoint, "tags": tags},
        id="0" * 32,
        tenant_id="t",
        at=datetime.now(UTC),
    )
    writable = {t.name for t in device.tags if t.writable}
    assert writable == {"speed_sp", "temperature_sp", "target_qty", "batch_id", "start", "reset"}
    good = device.tag("good_count")
    assert good is not None and good.datatype is Datatype.UINT32
