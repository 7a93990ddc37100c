"""Security headers, no inline script or style, CSRF on the console, the JSON API as it was."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TYPE_CHECKING

import httpx
import pytest

from hub.api.console.security_headers import CONTENT_SECURITY_POLICY
from tests.e2e.console.harness import ConsoleWorld, form_token, http_session, page_csrf

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAGES = ["/ui/t/acme/", "/ui/t/acme/overview/live", "/ui/tenants"]


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline <script>, style= and on*= attributes,
    <style> elements, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self._in_script = tag == "script"
        if tag == "script" and not names.get("src"):
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}=javascript:")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("code inside <script src=...>")


def _inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def _assert_secured(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_every_console_answer_carries_the_security_headers(console: ConsoleWorld) -> None:
    with httpx.Client(base_url=console.base) as anonymous:
        for path in [
            "/ui/login",
            "/ui/",
            "/ui/t/acme/",
            "/ui/no-such-page",
            "/ui/static/console.css",
        ]:
            _assert_secured(anonymous.get(path))
    with http_session(console, "acme-operator") as client:
        for path in [*PAGES, "/ui/t/globex/", "/ui/vendor/htmx/htmx.min.js"]:
            _assert_secured(client.get(path))
        assert client.get("/ui/t/acme/").headers["cache-control"] == "no-store"


def test_no_page_has_inline_script_or_style(console: ConsoleWorld) -> None:
    with httpx.Client(base_url=console.base) as anonymous:
        login = anonymous.get("/ui/login")
        assert _inline_code(login.text) == []
        assert _inline_code(anonymous.get("/ui/nope").text) == []
    with http_session(console, "multi") as client:
        for path in [*PAGES, "/ui/t/globex/", "/ui/t/no-such/"]:
            response = client.get(path)
            assert response.status_code in (200, 404)
            assert _inline_code(response.text) == [], path


def test_the_browser_reports_no_csp_violation(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    from tests.e2e.console.harness import sign_in

    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(page, console, "acme-operator")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    # htmx is loaded, configured for the CSP, and polls the live fragment with the CSRF
    # header it takes from <body hx-headers>.
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("htmx.config.allowEval") is False
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    with page.expect_response(lambda r: r.url.endswith("/overview/live")) as polled:
        pass
    assert polled.value.status == 200
    meta = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert meta and polled.value.request.headers["x-csrf-token"] == meta
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
    assert problems == []


def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(console: ConsoleWorld) -> None:
    with http_session(console, "acme-operator") as client:
        overview = client.get("/ui/t/acme/")
        refused = client.post("/ui/logout")
        assert refused.status_code == 403
        wrong = client.post("/ui/logout", data={"csrf_token": "not-it"})
        assert wrong.status_code == 403
        # Nothing happened: still signed in, the refresh token still valid.
        assert client.get("/ui/t/acme/").status_code == 200
        done = client.post("/ui/logout", data={"csrf_token": page_csrf(overview.text)})
        assert done.status_code == 303


def test_the_sign_in_form_needs_its_own_token(console: ConsoleWorld) -> None:
    with httpx.Client(base_url=console.base) as client:
        blind = client.post(
            "/ui/login", data={"username": "acme-operator", "password": "a-long-test-password"}
        )
        assert blind.status_code == 403 and "hub_console=" not in blind.headers.get(
            "set-cookie", ""
        ).replace("hub_console_login=", "")
        form = client.get("/ui/login")
        # a token without its cookie (another browser's form) does not pass either
        with httpx.Client(base_url=console.base) as other:
            stolen = other.post(
                "/ui/login",
                data={
                    "username": "acme-operator",
                    "password": "a-long-test-password",
                    "csrf_token": form_token(form.text),
                },
            )
            assert stolen.status_code == 403


@pytest.mark.parametrize("next_path", ["//evil.example/", "https://evil.example/", "/api/v1/me"])
def test_sign_in_never_sends_anyone_off_the_console(console: ConsoleWorld, next_path: str) -> None:
    with httpx.Client(base_url=console.base) as client:
        form = client.get("/ui/login", params={"next": next_path})
        signed = client.post(
            "/ui/login",
            data={
                "username": "acme-viewer",
                "password": "a-long-test-password",
                "csrf_token": form_token(form.text),
                "next": next_path,
            },
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/"


def test_the_json_api_is_unchanged_and_ignores_the_console_cookie(console: ConsoleWorld) -> None:
    with http_session(console, "acme-operator") as client:
        cookie = client.cookies["hub_console"]
    # The cookie is no credential for the API: bearer tokens only, problem+json answers.
    me = httpx.get(console.url("/api/v1/me"), cookies={"hub_console": cookie})
    assert me.status_code == 401
    assert me.headers["content-type"].startswith("application/problem+json")
    assert "content-security-policy" not in me.headers
    with console.api("acme-operator") as api:
        assert api.get("/api/v1/me").status_code == 200
    spec = httpx.get(console.url("/schema/openapi.json")).json()
    assert not [p for p in spec["paths"] if p.startswith("/ui") or p == "/"]


def test_a_body_over_the_hubs_limit_is_refused_and_the_console_lives(
    console: ConsoleWorld,
) -> None:
    """The console's forms take no more than the API does (HUB_MAX_BODY_BYTES, 1 MiB)."""
    with http_session(console, "acme-operator") as client:
        huge = "x" * (2 * 1024 * 1024)
        refused = client.post(
            "/ui/t/acme/alarms/nope/ack", data={"csrf_token": "t", "comment": huge}
        )
        assert refused.status_code == 413, refused.status_code
        assert client.get("/ui/t/acme/").status_code == 200
