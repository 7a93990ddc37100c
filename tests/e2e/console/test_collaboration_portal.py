"""The partner portal (issue 18, item 6) on the console: two tenants of the console's hub
are two organisations, befriended through the API (signed invitations delivered in
process). The partner's operator approves, sends a data exchange (a 422 by its field
first) and acknowledges a notification from the portal; the initiator follows the
progress as a diagram across organisations and reads the data received, decrypted; a
viewer sees no actions and a forged POST is 403; a non-participant gets 404; hostile
names are text; the pages pass axe; partners are registered, accepted, suspended and
resumed from the partners page; the receipt downloads and verifies in the browser."""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.console.harness import DESKTOP, ConsoleWorld, http_session, page_csrf, sign_in
from tests.e2e.console.test_accessibility import _violations
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page, Route, ViewportSize

PAYLOAD = "<img src=x onerror=alert(1)>"
LIVE = 20_000  # ms: several polls of the page's live fragment
SCHEMA = {
    "type": "object",
    "properties": {
        "grade": {"type": "string", "title": "Grade"},
        "cost": {"type": "number", "title": "Cost"},
    },
    "required": ["grade"],
}
_names = itertools.count(1)


@dataclass(frozen=True)
class Pair:
    """Two organisations: `a` starts collaborations, `b` is its partner."""

    world: ConsoleWorld
    a: str
    b: str
    a_org: str
    b_org: str

    def user(self, tenant: str, role: str) -> str:
        return f"{tenant}-{role}"

    def api(self, tenant: str, role: str) -> httpx.Client:
        return self.world.api(self.user(tenant, role))

    def doc(self, tenant: str, collab_id: str) -> dict[str, Any]:
        with self.api(tenant, "viewer") as viewer:
            got = viewer.get(f"/api/v1/tenants/{tenant}/collaborations/{collab_id}")
            assert got.status_code == 200, got.text
            found: dict[str, Any] = got.json()
            return found

    def task_status(self, tenant: str, collab_id: str, task_id: str) -> str:
        tasks = self.doc(tenant, collab_id)["tasks"]
        return str(next(t for t in tasks if t["id"] == task_id)["status"])

    def create(self, *, name: str, tasks: list[dict[str, Any]], b_terminates: bool = False) -> str:
        """A collaboration of `a` with `b` (as a's operator), once both hubs took it."""
        body = {
            "name": name,
            "participants": [
                {"organisation": "self", "role": "initiator", "can_terminate": True},
                {"organisation": self.b_org, "can_terminate": b_terminates},
            ],
            "tasks": tasks,
        }
        with self.api(self.a, "operator") as operator:
            created = operator.post(f"/api/v1/tenants/{self.a}/collaborations", json=body)
            assert created.status_code == 201, created.text
            collab_id: str = created.json()["id"]
        eventually(lambda: self.doc(self.a, collab_id)["status"] == "ready")
        return collab_id

    def start(self, collab_id: str) -> None:
        with self.api(self.a, "operator") as operator:
            started = operator.post(f"/api/v1/tenants/{self.a}/collaborations/{collab_id}/start")
            assert started.status_code == 200, started.text

    def page_url(self, tenant: str, collab_id: str) -> str:
        return self.world.url(f"/ui/t/{tenant}/collaborations/{collab_id}")


def _document(world: ConsoleWorld, slug: str) -> dict[str, Any]:
    """The tenant's organisation document, as a partner is handed it."""
    with world.api(f"{slug}-viewer") as viewer:
        got = viewer.get(f"/api/v1/tenants/{slug}/organisation")
        assert got.status_code == 200, got.text
        found: dict[str, Any] = got.json()
        return found


def _org_id(world: ConsoleWorld, slug: str) -> str:
    return str(_document(world, slug)["org_id"])


def _partners(world: ConsoleWorld, slug: str) -> list[dict[str, Any]]:
    with world.api(f"{slug}-tenant_admin") as admin:
        got = admin.get(f"/api/v1/tenants/{slug}/partners")
        assert got.status_code == 200, got.text
        return list(got.json()["items"])


