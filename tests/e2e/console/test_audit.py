"""The audit page: query by actor and action, an entry checked in the browser (leaf hash,
root of the signed head, Ed25519 signature, by WebCrypto), tampered proofs, entries and
heads reported as such, the anchor and a receipt the `audit` library accepts, a detail
value with markup shown as text, roles, a query with bad fields, axe."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from audit.receipt import http_rpc, verify_receipt, verify_receipt_offline
from hub.api.console.security_headers import CONTENT_SECURITY_POLICY
from tests.e2e.console.harness import ConsoleWorld, http_session, sign_in
from tests.e2e.console.incidents_support import XSS, finished_run, open_incident
from tests.e2e.console.test_accessibility import _violations
from tests.e2e.console.test_security import _inline_code

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route


@dataclass(frozen=True)
class Log:
    slug: str
    review_seq: int  # incident.review by <slug>-engineer, with markup in its comment
    other_seq: int  # another entry inside the anchored tree
    key_id: str
    contract: str


@pytest.fixture(scope="module")
def log(console: ConsoleWorld) -> Log:
    slug = console.fresh_tenant()
    base = f"/api/v1/tenants/{slug}"
    run_id = finished_run(console, slug)
    incident = open_incident(console, slug, run_id, "Pressure above HiHi")
    with console.api(f"{slug}-engineer") as engineer:
        reviewed = engineer.post(
            f"{base}/incidents/{incident}/review", json={"outcome": "confirmed", "comment": XSS}
        )
        assert reviewed.status_code == 200, reviewed.text
    with console.api(f"{slug}-auditor") as auditor:
        anchored = auditor.post(f"{base}/audit/anchors", timeout=120)  # loads the chain
        assert anchored.status_code == 201 and anchored.json()["status"] == "confirmed", (
            anchored.text
        )
        listed = auditor.get(f"{base}/audit", params={"action": "incident.review"}).json()
        review_seq = listed["items"][0]["seq"]
        key_id = auditor.get("/api/v1/audit/public-key").json()["key_id"]
    return Log(
        slug=slug,
        review_seq=review_seq,
        other_seq=review_seq - 1,
        key_id=key_id,
        contract=anchored.json()["contract"],
    )


@pytest.fixture
def watched(page: Page) -> Iterator[list[str]]:
    """What went wrong in the page: script errors, console errors (a CSP refusal is
    one), dialogs (an injected alert)."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))

    def console_message(msg: Any) -> None:
        # The browser logs an answered 409 (an entry not anchored yet) as a failed load.
        if msg.type == "error" and "status of 409" not in msg.text:
            problems.append(f"console: {msg.text}")

    page.on("console", console_message)

    def dialog(d: Any) -> None:
        problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    yield problems


def _audit(page: Page, console: ConsoleWorld, slug: str, **query: str) -> None:
    from urllib.parse import urlencode

    suffix = f"?{urlencode(query)}" if query else ""
    page.goto(console.url(f"/ui/t/{slug}/audit/{suffix}"))


def _verify(page: Page, seq: int) -> Any:
    page.get_by_role("button", name=f"Verify entry {seq}", exact=True).click()
    return page.locator(f"#audit-check-{seq}")


def _outcome(check: Any, name: str) -> Any:
    return check.locator(f'[data-check="{name}"] [data-outcome]')


