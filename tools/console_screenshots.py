"""Screenshots of the operator console for docs/CONSOLE.md, taken from a running `hub demo`.

    python tools/console_screenshots.py [--out docs/console]

Starts `hub demo` on free ports in a temporary data directory, raises the demo's HiHi
(the setpoint written to 12 bar through the API, as the demo's banner suggests) so there
are alarms, a safety run, a task and an incident to see, signs in to the console in
Debian's chromium (Playwright; no browser download) as the demo's platform administrator,
and saves one PNG per page of the side navigation at 1366x768, plus a run's, an alarm's
and a device's page. Run it again after changing a page; the pictures are never edited by hand.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ADMIN, PASSWORD, TENANT = "admin", "demo-password-2026", "acme"
VIEWPORT = {"width": 1366, "height": 768}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def demo(data_dir: Path) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "hub", "demo", "--port", str(port),
            "--modbus-port", str(free_port()), "--opcua-port", str(free_port())]  # fmt: skip
    env = {**os.environ, "HUB_DATA_DIR": str(data_dir), "HUB_LOG_LEVEL": "WARNING"}
    log = (data_dir / "demo.log").open("w")
    child = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
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


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"console_screenshots: gave up waiting for {what}")
        time.sleep(0.5)


def stir(base: str) -> None:
    """The demo's HiHi: alarms, the safety pack's run, its task and incident."""
    api = httpx.Client(base_url=f"{base}/api/v1", timeout=30)
    token = api.post("/auth/login", json={"username": ADMIN, "password": PASSWORD})
    api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    tenant = f"/tenants/{TENANT}"
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


def shoot(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(f"{base}/ui/login")
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{base}/ui/t/{TENANT}/")
        links = page.locator("nav.sidenav a")
        pages = [(links.nth(i).inner_text(), links.nth(i).get_attribute("href") or "")
                 for i in range(links.count())]  # fmt: skip
        for label, href in pages:
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


def _capture(page: object, url: str, out: Path, name: str) -> Path:
    page.goto(url)  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)  # type: ignore[attr-defined]
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "page"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print("console_screenshots: needs Debian's chromium (apt-get install chromium)")
        return 1
    with tempfile.TemporaryDirectory(prefix="hub-shots-") as tmp, demo(Path(tmp)) as base:
        stir(base)
        taken = shoot(base, args.out)
    print(f"console_screenshots: {len(taken)} pictures in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