def befriend(world: ConsoleWorld, a: str, b: str) -> None:
    """a invites b (its organisation document); b accepts; both see the other active."""
    keep = ("name", "domain", "endpoint_url", "public_key", "encryption_key", "capabilities")
    body = {k: v for k, v in _document(world, b).items() if k in keep}
    with world.api(f"{a}-tenant_admin") as admin:
        registered = admin.post(f"/api/v1/tenants/{a}/partners", json=body)
        assert registered.status_code == 201, registered.text
    invited = eventually(lambda: [p for p in _partners(world, b) if p["status"] == "invited"])
    with world.api(f"{b}-tenant_admin") as admin:
        accepted = admin.post(f"/api/v1/tenants/{b}/partners/{invited[0]['id']}/accept")
        assert accepted.status_code == 200, accepted.text
    eventually(lambda: [p for p in _partners(world, a) if p["status"] == "active"])


@pytest.fixture(scope="module")
def pair(console: ConsoleWorld) -> Pair:
    a = console.fresh_tenant(name="Initiator Works")
    b = console.fresh_tenant(name="Partner Plant")
    befriend(console, a, b)
    return Pair(console, a, b, _org_id(console, a), _org_id(console, b))


def _full_tasks(pair: Pair, approve_title: str = "Approve the supplier") -> list[dict[str, Any]]:
    """An approval and a data exchange by b, then a notification from a to b."""
    return [
        {"id": "approve", "type": "approval", "assigned_to": pair.b_org, "title": approve_title},
        {
            "id": "specs",
            "type": "data_exchange",
            "title": "Send the specs",
            "assigned_to": pair.b_org,
            "target_orgs": [pair.a_org],
            "data_schema": SCHEMA,
            "share_fields": ["grade"],
        },
        {
            "id": "heads-up",
            "type": "notification",
            "title": "Qualification done",
            "assigned_to": "self",
            "target_orgs": [pair.b_org],
            "message": "You are qualified.",
            "requires_acknowledgment": True,
        },
    ]


def _started(pair: Pair, name: str, approve_title: str = "Approve the supplier") -> str:
    collab_id = pair.create(name=name, tasks=_full_tasks(pair, approve_title))
    pair.start(collab_id)
    eventually(lambda: pair.task_status(pair.b, collab_id, "approve") == "active")
    return collab_id


@contextmanager
def _signed(browser: Browser, world: ConsoleWorld, username: str) -> Iterator[Page]:
    """Another signed-in page, in a context of its own (a second person)."""
    viewport: ViewportSize = {"width": DESKTOP["width"], "height": DESKTOP["height"]}
    context = browser.new_context(viewport=viewport, base_url=world.base)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, world, username)
        yield page
    finally:
        context.close()


def _dialogs(page: Page) -> list[str]:
    """The messages of the dialogs the page opens (each dismissed): none, for a name."""
    seen: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


def _text(response: httpx.Response) -> str:
    """A page's text with its entities decoded (JSON in <pre> is escaped)."""
    return html.unescape(response.text)


def _accept(dialog: Dialog) -> None:
    dialog.accept()


# --- the browser ---