def test_query_verify_anchor_and_receipt(
    signed_in: Callable[[str], Page],
    console: ConsoleWorld,
    log: Log,
    watched: list[str],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    page = signed_in(f"{log.slug}-auditor")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    page.get_by_label("Action").fill("incident.review")
    page.get_by_label("Actor").fill(f"{log.slug}-engineer")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tr.audit-entry")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_have_attribute("data-seq", str(log.review_seq))
    expect(row.locator(".audit-action")).to_have_text("incident.review")
    expect(row.locator(".audit-actor")).to_have_text(f"{log.slug}-engineer")
    # The comment's markup is text in the details, never an element.
    expect(row.locator(".audit-details")).to_contain_text(XSS)
    expect(page.locator("#audit-table img")).to_have_count(0)
    expect(page.get_by_label("Action")).to_have_value("incident.review")  # the query stays

    check = _verify(page, log.review_seq)
    expect(check.locator("[data-summary]")).to_have_text(
        re.compile(rf"^Entry {log.review_seq}: verified against the signed head of \d+ entries")
    )
    expect(_outcome(check, "leaf")).to_have_text(re.compile(r"^ok \([0-9a-f]{16}…\)$"))
    expect(_outcome(check, "root")).to_have_text(re.compile(r"^ok \(root [0-9a-f]{16}… of \d+"))
    expect(_outcome(check, "signature")).to_have_text(re.compile(rf"^ok \(key {log.key_id},"))
    status = check.locator("[data-anchor-status]")
    expect(status).to_contain_text("Anchored on chain")
    expect(status).to_contain_text("The receipt's proof and signed head check out")
    expect(check.locator('[data-field="tx_hash"]')).to_have_text(re.compile(r"^0x[0-9a-f]{64}$"))
    expect(check.locator('[data-field="block_number"]')).to_have_text(re.compile(r"^\d+$"))
    expect(check.locator('[data-field="contract"]')).to_have_text(
        re.compile(log.contract, re.IGNORECASE)
    )

    with page.expect_download() as download:
        check.get_by_role("link", name=f"Download receipt of entry {log.review_seq}").click()
    saved = tmp_path / "receipt.json"
    download.value.save_as(saved)
    receipt = json.loads(saved.read_text())
    assert receipt["entry"]["seq"] == log.review_seq
    offline = verify_receipt_offline(receipt, expected_key_id=log.key_id)
    assert offline.ok, offline.problems
    full = verify_receipt(
        receipt,
        http_rpc(console.url("/api/v1/chain/rpc")),
        expected_key_id=log.key_id,
        expected_contract=log.contract,
    )
    assert full.ok, full.problems
    assert watched == []


def _not_anchored(console: ConsoleWorld, log: Log) -> tuple[int, dict[str, Any]]:
    """A new entry and the console's answer for its receipt: 409 until the anchoring
    service (every 60 s in the background) anchors it, so asked at once, and again with
    another entry should a cycle have come in between."""
    for attempt in range(3):
        console.add_user(log.slug, f"{log.slug}-late{attempt}", "viewer")
        with console.api(f"{log.slug}-auditor") as auditor:
            listed = auditor.get(
                f"/api/v1/tenants/{log.slug}/audit", params={"action": "user.create"}
            ).json()["items"]
        seq = listed[-1]["seq"]
        with http_session(console, f"{log.slug}-auditor") as client:
            answer = client.get(f"/ui/t/{log.slug}/audit/{seq}/receipt")
        if answer.status_code == 409:
            return seq, answer.json()
    raise AssertionError("every new entry was anchored at once")


def test_an_entry_not_anchored_yet_verifies_and_says_so(
    signed_in: Callable[[str], Page], console: ConsoleWorld, log: Log, watched: list[str]
) -> None:
    from playwright.sync_api import expect

    seq, problem = _not_anchored(console, log)
    assert problem["status"] == 409
    assert f"audit entry {seq} is not in an anchored tree yet" in problem["detail"]
    page = signed_in(f"{log.slug}-tenant_admin")
    # The hub's own 409 for this entry, answered again should a cycle anchor it meanwhile.
    page.route(
        re.compile(rf"/audit/{seq}/receipt$"),
        lambda route: route.fulfill(status=409, json=problem),
    )
    _audit(page, console, log.slug, action="user.create")
    check = _verify(page, seq)
    expect(check.locator("[data-summary]")).to_contain_text(f"Entry {seq}: verified")
    expect(check.locator("[data-anchor-status]")).to_have_text(
        f"Not anchored yet: {problem['detail']}"
    )
    expect(check.locator("[data-receipt-link]")).to_be_hidden()
    assert watched == []


def _tamper(page: Page, pattern: str, change: Callable[[dict[str, Any]], None]) -> None:
    def handle(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(pattern), handle)


def _flip(hex_text: str) -> str:
    return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]


