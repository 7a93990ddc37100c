"""Serve an app under uvicorn in a child process, and start/stop such children.

Run as a script, it is the child: `python bench/_serve.py hub PORT` (settings as JSON in
HUB_BENCH_SETTINGS), `python bench/_serve.py peer PORT BODY_FILE` (the framework's
ceiling) or `python bench/_serve.py dbpeer PORT DATABASE_FILE` (plain handlers on the same
SQLite data, bench/_api_peer.py; its JWT settings in HUB_BENCH_SETTINGS). All go through
`serve()`, so the server and its options are the same and only the app differs.

`cpu_plan()` splits the machine's CPUs between the servers and the load client; `running()`
and the load clients pin their processes with `pinned()`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from litestar import Litestar, MediaType, get

USERS_PATH = "/api/v1/tenants/{tenant:str}/users"
SETTINGS_ENV = "HUB_BENCH_SETTINGS"
HOST = "127.0.0.1"
# One worker, default loop/http implementations (uvloop, httptools when installed) and no
# per-request logging: access logs would be measured as much as the app is.
UVICORN_OPTIONS: dict[str, object] = {
    "host": HOST,
    "workers": 1,
    "log_level": "warning",
    "access_log": False,
}


class BenchError(RuntimeError):
    """The benchmark cannot give a trustworthy number; the message says why."""


PIN_ENV = "HUB_BENCH_PIN"  # "0" leaves every process free to run on any CPU


@dataclass(frozen=True)
class CpuPlan:
    servers: frozenset[int]
    client: frozenset[int]

    def as_json(self) -> dict[str, list[int]]:
        return {"servers": sorted(self.servers), "load_client": sorted(self.client)}


def cpu_plan() -> CpuPlan | None:
    """Servers on the first CPU this process may use, the load client on the others; None
    (no pinning) with fewer than two CPUs or HUB_BENCH_PIN=0."""
    if os.environ.get(PIN_ENV, "").strip() == "0" or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return CpuPlan(frozenset(cpus[:1]), frozenset(cpus[1:]))


def pinned(cpus: Collection[int] | None) -> Callable[[], None] | None:
    """A `preexec_fn` that pins the child (and every thread it starts) to `cpus`."""
    if not cpus:
        return None
    wanted = set(cpus)

    def pin() -> None:
        os.sched_setaffinity(0, wanted)

    return pin


def serve(app: Litestar, port: int) -> None:
    uvicorn.run(app, port=port, **UVICORN_OPTIONS)  # type: ignore[arg-type]


def hub_app() -> Litestar:
    # Imported here so the peer child never pays for (or is affected by) importing the hub.
    from hub.api.app import create_app
    from hub.bootstrap import build
    from hub.settings import load_settings

    app = create_app(build(load_settings(json.loads(os.environ[SETTINGS_ENV]))))
    # Litestar's logging config shows INFO; the start-up migration would report each step.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return app


def peer_app(body: bytes) -> Litestar:
    """The framework's ceiling: the same route and bytes, with no auth, database or
    serialisation."""

    @get(USERS_PATH, media_type=MediaType.JSON)
    async def list_users() -> bytes:
        return body

    return Litestar(route_handlers=[list_users])


def free_port() -> int:
    # The port is released before the child binds it; on loopback nothing else races us.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if child.stdin is not None:
        child.stdin.close()


def _wait_ready(child: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise BenchError(
                    f"server exited with code {child.returncode} before {url} answered"
                )
            try:
                response = client.get(url)
            except httpx.TransportError:
                response = None
            if response is not None and response.is_success:
                return
            time.sleep(0.1)
    raise BenchError(f"{url} did not answer 2xx within {timeout:.0f} s")


@contextmanager
def running(
    args: list[str],
    ready_path: str,
    env: dict[str, str] | None = None,
    cpus: Collection[int] | None = None,
) -> Iterator[str]:
    """Start `_serve.py ARGS` on a free port, pinned to `cpus` when given; yield its base
    URL once `ready_path` is 2xx."""
    port = free_port()
    # The child's stdout goes to our stderr: our stdout ends with the JSON result only.
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), args[0], str(port), *args[1:]],
        stdin=subprocess.PIPE,  # held open for the child's lifetime: see _exit_with_parent
        stdout=sys.stderr,
        env={**os.environ, **(env or {})},
        preexec_fn=pinned(cpus),
    )
    base = f"http://{HOST}:{port}"
    _PIDS[base] = child.pid
    try:
        _wait_ready(child, base + ready_path, timeout=60.0)
        yield base
    finally:
        _PIDS.pop(base, None)
        _stop(child)


_PIDS: dict[str, int] = {}  # base URL -> server process, while running() holds it
SETTLED_SHARE = 0.1  # a server using less CPU than this has worked off what it was sent
SETTLE_STEP_S = 0.25


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of the whole process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(base: str, timeout: float = 120.0) -> float:
    """Wait until the server at `base` is idle, its CPU use under SETTLED_SHARE for two
    steps in a row; returns the seconds waited. A closed-loop client leaves up to one
    request per connection behind when it stops; a slow server would still be working
    them off in the next run, the other side's included."""
    pid = _PIDS.get(base)
    if pid is None or not Path(f"/proc/{pid}/stat").exists():
        return 0.0
    started = time.monotonic()
    quiet, used = 0, _cpu_seconds(pid)
    while quiet < 2:
        if time.monotonic() - started > timeout:
            raise BenchError(f"{base} was still busy {timeout:.0f} s after its run")
        time.sleep(SETTLE_STEP_S)
        now = _cpu_seconds(pid)
        quiet = quiet + 1 if now - used < SETTLED_SHARE * SETTLE_STEP_S else 0
        used = now
    return time.monotonic() - started


def _exit_with_parent() -> None:
    # stdin is a pipe only the parent writes to: EOF means the parent is gone, even when it
    # was killed too hard to run its clean-up, so the server must not outlive it.
    sys.stdin.buffer.read()
    os.kill(os.getpid(), signal.SIGTERM)


def _child(argv: list[str]) -> None:
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    kind, port = argv[0], int(argv[1])
    if kind == "hub":
        serve(hub_app(), port)
    elif kind == "peer":
        serve(peer_app(Path(argv[2]).read_bytes()), port)
    elif kind == "dbpeer":
        from _api_peer import db_peer_app

        serve(db_peer_app(Path(argv[2]), json.loads(os.environ[SETTINGS_ENV])), port)
    else:
        raise SystemExit(f"_serve.py: unknown app {kind!r}")


if __name__ == "__main__":
    _child(sys.argv[1:])