def test_an_initiator_sees_the_progress_as_a_diagram(page: Page, pair: Pair) -> None:
    from playwright.sync_api import expect

    name = f"{PAYLOAD} qualification {next(_names)}"
    collab_id = _started(pair, name, approve_title=f"Approve {PAYLOAD}")
    dialogs = _dialogs(page)
    sign_in(page, pair.world, pair.user(pair.a, "operator"))
    nav = page.get_by_role("navigation", name="Sections")
    nav.get_by_role("link", name="Collaboration").click()
    expect(page.get_by_role("heading", name="Collaborations", level=1)).to_be_visible()
    row = page.locator(f'#collaborations tr[data-collaboration="{collab_id}"]')
    expect(row).to_contain_text(name)  # the name as text
    expect(row).to_contain_text("Initiator Works (you)")
    expect(row).to_contain_text(f"Approve {PAYLOAD} (Partner Plant)")
    expect(row).to_contain_text("In progress")
    assert _violations(page) == []

    row.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    diagram = page.locator("#collab-diagram svg")
    expect(diagram.locator("[data-lane]")).to_have_count(2)
    expect(diagram.locator(f'[data-lane="{pair.b_org}"]')).to_contain_text("Partner Plant")
    current = diagram.locator('[data-task="approve"]')
    expect(current).to_have_attribute("data-state", "active")
    expect(current).to_have_attribute("data-org", pair.b_org)  # in the partner's lane
    expect(current).to_have_class(re.compile("flow-node--current"))
    expect(current).to_contain_text("▶")
    expect(diagram.locator('[data-task="specs"]')).to_have_attribute("data-state", "pending")
    expect(diagram.locator('[data-delivery="specs->' + pair.a_org + '"]')).to_have_count(1)
    expect(page.locator("#collab-current")).to_contain_text(f"Approve {PAYLOAD}")
    # an initiator's operator: nothing to act on now, but it may terminate
    expect(page.locator("#collab-act")).to_be_empty()
    expect(page.get_by_role("button", name="Terminate")).to_be_visible()
    expect(page.get_by_role("link", name="Receipt")).to_have_attribute(
        "href", f"/ui/t/{pair.a}/collaborations/{collab_id}/receipt"
    )
    assert _violations(page) == []
    assert page.locator('img[src="x"]').count() == 0
    assert PAYLOAD not in page.content()  # only its escaped form is in the document
    assert dialogs == []


def test_a_partner_approves_sends_data_and_acknowledges(page: Page, pair: Pair) -> None:
    from playwright.sync_api import expect

    name = f"Supplier qualification {next(_names)}"
    collab_id = _started(pair, name)
    sign_in(page, pair.world, pair.user(pair.b, "operator"))
    page.goto(pair.world.url(f"/ui/t/{pair.b}/collaborations/"))
    row = page.locator(f'#collaborations tr[data-collaboration="{collab_id}"]')
    expect(row).to_contain_text("your turn")
    expect(row).to_contain_text("Initiator Works")
    row.get_by_role("link", name=name).click()

    # The approval: a task in the Tasks page, and its form here. No decision: 422.
    act = page.locator("#collab-act")
    expect(act).to_contain_text("Approve the supplier")
    expect(page.locator("#collab-user-task").get_by_role("link")).to_have_attribute(
        "href", re.compile(rf"/ui/t/{pair.b}/tasks/")
    )
    page.get_by_label("Comments", exact=True).fill("fine by us")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Send decision").click()
    assert posted.value.status == 422
    expect(page.locator("#approval-decision-error")).to_contain_text("required")
    approve = page.get_by_role("radio", name="Approve")
    expect(approve).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Comments", exact=True)).to_have_value("fine by us")
    approve.check()
    page.get_by_role("button", name="Send decision").click()
    expect(page.locator("#collab-done")).to_contain_text("decision is recorded")

    # The data exchange comes next: the live part says so; the form is the schema's.
    changed = page.locator("#collab-actions-changed")
    expect(changed).to_be_visible(timeout=LIVE)
    changed.get_by_role("link").click()
    expect(page.locator("#data-form")).to_be_visible()
    assert pair.task_status(pair.a, collab_id, "approve") == "completed"
    page.locator("#data-form").get_by_label("Cost").fill("3.5")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Send data").click()
    assert posted.value.status == 422  # the service: grade is required by the schema
    grade = page.locator("#data-form").get_by_label("Grade")
    expect(grade).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-field="p/grade"] .pf-errors')).to_contain_text("required")
    expect(page.locator("#data-errors")).to_contain_text("grade")
    expect(page.locator("#data-form").get_by_label("Cost")).to_have_value("3.5")
    assert _violations(page) == []  # with the problems shown
    grade.fill("A")
    page.get_by_role("button", name="Send data").click()
    expect(page.locator("#collab-done")).to_contain_text("data was sent")

    # The notification addressed to us: acknowledged, the collaboration completes.
    expect(changed).to_be_visible(timeout=LIVE)
    changed.get_by_role("link").click()
    expect(page.locator("#collab-notice")).to_have_text("You are qualified.")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#collab-done")).to_contain_text("Acknowledged")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)  # sent once
    expect(page.locator("#collab-waiting")).to_be_visible()
    expect(page.locator("#collab-status")).to_have_text("Completed", timeout=LIVE)
    expect(changed).to_be_visible()  # nothing left to do: the section says so
    changed.get_by_role("link").click()
    expect(page.locator("#collab-act")).to_be_empty()
    expect(page.locator('#collab-tasks tr[data-task="approve"]')).to_contain_text("approved")

    # The initiator: every task done on the diagram, and the data decrypted, only the
    # shared field.
    eventually(lambda: pair.doc(pair.a, collab_id)["status"] == "completed")
    with http_session(pair.world, pair.user(pair.a, "viewer")) as viewer:
        shown = viewer.get(f"/ui/t/{pair.a}/collaborations/{collab_id}")
        assert shown.status_code == 200
        text = _text(shown)
        assert text.count('data-state="completed"') >= 3
        received = text.split('id="collab-received"', 1)[1].split("</ul>", 1)[0]
        assert '"grade": "A"' in received and "cost" not in received
        assert "decrypted here" in received


