"""Screenshots of the operator console for docs/CONSOLE.md, taken from a running `hub demo`.

    python tools/console_screenshots.py [--out docs/console]

Starts `hub demo` on free ports in a temporary data directory, raises the demo's HiHi
(the setpoint written to 12 bar through the API, as the demo's banner suggests) so there
are alarms, a safety run, a task and an incident to see, signs in to the console in
Debian's chromium (Playwright; no browser download) as the demo's platform administrator,
and saves one PNG per page of the side navigation at 1366x768, plus a run's, an alarm's
and a device's page.

Then the partner portal (docs/COLLABORATION.md): a second tenant, `globex`, becomes acme's
partner through the API (acme registers globex's organisation document, globex accepts),
acme starts a collaboration with it and globex approves, so the collaboration is mid-way
(the approval done, globex's data exchange under way). The script saves the collaboration
list, the collaboration's page as the initiator's operator sees it (its diagram across
organisations) and as the partner's operator sees it (the data exchange form), and the
partners page. Run it again after changing a page; the pictures are never edited by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ADMIN, PASSWORD, TENANT = "admin", "demo-password-2026", "acme"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}

# The portal's second organisation, made by the script (the demo has only acme).
PARTNER, PARTNER_NAME = "globex", "Globex Supplies"
PARTNER_OPERATOR = f"{PARTNER}-operator"
INITIATOR_OPERATOR = f"{TENANT}-operator"  # the demo's accounts: acme-<role with dashes>
INITIATOR_ADMIN = f"{TENANT}-tenant-admin"
COLLABORATION = "Supplier qualification"
PORTAL_NAV = "collaboration"  # this nav page is taken with the portal, once there is one
SPECS_SCHEMA = {
    "type": "object",
    "properties": {
        "grade": {"type": "string", "title": "Grade", "enum": ["A", "B", "C"]},
        "batch": {"type": "string", "title": "Batch"},
        "cost": {"type": "number", "title": "Cost per tonne", "minimum": 0},
    },
    "required": ["grade", "batch"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def demo(data_dir: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "hub", "demo", "--port", str(port),
            "--modbus-port", str(free_port()), "--opcua-port", str(free_port())]  # fmt: skip
    # HUB_PUBLIC_URL: the organisations' inbox URLs, which the partners' (here: this same)
    # hub posts to; the demo already allows loopback egress.
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(data_dir),
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_PUBLIC_URL": base,
    }
    log = (data_dir / "demo.log").open("w")
    child = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(lambda: _ready(base), 180, "the demo to serve")
        yield base
    finally:
        child.terminate()
        child.wait(30)
        log.close()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(check: Callable[[], object], timeout: float, what: str) -> Any:
    """The check's first truthy answer, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"console_screenshots: gave up waiting for {what}")
        time.sleep(0.5)
    return found


@contextmanager
def api_as(base: str, username: str) -> Iterator[httpx.Client]:
    """An API client signed in as `username` (every demo account has the demo password)."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as api:
        token = _ok(api.post("/auth/login", json={"username": username, "password": PASSWORD}))
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield api


def _ok(response: httpx.Response) -> Any:
    """The answer's JSON; a refusal stops the script with what the hub said."""
    if not response.is_success:
        raise SystemExit(
            f"console_screenshots: {response.request.method} {response.request.url} "
            f"answered {response.status_code}: {response.text[:500]}"
        )
    return response.json()


def stir(base: str) -> None:
    """The demo's HiHi: alarms, the safety pack's run, its task and incident."""
    tenant = f"/tenants/{TENANT}"
    with api_as(base, ADMIN) as api:
        wait_until(
            lambda: (
                api.post(
                    f"{tenant}/devices/boiler-1/tags/setpoint/write", json={"value": 12}
                ).is_success
            ),
            60,
            "the demo plant to take a write",
        )
        wait_until(
            lambda: api.get(f"{tenant}/alarms", params={"state": "active"}).json()["items"],
            60,
            "the HiHi alarm",
        )
        wait_until(lambda: api.get(f"{tenant}/runs").json()["items"], 60, "a run")
    time.sleep(3)  # a few more samples for the trends


