"""The alarms page live: a PLC value crossing a limit shows up in the list without a
reload, is acknowledged from the page with a comment (the history names the user and
the comment); new critical alarms flash and sound (Web Audio, only after the user has
interacted with the page) until silenced, and stay silenced across a reload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e.console.alarms_support import AlarmPlant, alarm_plant
from tests.e2e.console.harness import ConsoleWorld, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

LIVE = 20_000  # ms: a few polls of the live fragment
SILENCED = "hub.alarms.silenced"


@pytest.fixture(scope="module")
def plant(console: ConsoleWorld) -> Iterator[AlarmPlant]:
    with alarm_plant(console) as world:
        yield world


def test_a_live_alarm_appears_and_is_acknowledged_from_the_page(
    page: Page, plant: AlarmPlant
) -> None:
    from playwright.sync_api import expect

    rule = plant.add_rule(tag="pressure", hi=8.0, deadband=0.5, priority="high", area="boilers")
    sign_in(page, plant.console, plant.user("operator"))
    page.goto(plant.page_url("?area=boilers"))
    expect(page.get_by_role("heading", name="Alarms", exact=True)).to_be_visible()
    expect(page.locator("#no-alarms")).to_be_visible()
    page.evaluate("window.alarmsNotReloaded = true")

    plant.plant.set(setpoint=9.5)  # the process moves past hi by itself
    row = page.locator(f'tr[data-alarm-id="{rule["id"]}"]')
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_have_attribute("data-state", "active-unacknowledged")
    expect(row).to_contain_text("Active, unacknowledged")
    expect(row.locator(".prio--high")).to_have_text("High")
    expect(row).to_contain_text("boilers")
    expect(row.locator("[data-limit]")).to_have_text("Hi 8 bar")
    expect(row.locator("[data-value]")).to_contain_text(" bar")
    expect(row.locator("[data-now]")).to_contain_text("good")
    assert page.evaluate("window.alarmsNotReloaded") is True

    row.get_by_role("link", name="boiler-1 / pressure").click()
    expect(page.get_by_role("heading", name="Alarm: boiler-1 / pressure")).to_be_visible()
    page.get_by_label("Comment").fill("Pressure relief checked on site")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#alarm-state")).to_have_text("Active, acknowledged")
    acked = page.locator('#alarm-history tr[data-action="ack"]')
    expect(acked.locator("[data-actor]")).to_have_text(plant.user("operator"))
    expect(acked.locator("[data-comment]")).to_have_text("Pressure relief checked on site")
    expect(page.locator('#alarm-history tr[data-action="activate"]')).to_contain_text("Raised")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    assert plant.alarm(rule["id"])["state"] == "active-acknowledged"

    # Back in the list, the alarm is shown acknowledged; the process returns to normal and
    # the list follows without a reload.
    page.get_by_role("link", name="All alarms").click()
    page.evaluate("window.alarmsNotReloaded = true")
    row = page.locator(f'tr[data-alarm-id="{rule["id"]}"]')
    expect(row).to_have_attribute("data-state", "active-acknowledged")
    plant.plant.set(setpoint=5.0)
    expect(row).to_have_count(0, timeout=LIVE)  # normal: not in the default list
    assert page.evaluate("window.alarmsNotReloaded") is True
    page.goto(plant.page_url(rule["id"]))
    expect(page.locator('#alarm-history tr[data-action="return"]')).to_contain_text(
        "Returned to normal"
    )


def test_new_critical_alarms_flash_and_sound_until_silenced(page: Page, plant: AlarmPlant) -> None:
    from playwright.sync_api import expect

    area = "sound-room"
    first = plant.active_rule(priority="critical", area=area)
    sign_in(page, plant.console, plant.user("viewer"))  # everyone hears the horn
    page.goto(plant.page_url(f"?area={area}"))
    body = page.locator("body")
    row = page.locator(f'tr[data-alarm-id="{first["id"]}"]')
    expect(row).to_have_class("alarm-row alarm-row--announce alarm-row--flash")
    # No sound before the user has interacted with the page; the page says why.
    expect(body).to_have_attribute("data-alarm-sound", "waiting")
    expect(page.locator("#alarm-sound-status")).to_contain_text("click or press a key")
    expect(page.locator("#alarm-sound-note")).to_contain_text("no sound until then")
    assert page.evaluate("document.body.dataset.alarmBeeps") is None

    page.get_by_role("heading", name="Alarms", exact=True).click()  # an interaction
    expect(body).to_have_attribute("data-alarm-sound", "playing")
    expect(body).to_have_attribute("data-alarm-beeps", "1")

    # Silence from the keyboard.
    page.locator("#alarm-silence").focus()
    page.keyboard.press("Enter")
    expect(body).to_have_attribute("data-alarm-sound", "silenced")
    expect(page.locator("#alarm-sound-status")).to_contain_text("Silenced")
    expect(row).not_to_have_class("alarm-row--flash")
    expect(row).to_have_class("alarm-row alarm-row--announce")  # still marked, not flashing
    keys = page.evaluate(f"JSON.parse(sessionStorage.getItem('{SILENCED}'))")
    assert [k for k in keys if k.startswith(first["id"] + "@")], keys
    beeps = page.evaluate("document.body.dataset.alarmBeeps")
    with page.expect_response(lambda r: "/alarms/live" in r.url):
        pass  # a poll later, still silent
    expect(body).to_have_attribute("data-alarm-sound", "silenced")
    assert page.evaluate("document.body.dataset.alarmBeeps") == beeps

    # A reload remembers the silence (sessionStorage); a new critical alarm sounds again.
    page.reload()
    page.get_by_role("heading", name="Alarms", exact=True).click()
    expect(body).to_have_attribute("data-alarm-sound", "silenced")
    second = plant.add_rule(priority="critical", area=area)
    new_row = page.locator(f'tr[data-alarm-id="{second["id"]}"]')
    expect(new_row).to_have_class("alarm-row alarm-row--announce alarm-row--flash", timeout=LIVE)
    expect(body).to_have_attribute("data-alarm-sound", "playing")
    expect(row).not_to_have_class("alarm-row--flash")
    page.get_by_role("button", name="Silence").click()
    expect(body).to_have_attribute("data-alarm-sound", "silenced")

    # Acknowledged alarms are not announced at all.
    with plant.console.api(plant.user("operator")) as operator:
        for alarm in (first, second):
            done = operator.post(f"{plant.base}/alarms/{alarm['id']}/ack", json={"comment": ""})
            assert done.status_code == 200, done.text
    expect(page.locator("tr[data-sound-key]")).to_have_count(0, timeout=LIVE)
    expect(body).to_have_attribute("data-alarm-sound", "idle")