@pytest.fixture(scope="module")
def noted(pair: Pair) -> str:
    """A collaboration that ended: a notification from a, acknowledged by b (from b's
    portal, without a browser)."""
    collab_id = pair.create(
        name=f"Short note {next(_names)}",
        tasks=[
            {
                "id": "note",
                "type": "notification",
                "assigned_to": "self",
                "target_orgs": [pair.b_org],
                "message": "Shipment leaves today",
            }
        ],
    )
    pair.start(collab_id)
    eventually(lambda: pair.task_status(pair.b, collab_id, "note") == "active")
    with http_session(pair.world, pair.user(pair.b, "operator")) as operator:
        html_page = operator.get(f"/ui/t/{pair.b}/collaborations/{collab_id}")
        acked = operator.post(
            f"/ui/t/{pair.b}/collaborations/{collab_id}/tasks/note/result",
            data={"csrf_token": page_csrf(html_page.text)},
        )
        assert acked.status_code == 303, acked.text
    eventually(lambda: pair.doc(pair.a, collab_id)["status"] == "completed")
    return collab_id


def test_the_receipt_downloads(pair: Pair, noted: str) -> None:
    with http_session(pair.world, pair.user(pair.b, "auditor")) as auditor:
        shown = auditor.get(f"/ui/t/{pair.b}/collaborations/{noted}")
        assert f'href="/ui/t/{pair.b}/collaborations/{noted}/receipt"' in shown.text
        got = auditor.get(f"/ui/t/{pair.b}/collaborations/{noted}/receipt")
        assert got.status_code == 200, got.text
        assert "attachment" in got.headers["content-disposition"]
        receipt = got.json()
    assert receipt["kind"] == "collaboration-receipt"
    assert receipt["collaboration"]["id"] == noted
    parts = {o["org_id"]: o for o in receipt["organisations"]}
    assert set(parts) == {pair.a_org, pair.b_org}
    for part in parts.values():  # each side's entries about this collaboration, anchored
        assert part["receipts"]
        for one in part["receipts"]:
            assert one["entry"]["resource_id"] == noted and one["anchor"]["tx_hash"]