def befriend(base: str) -> None:
    """globex, with an operator, becomes acme's partner: acme registers globex's
    organisation document (an invitation goes to globex's inbox), globex accepts."""
    with api_as(base, ADMIN) as admin:
        _ok(admin.post("/tenants", json={"slug": PARTNER, "name": PARTNER_NAME}))
        member = {"username": PARTNER_OPERATOR, "role": "operator", "password": PASSWORD}
        _ok(admin.post(f"/tenants/{PARTNER}/users", json=member))
        document = _ok(admin.get(f"/tenants/{PARTNER}/organisation"))
    keep = ("name", "domain", "endpoint_url", "public_key", "encryption_key", "capabilities")
    with api_as(base, INITIATOR_ADMIN) as acme:
        _ok(acme.post(f"/tenants/{TENANT}/partners", json={k: document[k] for k in keep}))
        with api_as(base, ADMIN) as admin:
            invited = wait_until(
                lambda: _partner_with(admin, PARTNER, "invited"), 60, "globex's invitation"
            )
            _ok(admin.post(f"/tenants/{PARTNER}/partners/{invited['id']}/accept"))
        wait_until(lambda: _partner_with(acme, TENANT, "active"), 60, "the partnership")


def _partner_with(api: httpx.Client, tenant: str, status: str) -> dict[str, Any] | None:
    items = _ok(api.get(f"/tenants/{tenant}/partners"))["items"]
    return next((p for p in items if p["status"] == status), None)


def collaborate(base: str) -> str:
    """A collaboration of acme with globex, mid-way: globex's approval done (through its
    Tasks, as its operator would), globex's data exchange under way, acme's notification
    to come. Returns its id."""
    with api_as(base, INITIATOR_OPERATOR) as acme, api_as(base, PARTNER_OPERATOR) as globex:
        us = _ok(acme.get(f"/tenants/{TENANT}/organisation"))["org_id"]
        them = _ok(globex.get(f"/tenants/{PARTNER}/organisation"))["org_id"]
        body = _collaboration_body(us, them)
        collab_id: str = _ok(acme.post(f"/tenants/{TENANT}/collaborations", json=body))["id"]
        one = f"/tenants/{TENANT}/collaborations/{collab_id}"
        wait_until(lambda: _ok(acme.get(one))["status"] == "ready", 60, "globex to join")
        _ok(acme.post(f"{one}/start"))
        task = wait_until(lambda: _approval_task(globex), 60, "globex's approval task")
        decision = {"approval_decision": "approved", "comments": "Audit passed in March."}
        complete = f"/tenants/{PARTNER}/tasks/{task['id']}/complete"
        _ok(globex.post(complete, json={"values": decision}))
        theirs = f"/tenants/{PARTNER}/collaborations/{collab_id}"
        for api, path in ((acme, one), (globex, theirs)):
            wait_until(partial(_midway, api, path), 60, "the data exchange under way")
    return collab_id


_MIDWAY = {"approve": "completed", "specs": "active", "qualified": "pending"}


def _collaboration_body(us: str, them: str) -> dict[str, Any]:
    return {
        "name": COLLABORATION,
        "participants": [
            {"organisation": "self", "role": "initiator", "can_terminate": True},
            {"organisation": them, "can_terminate": True},
        ],
        "tasks": [
            {
                "id": "approve",
                "type": "approval",
                "assigned_to": them,
                "title": "Approve Acme",
            },
            {
                "id": "specs",
                "type": "data_exchange",
                "title": "Send the specs",
                "assigned_to": them,
                "target_orgs": [us],
                "data_schema": SPECS_SCHEMA,
                "share_fields": ["grade", "batch"],
                "encryption_required": True,
            },
            {
                "id": "qualified",
                "type": "notification",
                "title": "Supplier qualified",
                "assigned_to": "self",
                "target_orgs": [them],
                "message": "Globex Supplies is a qualified supplier of Acme Manufacturing.",
                "requires_acknowledgment": True,
            },
        ],
    }


