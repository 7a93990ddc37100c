"""The incidents pages: list (with its status filter), an incident's timeline in time
order, its review with the service's 422s on the fields and 409 when reviewed meanwhile,
markup in a summary and a comment shown as text, roles (the form hidden and a forged
review refused), axe."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from hub.api.console.security_headers import CONTENT_SECURITY_POLICY
from tests.e2e.console.harness import ConsoleWorld, http_session, page_csrf, sign_in
from tests.e2e.console.incidents_support import XSS, finished_run, open_incident
from tests.e2e.console.test_accessibility import _violations
from tests.e2e.console.test_security import _inline_code

if TYPE_CHECKING:
    from playwright.sync_api import Page


@dataclass(frozen=True)
class Incidents:
    slug: str
    run_id: str
    first: str  # reviewed in the browser test
    second: str  # its summary holds markup; reviewed by the forged-post test


@pytest.fixture(scope="module")
def incidents(console: ConsoleWorld) -> Incidents:
    slug = console.fresh_tenant()
    run_id = finished_run(console, slug)
    first = open_incident(console, slug, run_id, "Pressure above HiHi", severity="critical")
    other_run = finished_run(console, slug)
    second = open_incident(console, slug, other_run, XSS, severity="medium")
    return Incidents(slug, run_id, first, second)


@pytest.fixture
def dialogs(page: Page) -> Iterator[list[str]]:
    seen: list[str] = []

    def dialog(d: Any) -> None:
        seen.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    yield seen


def _url(slug: str, suffix: str = "") -> str:
    return f"/ui/t/{slug}/incidents/{suffix}"


def test_list_timeline_and_review(
    signed_in: Callable[[str], Page],
    console: ConsoleWorld,
    incidents: Incidents,
    dialogs: list[str],
) -> None:
    from playwright.sync_api import expect

    slug = incidents.slug
    page = signed_in(f"{slug}-engineer")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Incidents").click()
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    rows = page.locator("#incidents-table tbody tr")
    expect(rows).to_have_count(2)
    # Newest first; the summary with markup is text, not an element.
    expect(rows.nth(0).get_by_role("link")).to_have_text(XSS)
    expect(page.locator("#incidents-table img")).to_have_count(0)
    first = page.locator(f'tr[data-incident="{incidents.first}"]')
    expect(first).to_contain_text("Critical")
    expect(first).to_contain_text("Open")

    first.get_by_role("link", name="Pressure above HiHi").click()
    expect(page.get_by_role("heading", name="Pressure above HiHi")).to_be_visible()
    expect(page.locator("#incident-facts")).to_contain_text(incidents.run_id)
    expect(page.locator("#incident-details")).to_contain_text(XSS)  # as text
    timeline = page.locator("#incident-timeline tbody tr")
    expect(timeline.first).to_contain_text("RunStarted")
    expect(timeline.last).to_contain_text("RunCompleted")
    expect(page.locator("#incident-timeline")).to_contain_text("trip")
    times = [t.strip() for t in timeline.locator("td.when").all_inner_texts()]
    assert times == sorted(times) and len(times) >= 3

    # No outcome chosen: the service's 422 next to the field, the comment kept.
    page.get_by_label("Comment").fill(f"valve stuck {XSS}")
    with page.expect_response(re.compile(r"/review$")) as answer:
        page.get_by_role("button", name="Save review").click()
    assert answer.value.status == 422
    expect(page.locator("#review-outcome-error")).to_contain_text(
        "one of confirmed, false_alarm, needs_action"
    )
    expect(page.get_by_label("Comment")).to_have_value(f"valve stuck {XSS}")
    expect(page.get_by_label("Outcome")).to_have_attribute("aria-invalid", "true")
    assert _violations(page) == []

    page.get_by_label("Outcome").select_option(label="Needs action")
    page.get_by_role("button", name="Save review").click()
    expect(page.locator("#review-outcome")).to_have_text("needs action")
    expect(page.locator("#review-comment")).to_have_text(f"valve stuck {XSS}")
    expect(page.locator("#review-done")).to_contain_text(f"{slug}-engineer")
    expect(page.locator("#incident-status")).to_have_text("Reviewed")
    expect(page.locator("#review-form")).to_have_count(0)
    expect(page.locator("#incident-review img")).to_have_count(0)

    # The filter: reviewed ones only.
    page.goto(console.url(_url(slug, "?status=reviewed")))
    expect(page.locator("#incidents-table tbody tr")).to_have_count(1)
    expect(page.locator(f'tr[data-incident="{incidents.first}"]')).to_contain_text("needs action")
    with console.api(f"{slug}-auditor") as auditor:
        entries = auditor.get(
            f"/api/v1/tenants/{slug}/audit", params={"action": "incident.review"}
        ).json()["items"]
    assert [(e["actor"], e["details"]["outcome"]) for e in entries] == [
        (f"{slug}-engineer", "needs_action")
    ]
    assert dialogs == []


def test_bad_reviews_and_a_second_review(console: ConsoleWorld, incidents: Incidents) -> None:
    slug, target = incidents.slug, incidents.second
    with http_session(console, f"{slug}-tenant_admin") as client:
        page = client.get(_url(slug, target))
        assert page.status_code == 200 and 'id="review-form"' in page.text
        token = page_csrf(page.text)
        review = _url(slug, f"{target}/review")
        long = client.post(
            review, data={"csrf_token": token, "outcome": "confirmed", "comment": "x" * 4001}
        )
        assert long.status_code == 422
        assert "a string of at most 4000 characters" in long.text
        assert 'id="review-comment-error"' in long.text
        odd = client.post(review, data={"csrf_token": token, "outcome": "<b>maybe</b>"})
        assert odd.status_code == 422 and "<b>maybe" not in odd.text
        no_token = client.post(review, data={"outcome": "confirmed"})
        assert no_token.status_code == 403
        done = client.post(review, data={"csrf_token": token, "outcome": "false_alarm"})
        assert done.status_code == 303
        again = client.post(review, data={"csrf_token": token, "outcome": "confirmed"})
        assert again.status_code == 409
        assert f"incident {target} is already reviewed" in again.text
        assert 'id="review-done"' in again.text  # the review that stands is shown
        missing = client.post(
            _url(slug, "0123456789abcdef0123456789abcdef/review"),
            data={"csrf_token": token, "outcome": "confirmed"},
        )
        assert missing.status_code == 404
        assert client.get(_url(slug, "?status=bogus")).status_code == 422
        assert client.get(_url(slug, "nope")).status_code == 404


def test_roles_hide_the_form_and_refuse_forged_reviews(
    console: ConsoleWorld, incidents: Incidents, page: Page
) -> None:
    from playwright.sync_api import expect

    slug = incidents.slug
    with http_session(console, f"{slug}-operator") as operator:
        detail = operator.get(_url(slug, incidents.first))
        assert detail.status_code == 200  # operators read incidents
        assert 'id="review-form"' not in detail.text
        listed = operator.get(_url(slug))
        assert 'id="review-form"' not in listed.text
        forged = operator.post(
            _url(slug, f"{incidents.first}/review"),
            data={"csrf_token": page_csrf(detail.text), "outcome": "confirmed"},
        )
        assert forged.status_code == 403
    with http_session(console, f"{slug}-viewer") as viewer:
        home = viewer.get(f"/ui/t/{slug}/")
        assert f'href="/ui/t/{slug}/incidents/"' not in home.text
        assert viewer.get(_url(slug)).status_code == 403
        assert viewer.get(_url(slug, incidents.first)).status_code == 403
        forged = viewer.post(
            _url(slug, f"{incidents.first}/review"),
            data={"csrf_token": page_csrf(home.text), "outcome": "confirmed"},
        )
        assert forged.status_code == 403
    with http_session(console, "globex-operator") as outsider:
        assert outsider.get(_url(slug)).status_code == 404
    sign_in(page, console, f"{slug}-auditor")
    page.goto(console.url(_url(slug, incidents.first)))
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    expect(page.locator("#review-form")).to_have_count(0)


def test_axe_on_the_incident_pages(
    signed_in: Callable[[str], Page], console: ConsoleWorld, incidents: Incidents
) -> None:
    from playwright.sync_api import expect

    page = signed_in(f"{incidents.slug}-engineer")
    page.goto(console.url(_url(incidents.slug)))
    expect(page.locator("#incidents-table")).to_be_visible()
    assert _violations(page) == []
    page.goto(console.url(_url(incidents.slug, "?status=bogus")))
    expect(page.locator("#incident-status-error")).to_be_visible()
    assert _violations(page) == []
    page.goto(console.url(_url(incidents.slug, incidents.first)))
    expect(page.locator("#incident-timeline")).to_be_visible()
    assert _violations(page) == []


def test_no_inline_code_and_the_console_headers(
    console: ConsoleWorld, incidents: Incidents
) -> None:
    with http_session(console, f"{incidents.slug}-engineer") as client:
        for path in (_url(incidents.slug), _url(incidents.slug, incidents.first)):
            answer = client.get(path)
            assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert _inline_code(answer.text) == [], path