def test_the_receipt_verifies_in_the_browser(page: Page, pair: Pair, noted: str) -> None:
    from playwright.sync_api import expect

    collab_id = noted
    sign_in(page, pair.world, pair.user(pair.a, "auditor"))
    page.goto(pair.page_url(pair.a, collab_id))
    page.get_by_role("button", name="Verify the receipt in this browser").click()
    result = page.locator("[data-verify-result]")
    expect(result).to_have_attribute("data-state", "ok", timeout=LIVE)
    expect(result).to_contain_text("Receipt verified")
    expect(result).to_contain_text("Partner Plant")

    # A receipt changed on its way (an entry of the partner's part): the check says so.
    def tampered(route: Route) -> None:
        answer = route.fetch()
        bundle = answer.json()
        part = next(o for o in bundle["organisations"] if o["org_id"] == pair.b_org)
        part["receipts"][0]["entry"]["details"]["forged"] = True
        route.fulfill(response=answer, json=bundle)

    page.route(re.compile(r"/collaborations/[^/]+/receipt$"), tampered)
    page.get_by_role("button", name="Verify the receipt in this browser").click()
    expect(result).to_have_attribute("data-state", "failed", timeout=LIVE)
    expect(result).to_contain_text("does not check out")
    expect(result).to_contain_text("Partner Plant")


def test_partners_are_registered_accepted_suspended_and_resumed(
    browser: Browser, pair: Pair
) -> None:
    from playwright.sync_api import expect

    world = pair.world
    c = world.fresh_tenant(name="Inspector Office")
    a_doc = _document(world, pair.a)
    with _signed(browser, world, f"{c}-tenant_admin") as page:
        page.goto(world.url(f"/ui/t/{c}/partners"))
        expect(page.locator("#own-org-id")).to_have_text(_org_id(world, c))
        expect(page.locator("#no-partners")).to_be_visible()
        field = page.get_by_label(re.compile("organisation document"))
        field.fill('{"name": "half a document"')
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.get_by_role("button", name="Register partner").click()
        assert posted.value.status == 422
        expect(page.locator("#partner-document-error")).to_contain_text("not valid JSON")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_value('{"name": "half a document"')
        field.fill(json.dumps(a_doc))
        page.get_by_role("button", name="Register partner").click()
        expect(page.locator("#partners-done")).to_contain_text("Registered")
        expect(page.locator(f'tr[data-partner="{pair.a_org}"]')).to_have_attribute(
            "data-status", "pending"
        )
        assert _violations(page) == []

    with _signed(browser, world, pair.user(pair.a, "tenant_admin")) as page:
        page.on("dialog", _accept)
        page.goto(world.url(f"/ui/t/{pair.a}/partners"))
        c_org = _org_id(world, c)
        row = page.locator(f'tr[data-partner="{c_org}"]')
        expect(row).to_have_attribute("data-status", "invited", timeout=LIVE)
        expect(row).to_contain_text("check its organisation id")
        row.get_by_role("button", name="Accept Inspector Office").click()
        expect(page.locator("#partners-done")).to_contain_text("Accepted")
        expect(row).to_have_attribute("data-status", "active")
        row.get_by_role("button", name="Suspend Inspector Office").click()
        expect(row).to_have_attribute("data-status", "suspended")
        expect(row).to_contain_text("suspended by your organisation")
        row.get_by_role("button", name="Resume Inspector Office").click()
        expect(row).to_have_attribute("data-status", "active")
        assert _violations(page) == []
    eventually(lambda: [p for p in _partners(world, c) if p["status"] == "active"])


# --- without a browser ---


