"""Kill -9 the hub during an activity and during a timer; a restarted hub finishes both
runs, and the activity's side effect is applied once."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = """
name: crashy
version: 1.0.0
start: effect
steps:
  effect:
    type: activity
    activity: slow_effect
    input: {seconds: "${input.seconds}"}
    next: pause
  pause: {type: timer, until: "now() + duration(string(input.pause) + 's')", next: done}
  done: {type: end, output: "${steps.effect.output}"}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`hub serve` on a free port, answered ready. With `may_die`, a process that exits
    before it is ready is not a failure (a test's activity killed it as it resumed a run:
    the caller looks at the runs and starts it again)."""

    def __init__(self, env: dict[str, str], log: Path, *, may_die: bool = False) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--port", str(self.port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60  # a loaded CI machine starts it slowly
        while True:
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                assert may_die, self.log.read_text()[-3000:]
                return
            if time.monotonic() > deadline:
                # Not left running: it would take tasks from the tests after this one.
                self.kill()
                raise AssertionError("hub serve did not come up within 60 s")
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_DATABASE_URL": settings.database_url,
        "HUB_WORKFLOW_LEASE_SECONDS": "3",
        "HUB_ACTIVITY_MODULES": "tests.support.crash_activities",
        "HUB_TEST_EFFECTS": str(tmp_path / "effects.db"),
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _admin(env: dict[str, str]) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "init",
            "--admin-user",
            "root",
            "--admin-password",
            "a-long-test-password",
        ],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


def _prepare(base: str) -> dict[str, str]:
    token = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "root", "password": "a-long-test-password"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{base}/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=headers)
    published = httpx.post(
        f"{base}/api/v1/tenants/acme/workflows",
        content=WORKFLOW,
        headers={**headers, "content-type": "application/yaml"},
    )
    assert published.status_code == 201, published.text
    return headers


def _wait(base: str, headers: dict[str, str], run_id: str, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = httpx.get(f"{base}/api/v1/tenants/acme/runs/{run_id}", headers=headers).json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_sigkill_during_activity_and_timer(
    env: dict[str, str], servers: list[Server], tmp_path: Path
) -> None:
    _admin(env)
    first = Server(env, tmp_path / "first.log")
    servers.append(first)
    headers = _prepare(first.base)
    runs = first.base + "/api/v1/tenants/acme/runs"
    in_activity = httpx.post(
        runs, json={"workflow": "crashy", "input": {"seconds": 2, "pause": 0}}, headers=headers
    ).json()
    in_timer = httpx.post(
        runs, json={"workflow": "crashy", "input": {"seconds": 0, "pause": 3}}, headers=headers
    ).json()
    # Kill once the first is inside its 2 s activity and the second inside its 3 s timer.
    effects_db = env["HUB_TEST_EFFECTS"]

    def under_way() -> bool:
        with sqlite3.connect(effects_db) as conn:
            keys = [k for (k,) in conn.execute("SELECT key FROM started").fetchall()]
        timer = httpx.get(f"{runs}/{in_timer['id']}/history", headers=headers).json()["items"]
        return any(k.startswith(in_activity["id"]) for k in keys) and any(
            e["type"] == "TimerStarted" for e in timer
        )

    eventually(under_way, timeout=10)
    first.kill()

    second = Server(env, tmp_path / "second.log")
    servers.append(second)
    for run in (in_activity, in_timer):
        done = _wait(second.base, headers, run["id"])
        assert done["status"] == "completed", done
    effects = sqlite3.connect(env["HUB_TEST_EFFECTS"])
    applied = dict(effects.execute("SELECT key, COUNT(*) FROM effects GROUP BY key").fetchall())
    # one key per run (`<run>:effect:<pass>`), each applied once
    by_run = {key.rsplit(":", 1)[0]: count for key, count in applied.items()}
    assert len(applied) == 2
    assert by_run == {f"{in_activity['id']}:effect": 1, f"{in_timer['id']}:effect": 1}
    history = httpx.get(
        f"{second.base}/api/v1/tenants/acme/runs/{in_timer['id']}/history", headers=headers
    ).json()["items"]
    assert [e["type"] for e in history].count("TimerFired") == 1
