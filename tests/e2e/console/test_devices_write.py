"""Writing a tag from the console: a value, a confirmation ("Write 6.5 bar to setpoint on
boiler-1?") before anything is sent, then the value read back; 422s by the field, a PLC
refusal (502) as a message, no write control for a viewer and a forged POST refused (403)
with the PLC unchanged; a tag's free text (its unit) holding markup shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from connectors.plc.plant_sim import MODBUS_TAGS
from tests.e2e.console.devices_support import (
    LIVE,
    Plant,
    plant_tenant,
    register,
    serious_violations,
)
from tests.e2e.console.harness import ConsoleWorld, http_session, page_csrf, sign_in
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAYLOAD = "<img src=x onerror=alert(1)>"
# A writable register the simulator does not have: the PLC answers with a Modbus exception.
MISSING = {
    "name": "spare",
    "register": "holding",
    "address": 5000,
    "datatype": "uint16",
    "writable": True,
    "poll_interval_ms": 1000,
}


@pytest.fixture(scope="module")
def plant(console: ConsoleWorld) -> Iterator[Plant]:
    with plant_tenant(console, tags=[*MODBUS_TAGS, MISSING]) as found:
        yield found


def _setpoint(plant: Plant) -> float:
    async def read() -> float:
        return float(plant.sim.sim.model.setpoint)

    value: float = plant.sim.call(read())
    return value


def test_a_write_is_confirmed_then_read_back(
    page: Page, console: ConsoleWorld, plant: Plant
) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, f"{plant.slug}-operator")
    page.goto(console.url(plant.page(tag="setpoint")))
    panel = page.locator("#write-panel")
    expect(panel.get_by_role("heading", name="Write setpoint")).to_be_visible()
    setpoint = page.locator('tr[data-tag="setpoint"] [data-quality]')
    expect(setpoint).to_have_text("good", timeout=LIVE)

    # Cancel: back to the form, nothing written.
    page.get_by_label("New value (bar)").fill("7.5")
    page.get_by_role("button", name="Review write").click()
    expect(page.locator("#write-question")).to_have_text("Write 7.5 bar to setpoint on boiler-1?")
    panel.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("button", name="Review write")).to_be_visible()
    assert _setpoint(plant) == 5.0

    page.get_by_label("New value (bar)").fill("6.5")
    page.get_by_role("button", name="Review write").click()
    question = page.locator("#write-question")
    expect(question).to_have_text("Write 6.5 bar to setpoint on boiler-1?")
    expect(page.locator("#write-current")).to_have_text("5 bar (good)")
    expect(page.get_by_role("button", name="Yes, write")).to_be_focused()
    assert _setpoint(plant) == 5.0  # asked, not written
    page.get_by_role("button", name="Yes, write").click()
    expect(page.locator("#write-readback")).to_have_text("6.5 bar")
    expect(page.locator("#write-result")).to_contain_text("(was 5 bar)")
    eventually(lambda: _setpoint(plant) == 6.5)  # the plant takes it on its next tick
    row = page.locator('tr[data-tag="setpoint"]')
    expect(row.locator("[data-value]")).to_have_text("6.5", timeout=LIVE)

    # A boolean is chosen, not typed; the audit log names the operator.
    page.goto(console.url(plant.page(tag="interlock")))
    page.get_by_label("New value").select_option("true")
    page.get_by_role("button", name="Review write").click()
    expect(page.locator("#write-question")).to_have_text("Write true to interlock on boiler-1?")
    page.get_by_role("button", name="Yes, write").click()
    expect(page.locator("#write-readback")).to_have_text("true")
    with console.api(f"{plant.slug}-auditor") as auditor:
        entries = auditor.get(
            f"{plant.base}/audit", params={"action": "tag.write", "actor": f"{plant.slug}-operator"}
        )
        assert entries.status_code == 200, entries.text
        # the two confirmed writes only: neither the cancelled one nor the questions
        assert len(entries.json()["items"]) == 2


def test_bad_values_are_shown_by_the_field(page: Page, console: ConsoleWorld, plant: Plant) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, f"{plant.slug}-engineer")
    page.goto(console.url(plant.page(tag="pump_speed")))
    field = page.get_by_label("New value (%)")
    for typed, message in [
        ("fast", "must be a number"),
        ("70000", "out of range for uint16 (0..65535 raw)"),
        ("12.5", "must be an integer for uint16"),
        ("", "enter a value"),
    ]:
        field.fill(typed)
        page.get_by_role("button", name="Review write").click()
        expect(page.locator("#write-value-error")).to_have_text(message)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_value(typed)  # what was typed is kept
        expect(page.locator("#write-question")).to_have_count(0)

    # Without the browser: 422s, never a 500, nothing written.
    with http_session(console, f"{plant.slug}-operator") as client:
        html = client.get(plant.page(tag="setpoint")).text
        token = page_csrf(html)
        url = f"/ui/t/{plant.slug}/devices/boiler-1/tags/setpoint/write"
        for value in ["nan", "1e999", "x" * 5000, "abc"]:
            response = client.post(
                url, data={"csrf_token": token, "value": value, "confirm": "yes"}
            )
            assert response.status_code == 422, (value[:10], response.status_code)
            assert 'id="write-value-error"' in response.text
        # Without confirm=yes the answer is the question; nothing is sent to the PLC.
        asked = client.post(url, data={"csrf_token": token, "value": "6"})
        assert asked.status_code == 200 and 'id="write-question"' in asked.text
        assert "Write <strong>6 bar</strong> to <strong>setpoint</strong>" in asked.text
        read_only = f"/ui/t/{plant.slug}/devices/boiler-1/tags/pressure/write"
        response = client.post(
            read_only, data={"csrf_token": token, "value": "1", "confirm": "yes"}
        )
        assert response.status_code == 409 and "not writable" in response.text
        missing = f"/ui/t/{plant.slug}/devices/boiler-1/tags/nope/write"
        assert client.post(missing, data={"csrf_token": token, "value": "1"}).status_code == 404
        assert client.post(url, data={"value": "6"}).status_code == 403  # no CSRF token
    assert _setpoint(plant) != 6.0


def test_a_plc_refusal_is_a_message(page: Page, console: ConsoleWorld, plant: Plant) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, f"{plant.slug}-operator")
    page.goto(console.url(plant.page(tag="spare")))
    page.get_by_label("New value").fill("3")
    page.get_by_role("button", name="Review write").click()
    expect(page.locator("#write-question")).to_have_text("Write 3 to spare on boiler-1?")
    with page.expect_response(lambda r: r.url.endswith("/spare/write")) as answer:
        page.get_by_role("button", name="Yes, write").click()
    assert answer.value.status == 502
    message = page.locator("#write-message")
    expect(message).to_contain_text("PLC refused the request: Modbus exception 2")
    expect(page.get_by_label("New value")).to_have_value("3")
    expect(page.locator("#write-readback")).to_have_count(0)


def test_a_viewer_cannot_write(page: Page, console: ConsoleWorld, plant: Plant) -> None:
    from playwright.sync_api import expect

    for role in ("viewer", "auditor"):
        page.context.clear_cookies()
        sign_in(page, console, f"{plant.slug}-{role}")
        page.goto(console.url(plant.page(tag="setpoint")))
        expect(page.locator("svg.trend-svg, #trend-message").first).to_be_visible()
        expect(page.locator("#write-panel")).to_have_count(0)
        expect(page.get_by_role("button", name="Review write")).to_have_count(0)
    before = _setpoint(plant)
    with http_session(console, f"{plant.slug}-viewer") as client:
        token = page_csrf(client.get(plant.page(tag="setpoint")).text)
        url = f"/ui/t/{plant.slug}/devices/boiler-1/tags/setpoint/write"
        forged = client.post(url, data={"csrf_token": token, "value": "9.9", "confirm": "yes"})
        assert forged.status_code == 403
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 403
    with http_session(console, "acme-operator") as outsider:  # no role in this tenant
        token = page_csrf(outsider.get("/ui/t/acme/").text)
        forged = outsider.post(url, data={"csrf_token": token, "value": "9.9", "confirm": "yes"})
        assert forged.status_code == 404
    assert _setpoint(plant) == before != 9.9


def test_markup_in_a_tags_unit_is_text(page: Page, console: ConsoleWorld, plant: Plant) -> None:
    """Device and tag names cannot hold markup (the domain allows letters, digits, '_', '.'
    and '-'); a tag's unit is free text (up to 32 characters), so it carries the payload."""
    from playwright.sync_api import expect

    tag = {**MISSING, "name": "odd", "address": 10, "unit": PAYLOAD, "poll_interval_ms": None}
    register(console, plant.slug, plant.sim, name="odd-1", tags=[tag])
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, console, f"{plant.slug}-operator")
    page.goto(console.url(plant.page("odd-1", tag="odd")))
    row = page.locator('tr[data-tag="odd"]')
    expect(row.locator("[data-unit]")).to_have_text(PAYLOAD)
    expect(row.locator("[data-quality]")).to_have_text("good", timeout=LIVE)  # after a poll
    expect(page.locator("svg.trend-svg text.trend-unit")).to_have_text(PAYLOAD, timeout=LIVE)
    page.get_by_label(f"New value ({PAYLOAD})").fill("4")
    page.get_by_role("button", name="Review write").click()
    expect(page.locator("#write-question")).to_have_text(f"Write 4 {PAYLOAD} to odd on odd-1?")
    expect(page.locator("#write-question")).to_be_visible()
    assert serious_violations(page) == []  # the confirmation step
    page.get_by_role("button", name="Yes, write").click()
    expect(page.locator("#write-readback")).to_have_text(f"4 {PAYLOAD}")
    assert page.locator('img[src="x"]').count() == 0
    assert dialogs == []
    assert PAYLOAD not in page.content()
    eventually(lambda: PAYLOAD not in page.content() and page.locator("#device-live").count())
