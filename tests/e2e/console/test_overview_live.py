"""The overview updates itself: a PLC value crossing a limit raises an alarm, a run waits
on a user task, a PLC goes away, and the page shows each without being reloaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.e2e.console.harness import ConsoleWorld, sign_in
from tests.support.plc_sim import running_plant

if TYPE_CHECKING:
    from playwright.sync_api import Page

APPROVAL = """
name: approve
version: 1.0.0
start: confirm
steps:
  confirm:
    type: user_task
    title: "Confirm batch ${input.batch}"
    form:
      - {id: ok, type: boolean, required: true}
    candidate_groups: [operators]
    next: done
  done: {type: end}
"""
LIVE = 20_000  # ms: a few polls of the live fragment


def test_alarms_tasks_and_runs_appear_without_a_reload(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    base = f"/api/v1/tenants/{slug}"
    with running_plant(opcua_port=None) as plant, console.api(f"{slug}-engineer") as engineer:
        device = engineer.post(
            f"{base}/devices",
            json={
                "name": "boiler-1",
                "protocol": "modbus",
                "endpoint": plant.sim.modbus_endpoint,
                "poll_interval_ms": 50,
                "max_backoff_ms": 500,
                "tags": MODBUS_TAGS,
            },
        )
        assert device.status_code == 201, device.text
        rule = engineer.post(
            f"{base}/alarm-rules",
            json={
                "device": "boiler-1",
                "tag": "pressure",
                "hi": 8.0,
                "deadband": 0.5,
                "priority": "high",
                "area": "boiler-house",
            },
        )
        assert rule.status_code == 201, rule.text
        published = engineer.post(
            f"{base}/workflows", content=APPROVAL, headers={"content-type": "application/yaml"}
        )
        assert published.status_code == 201, published.text

        sign_in(page, console, f"{slug}-operator")
        expect(page.locator("#no-alarms")).to_be_visible()
        expect(page.locator("#open-task-count")).to_have_text("0")
        expect(page.locator("#runs-waiting")).to_have_text("0")
        device_row = page.locator('tr[data-device="boiler-1"]')
        expect(device_row).to_contain_text("Connected", timeout=LIVE)
        page.evaluate("window.consoleNotReloaded = true")

        plant.set(setpoint=9.5)  # the process moves past hi by itself
        area = page.locator('tr[data-area="boiler-house"]')
        expect(area.locator('td[data-priority="high"]')).to_have_text("1", timeout=LIVE)
        expect(area.locator('td[data-priority="critical"]')).to_have_text("0")
        expect(area.locator("td[data-unacknowledged]")).to_have_text("1")

        with console.api(f"{slug}-operator") as operator:
            run = operator.post(f"{base}/runs", json={"workflow": "approve", "input": {"batch": 7}})
            assert run.status_code == 201, run.text
        expect(page.locator("#open-task-count")).to_have_text("1", timeout=LIVE)
        expect(page.locator("#open-tasks")).to_contain_text("Confirm batch 7")
        expect(page.locator("#runs-waiting")).to_have_text("1")

    # The PLC is gone: the device is shown as abnormal, not as a stale "Connected".
    expect(device_row.locator(".state--fault")).to_be_visible(timeout=LIVE)
    expect(device_row).not_to_contain_text("Connected")
    assert page.evaluate("window.consoleNotReloaded") is True
    console.retire_devices(slug)
