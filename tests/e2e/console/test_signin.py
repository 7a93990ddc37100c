"""Sign-in and sign-out in a browser; the session cookie and its refresh."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx

from tests.e2e.console.harness import ConsoleWorld, http_session, page_csrf, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_sign_in_lands_on_the_first_tenant_and_sign_out_ends_it(
    page: Page, console: ConsoleWorld
) -> None:
    from playwright.sync_api import expect

    page.goto(console.url("/ui/t/acme/"))
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Ft%2Facme"))
    page.get_by_label("Username").fill("acme-operator")
    page.get_by_label("Password").fill("a-long-test-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/ui/t/acme$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text("acme-operator")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    assert not [c for c in page.context.cookies() if c["name"] == "hub_console"]
    page.goto(console.url("/ui/t/acme/"))
    expect(page).to_have_url(re.compile(r"/ui/login"))


def test_home_goes_to_the_first_tenant(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    sign_in(page, console, "multi")  # operator in acme, viewer in globex
    page.goto(console.url("/"))
    expect(page).to_have_url(re.compile(r"/ui/t/acme/?$"))


def test_a_wrong_password_shows_an_error_and_no_session(page: Page, console: ConsoleWorld) -> None:
    from playwright.sync_api import expect

    page.goto(console.url("/ui/login"))
    page.get_by_label("Username").fill("acme-viewer")
    page.get_by_label("Password").fill("not-the-password-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    expect(page.get_by_label("Username")).to_have_value("acme-viewer")
    assert not [c for c in page.context.cookies() if c["name"] == "hub_console"]


def test_the_session_cookie_is_httponly_and_samesite_strict(
    page: Page, console: ConsoleWorld
) -> None:
    sign_in(page, console, "acme-viewer")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "hub_console"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui"
    assert cookie["secure"] is False  # plain http here; Secure is set on https
    # Scripts cannot read it.
    assert "hub_console" not in page.evaluate("document.cookie")


def test_secure_is_set_on_https(console: ConsoleWorld) -> None:
    # Behind a TLS-terminating proxy uvicorn takes the scheme from X-Forwarded-Proto
    # (loopback is a trusted proxy by default).
    with httpx.Client(base_url=console.base, headers={"X-Forwarded-Proto": "https"}) as client:
        form = client.get("/ui/login")
        assert "Secure" in form.headers["set-cookie"]


def test_sign_out_revokes_the_refresh_token(console: ConsoleWorld) -> None:
    with http_session(console, "acme-operator") as client:
        refresh = client.cookies["hub_console"].split(".")[1]
        overview = client.get("/ui/t/acme/")
        assert overview.status_code == 200
        out = client.post("/ui/logout", data={"csrf_token": page_csrf(overview.text)})
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        assert "hub_console=" in out.headers["set-cookie"]
    again = httpx.post(f"{console.base}/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401


def test_an_expired_access_token_is_refreshed_once_for_concurrent_requests(
    console: ConsoleWorld,
) -> None:
    with http_session(console, "acme-viewer") as client:
        session_id, refresh, access = client.cookies["hub_console"].split(".", 2)
    # An access token that no longer verifies (as an expired one): the refresh token must
    # carry the session, once, even for requests sent together.
    stale = f"{session_id}.{refresh}.{access[:-4]}AAAA"

    def fetch(path: str) -> httpx.Response:
        with httpx.Client(base_url=console.base, cookies={"hub_console": stale}) as one:
            return one.get(path)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(fetch, ["/ui/t/acme/", "/ui/t/acme/overview/live"] * 2))
    assert [a.status_code for a in answers] == [200] * 4
    renewed = {a.cookies["hub_console"] for a in answers}
    assert len(renewed) == 1  # one rotation, shared
    (cookie,) = renewed
    assert cookie.startswith(f"{session_id}.") and cookie.split(".")[1] != refresh
    with httpx.Client(base_url=console.base, cookies={"hub_console": cookie}) as client:
        assert client.get("/ui/t/acme/").status_code == 200  # the family was not revoked


def test_a_session_whose_refresh_token_is_gone_signs_in_again(console: ConsoleWorld) -> None:
    with httpx.Client(
        base_url=console.base, cookies={"hub_console": "abc.not-a-token.a.b.c"}
    ) as client:
        response = client.get("/ui/t/acme/")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?next=%2Fui%2Ft%2Facme"
        assert 'hub_console=""' in response.headers["set-cookie"]


def test_root_redirects_to_the_console(console: ConsoleWorld) -> None:
    response = httpx.get(console.url("/"))
    assert response.status_code == 302 and response.headers["location"] == "/ui/"