def test_tampered_answers_are_reported_check_by_check(
    signed_in: Callable[[str], Page], console: ConsoleWorld, log: Log
) -> None:
    from playwright.sync_api import expect

    page = signed_in(f"{log.slug}-auditor")
    _audit(page, console, log.slug, action="incident.review")
    seq = log.review_seq
    check = page.locator(f"#audit-check-{seq}")
    summary = check.locator("[data-summary]")

    # A changed entry: its leaf no longer is the served leaf hash.
    def other_actor(entry: dict[str, Any]) -> None:
        entry["actor"] = "mallory"

    _tamper(page, rf"/audit/{seq}/entry$", other_actor)
    _verify(page, seq)
    expect(_outcome(check, "leaf")).to_contain_text("failed: the entry hashes to")
    expect(_outcome(check, "leaf")).to_contain_text("(the entry was changed)")
    expect(summary).to_contain_text("failed: leaf hash")
    page.unroute_all()

    # A changed audit path: it no longer leads to the signed root.
    def other_path(proof: dict[str, Any]) -> None:
        proof["audit_path"][0] = _flip(proof["audit_path"][0])

    _tamper(page, rf"/audit/{seq}/proof\?", other_path)
    _verify(page, seq)
    expect(_outcome(check, "root")).to_contain_text("failed: the audit path leads to root")
    expect(_outcome(check, "leaf")).to_have_text(re.compile("^ok"))
    expect(_outcome(check, "signature")).to_have_text(re.compile("^ok"))
    expect(summary).to_contain_text("failed: root")
    page.unroute_all()

    # A proof of another entry, answered for this one.
    def another_entry(route: Route) -> None:
        route.continue_(url=route.request.url.replace(f"/audit/{seq}/", f"/audit/{seq - 1}/"))

    page.route(re.compile(rf"/audit/{seq}/proof\?"), another_entry)
    _verify(page, seq)
    expect(_outcome(check, "leaf")).to_contain_text("failed: the proof is for leaf")
    expect(_outcome(check, "root")).to_contain_text(
        f"failed: the proof is for leaf index {seq - 2}, entry {seq} is leaf {seq - 1}"
    )
    page.unroute_all()

    # A head whose time was changed: the root still matches, the signature does not.
    def later(head: dict[str, Any]) -> None:
        head["timestamp"] = "2099-01-01T00:00:00Z"

    _tamper(page, r"/audit/head$", later)
    _verify(page, seq)
    expect(_outcome(check, "signature")).to_contain_text(
        f"failed: the signature does not verify with the hub's key {log.key_id}"
    )
    expect(_outcome(check, "root")).to_have_text(re.compile("^ok"))
    expect(summary).to_contain_text("failed: signature")
    page.unroute_all()

    # Untouched again: verified.
    _verify(page, seq)
    expect(summary).to_contain_text(f"Entry {seq}: verified")


def test_a_browser_without_ed25519_says_so(
    page: Page, console: ConsoleWorld, log: Log, watched: list[str]
) -> None:
    from playwright.sync_api import expect

    # As a browser without Ed25519 in WebCrypto answers importKey.
    page.add_init_script(
        """(() => {
          const subtle = window.crypto.subtle;
          const importKey = subtle.importKey.bind(subtle);
          subtle.importKey = (format, data, algorithm, ...rest) =>
            (algorithm && algorithm.name === "Ed25519")
              ? Promise.reject(new DOMException("Unrecognized name.", "NotSupportedError"))
              : importKey(format, data, algorithm, ...rest);
        })();"""
    )
    sign_in(page, console, f"{log.slug}-auditor")
    _audit(page, console, log.slug, action="incident.review")
    check = _verify(page, log.review_seq)
    expect(_outcome(check, "signature")).to_have_text(
        "signature not checked: this browser has no Ed25519"
    )
    expect(_outcome(check, "leaf")).to_have_text(re.compile("^ok"))
    expect(_outcome(check, "root")).to_have_text(re.compile("^ok"))
    expect(check.locator("[data-summary]")).to_contain_text(
        "leaf and root verified; signature not checked"
    )
    assert watched == []


def test_a_query_with_bad_fields_says_which_and_keeps_them(
    signed_in: Callable[[str], Page], console: ConsoleWorld, log: Log
) -> None:
    from playwright.sync_api import expect

    page = signed_in(f"{log.slug}-auditor")
    _audit(page, console, log.slug)
    page.get_by_label("Actor").fill("x" * 200)
    page.get_by_label("From (UTC)", exact=True).fill("yesterday")
    page.get_by_label("To (UTC)", exact=True).fill("2026-01-01T00:00")
    page.get_by_label("Action").fill(XSS)
    with page.expect_response(re.compile(r"/audit/\?")) as answer:
        page.get_by_role("button", name="Search").click()
    assert answer.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text("2 fields could not be used")
    expect(page.locator("#audit-actor-error")).to_have_text("at most 128 characters")
    expect(page.locator("#audit-from-error")).to_contain_text("a date and time")
    expect(page.get_by_label("Actor")).to_have_value("x" * 200)
    expect(page.get_by_label("From (UTC)", exact=True)).to_have_value("yesterday")
    expect(page.get_by_label("Action")).to_have_value(XSS)
    # To before From, a forged outcome and page: each named, no 500.
    for query, field, message in (
        ({"from": "2026-02-01T00:00", "to": "2026-01-01T00:00"}, "to", "must not be before"),
        ({"outcome": "<b>"}, "outcome", "one of success"),
        ({"cursor": "abc"}, "cursor", "not a page"),
    ):
        _audit(page, console, log.slug, **query)
        expect(page.locator(f"#audit-{field}-error")).to_contain_text(message)
    _audit(page, console, log.slug, action="no.such.action")
    expect(page.locator("#audit-empty")).to_have_text("No entries match the query.")


