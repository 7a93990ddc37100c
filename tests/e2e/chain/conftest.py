"""A real JSON-RPC chain for the tests: `hardhat node` (Hardhat 2) on a free port.

Hardhat is installed by `npm ci` in connectors/contracts (.ci/run does it). Without its
node_modules the tests that need it skip with the reason, or fail under
HUB_REQUIRE_SERVICES=1, like every other service (tests/support/services.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import services

CONTRACTS = Path(__file__).resolve().parents[3] / "connectors" / "contracts"
HARDHAT = CONTRACTS / "node_modules" / ".bin" / "hardhat"
# Hardhat's default account 0: a well-known development key, funded on every hardhat node.
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
HARDHAT_CHAIN_ID = 31337


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc(url: str, method: str, params: list[object] | None = None) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(url, body.encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["result"]


class HardhatNode:
    """One `hardhat node` process; stop() and start() again give a fresh chain."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "CI": "true"}
        self._process = subprocess.Popen(
            [str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(self.port)],
            cwd=CONTRACTS,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"hardhat node exited with {self._process.returncode}")
            try:
                if rpc(self.url, "eth_chainId") == hex(HARDHAT_CHAIN_ID):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("hardhat node did not answer within 60 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


def need_hardhat() -> None:
    if HARDHAT.exists():
        return
    reason = f"Hardhat is not installed ({HARDHAT} is missing: run `npm ci` in {CONTRACTS})"
    if services.services_required():
        pytest.fail(f"{reason} and HUB_REQUIRE_SERVICES is set")
    pytest.skip(reason)


@pytest.fixture
def hardhat() -> Iterator[HardhatNode]:
    need_hardhat()
    node = HardhatNode(free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()
