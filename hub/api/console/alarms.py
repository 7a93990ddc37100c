"""Alarms: /ui/t/{tenant}/alarms — the tenant's ISA-18.2 alarm list, live, and one alarm's
page with its history (the alarm journal) and the operator's actions on it.

The list reads the service behind GET /api/v1/tenants/{tenant}/alarms (every page of it)
and shows state, priority, area, device and tag, the value at the last transition with
its tag's unit, the limit, since when, and the tag's value now with its quality. It is
filtered by area, priority and state and sorted by priority, then newest first; the page
polls the list as a fragment (htmx) every POLL_SECONDS. static/alarms.js flashes and
sounds new unacknowledged critical alarms (Web Audio, after the user has interacted
with the page) until they are silenced.

An alarm's page answers GET .../alarms/{alarm_id} (state and journal, polled too) and
holds the forms for acknowledge (a comment), shelve (minutes and a reason) and unshelve:
they call the same AlarmService methods as the API's handlers, with the bodies checked
by the API's own structs (AckIn, ShelveIn), and come back to the alarm's page (303), or
show the 422 next to the field, or the 409 above the forms, keeping what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can
from hub.api.console.rendering import fragment, render
from hub.api.context import request_context
from hub.api.schemas.alarms import AckIn, ShelveIn
from hub.bootstrap import Hub
from hub.domain.alarms import MAX_SHELVE_MINUTES, AlarmState, Priority
from hub.domain.errors import Conflict, ValidationFailed
from hub.domain.paging import MAX_LIMIT
from hub.domain.plc import Quality
from hub.domain.tenancy import Tenant

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
AlarmId = Annotated[str, PathParameter(max_length=64)]
FilterText = Annotated[str, QueryParameter(max_length=64)]
StateFilter = Annotated[str, QueryParameter(name="state", max_length=64)]

LIST = ("GET", "/api/v1/tenants/{tenant}/alarms")
ONE = ("GET", "/api/v1/tenants/{tenant}/alarms/{alarm_id}")
ACK = ("POST", "/api/v1/tenants/{tenant}/alarms/{alarm_id}/ack")
SHELVE = ("POST", "/api/v1/tenants/{tenant}/alarms/{alarm_id}/shelve")
UNSHELVE = ("POST", "/api/v1/tenants/{tenant}/alarms/{alarm_id}/unshelve")
TAG_VALUES = ("GET", "/api/v1/tenants/{tenant}/devices/{device_id}/tags")
DEVICES = ("GET", "/api/v1/tenants/{tenant}/devices")

POLL_SECONDS = 2
MAX_PAGES = 20  # alarms and devices read in pages of MAX_LIMIT, at most this many
PRIORITIES = tuple(p.value for p in Priority)  # critical, high, medium, low
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
CURRENT = "current"  # the list's default: every alarm that is not normal
STATE_CHOICES: dict[str, str] = {  # filter value -> label; all but CURRENT are the API's
    CURRENT: "Not normal",
    "active": "Active",
    "unacknowledged": "Unacknowledged",
    "shelved": "Shelved",
    AlarmState.ACTIVE_UNACK.value: "Active, unacknowledged",
    AlarmState.ACTIVE_ACK.value: "Active, acknowledged",
    AlarmState.RETURNED_UNACK.value: "Returned, unacknowledged",
    AlarmState.OUT_OF_SERVICE.value: "Out of service",
    AlarmState.NORMAL.value: "Normal",
    "all": "All",
}
STATE_LABELS = {
    AlarmState.NORMAL.value: "Normal",
    AlarmState.ACTIVE_UNACK.value: "Active, unacknowledged",
    AlarmState.ACTIVE_ACK.value: "Active, acknowledged",
    AlarmState.RETURNED_UNACK.value: "Returned, unacknowledged",
    AlarmState.SHELVED.value: "Shelved",
    AlarmState.OUT_OF_SERVICE.value: "Out of service",
}
ACTION_LABELS = {
    "activate": "Raised",
    "reactivate": "Raised again",
    "escalate": "Escalated",
    "change": "Condition changed",
    "return": "Returned to normal",
    "ack": "Acknowledged",
    "shelve": "Shelved",
    "unshelve": "Unshelved",
    "shelve_expired": "Shelve expired",
    "remove_from_service": "Removed from service",
    "return_to_service": "Returned to service",
}
CONDITION_LABELS = {
    "hihi": "HiHi",
    "hi": "Hi",
    "lo": "Lo",
    "lolo": "LoLo",
    "rate": "Rate",
    "discrete": "Discrete",
}
QUALITY_LABELS = {Quality.GOOD: "good", Quality.UNCERTAIN: "uncertain", Quality.BAD: "bad"}


# --- pure helpers (tests/unit/console/test_alarms_helpers.py) ---


def number(value: Any) -> str:
    """A value as an operator reads it: floats to at most 3 decimals, no trailing zeros."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