def test_roles(console: ConsoleWorld, page: Page) -> None:
    from playwright.sync_api import expect

    for user in ("acme-viewer", "acme-operator", "acme-engineer"):
        with http_session(console, user) as client:
            home = client.get("/ui/t/acme/")
            assert 'href="/ui/t/acme/audit/"' not in home.text
            for path in (
                "audit/",
                "audit/head",
                "audit/1/entry",
                "audit/1/proof",
                "audit/1/receipt",
            ):
                refused = client.get(f"/ui/t/acme/{path}")
                assert refused.status_code == 403, (user, path, refused.status_code)
            assert "Not allowed" in client.get("/ui/t/acme/audit/").text
            assert client.get("/ui/audit/public-key").status_code == 200  # public, as the API's
    for user in ("acme-auditor", "acme-tenant_admin", "root"):
        with http_session(console, user) as client:
            assert client.get("/ui/t/acme/audit/").status_code == 200, user
            assert client.get("/ui/t/acme/audit/head").json()["tree_size"] >= 1
    with http_session(console, "globex-operator") as client:
        assert client.get("/ui/t/acme/audit/").status_code == 404  # not their tenant
    sign_in(page, console, "acme-viewer")
    expect(page.get_by_role("navigation", name="Sections")).not_to_contain_text("Audit")
    page.context.clear_cookies()
    sign_in(page, console, "acme-auditor")
    expect(
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit")
    ).to_be_visible()


def test_the_json_routes_answer_problems_for_the_script(console: ConsoleWorld, log: Log) -> None:
    with http_session(console, f"{log.slug}-auditor") as client:
        base = f"/ui/t/{log.slug}/audit"
        missing = client.get(f"{base}/999999/proof")
        assert missing.status_code == 404 and "not found" in missing.json()["detail"]
        too_big = client.get(f"{base}/{log.review_seq}/proof", params={"tree_size": "1"})
        assert too_big.status_code == 422 and "tree_size" in too_big.json()["detail"]
        bad = client.get(f"{base}/{log.review_seq}/proof", params={"tree_size": "x"})
        assert bad.status_code == 422
        entry = client.get(f"{base}/{log.review_seq}/entry").json()
        with console.api(f"{log.slug}-auditor") as api:
            assert entry == api.get(f"/api/v1/tenants/{log.slug}/audit/{log.review_seq}").json()
        receipt = client.get(f"{base}/{log.review_seq}/receipt")
        assert receipt.headers["content-disposition"].startswith("attachment;")


def test_axe_on_the_audit_page(
    signed_in: Callable[[str], Page], console: ConsoleWorld, log: Log
) -> None:
    from playwright.sync_api import expect

    page = signed_in(f"{log.slug}-auditor")
    _audit(page, console, log.slug, action="incident.review")
    check = _verify(page, log.review_seq)
    expect(check.locator("[data-anchor-status]")).to_contain_text("Anchored on chain")
    assert _violations(page) == []
    _audit(page, console, log.slug, **{"from": "nonsense"})
    expect(page.locator("#audit-from-error")).to_be_visible()
    assert _violations(page) == []


def test_no_inline_code_and_the_console_headers(console: ConsoleWorld, log: Log) -> None:
    with http_session(console, f"{log.slug}-auditor") as client:
        for path in (
            f"/ui/t/{log.slug}/audit/?action=incident.review",
            f"/ui/t/{log.slug}/audit/?from=nonsense",
        ):
            answer = client.get(path)
            assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert _inline_code(answer.text) == [], path
        json_answer = client.get(f"/ui/t/{log.slug}/audit/head")
        assert json_answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert json_answer.headers["cache-control"] == "no-store"
