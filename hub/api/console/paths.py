"""Where the console lives: its URL prefix and the URLs of tenant pages."""

from __future__ import annotations

from urllib.parse import quote, urlencode

PREFIX = "/ui"
LOGIN = f"{PREFIX}/login"
TENANT_PICKER = f"{PREFIX}/tenants"


def tenant_url(tenant: str, suffix: str = "") -> str:
    """`/ui/t/{tenant}/{suffix}`: a page of one tenant (suffix without a leading slash)."""
    return f"{PREFIX}/t/{quote(tenant, safe='')}/{suffix.lstrip('/')}"


def login_url(next_path: str | None = None) -> str:
    """The sign-in page, remembering where to go after it (console paths only)."""
    target = safe_next(next_path)
    return f"{LOGIN}?{urlencode({'next': target})}" if target != f"{PREFIX}/" else LOGIN


def safe_next(next_path: str | None) -> str:
    """`next_path` when it is a path inside the console, else the console's home: a
    sign-in link must not send anyone to another site (`//evil`, `/\\evil`, `https:`)."""
    if (
        next_path
        and (next_path == PREFIX or next_path.startswith(f"{PREFIX}/"))
        and "\\" not in next_path
        and not next_path.startswith("//")
        and all(ord(c) > 32 and ord(c) != 127 for c in next_path)
        and not next_path.startswith(f"{LOGIN}")
    ):
        return next_path
    return f"{PREFIX}/"
