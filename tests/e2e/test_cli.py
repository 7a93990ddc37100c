"""The `hub` command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.cli.demo import DEMO_PASSWORD, seed_demo
from hub.settings import Settings
from hub.store.migrate import head_revision
from tests.support.cli import run_hub


def test_help_lists_the_commands(settings: Settings) -> None:
    result = run_hub(settings, "--help")
    assert result.returncode == 0
    for command in ("init", "serve", "demo", "db"):
        assert command in result.stdout


def test_init_is_idempotent(settings: Settings) -> None:
    args = ("init", "--admin-user", "ops", "--admin-password", "a-long-admin-password")
    first = run_hub(settings, *args)
    assert first.returncode == 0, first.stderr
    assert "platform admin 'ops' created" in first.stdout
    second = run_hub(settings, *args)
    assert second.returncode == 0, second.stderr
    assert "already exists" in second.stdout
    current = run_hub(settings, "db", "current")
    assert f"schema revision {head_revision()}" in current.stdout


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (("init",), {"HUB_JWT_ALGORITHM": "none"}, "HUB_JWT_ALGORITHM"),
        (("init", "--admin-user", "ops", "--admin-password", "short"), {}, "password"),
        (("init", "--admin-user", "ops"), {}, "--admin-password"),
        (("serve", "--port", "http"), {}, "--port"),
        (("frobnicate",), {}, "invalid choice"),
    ],
)
def test_mistakes_get_one_line_and_a_nonzero_exit(
    settings: Settings, args: tuple[str, ...], env: dict[str, str], needle: str
) -> None:
    result = run_hub(settings, *args, **env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert needle in result.stderr.strip().splitlines()[-1]


def test_unreachable_database_is_one_line(settings: Settings, tmp_path: Path) -> None:
    result = run_hub(
        settings, "db", "upgrade", HUB_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:9/none"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_and_stops(settings: Settings) -> None:
    port = _free_port()
    environment = {
        **os.environ,
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_DATABASE_URL": settings.database_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "hub serve did not come up in 30 s"
                time.sleep(0.2)
        assert response.json()["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_demo_seed_is_repeatable(hub: Any, client: Any) -> None:
    with client.portal() as portal:
        first = portal.call(seed_demo, hub)
        second = portal.call(seed_demo, hub)
    assert first == second
    assert {role for _, _, role in first} == {
        "platform_admin",
        "tenant_admin",
        "engineer",
        "operator",
        "auditor",
        "viewer",
    }
    for username, password, _ in first:
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, username
    assert password == DEMO_PASSWORD
