"""The alarms page's actions and what it refuses: shelve and unshelve, the viewer who
sees no controls and whose forged POST is 403, bad comments and durations (422 next to
the field, nothing lost, nothing changed), a stale form (409), a comment holding markup
(text in the history), filters, and an axe-core pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.console.alarms_support import XSS, AlarmPlant, alarm_plant
from tests.e2e.console.harness import ConsoleWorld, http_session, page_csrf

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Drop the browser's own checks, as a hostile or old client would: the server must refuse.
NO_BROWSER_CHECKS = """() => {
  for (const form of document.querySelectorAll('form')) { form.noValidate = true; }
  for (const el of document.querySelectorAll('[maxlength],[min],[max],[required]')) {
    for (const a of ['maxlength', 'min', 'max', 'required']) { el.removeAttribute(a); }
  }
}"""


@pytest.fixture(scope="module")
def plant(console: ConsoleWorld) -> Iterator[AlarmPlant]:
    with alarm_plant(console) as world:
        yield world


@pytest.fixture
def signed_in_as(signed_in: Any, plant: AlarmPlant) -> Any:
    return lambda role: signed_in(plant.user(role))


def test_shelve_and_unshelve_from_the_page(signed_in_as: Any, plant: AlarmPlant) -> None:
    from playwright.sync_api import expect

    alarm = plant.active_rule(priority="medium")
    page: Page = signed_in_as("operator")
    page.goto(plant.page_url(alarm["id"]))
    page.get_by_label("Duration in minutes").fill("30")
    page.get_by_label("Reason").fill("Sensor being recalibrated")
    page.get_by_role("button", name="Shelve").click()
    expect(page.locator("#alarm-state")).to_have_text("Shelved")
    expect(page.locator("#alarm-shelved-until")).to_be_visible()
    shelved = page.locator('#alarm-history tr[data-action="shelve"]')
    expect(shelved.locator("[data-comment]")).to_have_text("Sensor being recalibrated")
    expect(shelved.locator("[data-actor]")).to_have_text(plant.user("operator"))
    stored = plant.alarm(alarm["id"])
    assert stored["state"] == "shelved" and stored["shelved_until"]

    # The list shows it shelved, with the time it comes back.
    page.goto(plant.page_url(f"?area={alarm['area']}"))
    row = page.locator(f'tr[data-alarm-id="{alarm["id"]}"]')
    expect(row).to_contain_text("Shelved")
    expect(row).to_contain_text("until")

    page.goto(plant.page_url(alarm["id"]))
    page.get_by_role("button", name="Unshelve").click()
    expect(page.locator("#alarm-state")).to_have_text("Active, unacknowledged")
    expect(page.locator('#alarm-history tr[data-action="unshelve"]')).to_contain_text("Unshelved")
    assert plant.alarm(alarm["id"])["state"] == "active-unacknowledged"


def test_a_viewer_sees_the_list_but_no_controls(signed_in_as: Any, plant: AlarmPlant) -> None:
    from playwright.sync_api import expect

    alarm = plant.active_rule(priority="high")
    page: Page = signed_in_as("viewer")
    page.goto(plant.page_url(f"?area={alarm['area']}"))
    expect(page.locator(f'tr[data-alarm-id="{alarm["id"]}"]')).to_be_visible()
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link")).to_contain_text(
        ["Alarms"]
    )
    page.goto(plant.page_url(alarm["id"]))
    expect(page.locator("#alarm-state")).to_have_text("Active, unacknowledged")
    expect(page.locator("#alarm-actions")).to_have_count(0)
    expect(page.locator("form[action$='/ack'], form[action$='/shelve']")).to_have_count(0)
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)


def test_a_viewers_forged_posts_are_403_and_change_nothing(plant: AlarmPlant) -> None:
    alarm = plant.active_rule(priority="high")
    base = f"/ui/t/{plant.slug}/alarms/{alarm['id']}"
    with http_session(plant.console, plant.user("viewer")) as viewer:
        token = page_csrf(viewer.get(base).text)
        for action, form in [
            ("ack", {"comment": "forged"}),
            ("shelve", {"minutes": "60", "reason": "forged"}),
            ("unshelve", {}),
        ]:
            refused = viewer.post(f"{base}/{action}", data={**form, "csrf_token": token})
            assert refused.status_code == 403, (action, refused.text)
            assert "Not allowed" in refused.text
    with http_session(plant.console, plant.user("operator")) as operator:
        # An operator without the CSRF token is refused too.
        refused = operator.post(f"{base}/ack", data={"comment": "no token"})
        assert refused.status_code == 403
    stored = plant.alarm(alarm["id"])
    assert stored["state"] == "active-unacknowledged"
    assert [e["action"] for e in stored["journal"]] == ["activate"]


def test_bad_comments_and_durations_show_422_on_the_fields(
    signed_in_as: Any, plant: AlarmPlant
) -> None:
    from playwright.sync_api import expect

    alarm = plant.active_rule(priority="low")
    page: Page = signed_in_as("operator")
    page.goto(plant.page_url(alarm["id"]))
    page.evaluate(NO_BROWSER_CHECKS)
    long_comment = "x" * 1001
    page.get_by_label("Comment").fill(long_comment)
    with page.expect_response(lambda r: r.url.endswith("/ack")) as answer:
        page.get_by_role("button", name="Acknowledge").click()
    assert answer.value.status == 422
    expect(page.locator("#alarm-comment-error")).to_have_text("at most 1000 characters")
    expect(page.get_by_label("Comment")).to_have_value(long_comment)  # nothing lost
    expect(page.get_by_label("Comment")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#alarm-problems")).to_contain_text("nothing was changed")

    page.evaluate(NO_BROWSER_CHECKS)
    page.get_by_label("Duration in minutes").fill("0")
    page.get_by_label("Reason").fill("kept as typed")
    with page.expect_response(lambda r: r.url.endswith("/shelve")) as answer:
        page.get_by_role("button", name="Shelve").click()
    assert answer.value.status == 422
    expect(page.locator("#alarm-minutes-error")).to_have_text("an integer in 1..10080")
    expect(page.get_by_label("Reason")).to_have_value("kept as typed")
    expect(page.get_by_label("Duration in minutes")).to_have_value("0")

    # More hostile bodies, without a browser: each a 422 naming its field.
    base = f"/ui/t/{plant.slug}/alarms/{alarm['id']}"
    with http_session(plant.console, plant.user("operator")) as operator:
        token = page_csrf(operator.get(base).text)
        for action, form, field, message in [
            ("shelve", {"minutes": "abc", "reason": "r"}, "minutes", "a whole number of minutes"),
            ("shelve", {"minutes": "1.5", "reason": "r"}, "minutes", "a whole number of minutes"),
            ("shelve", {"minutes": "10081", "reason": "r"}, "minutes", "an integer in 1..10080"),
            ("shelve", {"minutes": "-5", "reason": "r"}, "minutes", "an integer in 1..10080"),
            ("shelve", {"minutes": "9" * 40, "reason": "r"}, "minutes", "a whole number"),
            ("shelve", {"minutes": "60", "reason": ""}, "reason", "required"),
            ("shelve", {"minutes": "60"}, "reason", "required"),
            ("shelve", {"minutes": "60", "reason": "r" * 1001}, "reason", "at most 1000"),
            ("ack", {"comment": "y" * 5000}, "comment", "at most 1000 characters"),
        ]:
            answer = operator.post(f"{base}/{action}", data={**form, "csrf_token": token})
            assert answer.status_code == 422, (form, answer.text[:300])
            assert f'id="alarm-{field}-error"' in answer.text, form
            assert message in answer.text, form
            assert "Traceback" not in answer.text
    stored = plant.alarm(alarm["id"])
    assert stored["state"] == "active-unacknowledged"
    assert [e["action"] for e in stored["journal"]] == ["activate"]


def test_a_stale_form_is_refused_with_409(signed_in_as: Any, plant: AlarmPlant) -> None:
    from playwright.sync_api import expect

    alarm = plant.active_rule(priority="high")
    page: Page = signed_in_as("operator")
    page.goto(plant.page_url(alarm["id"]))
    with plant.console.api(plant.user("operator")) as operator:  # someone else was quicker
        done = operator.post(f"{plant.base}/alarms/{alarm['id']}/ack", json={"comment": "me"})
        assert done.status_code == 200, done.text
    page.get_by_label("Comment").fill("me too")
    with page.expect_response(lambda r: r.url.endswith("/ack")) as answer:
        page.get_by_role("button", name="Acknowledge").click()
    assert answer.value.status == 409
    expect(page.locator("#alarm-refused")).to_contain_text("active-acknowledged")
    expect(page.locator("#alarm-state")).to_have_text("Active, acknowledged")


def test_a_comment_with_markup_is_text_in_the_history(signed_in_as: Any, plant: AlarmPlant) -> None:
    from playwright.sync_api import expect

    alarm = plant.active_rule(priority="critical", message=XSS)
    page: Page = signed_in_as("operator")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(plant.page_url(alarm["id"]))
    page.get_by_label("Comment").fill(XSS)
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#alarm-state")).to_have_text("Active, acknowledged")
    comment = page.locator('#alarm-history tr[data-action="ack"] [data-comment]')
    expect(comment).to_have_text(XSS)
    expect(page.locator("main img")).to_have_count(0)
    page.goto(plant.page_url(f"?area={alarm['area']}&state=all"))
    expect(page.locator(f'tr[data-alarm-id="{alarm["id"]}"]')).to_contain_text(XSS)
    expect(page.locator("main img")).to_have_count(0)
    assert dialogs == []
