"""Overview: /ui/t/{tenant}/ — per area, active alarms by priority; open tasks; running
and failed runs; device connection states. The live part is a fragment the page polls
(htmx, every POLL_SECONDS), read from the same services the API's handlers call."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import PathParameter
from litestar.response import Template

from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can
from hub.api.console.rendering import fragment, render
from hub.bootstrap import Hub
from hub.domain.alarms import Priority
from hub.domain.paging import MAX_LIMIT
from hub.domain.tenancy import Tenant

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
TENANT = ("GET", "/api/v1/tenants/{tenant}")
ALARMS = ("GET", "/api/v1/tenants/{tenant}/alarms")
TASKS = ("GET", "/api/v1/tenants/{tenant}/tasks")
RUNS = ("GET", "/api/v1/tenants/{tenant}/runs")
DEVICES = ("GET", "/api/v1/tenants/{tenant}/devices")
POLL_SECONDS = 2
PRIORITIES = tuple(p.value for p in Priority)  # critical, high, medium, low
LISTED = 5  # tasks and failed runs named on the overview
MAX_PAGES = 20  # alarms and devices read in pages of MAX_LIMIT, at most this many


@dataclass
class AreaAlarms:
    area: str
    by_priority: Counter[str] = field(default_factory=Counter)
    unacknowledged: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_priority.values())


@dataclass(frozen=True)
class Count:
    """A count read up to a limit: `more` when there were more than `value`."""

    value: int
    more: bool = False

    def __str__(self) -> str:
        return f"{self.value}+" if self.more else str(self.value)


@dataclass(frozen=True)
class DeviceRow:
    name: str
    enabled: bool
    state: str  # stopped | connecting | connected | backoff
    connected: bool
    last_seen: datetime | None
    last_error: str | None

    @property
    def abnormal(self) -> bool:
        return self.enabled and not self.connected


@dataclass
class Overview:
    tenant: str
    areas: list[AreaAlarms] | None = None  # None: the user may not read alarms
    alarm_totals: Counter[str] = field(default_factory=Counter)
    open_tasks: Count | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    running: Count | None = None
    waiting: Count | None = None
    queued: Count | None = None  # runs waiting for their concurrency key's turn
    failed: Count | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    devices: list[DeviceRow] | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def devices_connected(self) -> int:
        return sum(1 for d in self.devices or () if d.connected)


async def _alarms(hub: Hub, tenant: Tenant, view: Overview) -> None:
    areas: dict[str, AreaAlarms] = {}
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await hub.plc.alarms.page(tenant, "active", cursor, MAX_LIMIT)
        for alarm in page.items:
            row = areas.setdefault(alarm["area"], AreaAlarms(alarm["area"]))
            row.by_priority[alarm["priority"]] += 1
            row.unacknowledged += alarm["state"] == "active-unacknowledged"
            view.alarm_totals[alarm["priority"]] += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    view.areas = sorted(areas.values(), key=lambda a: a.area)


async def _runs(hub: Hub, tenant: Tenant, status: str) -> tuple[Count, list[dict[str, Any]]]:
    items, more = await hub.workflows.runs(tenant, status, None, None, MAX_LIMIT)
    return Count(len(items), more is not None), items[:LISTED]


async def _devices(hub: Hub, tenant: Tenant, view: Overview) -> None:
    rows: list[DeviceRow] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await hub.plc.devices.page(tenant, cursor, MAX_LIMIT)
        for device in page.items:
            status = hub.plc.devices.status(device)
            rows.append(
                DeviceRow(
                    device.name,
                    device.enabled,
                    status.state,
                    status.connected,
                    status.last_seen,
                    status.last_error,
                )
            )
        cursor = page.next_cursor
        if cursor is None:
            break
    # Abnormal first (ISA-101: what needs attention on top), then by name.
    view.devices = sorted(rows, key=lambda d: (not d.abnormal, d.name))


async def overview(request: AnyRequest, slug: str) -> Overview:
    """What the user may see of the tenant, from the services the API reads."""
    hub: Hub = request.app.state.hub
    tenant = await hub.tenants.get(slug)
    view = Overview(slug)
    if can(request, *ALARMS):
        await _alarms(hub, tenant, view)
    if can(request, *TASKS):
        tasks = await hub.workflows.user_tasks(tenant, None, [], "open", MAX_LIMIT + 1)
        view.open_tasks = Count(min(len(tasks), MAX_LIMIT), len(tasks) > MAX_LIMIT)
        view.tasks = tasks[:LISTED]
    if can(request, *RUNS):
        view.running, _ = await _runs(hub, tenant, "running")
        view.waiting, _ = await _runs(hub, tenant, "waiting")
        view.queued, _ = await _runs(hub, tenant, "queued")
        view.failed, view.failures = await _runs(hub, tenant, "failed")
    if can(request, *DEVICES):
        await _devices(hub, tenant, view)
    return view


def _live_url(tenant: str) -> str:
    return tenant_url(tenant, "overview/live")


@get("/t/{tenant:str}", opt={"api": TENANT})
async def overview_page(request: AnyRequest, tenant: TenantSlug) -> Template:
    view = await overview(request, tenant)
    return await render(
        request,
        "overview/page.html",
        title="Overview",
        active="overview",
        view=view,
        priorities=PRIORITIES,
        live_url=_live_url(tenant),
        poll_seconds=POLL_SECONDS,
    )


@get("/t/{tenant:str}/overview/live", opt={"api": TENANT})
async def overview_live(request: AnyRequest, tenant: TenantSlug) -> Template:
    view = await overview(request, tenant)
    return fragment(
        request,
        "overview/_live.html",
        view=view,
        priorities=PRIORITIES,
        live_url=_live_url(tenant),
        poll_seconds=POLL_SECONDS,
    )


PAGE = Page(
    handlers=[overview_page, overview_live],
    nav=NavEntry("overview", "Overview", "", TENANT),
)