def with_unit(value: Any, unit: str) -> str:
    text = number(value)
    return f"{text} {unit}" if unit and value is not None and text != "—" else text


def limit_text(condition: str | None, limit: Any, unit: str) -> str:
    """`Hi 8 bar`, `Rate 2 bar/s`, `Discrete = true`; `—` without a condition."""
    if condition is None:
        return "—"
    label = CONDITION_LABELS.get(condition, condition)
    if condition == "discrete":
        return f"{label} = {number(limit)}"
    if condition == "rate":
        return f"{label} {number(limit)} {unit}/s" if unit else f"{label} {number(limit)}/s"
    return f"{label} {with_unit(limit, unit)}"


def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sort_key(priority: str, since: datetime | None) -> tuple[int, float]:
    """Priority first (critical on top), then the newest first."""
    stamp = since.timestamp() if since is not None else float("-inf")
    return PRIORITY_RANK.get(priority, len(PRIORITIES)), -stamp


def friendly(message: str) -> str:
    """A msgspec validation message for an operator (`Expected `str` of length <= 1000 -
    at `$.comment`` -> `at most 1000 characters`)."""
    text = re.sub(r"\s*- at `\$[^`]*`$", "", message)
    if found := re.search(r"length <= (\d+)", text):
        return f"at most {found.group(1)} characters"
    if re.search(r"length >= 1\b", text):
        return "required"
    if found := re.search(r"length >= (\d+)", text):
        return f"at least {found.group(1)} characters"
    return text.replace("`", "")


def body_problems(struct: type[msgspec.Struct], data: Mapping[str, Any]) -> dict[str, str]:
    """Problems (field -> message) of a form's body under the API's own struct."""
    try:
        msgspec.convert(dict(data), struct)
    except msgspec.ValidationError as exc:
        found = re.search(r"at `\$\.(\w+)", str(exc))
        return {found.group(1) if found else "form": friendly(str(exc))}
    return {}


def minutes_of(text: str) -> int | None:
    """The shelve duration typed in the form, as an integer, or None when it is not one."""
    text = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", text):
        return None
    return int(text)


def sound_key(alarm_id: str, since: datetime | None) -> str:
    """What static/alarms.js remembers as silenced: one activation of one alarm."""
    return f"{alarm_id}@{since.isoformat() if since else ''}"


# --- the list ---


@dataclass(frozen=True)
class Now:
    """The tag's latest value with its quality (what the devices API serves)."""

    value: Any
    quality: Quality
    unit: str

    @property
    def text(self) -> str:
        return with_unit(self.value, self.unit)

    @property
    def quality_label(self) -> str:
        return QUALITY_LABELS.get(self.quality, str(self.quality))

    @property
    def good(self) -> bool:
        return self.quality is Quality.GOOD


@dataclass(frozen=True)
class AlarmRow:
    id: str
    area: str
    priority: str
    state: str
    condition: str | None
    device: str
    tag: str
    value: Any
    limit: Any
    unit: str
    since: datetime | None
    shelved_until: datetime | None
    message: str
    now: Now | None = None

    @classmethod
    def of(cls, view: Mapping[str, Any], unit: str = "", now: Now | None = None) -> AlarmRow:
        return cls(
            id=view["id"],
            area=view["area"],
            priority=view["priority"],
            state=view["state"],
            condition=view["condition"],
            device=view.get("device") or view["device_id"],
            tag=view["tag"],
            value=view["value"],
            limit=view["limit"],
            unit=unit,
            since=utc(view["since"]),
            shelved_until=utc(view.get("shelved_until")),
            message=view.get("rule", {}).get("message", ""),
            now=now,
        )

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def unacknowledged(self) -> bool:
        return self.state in (AlarmState.ACTIVE_UNACK.value, AlarmState.RETURNED_UNACK.value)

    @property
    def shelved(self) -> bool:
        return self.state == AlarmState.SHELVED.value

    @property
    def value_text(self) -> str:
        return with_unit(self.value, self.unit)

    @property
    def limit_text(self) -> str:
        return limit_text(self.condition, self.limit, self.unit)

    @property
    def sound_key(self) -> str:
        return sound_key(self.id, self.since)

    @property
    def announce(self) -> bool:
        """A critical alarm nobody has acknowledged: flashed and sounded."""
        return self.priority == Priority.CRITICAL.value and self.unacknowledged


