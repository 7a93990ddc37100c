"""Bad input on the device, alarm-rule and tag-write routes is refused with a 4xx naming
the field, and a refused write is audited once (issue 12, items 13 and 17)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from connectors.plc.plant_sim import MODBUS_TAGS
from hub.domain.plc import Datatype, Tag
from tests.conftest import World
from tests.support.plc_sim import SimThread, wait_for

BASE = "/api/v1/tenants/acme/devices"
RULES = "/api/v1/tenants/acme/alarm-rules"
# Writable holding registers of every width (the simulator has addresses 0..199).
WIDE_TAGS: list[dict[str, Any]] = [
    {"name": "i16", "register": "holding", "address": 10, "datatype": "int16", "writable": True},
    {"name": "u16", "register": "holding", "address": 11, "datatype": "uint16", "writable": True},
    {"name": "i32", "register": "holding", "address": 12, "datatype": "int32", "writable": True},
    {"name": "u32", "register": "holding", "address": 14, "datatype": "uint32", "writable": True},
    {"name": "i64", "register": "holding", "address": 16, "datatype": "int64", "writable": True},
    {"name": "f32", "register": "holding", "address": 20, "datatype": "float32", "writable": True},
    {"name": "f64", "register": "holding", "address": 22, "datatype": "float64", "writable": True},
    {
        "name": "scaled",
        "register": "holding",
        "address": 26,
        "datatype": "int16",
        "scale": 0.1,
        "writable": True,
    },
]


def _device(plant: SimThread, **extra: Any) -> dict[str, Any]:
    return {
        "name": "boiler-1",
        "protocol": "modbus",
        "endpoint": plant.sim.modbus_endpoint,
        "poll_interval_ms": 100,
        "timeout_ms": 500,
        "max_backoff_ms": 1000,
        "tags": [*MODBUS_TAGS, *WIDE_TAGS],
        **extra,
    }


def _connected(world: World, plant: SimThread) -> None:
    created = world.client.post(BASE, json=_device(plant), headers=world.as_("acme-engineer"))
    assert created.status_code == 201, created.text
    wait_for(
        lambda: world.client.get(
            f"{BASE}/boiler-1/status", headers=world.as_("acme-viewer")
        ).json()["connected"]
    )


def _write(world: World, tag: str, body: bytes) -> Any:
    return world.client.post(
        f"{BASE}/boiler-1/tags/{tag}/write",
        content=body,
        headers={**world.as_("acme-operator"), "content-type": "application/json"},
    )


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in response.json().get("errors", [])}


def test_numbers_beyond_a_float_or_the_datatype_are_422_naming_value(
    world: World, plant: SimThread
) -> None:
    _connected(world, plant)
    huge = b"1" + b"0" * 400  # 10**400: a JSON integer no float can hold
    cases = [
        ("setpoint", huge),
        ("setpoint", b"-" + huge),
        ("setpoint", b"1e400"),  # a JSON number msgspec cannot hold as a float
        ("f64", b"-1e400"),
        ("i64", huge),
        ("i16", b"32768"),
        ("i16", b"-32769"),
        ("u16", b"-1"),
        ("u16", b"65536"),
        ("i32", b"2147483648"),
        ("u32", b"4294967296"),
        ("i64", b"9223372036854775808"),
        ("f32", b"3.5e38"),
        ("i16", b"1.5"),
        ("scaled", b"3276.8"),  # raw 32768 after scaling
        ("scaled", b"1e308"),
    ]
    for tag, number in cases:
        response = _write(world, tag, b'{"value": ' + number + b"}")
        assert response.status_code == 422, (tag, number[:20], response.text)
        assert _fields(response) == {"value"}, (tag, number[:20], response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    # NaN and Infinity are not JSON at all: the body is refused as such (API.md: 400).
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        response = _write(world, "setpoint", b'{"value": ' + literal + b"}")
        assert response.status_code == 400, (literal, response.text)
    assert _fields(_write(world, "setpoint", b'{"value": 1, "extra": 2}')) == {"extra"}
    assert _fields(_write(world, "setpoint", b"{}")) == {"value"}
    assert _fields(_write(world, "setpoint", b'{"value": [1]}')) == {"value"}
    # Values at the edges are written, and an int64 beyond 2**53 is audited exactly.
    for tag, value in (("i16", -32768), ("u16", 65535), ("i64", 2**63 - 1), ("f32", 3.0e38)):
        response = _write(world, tag, b'{"value": %d}' % value)
        assert response.status_code == 200, (tag, response.text)
        assert response.json()["value"] == pytest.approx(value, rel=1e-6)
    entries = world.client.get(
        "/api/v1/tenants/acme/audit?action=tag.write&outcome=success",
        headers=world.as_("acme-auditor"),
    ).json()["items"]
    assert {"tag": "i64", "new_value": str(2**63 - 1)}.items() <= next(
        e["details"] for e in entries if e["details"]["tag"] == "i64"
    ).items()


@pytest.mark.parametrize(
    ("datatype", "value", "problem"),
    [
        (Datatype.FLOAT64, math.nan, "must be finite"),
        (Datatype.FLOAT64, math.inf, "must be finite"),
        (Datatype.INT16, -math.inf, "must be finite"),
        (Datatype.FLOAT64, 10**400, "out of range"),
        (Datatype.INT64, -(10**400), "out of range"),
        (Datatype.INT16, 40000, "out of range"),
    ],
)
def test_value_problem_refuses_without_raising(
    datatype: Datatype, value: Any, problem: str
) -> None:
    # What a workflow activity may pass to write_tag, beyond what JSON can carry.
    message = Tag("t", datatype, writable=True).value_problem(value)
    assert message is not None and problem in message


def test_refused_write_is_audited_once(world: World, plant: SimThread) -> None:
    _connected(world, plant)
    plant.sim.refuse_interlock = "exception"
    refused = _write(world, "interlock", b'{"value": true}')
    assert refused.status_code == 502, refused.text
    missing = _write(world, "no-such-tag", b'{"value": true}')
    assert missing.status_code == 404
    entries = world.client.get(
        "/api/v1/tenants/acme/audit?action=tag.write", headers=world.as_("acme-auditor")
    ).json()["items"]
    interlock = [e for e in entries if "interlock" in e["resource_id"]]
    assert len(interlock) == 1, interlock
    assert interlock[0]["outcome"] == "failure"
    assert interlock[0]["details"]["reason"] == "refused"
    assert len([e for e in entries if "no-such-tag" in e["resource_id"]]) == 1  # by the hook


def test_unknown_fields_are_refused_on_device_and_alarm_rule_bodies(
    world: World, plant: SimThread
) -> None:
    engineer = world.as_("acme-engineer")
    extra = world.client.post(BASE, json=_device(plant, colour="red"), headers=engineer)
    assert extra.status_code == 422 and _fields(extra) == {"colour"}, extra.text
    listed = world.client.get(BASE, headers=engineer).json()["items"]
    assert listed == []  # nothing was created
    _connected(world, plant)
    patched = world.client.patch(f"{BASE}/boiler-1", json={"colour": "red"}, headers=engineer)
    assert patched.status_code == 422 and _fields(patched) == {"colour"}, patched.text
    rule = {"device": "boiler-1", "tag": "pressure", "hi": 8.0, "priority": "high", "area": "a"}
    bad_rule = world.client.post(RULES, json={**rule, "colour": "red"}, headers=engineer)
    assert bad_rule.status_code == 422 and _fields(bad_rule) == {"colour"}, bad_rule.text
    assert world.client.get(RULES, headers=engineer).json()["items"] == []
    created = world.client.post(RULES, json=rule, headers=engineer)
    assert created.status_code == 201, created.text
    bad_patch = world.client.patch(
        f"{RULES}/{created.json()['id']}", json={"hi": 9.0, "colour": "red"}, headers=engineer
    )
    assert bad_patch.status_code == 422 and _fields(bad_patch) == {"colour"}, bad_patch.text
    unchanged = world.client.get(f"{RULES}/{created.json()['id']}", headers=engineer).json()
    assert unchanged["rule"]["hi"] == 8.0


def test_modbus_address_the_plc_lacks_marks_only_its_tag_bad_with_the_exception(
    world: World, plant: SimThread
) -> None:
    ghost = {"name": "ghost", "register": "holding", "address": 500, "datatype": "uint16"}
    created = world.client.post(
        BASE, json=_device(plant, tags=[*MODBUS_TAGS, ghost]), headers=world.as_("acme-engineer")
    )
    assert created.status_code == 201, created.text

    def tags() -> dict[str, dict[str, Any]]:
        items = world.client.get(f"{BASE}/boiler-1/tags", headers=world.as_("acme-viewer"))
        return {t["name"]: t for t in items.json()["items"]}

    def settled() -> dict[str, dict[str, Any]] | None:
        now = tags()
        good = all(t["quality"] == "good" for n, t in now.items() if n != "ghost")
        return now if good and now["ghost"]["error"] else None

    now = wait_for(settled)
    assert now["ghost"]["quality"] == "bad"
    assert now["ghost"]["error"] == "Modbus exception 2 (illegal data address)"
    assert all(t["error"] is None for n, t in now.items() if n != "ghost")
    status = world.client.get(f"{BASE}/boiler-1/status", headers=world.as_("acme-viewer"))
    assert status.json()["connected"] and status.json()["reconnect_count"] == 0