def test_a_viewer_sees_no_actions_and_a_forged_post_is_403(pair: Pair) -> None:
    collab_id = _started(pair, f"Viewer check {next(_names)}")
    base = f"/ui/t/{pair.b}/collaborations/{collab_id}"
    with http_session(pair.world, pair.user(pair.b, "viewer")) as viewer:
        shown = viewer.get(base)
        assert shown.status_code == 200
        for control in ("approval-form", "terminate-form", "ack-form", "data-form", "start-form"):
            assert f'id="{control}"' not in shown.text
        assert "Your role does not permit acting on this task" in shown.text
        token = page_csrf(shown.text)
        forged = viewer.post(
            f"{base}/tasks/approve/result",
            data={"csrf_token": token, "approval_decision": "approved"},
        )
        assert forged.status_code == 403
        assert (
            viewer.post(f"{base}/terminate", data={"csrf_token": token, "reason": "x"}).status_code
            == 403
        )
        assert viewer.get(f"/ui/t/{pair.b}/partners").status_code == 403
    with http_session(pair.world, pair.user(pair.b, "operator")) as operator:
        shown = operator.get(base)
        assert 'id="approval-form"' in shown.text
        # without the CSRF token: refused, nothing done
        refused = operator.post(
            f"{base}/tasks/approve/result", data={"approval_decision": "approved"}
        )
        assert refused.status_code == 403
        partners = operator.get(f"/ui/t/{pair.b}/partners")
        assert partners.status_code == 200
        assert 'id="register-form"' not in partners.text and "Suspend" not in partners.text
    assert pair.task_status(pair.a, collab_id, "approve") == "active"


def test_another_tenants_collaboration_is_not_found(pair: Pair) -> None:
    collab_id = _started(pair, f"Private {next(_names)}")
    outsider = pair.world.fresh_tenant(name="Not A Participant")
    with http_session(pair.world, f"{outsider}-operator") as operator:
        for suffix in ("", "/live", "/receipt"):
            got = operator.get(f"/ui/t/{outsider}/collaborations/{collab_id}{suffix}")
            assert got.status_code == 404, suffix
            assert "Private" not in got.text
        listed = operator.get(f"/ui/t/{outsider}/collaborations/")
        assert listed.status_code == 200 and collab_id not in listed.text
        # the initiator's tenant, where this user holds no role: as if it did not exist
        assert operator.get(f"/ui/t/{pair.a}/collaborations/{collab_id}").status_code == 404


def test_the_initiator_starts_and_a_partner_terminates_with_a_reason(pair: Pair) -> None:
    collab_id = pair.create(
        name=f"Terminated {next(_names)}", tasks=_full_tasks(pair), b_terminates=True
    )
    a_page = f"/ui/t/{pair.a}/collaborations/{collab_id}"
    b_page = f"/ui/t/{pair.b}/collaborations/{collab_id}"
    with http_session(pair.world, pair.user(pair.b, "operator")) as partner:
        shown = partner.get(b_page)
        assert 'id="start-form"' not in shown.text  # only the initiator starts
    with http_session(pair.world, pair.user(pair.a, "operator")) as initiator:
        shown = initiator.get(a_page)
        assert 'id="start-form"' in shown.text
        started = initiator.post(f"{a_page}/start", data={"csrf_token": page_csrf(shown.text)})
        assert started.status_code == 303
        assert "Started" in initiator.get(started.headers["location"]).text
        again = initiator.post(f"{a_page}/start", data={"csrf_token": page_csrf(shown.text)})
        assert again.status_code == 409  # in progress now: the service's answer, on the page
        assert "in_progress" in again.text
    eventually(lambda: pair.doc(pair.b, collab_id)["status"] == "in_progress")
    with http_session(pair.world, pair.user(pair.b, "operator")) as partner:
        shown = partner.get(b_page)
        token = page_csrf(shown.text)
        empty = partner.post(f"{b_page}/terminate", data={"csrf_token": token, "reason": "  "})
        assert empty.status_code == 422
        assert 'id="terminate-reason-error"' in empty.text
        ended = partner.post(
            f"{b_page}/terminate", data={"csrf_token": token, "reason": f"supplier gone {PAYLOAD}"}
        )
        assert ended.status_code == 303
    eventually(lambda: pair.doc(pair.a, collab_id)["status"] == "terminated")
    with http_session(pair.world, pair.user(pair.a, "viewer")) as viewer:
        shown = viewer.get(a_page)
        assert 'id="collab-reason"' in shown.text
        assert "supplier gone &lt;img" in shown.text and PAYLOAD not in shown.text
        assert 'data-state="stopped"' in shown.text  # the task under way when it ended