@dataclass
class Filters:
    area: str = ""
    priority: str = ""
    state: str = CURRENT
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, area: str, priority: str, state: str) -> Filters:
        """The filters as given; a value that is not one of the choices is named in
        `problems` and not applied."""
        found = cls()
        if area:
            found.area = area
        if priority:
            if priority in PRIORITY_RANK:
                found.priority = priority
            else:
                found.problems["priority"] = "one of " + ", ".join(PRIORITIES)
        if state:
            if state in STATE_CHOICES:
                found.state = state
            else:
                found.problems["state"] = "not one of the states listed"
        return found

    def query(self) -> str:
        """The filters as a query string (only what differs from the defaults)."""
        pairs = {"area": self.area, "priority": self.priority}
        if self.state != CURRENT:
            pairs["state"] = self.state
        given = {k: v for k, v in pairs.items() if v}
        return f"?{urlencode(given)}" if given else ""

    @property
    def filtered(self) -> bool:
        return bool(self.area or self.priority or self.state != CURRENT)

    def keeps(self, row: AlarmRow) -> bool:
        if self.state == CURRENT and row.state == AlarmState.NORMAL.value:
            return False
        if self.area and row.area != self.area:
            return False
        return not (self.priority and row.priority != self.priority)


@dataclass
class AlarmList:
    rows: list[AlarmRow]
    areas: list[str]  # every area of the alarms read, for the filter
    truncated: bool  # more alarms than MAX_PAGES pages
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(PRIORITIES, 0)
        for row in self.rows:
            counts[row.priority] = counts.get(row.priority, 0) + 1
        return counts

    @property
    def unacknowledged(self) -> int:
        return sum(1 for r in self.rows if r.unacknowledged)


def order(rows: Iterable[AlarmRow]) -> list[AlarmRow]:
    return sorted(rows, key=lambda r: sort_key(r.priority, r.since))


