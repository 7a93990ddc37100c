"""The alarms list: filters by area, priority and state; sorted by priority; unknown
filter values are a 422 next to the filter; no inline script or style on any of its
pages and fragments; an axe-core pass and a fit at 1366x768 and on a tablet."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.console.alarms_support import AlarmPlant, alarm_plant
from tests.e2e.console.harness import DESKTOP, TABLET, ConsoleWorld, http_session
from tests.e2e.console.test_accessibility import _violations
from tests.e2e.console.test_security import _assert_secured, _inline_code

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def plant(console: ConsoleWorld) -> Iterator[AlarmPlant]:
    with alarm_plant(console) as world:
        yield world


@pytest.fixture
def signed_in_as(signed_in: Any, plant: AlarmPlant) -> Any:
    return lambda role: signed_in(plant.user(role))


def test_filters_sort_and_refuse_unknown_values(signed_in_as: Any, plant: AlarmPlant) -> None:
    from playwright.sync_api import expect

    area = "sorting-hall"
    low = plant.active_rule(priority="low", area=area)
    critical = plant.active_rule(priority="critical", area=area)
    high = plant.active_rule(priority="high", area=area)
    page: Page = signed_in_as("operator")
    page.goto(plant.page_url())
    page.get_by_label("Area").select_option(area)
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("#alarm-table tbody tr")
    expect(rows).to_have_count(3)
    ids = [rows.nth(i).get_attribute("data-alarm-id") for i in range(3)]
    assert ids == [critical["id"], high["id"], low["id"]]  # by priority

    page.get_by_label("Priority").select_option("high")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-alarm-id", high["id"])
    page.get_by_label("State").select_option("shelved")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#no-alarms")).to_have_text("No alarms match the filters.")

    with page.expect_response(lambda r: "priority=" in r.url) as answer:
        page.goto(plant.page_url(f"?area={area}&priority=bogus&state=%3Cimg%3E"))
    assert answer.value.status == 422
    expect(page.locator("#alarm-filter-priority-error")).to_contain_text("one of critical")
    expect(page.locator("#alarm-filter-state-error")).to_be_visible()
    expect(rows).to_have_count(3)  # the filters that could be used still apply
    too_long = plant.console.url(f"/ui/t/{plant.slug}/alarms/?area={'a' * 200}")
    with http_session(plant.console, plant.user("operator")) as operator:
        assert operator.get(too_long).status_code == 400
        assert operator.get(f"/ui/t/{plant.slug}/alarms/no-such-alarm").status_code == 404


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET], ids=["1366x768", "tablet"])
def test_axe_and_fit(page: Page, plant: AlarmPlant, viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    from tests.e2e.console.harness import sign_in

    page.emulate_media(reduced_motion="reduce")  # a steady flash colour for axe to check
    alarm = plant.active_rule(priority="critical", area="axe-area")
    page.set_viewport_size(viewport)
    sign_in(page, plant.console, plant.user("operator"))
    page.goto(plant.page_url())
    expect(page.locator(f'tr[data-alarm-id="{alarm["id"]}"]')).to_have_class(
        "alarm-row alarm-row--announce alarm-row--flash"
    )
    assert _violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.goto(plant.page_url(alarm["id"]))
    expect(page.get_by_role("button", name="Shelve")).to_be_visible()
    assert _violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.goto(plant.page_url("?priority=bogus"))
    assert _violations(page) == []


def test_every_alarms_page_is_secured_and_has_no_inline_code(plant: AlarmPlant) -> None:
    alarm = plant.active_rule(priority="high")
    base = f"/ui/t/{plant.slug}/alarms"
    with http_session(plant.console, plant.user("operator")) as operator:
        for path in [
            f"{base}/",
            f"{base}/live",
            f"{base}/?priority=bogus",
            f"{base}/{alarm['id']}",
            f"{base}/{alarm['id']}/live",
            f"{base}/no-such-alarm",
        ]:
            response = operator.get(path)
            assert response.status_code in (200, 404, 422), path
            _assert_secured(response)
            assert _inline_code(response.text) == [], path
