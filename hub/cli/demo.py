"""Demo data: the tenant `acme` with one user per role. Safe to run again."""

from __future__ import annotations

import contextlib
import dataclasses
import os

from hub.bootstrap import Hub, ensure_platform_admin
from hub.domain.audit import SYSTEM
from hub.domain.errors import Conflict
from hub.domain.tenancy import Principal, TenantRole
from hub.services.tenancy.tenants import NewMember
from hub.settings import Settings

DEMO_TENANT = "acme"
DEMO_ADMIN = "admin"
DEMO_PASSWORD = "demo-password-2026"
DEMO_ANCHOR_INTERVAL = 10.0  # the demo anchors soon after it starts, unless told otherwise


DEMO_EGRESS = ("127.0.0.0/8", "::1", "localhost")  # the demo's peers (issue 12, item 3)


def demo_settings(settings: Settings) -> Settings:
    """The demo anchors soon, and its workflows may call servers on this machine: the
    demo allows loopback, which a hub refuses by default."""
    egress = tuple(dict.fromkeys((*settings.egress_allow, *DEMO_EGRESS)))
    settings = dataclasses.replace(settings, egress_allow=egress)
    if os.environ.get("HUB_ANCHOR_INTERVAL"):
        return settings
    return dataclasses.replace(settings, anchor_interval=DEMO_ANCHOR_INTERVAL)


async def seed_demo(hub: Hub) -> list[tuple[str, str, str]]:
    """Create what is missing; returns (username, password, role) for every demo account."""
    await ensure_platform_admin(hub, DEMO_ADMIN, DEMO_PASSWORD)
    accounts = [(DEMO_ADMIN, DEMO_PASSWORD, "platform_admin")]
    with contextlib.suppress(Conflict):
        await hub.tenants.create(DEMO_TENANT, "Acme Manufacturing", SYSTEM)
    admin = Principal("demo-seed", True, frozenset())
    for role in TenantRole:
        username = f"{DEMO_TENANT}-{role.value.replace('_', '-')}"
        with contextlib.suppress(Conflict):
            await hub.tenants.add_member(
                DEMO_TENANT, NewMember(username, role.value, DEMO_PASSWORD), admin, SYSTEM
            )
        accounts.append((username, DEMO_PASSWORD, role.value))
    return accounts
