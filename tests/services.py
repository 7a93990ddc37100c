"""Real services the tests talk to, and what to do when one is missing.

Without HUB_REQUIRE_SERVICES a missing service skips the test with the reason; with it
(CI on a machine that has them) the test fails instead, so CI never silently skips.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get(
    "HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    return os.environ.get("HUB_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need(name: str, host: str, port: int) -> None:
    """Skip (or, under HUB_REQUIRE_SERVICES, fail) unless host:port accepts connections."""
    if reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if services_required():
        pytest.fail(f"{reason} and HUB_REQUIRE_SERVICES is set")
    pytest.skip(reason)
