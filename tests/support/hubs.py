"""Real `hub serve` processes for tests (and benches) that need several hubs talking to each
other over loopback (issue 18: organisations on different hubs).

A `HubProcess` has its own data directory, database (SQLite in its data directory unless a
URL is given: two organisations on two hubs never share a database) and port, and
HUB_PUBLIC_URL set to that port, so the inbox URLs its organisations publish are where
partner hubs reach it. It is set up once with the `hub init` command (schema and platform
admin) and then started, stopped, SIGKILLed and restarted on the same data directory and
port; "ready" is /health/ready answering 200, polled, never a fixed sleep. Tenants and their
users are made through the API, as a platform admin makes them.

`befriend` makes two tenants partner organisations the way their administrators do (one
registers the other from its /organisation document; the other accepts the invitation that
arrives), asserting each step. `RecordingInbox` stands in for another organisation's hub
whose keys a test holds: it answers every POST 202 and keeps what it got. Nothing here
imports pytest: benches use it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "root"
PASSWORD = "a-long-test-password"
LOOPBACK = "127.0.0.0/8,[::1],localhost"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0  # a loaded CI machine starts a hub slowly
STOP_TIMEOUT_S = 15.0
INIT_TIMEOUT_S = 120.0
DEFAULT_ROLES = ("tenant_admin", "operator")
PARTNER_FIELDS = ("name", "domain", "endpoint_url", "public_key", "encryption_key", "capabilities")


class HubFailed(AssertionError):
    """A hub process did not come up (or its set-up command failed); the message ends with
    the tail of its log."""


def free_port() -> int:
    # Released before the hub binds it; on loopback nothing else races for it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _hub_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hub", *args]


class HubProcess:
    """One hub: `init()` once, then `start()`, `stop()`, `kill()` (SIGKILL), `restart()`."""

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        database_url: str | None = None,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.data_dir = root / name
        self.log_path = root / f"{name}.log"
        self.port = port or free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.database_url = database_url
        self._extra = dict(env or {})
        self._preexec_fn = preexec_fn
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base, timeout=30.0)
        self._admin: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"HubProcess({self.name!r}, {self.base})"

    # --- the process -----------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        env = {**os.environ}
        # The runner's own hub settings must not leak in: this hub's database is its own.
        env.pop("HUB_DATABASE_URL", None)
        env.update(
            {
                "HUB_DATA_DIR": str(self.data_dir),
                "HUB_PUBLIC_URL": self.base,
                # Partner hubs and test peers listen on loopback, which egress refuses
                # unless allowed (issue 12, item 3).
                "HUB_EGRESS_ALLOW": LOOPBACK,
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
        )
        if self.database_url:
            env["HUB_DATABASE_URL"] = self.database_url
        env.update(self._extra)
        return env

    def _init_process(self) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            _hub_command("init", "--admin-user", ADMIN, "--admin-password", PASSWORD),
            env=self.environment(),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def init(self) -> None:
        """`hub init`: the schema and the platform admin (idempotent)."""
        init_all([self])

    def launch(self) -> None:
        """Start `hub serve` without waiting for it (see `wait_ready`)."""
        if self.running:
            raise HubFailed(f"{self} is already running")
        with self.log_path.open("ab") as log:
            log.write(f"--- {self.name}: hub serve --port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                _hub_command("serve", "--host", HOST, "--port", str(self.port)),
                env=self.environment(),
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._preexec_fn,
            )
        self._fresh_client()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until /health/ready answers 200; a process that exits first, or one not ready in
        time (then killed, so it takes nothing from later tests), fails with its log."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as probe:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise HubFailed(f"{self} exited before it was ready\n{self.log_tail()}")
                try:
                    if probe.get(self.base + "/health/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise HubFailed(f"{self} not ready within {timeout:.0f} s\n{self.log_tail()}")
                time.sleep(0.05)

    def start(self) -> HubProcess:
        self.launch()
        self.wait_ready()
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what it had committed is all that is left."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)

    def restart(self) -> HubProcess:
        """Again on the same data directory, database and port."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process is not None else None

    def close(self) -> None:
        self.stop()
        self.http.close()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def _fresh_client(self) -> None:
        # Pooled connections to a killed process are dead; start from a clean pool.
        self.http.close()
        self.http = httpx.Client(base_url=self.base, timeout=30.0)

    # --- as its users ----------------------------------------------------------------------

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        answer = self.http.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        if answer.status_code != 200:
            raise HubFailed(f"{self}: login of {username} answered {answer.status_code}")
        return bearer(str(answer.json()["access_token"]))

    @property
    def admin(self) -> dict[str, str]:
        """The platform admin's headers (its token survives restarts: the JWT secret is
        kept in the data directory)."""
        if self._admin is None:
            self._admin = self.login(ADMIN)
        return self._admin

    def add_tenant(
        self, slug: str, name: str | None = None, roles: Sequence[str] = DEFAULT_ROLES
    ) -> Tenant:
        """A tenant with one user per role (`<slug>-<role>`), all signed in."""
        created = self.http.post(
            "/api/v1/tenants", json={"slug": slug, "name": name or slug.title()}, headers=self.admin
        )
        if created.status_code != 201:
            raise HubFailed(f"{self}: tenant {slug}: {created.status_code} {created.text}")
        headers: dict[str, dict[str, str]] = {}
        for role in roles:
            username = f"{slug}-{role}"
            user = self.http.post(
                f"/api/v1/tenants/{slug}/users",
                json={"username": username, "password": PASSWORD, "role": role},
                headers=self.admin,
            )
            if user.status_code != 201:
                raise HubFailed(f"{self}: user {username}: {user.status_code} {user.text}")
            headers[role] = self.login(username)
        tenant = Tenant(self, slug, headers)
        org = tenant.get("/organisation")
        if org.status_code != 200:
            raise HubFailed(f"{self}: {slug}'s organisation: {org.status_code} {org.text}")
        tenant.org = dict(org.json())
        return tenant


