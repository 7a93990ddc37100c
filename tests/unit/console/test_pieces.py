"""The console's small pure pieces: where sign-in may send you back to, the session
cookie's format, the security headers, the nav's order."""

from __future__ import annotations

import pytest

from hub.api.console.nav import NAV_ORDER, NavEntry, Page, nav_entries
from hub.api.console.paths import login_url, safe_next, tenant_url
from hub.api.console.security_headers import NO_STORE, SECURITY_HEADERS, with_security_headers
from hub.api.console.session import cookie_value, parse_cookie
from hub.services.tenancy.auth import TokenPair

TENANT = ("GET", "/api/v1/tenants/{tenant}")


@pytest.mark.parametrize(
    "target",
    ["/ui/t/acme/", "/ui", "/ui/t/acme/alarms?state=active"],
)
def test_console_paths_are_safe_to_return_to(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "//evil.example/ui/",
        "/\\evil.example",
        "https://evil.example/ui/",
        "/api/v1/me",
        "/uix",
        "/ui/login",
        "/ui/login?next=/ui/",
        "/ui/t/a b",
        "/ui/t/\x00",
    ],
)
def test_anything_else_goes_home(target: str | None) -> None:
    assert safe_next(target) == "/ui/"


def test_urls() -> None:
    assert tenant_url("acme") == "/ui/t/acme/"
    assert tenant_url("acme", "alarms/") == "/ui/t/acme/alarms/"
    assert login_url("/ui/t/acme/") == "/ui/login?next=%2Fui%2Ft%2Facme%2F"
    assert login_url(None) == login_url("//evil") == "/ui/login"


def test_the_session_cookie_round_trips() -> None:
    pair = TokenPair("aaa.bbb.ccc", "refresh-token_1", 900)
    value = cookie_value("sid-1", pair)
    assert parse_cookie(value) == ("sid-1", "refresh-token_1", "aaa.bbb.ccc")
    for broken in ["", "sid", "sid.refresh", "sid.refresh.notajwt", ".r.a.b.c", "s..a.b.c"]:
        assert parse_cookie(broken) is None, broken


def test_security_headers_replace_any_of_the_same_name_and_add_no_store() -> None:
    headers = with_security_headers(
        [(b"content-type", b"text/html"), (b"Content-Security-Policy", b"default-src *")]
    )
    assert (b"Content-Security-Policy", b"default-src *") not in headers
    assert all(h in headers for h in SECURITY_HEADERS)
    assert NO_STORE in headers
    cached = with_security_headers([(b"cache-control", b"max-age=300")])
    assert NO_STORE not in cached and (b"cache-control", b"max-age=300") in cached


def test_the_nav_keeps_its_order_whatever_the_order_pages_come_in() -> None:
    pages = [
        Page([], NavEntry("runs", "Runs", "runs/", TENANT)),
        Page([]),
        Page([], NavEntry("overview", "Overview", "", TENANT)),
        Page([], NavEntry("alarms", "Alarms", "alarms/", TENANT)),
    ]
    assert [e.key for e in nav_entries(pages)] == ["overview", "alarms", "runs"]
    with pytest.raises(ValueError, match="twice"):
        nav_entries([*pages, Page([], NavEntry("runs", "Runs", "runs/", TENANT))])
    with pytest.raises(ValueError, match="not one of"):
        NavEntry("reports", "Reports", "reports/", TENANT)
    assert NAV_ORDER[0] == "overview" and NAV_ORDER[-1] == "admin"
