"""`hub demo`'s ERP: the SAP CAP sample ERP (connectors/enterprise/sample_erp) started
beside the hub when Node.js and its packages are there, a connection `erp` to it for the
demo tenant with the sample_erp profile of business operations, and the
production-control pack on the simulated line, so released orders run from the ERP to
the PLC and back.

Without Node the demo runs on and says in one line what to install."""

from __future__ import annotations

import contextlib
from pathlib import Path

from connectors.enterprise.sample_server import SampleErp, SampleErpUnavailable, start_sample_erp
from hub.bootstrap import Hub
from hub.domain.audit import SYSTEM
from hub.domain.errors import Conflict, NotFound

DEMO_CONNECTION = "erp"
DEMO_LINE = "line-1"  # the simulator's production line (hub/cli/demo_plant.py)
DEMO_WORK_CENTER = "LINE1"  # its work center in the sample ERP's released orders


def start_demo_erp(data_dir: Path) -> tuple[SampleErp | None, str]:
    """The running sample ERP and a line for the console, or None and why not."""
    try:
        erp = start_sample_erp(data_dir / "sample_erp.log")
    except SampleErpUnavailable as exc:
        return None, f"ERP      not started: {exc}"
    except RuntimeError as exc:  # it failed to start: the log says why, the demo goes on
        return None, f"ERP      did not start: {str(exc).splitlines()[0]}"
    return erp, f"ERP      SAP CAP sample ERP at {erp.v4_url} (alice / alice-secret)"


async def seed_erp(hub: Hub, tenant_slug: str, erp: SampleErp) -> None:
    """The connection to this run's ERP (its port changes from run to run)."""
    tenant = await hub.tenants.get(tenant_slug)
    body = {
        "url": erp.v4_url,
        "version": "v4",
        "auth": {"type": "basic", "username": erp.user, "password": erp.password},
        "profile": "sample_erp",
    }
    try:
        await hub.connections.get(tenant, DEMO_CONNECTION)
    except NotFound:
        await hub.connections.create(
            tenant, {"name": DEMO_CONNECTION, "kind": "odata", **body}, SYSTEM
        )
    else:
        await hub.connections.update(tenant, DEMO_CONNECTION, body, SYSTEM)
    # The line's orders come from this ERP: its release poller finds 1000101 (materials
    # in stock) and 1000102 (short of one: a material request and an operator's task).
    parameters = {
        "line_id": DEMO_LINE,
        "erp": {"connection": DEMO_CONNECTION, "plant": "1000", "work_center": DEMO_WORK_CENTER},
    }
    with contextlib.suppress(Conflict):
        await hub.packs.install(tenant, "production-control", parameters, SYSTEM)
