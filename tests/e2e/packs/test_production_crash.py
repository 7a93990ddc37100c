"""Exactly once across crashes (issue 16, item 5): `hub serve` is killed with SIGKILL after
every activity of a production-control run has done its work and before its completion
is recorded (each step once), and between the ERP writes of complete_production, and
started again each time. The run still ends with one
confirmation in the ERP, the order completed, and one START of the batch on the PLC.

The hub runs this pack from a catalog of the test's own whose `activities` module is this
one: the pack's activities, each killing the process once after it did its work."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from connectors.plc.plant_sim import LINE_MODBUS_TAGS
from hub.engine.activities import ActivityContext, ActivityRegistry
from hub.services.packs.catalog import DEFAULT_ROOT
from hub.services.packs.runtime import PackRuntime
from industry_packs.production_control import activities as pack
from tests.conftest import LOOPBACK
from tests.e2e.packs.test_production_e2e import ErpSide
from tests.e2e.test_workflow_crash import Server, _admin
from tests.e2e.test_workflow_crash import env as env
from tests.e2e.test_workflow_crash import servers as servers
from tests.support.erp import SampleErp, sample_erp  # noqa: F401  (the session fixture)
from tests.support.pack_helpers import eventually
from tests.support.plc_sim import running_plant

PASSWORD = "a-long-test-password"
CRASH_DIR = "HUB_TEST_CRASH_DIR"
STEPS = (
    "prepare_production",
    "check_materials",
    "configure_machines",
    "verify_configuration",
    "start_production",
    "monitor_production",
    "complete_production",
    "report_production",
)
Activity = Callable[[ActivityContext, Any], Awaitable[Any]]


# Inside complete_production, after each of its ERP writes but the last: the re-run finds
# the confirmation posted (a Conflict) and the order completed by this run.
PARTS = ("complete_production.confirm", "complete_production.complete_order")


def _crash_once(ctx: ActivityContext, point: str) -> None:
    """SIGKILL of this process the first time a production-control run passes `point`
    (a marker file per point in HUB_TEST_CRASH_DIR)."""
    folder = os.environ.get(CRASH_DIR)
    if folder and ctx.workflow == "production-control":
        marker = Path(folder) / point
        if not marker.exists():
            marker.write_text(ctx.idempotency_key)
            os.kill(os.getpid(), signal.SIGKILL)


def _crashing(fn: Activity) -> Activity:
    """`fn`, then a crash the first time each step completes: the work is done, its
    completion not recorded."""

    async def activity(ctx: ActivityContext, value: Any) -> Any:
        result = await fn(ctx, value)
        if ctx.step_id in STEPS:
            _crash_once(ctx, ctx.step_id)
        return result

    return activity


class CrashingActivities(pack.Activities):
    """The pack's activities, crashing between complete_production's ERP writes too."""

    async def confirm(self, ctx: ActivityContext, data: Any) -> Any:
        result = await super().confirm(ctx, data)
        if ctx.step_id == "complete_production":
            _crash_once(ctx, PARTS[0])
        return result

    async def complete_order(self, ctx: ActivityContext, data: Any) -> Any:
        result = await super().complete_order(ctx, data)
        if ctx.step_id == "complete_production":
            _crash_once(ctx, PARTS[1])
        return result


def register(registry: ActivityRegistry, services: PackRuntime | None = None) -> None:
    """The pack's activities, each crashing once (the test catalog's activities module)."""
    assert services is not None
    activities = CrashingActivities(services)
    for name in pack.NAMES:
        registry.register(pack.PREFIX + name, _crashing(getattr(activities, name)))


def _catalog(root: Path) -> Path:
    folder = root / "production_control"
    shutil.copytree(
        DEFAULT_ROOT / "production_control",
        folder,
        ignore=shutil.ignore_patterns("*.py", "__pycache__"),
    )
    manifest = folder / "pack.yaml"
    text = manifest.read_text().replace(
        "activities: industry_packs.production_control.activities",
        f"activities: {__name__}",
    )
    manifest.write_text(text)
    return root


def _login(base: str) -> dict[str, str]:
    login = httpx.post(f"{base}/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_sigkill_after_every_step_posts_one_confirmation_and_starts_once(
    env: dict[str, str],
    servers: list[Server],
    sample_erp: SampleErp,  # noqa: F811
    tmp_path: Path,
) -> None:
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    env = {
        **env,
        "HUB_PACKS_DIR": str(_catalog(tmp_path / "packs")),
        "HUB_EGRESS_ALLOW": LOOPBACK,
        CRASH_DIR: str(crashes),
    }
    erp = ErpSide(sample_erp)
    with running_plant(time_scale=20.0) as plant:
        _admin(env)
        server = Server(env, tmp_path / "hub-0.log")
        servers.append(server)
        headers = _login(server.base)
        httpx.post(f"{server.base}/api/v1/tenants", json={"slug": "acme", "name": "Acme"},
                   headers=headers)  # fmt: skip
        api = f"{server.base}/api/v1/tenants/acme"
        device = {"name": "line-1", "protocol": "modbus", "endpoint": plant.sim.modbus_endpoint,
                  "poll_interval_ms": 50, "tags": LINE_MODBUS_TAGS}  # fmt: skip
        assert httpx.post(f"{api}/devices", json=device, headers=headers).status_code == 201
        connection = {
            "name": "cap",
            "kind": "odata",
            "url": sample_erp.v4_url,
            "auth": {"type": "basic", "username": sample_erp.user, "password": sample_erp.password},
            "profile": "sample_erp",
        }
        made = httpx.post(f"{api}/connections", json=connection, headers=headers)
        assert made.status_code == 201, made.text
        work_center = "K" + os.urandom(4).hex()[:7].upper()
        material = "FG-" + work_center
        parameters = {
            "line_id": "L1",
            "erp": {"connection": "cap", "plant": "1000", "work_center": work_center},
            "recipes": {material: {"speed_sp": 120, "temperature_sp": 180}},
            "expected_rate": 2400,
            "rate_tolerance": 0.9,
            "monitor_interval_s": 0.5,
        }
        installed = httpx.post(f"{api}/packs/production-control/install",
                               json={"parameters": parameters}, headers=headers)  # fmt: skip
        assert installed.status_code == 201, installed.text
        component = "RM-" + work_center
        erp.receive(component, 1000)
        order_id = erp.create_order(work_center, material, 60, {component: 10})
        released = httpx.post(
            f"{api}/events",
            json={"topic": "production/L1/orders/released", "payload": {"order_id": order_id}},
            headers=headers,
        )
        assert released.status_code == 202, released.text

        # Each crash: start the hub again, until the run has finished.
        done: dict[str, Any] | None = None
        for attempt in range(1, len(STEPS) + len(PARTS) + 3):
            done = _run_until_crash_or_end(server, order_id)
            if done is not None:
                break
            server = Server(env, tmp_path / f"hub-{attempt}.log", may_die=True)
            servers.append(server)
        assert done is not None and done["status"] == "completed", done
        assert sorted(p.name for p in crashes.iterdir()) == sorted(STEPS + PARTS)

        batch = done["output"]["batch_id"]
        assert plant.sim.line.starts[batch] == 1
        assert plant.sim.line.start_commands[batch] == 1  # START written once
    order = erp.order(order_id)
    assert order["Status"] == "COMPLETED"
    assert order["ConfirmedYield"] == done["output"]["yield_quantity"]
    assert order["ConfirmedScrap"] == done["output"]["scrap_quantity"]
    confirmations = erp.rows("ProductionConfirmations", order_id)
    assert len(confirmations) == 1  # the re-run's post was a Conflict: already posted
    assert done["output"]["confirmation"]["already_posted"] is True
    assert erp.stock(material) == done["output"]["yield_quantity"]  # received once
    erp.http.close()


def _run_until_crash_or_end(server: Server, order_id: str) -> dict[str, Any] | None:
    """The run once it finished, or None once the hub died (killed by a step)."""
    if server.process.poll() is not None:
        return None
    try:
        headers = _login(server.base)
    except httpx.TransportError:
        server.process.wait(10)
        return None
    api = f"{server.base}/api/v1/tenants/acme"

    def state() -> Any:
        if server.process.poll() is not None:
            return "crashed"
        try:
            runs = httpx.get(f"{api}/runs?workflow=production-control", headers=headers)
        except httpx.TransportError:
            return "crashed" if server.process.poll() is not None else None
        found = [r for r in runs.json()["items"] if r["input"].get("order_id") == order_id]
        if found and found[0]["status"] in ("completed", "failed"):
            return found[0]
        return None

    outcome = eventually(state, timeout=60, every=0.1)
    if outcome == "crashed":
        server.process.wait(10)
        return None
    return dict(outcome)
