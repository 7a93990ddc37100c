"""A bounded schemathesis run over the OpenAPI spec against a real server: no 5xx."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from hub.api.app import create_app
from hub.bootstrap import build, ensure_platform_admin
from hub.settings import load_settings
from tests.conftest import ADMIN, FAST_HASHER, PASSWORD, _clean

MAX_EXAMPLES = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _seed_admin(hub: Any) -> None:
    await hub.start()
    await ensure_platform_admin(hub, ADMIN, PASSWORD)
    await hub.close()


@pytest.fixture(scope="module")
def live_server(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    asyncio.run(_clean(migrated))
    data = Path(tmp_path_factory.mktemp("fuzz"))
    settings_ = load_settings(
        {"HUB_DATA_DIR": str(data), "HUB_DATABASE_URL": migrated, "HUB_AUTHZ_REFRESH_INTERVAL": "0"}
    )
    asyncio.run(_seed_admin(build(settings_, hasher=FAST_HASHER)))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(build(settings_, hasher=FAST_HASHER)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def admin_headers(live_server: str) -> dict[str, str]:
    token = httpx.post(
        f"{live_server}/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(
        f"{live_server}/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=headers
    )
    return headers


def test_no_server_errors(live_server: str, admin_headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/schema/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exercise(case: Any) -> None:
            response = case.call(base_url=live_server, headers=admin_headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            exercise()
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)