async def _views(hub: Hub, tenant: Tenant, state: str) -> tuple[list[dict[str, Any]], bool]:
    """Every alarm in `state` (the API's filter), as the API serves them."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await hub.plc.alarms.page(tenant, state, cursor, MAX_LIMIT)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, False
    return items, True


async def _tag_info(
    request: AnyRequest, hub: Hub, tenant: Tenant, device_ids: set[str]
) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], Now]]:
    """Units of the tags in alarm, and their latest values where the user may read them."""
    units: dict[tuple[str, str], str] = {}
    now: dict[tuple[str, str], Now] = {}
    if not device_ids or not can(request, *DEVICES):
        return units, now
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await hub.plc.devices.page(tenant, cursor, MAX_LIMIT)
        for device in page.items:
            if device.id not in device_ids:
                continue
            for tag in device.tags:
                units[(device.id, tag.name)] = tag.unit
            if can(request, *TAG_VALUES, device_id=device.id):
                for value in await hub.plc.devices.tag_values(device):
                    now[(device.id, value.name)] = Now(value.value, value.quality, value.unit)
        cursor = page.next_cursor
        if cursor is None:
            break
    return units, now


def _row(view: Mapping[str, Any], units: Mapping[Any, str], now: Mapping[Any, Now]) -> AlarmRow:
    key = (view["device_id"], view["tag"])
    return AlarmRow.of(view, units.get(key, ""), now.get(key))


async def alarm_list(request: AnyRequest, slug: str, filters: Filters) -> AlarmList:
    hub: Hub = request.app.state.hub
    tenant = await hub.tenants.get(slug)
    api_state = "all" if filters.state == CURRENT else filters.state
    views, truncated = await _views(hub, tenant, api_state)
    units, now = await _tag_info(request, hub, tenant, {v["device_id"] for v in views})
    every = [_row(v, units, now) for v in views]
    shown = order(r for r in every if filters.keeps(r))
    return AlarmList(shown, sorted({r.area for r in every}), truncated)


def _list_context(tenant: str, filters: Filters, view: AlarmList) -> dict[str, Any]:
    return {
        "view": view,
        "filters": filters,
        "priorities": PRIORITIES,
        "state_choices": STATE_CHOICES,
        "live_url": tenant_url(tenant, "alarms/live") + filters.query(),
        "list_url": tenant_url(tenant, "alarms/"),
        "poll_seconds": POLL_SECONDS,
    }


@get("/t/{tenant:str}/alarms", opt={"api": LIST})
async def alarms_page(
    request: AnyRequest,
    tenant: TenantSlug,
    area: FilterText = "",
    priority: FilterText = "",
    state_: StateFilter = "",
) -> Template:
    filters = Filters.parse(area, priority, state_)
    view = await alarm_list(request, tenant, filters)
    return await render(
        request,
        "alarms/page.html",
        title="Alarms",
        active="alarms",
        status_code=422 if filters.problems else 200,
        **_list_context(tenant, filters, view),
    )


@get("/t/{tenant:str}/alarms/live", opt={"api": LIST})
async def alarms_live(
    request: AnyRequest,
    tenant: TenantSlug,
    area: FilterText = "",
    priority: FilterText = "",
    state_: StateFilter = "",
) -> Template:
    filters = Filters.parse(area, priority, state_)
    view = await alarm_list(request, tenant, filters)
    return fragment(request, "alarms/_live.html", **_list_context(tenant, filters, view))


# --- one alarm ---


@dataclass(frozen=True)
class JournalRow:
    ts: datetime | None
    action: str
    old: str
    new: str
    condition: str | None
    value: Any
    limit: Any
    actor: str
    comment: str
    unit: str

    @classmethod
    def of(cls, entry: Mapping[str, Any], unit: str) -> JournalRow:
        return cls(
            utc(entry["ts"]),
            entry["action"],
            entry["from"],
            entry["to"],
            entry["condition"],
            entry["value"],
            entry["limit"],
            entry["actor"],
            entry["comment"] or "",
            unit,
        )

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action.replace("_", " ").capitalize())

    @property
    def old_label(self) -> str:
        return STATE_LABELS.get(self.old, self.old)

    @property
    def new_label(self) -> str:
        return STATE_LABELS.get(self.new, self.new)

    @property
    def value_text(self) -> str:
        return with_unit(self.value, self.unit)

    @property
    def limit_text(self) -> str:
        return limit_text(self.condition, self.limit, self.unit)


@dataclass
class AlarmDetail:
    row: AlarmRow
    journal: list[JournalRow]  # newest first
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class ActionForms:
    """What was typed in the action forms, and what was wrong with it."""

    comment: str = ""
    minutes: str = "60"
    reason: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    refused: str = ""  # a 409's message (the alarm moved on meanwhile)
    which: str = ""  # the form the problems belong to: ack | shelve | unshelve


async def alarm_detail(request: AnyRequest, slug: str, alarm_id: str) -> AlarmDetail:
    hub: Hub = request.app.state.hub
    tenant = await hub.tenants.get(slug)
    view = await hub.plc.alarms.detail(tenant, alarm_id)
    units, now = await _tag_info(request, hub, tenant, {view["device_id"]})
    row = _row(view, units, now)
    journal = [JournalRow.of(e, row.unit) for e in reversed(view["journal"])]
    return AlarmDetail(row, journal)


def _detail_context(tenant: str, detail: AlarmDetail) -> dict[str, Any]:
    base = f"alarms/{detail.row.id}"
    return {
        "detail": detail,
        "alarm": detail.row,
        "live_url": tenant_url(tenant, f"{base}/live"),
        "ack_url": tenant_url(tenant, f"{base}/ack"),
        "shelve_url": tenant_url(tenant, f"{base}/shelve"),
        "unshelve_url": tenant_url(tenant, f"{base}/unshelve"),
        "list_url": tenant_url(tenant, "alarms/"),
        "poll_seconds": POLL_SECONDS,
        "max_minutes": MAX_SHELVE_MINUTES,
    }


async def _detail_page(
    request: AnyRequest, tenant: str, alarm_id: str, forms: ActionForms, status_code: int = 200
) -> Template:
    detail = await alarm_detail(request, tenant, alarm_id)
    return await render(
        request,
        "alarms/alarm.html",
        title=f"Alarm {detail.row.device} {detail.row.tag}",
        active="alarms",
        status_code=status_code,
        forms=forms,
        **_detail_context(tenant, detail),
    )


@get("/t/{tenant:str}/alarms/{alarm_id:str}", opt={"api": ONE})
async def alarm_page(request: AnyRequest, tenant: TenantSlug, alarm_id: AlarmId) -> Template:
    return await _detail_page(request, tenant, alarm_id, ActionForms())


@get("/t/{tenant:str}/alarms/{alarm_id:str}/live", opt={"api": ONE})
async def alarm_live(request: AnyRequest, tenant: TenantSlug, alarm_id: AlarmId) -> Template:
    detail = await alarm_detail(request, tenant, alarm_id)
    return fragment(request, "alarms/_alarm_live.html", **_detail_context(tenant, detail))


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


async def _act(
    request: AnyRequest, tenant: str, alarm_id: str, forms: ActionForms, call: Any
) -> Response[Any]:
    """Run the service call; back to the alarm's page, or the page with the problem."""
    if forms.problems:
        return await _detail_page(request, tenant, alarm_id, forms, 422)
    try:
        await call()
    except ValidationFailed as exc:
        forms.problems = {p.field: p.message for p in exc.problems}
        return await _detail_page(request, tenant, alarm_id, forms, 422)
    except Conflict as exc:
        forms.refused = exc.detail
        return await _detail_page(request, tenant, alarm_id, forms, 409)
    return Redirect(tenant_url(tenant, f"alarms/{alarm_id}"), status_code=HTTP_303_SEE_OTHER)


