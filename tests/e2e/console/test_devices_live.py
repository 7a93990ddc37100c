"""Devices and tags, live: the device list with connection states (abnormal first), a tag's
value changing on the page without a reload, bad quality shown as bad when the PLC goes
away, a trend drawn by the server with range and zoom, and an axe-core pass."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.console.devices_support import (
    LIVE,
    Plant,
    modbus_plant,
    plant_tenant,
    register,
    serious_violations,
)
from tests.e2e.console.harness import ConsoleWorld, http_session, sign_in
from tests.e2e.console.test_security import _inline_code

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def plant(console: ConsoleWorld) -> Iterator[Plant]:
    with plant_tenant(console) as found:
        yield found


def test_the_device_list_shows_connections_abnormal_first(
    page: Page, console: ConsoleWorld, plant: Plant
) -> None:
    from playwright.sync_api import expect

    with console.api(f"{plant.slug}-engineer") as engineer:
        dead = engineer.post(
            f"{plant.base}/devices",
            json={
                "name": "zz-dead",  # sorts last by name, first as abnormal
                "protocol": "modbus",
                "endpoint": "modbus-tcp://127.0.0.1:9",
                "max_backoff_ms": 500,
                "tags": [],
            },
        )
        assert dead.status_code == 201, dead.text
    sign_in(page, console, f"{plant.slug}-viewer")
    page.goto(console.url(f"/ui/t/{plant.slug}/devices/"))
    expect(page.get_by_role("heading", name="Devices", exact=True)).to_be_visible()
    rows = page.locator("#device-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-device", "zz-dead", timeout=LIVE)
    dead_row = page.locator('tr[data-device="zz-dead"]')
    expect(dead_row).to_have_class(re.compile(r"\babnormal\b"))
    expect(dead_row.locator("[data-connection] .state--fault")).to_have_text(
        re.compile("Reconnecting|Connecting")
    )
    expect(dead_row.locator(".device-error")).not_to_be_empty(timeout=LIVE)
    boiler = page.locator('tr[data-device="boiler-1"]')
    expect(boiler.locator("[data-connection]")).to_have_text("Connected", timeout=LIVE)
    expect(boiler).to_contain_text("modbus")
    expect(boiler).to_contain_text(plant.sim.sim.modbus_endpoint)
    expect(boiler.locator("[data-enabled]")).to_have_text("Yes")
    page.evaluate("window.consoleNotReloaded = true")

    # Disabled through the API: the list says so by itself, and it is no longer abnormal.
    with console.api(f"{plant.slug}-engineer") as engineer:
        off = engineer.patch(f"{plant.base}/devices/zz-dead", json={"enabled": False})
        assert off.status_code == 200, off.text
    expect(dead_row.locator("[data-enabled]")).to_have_text("No", timeout=LIVE)
    expect(dead_row.locator("[data-connection]")).to_have_text("Disabled")
    expect(dead_row).not_to_have_class(re.compile(r"\babnormal\b"))
    expect(rows.nth(0)).to_have_attribute("data-device", "boiler-1")
    assert page.evaluate("window.consoleNotReloaded") is True

    page.locator("#device-link-boiler-1").click()
    expect(page.get_by_role("heading", name="Device boiler-1")).to_be_visible()


def test_a_live_value_changes_on_the_page(page: Page, console: ConsoleWorld, plant: Plant) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, f"{plant.slug}-operator")
    page.goto(console.url(plant.page()))
    pressure = page.locator('tr[data-tag="pressure"]')
    expect(pressure.locator("[data-quality]")).to_have_text("good", timeout=LIVE)
    expect(pressure.locator("[data-unit]")).to_have_text("bar")
    expect(pressure.locator("[data-value]")).to_have_text(re.compile(r"^(4\.9\d*|5(\.0\d*)?)$"))
    page.evaluate("window.consoleNotReloaded = true")
    plant.sim.set(setpoint=7.25)  # the process moves by itself
    expect(pressure.locator("[data-value]")).to_have_text(
        re.compile(r"^7\.2[3-6]\d*$"), timeout=LIVE
    )
    expect(pressure).not_to_have_class(re.compile(r"\babnormal\b"))
    expect(pressure.locator(".when")).to_have_text(
        re.compile(r"^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d$")
    )
    assert page.evaluate("window.consoleNotReloaded") is True


def test_bad_quality_is_shown_as_bad(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with modbus_plant() as sim:
        register(console, slug, sim, name="tank-9")
        sign_in(page, console, f"{slug}-viewer")
        page.goto(console.url(f"/ui/t/{slug}/devices/tank-9"))
        level = page.locator('tr[data-tag="level"]')
        expect(level.locator("[data-quality]")).to_have_text("good", timeout=LIVE)
        expect(level.locator("[data-value]")).not_to_have_class(re.compile("value--stale"))
        page.evaluate("window.consoleNotReloaded = true")
    # The PLC is gone: every tag is bad, its last value greyed and said to be stale.
    expect(level.locator("[data-quality] .state--fault")).to_have_text("bad", timeout=LIVE)
    expect(level).to_have_class(re.compile(r"\babnormal\b"))
    expect(level.locator("[data-value]")).to_have_class(re.compile("value--stale"))
    expect(level.locator("[data-value]")).to_contain_text("last known, not current")
    expect(page.locator('#tag-values [data-quality]:text-is("good")')).to_have_count(0)
    status = page.locator("#device-status")
    expect(status.locator("[data-connection] .state--fault")).to_have_text(
        re.compile("Reconnecting|Connecting")
    )
    expect(page.locator("#device-error")).not_to_be_empty(timeout=LIVE)
    assert page.evaluate("window.consoleNotReloaded") is True
    page.goto(console.url(f"/ui/t/{slug}/devices/"))
    expect(page.locator('tr[data-device="tank-9"] .state--fault')).to_be_visible()
    console.retire_devices(slug)


def test_a_trend_is_drawn_and_zooms(page: Page, console: ConsoleWorld, plant: Plant) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, f"{plant.slug}-auditor")
    page.goto(console.url(plant.page(tag="temperature", range="15m")))
    caption = page.locator("#trend-window")
    expect(caption).to_contain_text("15 min")
    expect(caption).to_have_attribute("data-bucket", "10s")
    expect(page.get_by_role("link", name="15 min")).to_have_attribute("aria-current", "true")
    avg = page.locator("svg.trend-svg path.trend-avg")
    expect(avg).to_have_attribute("d", re.compile(r"^M\d"), timeout=LIVE)
    expect(page.locator("svg.trend-svg path.trend-band")).to_have_attribute("d", re.compile(r"Z$"))
    labels = page.locator("svg.trend-svg text.trend-label")
    expect(labels.filter(has_text="degC")).to_have_count(1)  # the value axis' unit
    before = caption.get_attribute("data-from")

    # Zoom into the last sixth of the window: a narrower window, narrower buckets.
    page.locator("#zoom-5").click()
    expect(page).to_have_url(re.compile(r"from=.*&to="))
    expect(caption).to_have_attribute("data-bucket", "1s")
    expect(caption).to_contain_text("2 min 30 s")
    assert caption.get_attribute("data-from") != before
    expect(avg).to_have_attribute("d", re.compile(r"^M[\d.,]+( L[\d.,]+)+"), timeout=LIVE)
    zoomed = page.url
    page.get_by_role("link", name="Zoom out").click()
    expect(caption).to_contain_text("5 min")
    assert page.url != zoomed

    # Dragging across the plot (static/devices.js) zooms into what was selected.
    box = page.locator(".zoom-slices").bounding_box()
    assert box is not None
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, middle)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, middle, steps=4)
    page.mouse.move(box["x"] + box["width"] * 0.9, middle, steps=4)
    page.mouse.up()
    expect(caption).to_contain_text("2 min")  # 40 % of 5 min
    expect(caption).to_have_attribute("data-bucket", "1s")

    # The window as typed into the form; a bad one is a 422 shown by its field.
    page.get_by_label("From (UTC)").fill("2020-01-01T10:00:00")
    page.get_by_label("To (UTC)").fill("2020-01-01T09:00:00")
    page.get_by_role("button", name="Show window").click()
    expect(page.locator("#trend-to-error")).to_have_text("must be after 'from'")
    expect(page.get_by_label("To (UTC)")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("link", name="1 h").click()
    expect(caption).to_have_attribute("data-bucket", "10s")
    expect(caption).to_contain_text("1 h")


def test_the_trend_refuses_hostile_queries_with_4xx(console: ConsoleWorld, plant: Plant) -> None:
    with http_session(console, f"{plant.slug}-viewer") as client:
        for query in [
            {"tag": "pressure", "from": "x" * 500, "to": "2020-01-01T00:00"},
            {"tag": "pressure", "from": "2020-01-01T00:00"},
            {"tag": "pressure", "range": "<script>"},
            {"tag": "pressure", "from": "2020-01-01T00:00", "to": "2029-01-01T00:00"},
        ]:
            response = client.get(plant.page(), params=query)
            assert response.status_code == 422, (query, response.status_code)
            assert "<script>" not in response.text
        assert client.get(plant.page(tag="nope")).status_code == 404
        assert client.get(plant.page("no-such-device")).status_code == 404
        assert client.get(f"/ui/t/{plant.slug}/devices/boiler-1/tags/nope/trend").status_code == 404
        long_name = "a" * 300
        assert client.get(plant.page(long_name)).status_code in {400, 404}
        for path in [
            f"/ui/t/{plant.slug}/devices/",
            f"/ui/t/{plant.slug}/devices/_live",
            plant.page(tag="pressure"),
            f"/ui/t/{plant.slug}/devices/boiler-1/live?tag=pressure",
            f"/ui/t/{plant.slug}/devices/boiler-1/tags/pressure/trend?range=15m",
        ]:
            response = client.get(path)
            assert response.status_code == 200, path
            assert _inline_code(response.text) == [], path


def test_another_tenants_devices_are_not_found(console: ConsoleWorld, plant: Plant) -> None:
    with http_session(console, "acme-operator") as client:
        response = client.get(plant.page())
        assert response.status_code == 404
        assert "boiler-1" not in response.text
    with httpx.Client(base_url=console.base) as anonymous:
        response = anonymous.get(plant.page())
        assert response.status_code == 303 and "/ui/login" in response.headers["location"]


def test_axe_finds_no_serious_violation(page: Page, console: ConsoleWorld, plant: Plant) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, f"{plant.slug}-operator")
    page.goto(console.url(f"/ui/t/{plant.slug}/devices/"))
    expect(page.locator("#device-list")).to_be_visible()
    assert serious_violations(page) == []
    page.goto(console.url(plant.page(tag="setpoint")))
    expect(page.locator("svg.trend-svg path.trend-avg")).to_have_attribute(
        "d", re.compile("^M"), timeout=LIVE
    )
    expect(page.locator("#write-panel")).to_be_visible()
    assert serious_violations(page) == []
    # usable at 1366x768 and on a tablet: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    assert serious_violations(page) == []
    # the keyboard reaches the zoom links over the plot
    page.locator("#zoom-0").focus()
    expect(page.locator("#zoom-0")).to_be_focused()
