"""`hub packs list`, and `hub demo` serving a live plant (boiler-1 with the safety pack
installed, and the production line line-1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connectors.plc.plant_sim import free_port
from tests.support.pack_helpers import eventually

ROOT = Path(__file__).resolve().parents[3]


def _hub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT, timeout=60)  # fmt: skip


def test_packs_list_prints_the_catalog() -> None:
    done = _hub("packs", "list")
    assert done.returncode == 0, done.stderr
    listed = {
        line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if line[:1] != " "
    }
    assert listed["safety-monitoring"] == "1.0.0" and listed["manufacturing"] == "1.0.0"


def test_a_missing_packs_dir_is_one_line(tmp_path: Path) -> None:
    done = _hub("packs", "list", env={"HUB_PACKS_DIR": str(tmp_path / "nope")})
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "HUB_PACKS_DIR" in done.stderr


def test_demo_pushes_past_hihi_to_an_interlock(tmp_path: Path) -> None:
    port, modbus, opcua = free_port(), free_port(), free_port()
    env = {**os.environ, "HUB_DATA_DIR": str(tmp_path / "data"), "HUB_DATABASE_URL": ""}
    env.pop("HUB_DATABASE_URL")
    args = ["demo", "--port", str(port), "--modbus-port", str(modbus), "--opcua-port", str(opcua)]
    log = (tmp_path / "demo.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "hub", *args], env=env, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "demo.log").read_text()[-2000:]
                return False

        eventually(up, timeout=60, every=0.2)
        login = {"username": "acme-operator", "password": "demo-password-2026"}
        token = httpx.post(f"{base}/auth/login", json=login).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        line_tags = f"{base}/tenants/acme/devices/line-1/tags"

        def line_idle() -> bool:  # the production line is there too, idle
            items = httpx.get(line_tags, headers=headers).json()["items"]
            return {t["name"]: (t["quality"], t["value"]) for t in items}["state"] == ("good", 0)

        eventually(line_idle, timeout=30, every=0.2)
        tags = f"{base}/tenants/acme/devices/boiler-1/tags"
        # exactly what the README's quickstart says
        pushed = httpx.post(f"{tags}/setpoint/write", json={"value": 12}, headers=headers)
        assert pushed.status_code == 200, pushed.text

        def interlocked() -> bool:
            values = {
                t["name"]: t["value"] for t in httpx.get(tags, headers=headers).json()["items"]
            }
            return values["interlock"] is True

        eventually(interlocked, timeout=30, every=0.2)
        runs = httpx.get(f"{base}/tenants/acme/runs?status=waiting", headers=headers).json()
        assert any(r["current_steps"] == ["wait_for_acknowledgment"] for r in runs["items"])
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
        time.sleep(0.1)
