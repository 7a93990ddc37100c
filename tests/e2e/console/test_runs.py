"""The run page: the diagram with the path taken and the current step, the timeline, the
input / output / vars, and cancel, suspend, resume and signal from the page (a signal
with bad JSON is a 422 shown on the field, nothing lost); a viewer has no controls and
a forged cancel is 403; hostile text renders as text."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.e2e.console.harness import ConsoleWorld, http_session, page_csrf, sign_in
from tests.e2e.console.runs_support import XSS, publish, run_of, start, waiting_at

if TYPE_CHECKING:
    from playwright.sync_api import Page

LIVE = 15_000  # ms: a few polls


def _no_injected_markup(page: Page) -> None:
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.xssFired === undefined")


def test_the_run_page_shows_the_path_timeline_and_data_then_suspend_resume_and_cancel(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        run_id = start(engineer, slug, batch=XSS)
        waiting_at(engineer, slug, run_id, "hold")

    page.add_init_script("window.alert = () => { window.xssFired = true; };")
    sign_in(page, console, f"{slug}-operator")
    page.goto(console.url(f"/ui/t/{slug}/runs/{run_id}"))
    expect(page.get_by_role("heading", name="Run of hold")).to_be_visible()
    expect(page.locator("#run-status")).to_have_text("Waiting")
    diagram = page.locator("#diagram svg")
    expect(diagram.locator('g[data-step="hold"]')).to_have_attribute("data-state", "current")
    expect(diagram.locator('g[data-step="pause"]')).to_have_attribute("data-state", "done")
    expect(diagram.locator('g[data-step="done"]')).to_have_attribute("data-state", "not-reached")
    expect(diagram.locator('path[data-edge="pause->hold"]')).to_have_attribute("data-taken", "true")
    expect(diagram.locator('path[data-edge="(start)->pause"]')).to_have_attribute(
        "data-taken", "true"
    )
    expect(diagram.locator('path[data-edge="hold->done"]')).not_to_have_attribute(
        "data-taken", "true"
    )
    timeline = page.locator("#timeline")
    for kind in ("RunStarted", "TimerStarted", "TimerFired", "WaitStarted"):
        expect(timeline.locator(f'tr[data-event="{kind}"]')).to_have_count(1)
    expect(timeline.locator('tr[data-event="TimerFired"] td').nth(5)).to_have_text(
        re.compile(r"\d+ ms|\d+\.\d s")
    )
    # Hostile text is text: the input value, the vars.
    expect(page.locator("#run-input")).to_contain_text(XSS)
    expect(page.locator("#run-vars")).to_contain_text("L<b>1</b>")
    _no_injected_markup(page)

    page.get_by_role("button", name="Suspend").click()
    expect(page.locator("#run-status")).to_have_text("Suspended")
    expect(page.get_by_role("button", name="Suspend")).to_have_count(0)
    expect(page.locator('#timeline tr[data-event="RunSuspended"]')).to_have_count(1)
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#run-status")).to_have_text("Waiting")
    expect(page.locator('#timeline tr[data-event="RunResumed"]')).to_have_count(1)

    # Cancel asks first: declining does nothing, accepting cancels.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("Waiting")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.locator("#signal-form")).to_have_count(0)
    with console.api(f"{slug}-viewer") as viewer:
        assert run_of(viewer, slug, run_id)["status"] == "cancelled"
    _no_injected_markup(page)


def test_a_signal_with_bad_json_is_a_422_on_the_field_then_a_good_one_finishes_the_run(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        run_id = start(engineer, slug)
        waiting_at(engineer, slug, run_id, "hold")
    sign_in(page, console, f"{slug}-operator")
    page.goto(console.url(f"/ui/t/{slug}/runs/{run_id}"))
    page.evaluate("window.notReloaded = true")  # the live part updates in place

    page.get_by_label("Signal name").fill("go")
    page.get_by_label("Payload (JSON").fill('{"by": "dana",')
    with page.expect_response(lambda r: r.url.endswith("/signal")) as sent:
        page.get_by_role("button", name="Send signal").click()
    assert sent.value.status == 422
    error = page.locator("#signal-payload-error")
    expect(error).to_contain_text("not valid JSON")
    expect(page.get_by_label("Payload (JSON")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Payload (JSON")).to_have_value('{"by": "dana",')  # kept
    expect(page.get_by_label("Signal name")).to_have_value("go")
    expect(page.locator("#run-status")).to_have_text("Waiting")

    page.get_by_label("Signal name").fill("")
    page.get_by_label("Payload (JSON").fill('{"by": "' + XSS + '"}')
    page.get_by_role("button", name="Send signal").click()
    expect(page.locator("#signal-name-error")).to_have_text("required")

    page.get_by_label("Signal name").fill("go")
    page.get_by_role("button", name="Send signal").click()
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=LIVE)
    expect(page.locator("#run-output")).to_contain_text(XSS)
    diagram = page.locator("#diagram svg")
    expect(diagram.locator('g[data-step="done"]')).to_have_attribute("data-state", "done")
    expect(diagram.locator('path[data-edge="hold->done"]')).to_have_attribute("data-taken", "true")
    expect(page.locator('#timeline tr[data-event="SignalReceived"]')).to_contain_text(XSS)
    assert page.locator("main img").count() == 0


def test_the_page_follows_a_run_without_a_reload(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        run_id = start(engineer, slug)
        waiting_at(engineer, slug, run_id, "hold")
        sign_in(page, console, f"{slug}-viewer")
        page.goto(console.url(f"/ui/t/{slug}/runs/{run_id}"))
        expect(page.locator("#run-status")).to_have_text("Waiting")
        page.evaluate("window.notReloaded = true")
        sent = engineer.post(f"/api/v1/tenants/{slug}/runs/{run_id}/signals/go", json={"ok": 1})
        assert sent.status_code == 200, sent.text
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=LIVE)
    expect(page.locator("#diagram g[data-step='done']")).to_have_attribute("data-state", "done")
    assert page.evaluate("window.notReloaded") is True


def test_a_viewer_sees_no_controls_and_a_forged_cancel_is_403(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        run_id = start(engineer, slug)
        waiting_at(engineer, slug, run_id, "hold")
    sign_in(page, console, f"{slug}-viewer")
    page.goto(console.url(f"/ui/t/{slug}/runs/{run_id}"))
    expect(page.locator("#diagram g[data-step='hold']")).to_have_attribute("data-state", "current")
    for name in ("Cancel run", "Suspend", "Resume", "Send signal"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)

    base = f"/ui/t/{slug}/runs/{run_id}"
    with http_session(console, f"{slug}-viewer") as viewer:
        token = page_csrf(viewer.get(base).text)
        for action, data in [
            ("cancel", {}),
            ("suspend", {}),
            ("signal", {"name": "go", "payload": "{}"}),
        ]:
            forged = viewer.post(f"{base}/{action}", data={"csrf_token": token, **data})
            assert forged.status_code == 403, (action, forged.text)
            assert "Traceback" not in forged.text
    with http_session(console, f"{slug}-operator") as operator:
        # the operator's own session, without the token: 403 too
        assert operator.post(f"{base}/cancel").status_code == 403
        # an unknown run: 404, a bad id: 404, no 500
        token = page_csrf(operator.get(base).text)
        missing = operator.post(f"/ui/t/{slug}/runs/{'0' * 32}/cancel", data={"csrf_token": token})
        assert missing.status_code == 404
        assert operator.get(f"/ui/t/{slug}/runs/not-a-run").status_code == 404
        # a signal name too long, a payload too deep: 422, the run untouched
        long_name = operator.post(
            f"{base}/signal", data={"csrf_token": token, "name": "x" * 65, "payload": ""}
        )
        assert long_name.status_code == 422 and "at most 64 characters" in long_name.text
        deep = operator.post(
            f"{base}/signal",
            data={"csrf_token": token, "name": "go", "payload": "[" * 100 + "]" * 100},
        )
        assert deep.status_code == 422 and "nested deeper" in deep.text
    with console.api(f"{slug}-viewer") as api:
        assert run_of(api, slug, run_id)["status"] == "waiting"  # still running


def test_acting_on_a_finished_run_says_why(console: ConsoleWorld) -> None:
    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        run_id = start(engineer, slug)
        waiting_at(engineer, slug, run_id, "hold")
        assert engineer.post(f"/api/v1/tenants/{slug}/runs/{run_id}/cancel").status_code == 200
    base = f"/ui/t/{slug}/runs/{run_id}"
    with http_session(console, f"{slug}-operator") as operator:
        token = page_csrf(operator.get(base).text)
        again = operator.post(f"{base}/cancel", data={"csrf_token": token})
        assert again.status_code == 409
        assert 'id="run-notice"' in again.text and "cancelled" in again.text
        late = operator.post(f"{base}/signal", data={"csrf_token": token, "name": "go"})
        assert late.status_code == 409 and 'id="run-notice"' in late.text


def test_the_pages_carry_no_inline_script_or_style(console: ConsoleWorld) -> None:
    from tests.e2e.console.test_security import _inline_code

    slug = console.fresh_tenant()
    with console.api(f"{slug}-engineer") as engineer:
        publish(engineer, slug)
        run_id = start(engineer, slug, note=XSS)
        waiting_at(engineer, slug, run_id, "hold")
    base = f"/ui/t/{slug}"
    with http_session(console, f"{slug}-operator") as operator:
        for path in [
            f"{base}/runs",
            f"{base}/runs/live",
            f"{base}/runs/{run_id}",
            f"{base}/runs/{run_id}/live",
            f"{base}/workflows",
            f"{base}/workflows/hold",
            f"{base}/workflows/hold/1.0.0?source=json",
        ]:
            answer = operator.get(path)
            assert answer.status_code == 200, path
            assert _inline_code(answer.text) == [], path
            assert "<img" not in answer.text, path
        # a polled fragment that has not changed answers 204: htmx swaps nothing
        page = operator.get(f"{base}/runs/{run_id}").text
        seen = re.search(r'hx-get="[^"]*/live\?seen=([0-9a-f]+)"', page)
        assert seen, "the run page does not poll"
        unchanged = operator.get(f"{base}/runs/{run_id}/live", params={"seen": seen.group(1)})
        assert unchanged.status_code == 204