def init_all(hubs: Iterable[HubProcess]) -> None:
    """`hub init` of several hubs at once (each is several seconds of start-up)."""
    started = [(hub, hub._init_process()) for hub in hubs]
    failed = []
    for hub, process in started:
        try:
            output, _ = process.communicate(timeout=INIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        if process.returncode != 0:
            failed.append(f"{hub}: hub init exited {process.returncode}\n{output.decode()[-3000:]}")
    if failed:
        raise HubFailed("\n".join(failed))


def start_all(hubs: Sequence[HubProcess]) -> None:
    """Start several hubs side by side; returns once every one is ready."""
    for hub in hubs:
        hub.launch()
    for hub in hubs:
        hub.wait_ready()


@dataclass
class Tenant:
    """A tenant on one hub: its users' headers by role and its organisation document."""

    hub: HubProcess
    slug: str
    headers: dict[str, dict[str, str]]
    org: dict[str, Any] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        return str(self.org["org_id"])

    def url(self, path: str) -> str:
        return f"/api/v1/tenants/{self.slug}{path}"

    def get(self, path: str, role: str = "tenant_admin", **params: Any) -> httpx.Response:
        return self.hub.http.get(self.url(path), headers=self.headers[role], params=params)

    def post(self, path: str, body: Any = None, role: str = "tenant_admin") -> httpx.Response:
        return self.hub.http.post(self.url(path), json=body, headers=self.headers[role])

    def partners(self) -> list[dict[str, Any]]:
        answer = self.get("/partners")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    def partner(self, org_id: str) -> dict[str, Any] | None:
        return next((p for p in self.partners() if p["org_id"] == org_id), None)

    def audit(self, action: str | None = None, **filters: str) -> list[dict[str, Any]]:
        """Every entry of the tenant's audit log (oldest first) that matches, all pages."""
        params: dict[str, Any] = {"limit": 500, **filters}
        if action is not None:
            params["action"] = action
        found: list[dict[str, Any]] = []
        while True:
            answer = self.get("/audit", **params)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            found.extend(page["items"])
            if not page.get("next_cursor"):
                return found
            params["cursor"] = page["next_cursor"]


def partner_body(org: Mapping[str, Any]) -> dict[str, Any]:
    """What a tenant administrator registers a partner from: its /organisation document."""
    return {key: org[key] for key in PARTNER_FIELDS}


def befriend(inviter: Tenant, invitee: Tenant, timeout: float = 30.0) -> tuple[str, str]:
    """`inviter` registers `invitee` (pending), the signed invitation arrives on the
    invitee's hub (invited, with the inviter's keys), the invitee accepts: both active.
    Returns the partner ids (on the inviter, on the invitee)."""
    registered = inviter.post("/partners", partner_body(invitee.org))
    assert registered.status_code == 201, registered.text
    assert registered.json()["status"] == "pending", registered.json()

    def invited() -> dict[str, Any] | None:
        found = invitee.partner(inviter.org_id)
        return found if found is not None and found["status"] == "invited" else None

    invitation = eventually(invited, timeout=timeout)
    accepted = invitee.post(f"/partners/{invitation['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active", accepted.json()

    def active() -> bool:
        found = inviter.partner(invitee.org_id)
        return found is not None and found["status"] == "active"

    eventually(active, timeout=timeout)
    return str(registered.json()["id"]), str(invitation["id"])


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingInbox:
    """A loopback HTTP server that answers every POST 202 and records it (use `with`)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with lock:
                    received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: a test reads `received`, not stderr

        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def __enter__(self) -> RecordingInbox:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