def _approval_task(api: httpx.Client) -> dict[str, Any] | None:
    tasks = _ok(api.get(f"/tenants/{PARTNER}/tasks", params={"scope": "open"}))["items"]
    return next((t for t in tasks if COLLABORATION in t["title"]), None)


def _midway(api: httpx.Client, path: str) -> bool:
    """The collaboration's copy at `path` has the approval done, the data exchange on."""
    return {t["id"]: t["status"] for t in _ok(api.get(path))["tasks"]} == _MIDWAY


def shoot(base: str, out: Path) -> list[Path]:
    """The side navigation's pages and three detail pages, as the platform admin; the
    portal's nav page is left to shoot_portal."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = _signed_in(browser, base, ADMIN)
        page.goto(f"{base}/ui/t/{TENANT}/")
        links = page.locator("nav.sidenav a")
        pages = [(links.nth(i).inner_text(), links.nth(i).get_attribute("href") or "")
                 for i in range(links.count())]  # fmt: skip
        for label, href in pages:
            if _slug(label) != PORTAL_NAV:
                taken.append(_capture(page, f"{base}{href}", out, _slug(label)))
        details = (
            ("run", r"/runs/[^/?#]+$"),
            ("alarm", r"/alarms/[^/?#]+$"),
            ("device", r"/devices/[^/?#]+([?].*)?$"),
        )
        for kind, pattern in details:
            listed = next((href for label, href in pages if label.lower().startswith(kind)), None)
            if listed is None:
                continue
            page.goto(f"{base}{listed}")
            first = page.locator("main a").evaluate_all(
                "(links, pattern) => links.map(a => a.getAttribute('href'))"
                ".filter(h => h && new RegExp(pattern).test(h))",
                pattern,
            )
            if first:
                taken.append(_capture(page, f"{base}{first[0]}", out, f"{kind}-detail"))
        browser.close()
    return taken


def shoot_portal(base: str, out: Path, collab_id: str) -> list[Path]:
    """The collaboration list (the nav page), the collaboration as its initiator's and its
    partner's operators see it, and the partners page as acme's tenant admin."""
    from playwright.sync_api import sync_playwright

    one = f"collaborations/{collab_id}"
    shots = (
        (ADMIN, TENANT, "collaborations/", PORTAL_NAV),
        (INITIATOR_OPERATOR, TENANT, one, "collaboration-initiator"),
        (PARTNER_OPERATOR, PARTNER, one, "collaboration-partner"),
        (INITIATOR_ADMIN, TENANT, "partners", "partners"),
    )
    taken: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        for username, tenant, suffix, name in shots:
            page = _signed_in(browser, base, username)
            taken.append(_capture(page, f"{base}/ui/t/{tenant}/{suffix}", out, name))
            page.context.close()
        browser.close()
    return taken


def _signed_in(browser: Browser, base: str, username: str) -> Page:
    """A page of a context of its own, signed in through the console's form."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{base}/ui/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/ui/(t/|tenants)"))
    return page


def _capture(page: Page, url: str, out: Path, name: str) -> Path:
    response = page.goto(url)
    if response is None or not response.ok:  # an error page is no picture of the page
        status = response.status if response else "nothing"
        raise SystemExit(f"console_screenshots: {url} answered {status}")
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "page"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print("console_screenshots: needs Debian's chromium (apt-get install chromium)")
        return 1
    with tempfile.TemporaryDirectory(prefix="hub-shots-") as tmp, demo(Path(tmp)) as base:
        stir(base)
        taken = shoot(base, args.out)  # before the portal's tenant and audit entries exist
        befriend(base)
        taken += shoot_portal(base, args.out, collaborate(base))
    print(f"console_screenshots: {len(taken)} pictures in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