@post(
    "/t/{tenant:str}/alarms/{alarm_id:str}/ack",
    opt={"api": ACK, "action": "alarm.ack"},
)
async def ack(request: AnyRequest, tenant: TenantSlug, alarm_id: AlarmId) -> Response[Any]:
    form = await request.form()
    forms = ActionForms(comment=_text(form, "comment"), which="ack")
    forms.problems = body_problems(AckIn, {"comment": forms.comment})
    hub: Hub = request.app.state.hub

    async def call() -> None:
        the_tenant = await hub.tenants.get(tenant)
        await hub.plc.alarms.ack(the_tenant, alarm_id, forms.comment, request_context(request))

    return await _act(request, tenant, alarm_id, forms, call)


@post(
    "/t/{tenant:str}/alarms/{alarm_id:str}/shelve",
    opt={"api": SHELVE, "action": "alarm.shelve"},
)
async def shelve(request: AnyRequest, tenant: TenantSlug, alarm_id: AlarmId) -> Response[Any]:
    form = await request.form()
    forms = ActionForms(
        minutes=_text(form, "minutes"), reason=_text(form, "reason"), which="shelve"
    )
    minutes = minutes_of(forms.minutes)
    if minutes is None:
        forms.problems["minutes"] = "a whole number of minutes"
    else:
        forms.problems = body_problems(ShelveIn, {"minutes": minutes, "reason": forms.reason})
    hub: Hub = request.app.state.hub

    async def call() -> None:
        the_tenant = await hub.tenants.get(tenant)
        await hub.plc.alarms.shelve(
            the_tenant, alarm_id, minutes, forms.reason, request_context(request)
        )

    return await _act(request, tenant, alarm_id, forms, call)


@post(
    "/t/{tenant:str}/alarms/{alarm_id:str}/unshelve",
    opt={"api": UNSHELVE, "action": "alarm.unshelve"},
)
async def unshelve(request: AnyRequest, tenant: TenantSlug, alarm_id: AlarmId) -> Response[Any]:
    forms = ActionForms(which="unshelve")
    hub: Hub = request.app.state.hub

    async def call() -> None:
        the_tenant = await hub.tenants.get(tenant)
        await hub.plc.alarms.unshelve(the_tenant, alarm_id, request_context(request))

    return await _act(request, tenant, alarm_id, forms, call)


PAGE = Page(
    handlers=[alarms_page, alarms_live, alarm_page, alarm_live, ack, shelve, unshelve],
    nav=NavEntry("alarms", "Alarms", "alarms/", LIST),
)
