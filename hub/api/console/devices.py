"""Devices and tags: /ui/t/{tenant}/devices/ (the devices, their connection, abnormal
first) and /ui/t/{tenant}/devices/{device}/ (its tags' latest values with quality, a
tag's trend beside them, and writes for those allowed, confirmed before they are sent).

Everything is read from and written through the services the API's device handlers call
(hub.plc.devices: status, tag_values, history, write_tag), with the API's permission for
each (opt["api"]) and the audit context of the signed-in user. Live parts are fragments
the page polls with htmx; the trend is an SVG drawn here (devices_trend.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Request, get, post
from litestar.params import PathParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from hub.api.console import devices_trend as trend
from hub.api.console.nav import NavEntry, Page
from hub.api.console.paths import tenant_url
from hub.api.console.permissions import can, require
from hub.api.console.rendering import fragment, render
from hub.api.context import request_context
from hub.bootstrap import Hub
from hub.domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from hub.domain.paging import MAX_LIMIT
from hub.domain.plc import Datatype, Device, PlcError, Quality, Tag
from hub.domain.tenancy import Tenant
from hub.services.plc.devices import TagValue, WriteResult

AnyRequest = Request[Any, Any, Any]
TenantSlug = Annotated[str, PathParameter(max_length=63)]
DeviceRef = Annotated[str, PathParameter(max_length=64)]
TagName = Annotated[str, PathParameter(max_length=64)]

API = "/api/v1/tenants/{tenant}/devices"
DEVICES = ("GET", API)
DEVICE = ("GET", API + "/{device_id}")
STATUS = ("GET", API + "/{device_id}/status")
TAGS = ("GET", API + "/{device_id}/tags")
HISTORY = ("GET", API + "/{device_id}/tags/{tag}/history")
WRITE = ("POST", API + "/{device_id}/tags/{tag}/write")

POLL_SECONDS = 2  # the device list and the tag values
TREND_POLL_SECONDS = 5  # a live trend (a range up to now); a zoomed window is fixed
MAX_PAGES = 20  # devices read in pages of MAX_LIMIT, at most this many
MAX_VALUE_TEXT = 1000  # characters of a value typed into the write form
MAX_QUERY = 40  # characters of a time in the trend's query
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.I)
INTEGER = re.compile(r"[+-]?\d+")
TRUE_WORDS, FALSE_WORDS = {"true", "1", "on", "yes"}, {"false", "0", "off", "no"}


# --- small pure pieces (tests/unit/console/test_devices_pieces.py) ---


def format_value(value: Any) -> str:
    """A tag's value for people: booleans as true/false, numbers without float noise
    (up to 4 decimals, exponent form when very large or small), text as it is."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        magnitude = abs(value)
        if magnitude >= 1e9 or (0 < magnitude < 1e-3):
            return f"{value:.4g}"
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return "0" if text in {"-0", ""} else text
    return str(value)


def parse_value(datatype: Datatype, text: str) -> Any:
    """What a write form's text stands for, for a tag of `datatype`: a bool, an int or a
    float, or the text itself. Text that is not of the tag's type is passed on as text,
    for the service to refuse with its own message (one rule, the service's)."""
    if datatype is Datatype.STRING:
        return text
    text = text.strip()
    if datatype is Datatype.BOOL:
        word = text.lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else text
    if INTEGER.fullmatch(text):
        return int(text)
    if NUMBER.fullmatch(text):
        return float(text)
    return text


def iso(at: datetime) -> str:
    """A time for a URL: UTC with milliseconds and a Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def field_time(at: datetime) -> str:
    """A time for a datetime-local field (UTC, to the second)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time(text: str, where: str, problems: list[FieldProblem]) -> datetime | None:
    """An ISO time (a Z or an offset, or none: UTC), or None with a problem added."""
    if len(text) > MAX_QUERY:
        problems.append(FieldProblem(where, f"at most {MAX_QUERY} characters"))
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        problems.append(FieldProblem(where, "a date and time, e.g. 2025-01-31T10:00:00"))
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TrendQuery:
    range_key: str | None  # a live range up to now, or None: the fixed window below
    start: datetime | None
    end: datetime | None
    problems: dict[str, str]
    texts: dict[str, str]  # the from/to as typed, to show again with their problems


def trend_query(query: Mapping[str, Any]) -> TrendQuery:
    """The trend's window from a query: `range` (15m, 1h, 8h, 24h), or `from` and `to`."""
    problems: list[FieldProblem] = []
    texts = {k: str(query.get(k) or "")[: MAX_QUERY * 2] for k in ("from", "to")}
    range_key = str(query.get("range") or "")
    if not texts["from"] and not texts["to"]:
        if range_key and range_key not in trend.RANGES:
            problems.append(FieldProblem("range", f"one of {', '.join(trend.RANGES)}"))
        key = range_key if range_key in trend.RANGES else trend.DEFAULT_RANGE
        return TrendQuery(key, None, None, _by_field(problems), texts)
    start = end = None
    for name in ("from", "to"):
        if not texts[name]:
            problems.append(FieldProblem(name, "required with the other end of the window"))
    if texts["from"]:
        start = parse_time(texts["from"], "from", problems)
    if texts["to"]:
        end = parse_time(texts["to"], "to", problems)
    if start is not None and end is not None:
        span = (end - start).total_seconds()
        if span <= 0:
            problems.append(FieldProblem("to", "must be after 'from'"))
        elif span < trend.MIN_SPAN:
            problems.append(FieldProblem("to", f"at least {trend.MIN_SPAN} s after 'from'"))
        elif span > trend.MAX_SPAN:
            problems.append(FieldProblem("to", "at most 31 days after 'from'"))
    return TrendQuery(None, start, end, _by_field(problems), texts)


def _by_field(problems: list[FieldProblem]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in problems:
        out[p.field] = f"{out[p.field]}; {p.message}" if p.field in out else p.message
    return out


# --- what the pages show ---


@dataclass(frozen=True)
class DeviceRow:
    name: str
    protocol: str
    endpoint: str
    enabled: bool
    state: str  # stopped | connecting | connected | backoff
    connected: bool
    last_seen: datetime | None
    last_error: str | None
    reconnects: int
    tags: int

    @property
    def abnormal(self) -> bool:
        return self.enabled and not self.connected

    @property
    def state_label(self) -> str:
        if not self.enabled:
            return "Disabled"
        if self.connected:
            return "Connected"
        return {"backoff": "Reconnecting", "connecting": "Connecting"}.get(
            self.state, self.state.capitalize()
        )


@dataclass(frozen=True)
class TagRow:
    name: str
    value: str  # formatted
    unit: str
    quality: str  # good | uncertain | bad
    ts: datetime | None
    error: str | None
    writable: bool
    trendable: bool
    when: str  # the time, without its date when that is today (UTC)

    @property
    def abnormal(self) -> bool:
        return self.quality != Quality.GOOD.label


@dataclass
class TrendView:
    tag: str
    unit: str
    query: TrendQuery
    window: trend.Window | None = None
    shape: trend.TrendShape | None = None
    message: str | None = None  # why there is no plot
    range_links: list[tuple[str, str, bool]] = field(default_factory=list)  # label, url, current
    zoom_slices: list[tuple[str, str, str]] = field(default_factory=list)  # id, url, label
    moves: list[tuple[str, str]] = field(default_factory=list)  # label, url
    form_from: str = ""
    form_to: str = ""
    self_url: str = ""  # the fragment (polled while live)
    page_url: str = ""  # the device page, the zoom form's action
    zoom_base: str = ""  # the device page with this tag: devices.js adds from and to

    @property
    def live(self) -> bool:
        return self.query.range_key is not None and not self.query.problems

    @property
    def bucket_label(self) -> str:
        return trend.bucket_label(self.window.bucket) if self.window else ""

    @property
    def span_label(self) -> str:
        return trend.span_label(self.window.span) if self.window else ""


@dataclass
class WritePanel:
    device: str
    tag: Tag
    current: str  # the latest value, formatted, with its quality
    url: str
    stage: str = "form"  # form | confirm | done
    value_text: str = ""
    value: Any = None
    problem: str | None = None  # next to the field (422)
    message: str | None = None  # the PLC or the hub refused (409, 502, ...)
    result: WriteResult | None = None

    @property
    def unit(self) -> str:
        return self.tag.unit

    @property
    def is_bool(self) -> bool:
        return self.tag.datatype is Datatype.BOOL

    @property
    def numeric(self) -> bool:
        return self.tag.numeric

    def shown(self, value: Any) -> str:
        text = format_value(value)
        return f"{text} {self.unit}" if self.unit and value is not None else text


def device_url(tenant: str, device: str, **query: str) -> str:
    url = tenant_url(tenant, f"devices/{quote(device, safe='')}")
    return f"{url}?{urlencode(query)}" if query else url


def tag_url(tenant: str, device: str, tag: str, what: str) -> str:
    return tenant_url(tenant, f"devices/{quote(device, safe='')}/tags/{quote(tag, safe='')}/{what}")


def _hub(request: AnyRequest) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _row(hub: Hub, device: Device) -> DeviceRow:
    status = hub.plc.devices.status(device)
    return DeviceRow(
        device.name,
        device.protocol.value,
        device.endpoint,
        device.enabled,
        status.state,
        status.connected,
        status.last_seen,
        status.last_error,
        status.reconnect_count,
        len(device.tags),
    )


async def device_rows(hub: Hub, tenant: Tenant) -> list[DeviceRow]:
    rows: list[DeviceRow] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await hub.plc.devices.page(tenant, cursor, MAX_LIMIT)
        rows += [_row(hub, device) for device in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    # Abnormal first (ISA-101: what needs attention on top), then by name.
    return sorted(rows, key=lambda d: (not d.abnormal, d.name))


def short_time(at: datetime | None, now: datetime) -> str:
    """A time as HH:MM:SS when it is of today (UTC), else with its date."""
    if at is None:
        return "—"
    at, now = at.astimezone(UTC), now.astimezone(UTC)
    return at.strftime("%H:%M:%S" if at.date() == now.date() else "%Y-%m-%d %H:%M:%S")


def tag_rows(device: Device, values: list[TagValue], now: datetime) -> list[TagRow]:
    specs = {t.name: t for t in device.tags}
    rows = []
    for v in values:
        spec = specs.get(v.name)
        rows.append(
            TagRow(
                v.name,
                format_value(v.value),
                v.unit,
                v.quality.label,
                v.ts,
                v.error,
                bool(spec and spec.writable),
                bool(spec and spec.datatype is not Datatype.STRING),
                short_time(v.ts, now),
            )
        )
    return rows


def _selected(device: Device, wanted: str | None) -> Tag | None:
    """The tag whose trend (and write form) is shown: the one asked for, else the first
    that can be plotted."""
    if wanted:
        tag = device.tag(wanted[:64])
        if tag is None:
            raise NotFound(f"tag {wanted[:64]!r} not found on device {device.name!r}")
        return tag
    return next((t for t in device.tags if t.datatype is not Datatype.STRING), None)


def _poll_ms(device: Device, tag: Tag) -> int:
    return tag.poll_interval_ms or device.poll_interval_ms


async def trend_view(
    request: AnyRequest,
    tenant: Tenant,
    device: Device,
    tag: Tag,
    query: TrendQuery,
    values: list[TagValue] | None = None,
) -> TrendView:
    """The trend of `tag` over the query's window: three history reads (avg, min, max)
    of the API's history service, drawn as an SVG."""
    hub = _hub(request)
    slug, name = tenant.slug, device.name
    view = TrendView(tag.name, tag.unit, query)
    view.page_url = device_url(slug, name)
    view.zoom_base = device_url(slug, name, tag=tag.name)
    view.range_links = [
        (
            trend.RANGE_LABELS[key],
            device_url(slug, name, tag=tag.name, range=key),
            key == query.range_key,
        )
        for key in trend.RANGES
    ]
    fragment_url = tag_url(slug, name, tag.name, "trend")
    if query.problems:
        view.form_from, view.form_to = query.texts["from"], query.texts["to"]
        view.message = "Choose a valid window."
        return view
    now = hub.clock.now()
    poll = _poll_ms(device, tag)
    if query.range_key is not None:
        window = trend.live_window(query.range_key, now, poll)
        view.self_url = f"{fragment_url}?{urlencode({'range': query.range_key})}"
    else:
        assert query.start is not None and query.end is not None
        window = trend.window_for(query.start, query.end, poll)
        view.self_url = (
            f"{fragment_url}?{urlencode({'from': iso(window.start), 'to': iso(window.end)})}"
        )
    view.window = window
    view.form_from, view.form_to = field_time(window.start), field_time(window.end)

    def at(start: datetime, end: datetime) -> str:
        return device_url(slug, name, tag=tag.name, **{"from": iso(start), "to": iso(end)})

    for i, (start, end) in enumerate(trend.slices(window.start, window.end)):
        begin, until = trend.time_label(start, 1, 0), trend.time_label(end, 1, 0)
        label = f"Zoom to {begin} to {until} UTC"
        view.zoom_slices.append((f"zoom-{i}", at(start, end), label))
    view.moves = [
        ("Zoom in", at(*trend.zoomed(window.start, window.end, 0.5, now))),
        ("Zoom out", at(*trend.zoomed(window.start, window.end, 2.0, now))),
        ("Earlier", at(*trend.panned(window.start, window.end, -0.5, now))),
    ]
    if window.end < now:
        view.moves.append(("Later", at(*trend.panned(window.start, window.end, 0.5, now))))
    if tag.datatype is Datatype.STRING:
        view.message = "A text tag has no trend."
        return view
    reads = {}
    try:
        for agg in ("avg", "min", "max"):
            reads[agg] = await hub.plc.devices.history(
                tenant,
                device.id,
                tag.name,
                window.start,
                window.end,
                window.bucket,
                agg,
                None,
                trend.MAX_POINTS + 2,
            )
    except NotFound:  # no series stored for the tag yet
        reads = {}
    buckets = (
        trend.merge(reads["avg"].items, reads["min"].items, reads["max"].items) if reads else []
    )
    if values is None:
        values = await hub.plc.devices.tag_values(device)
    latest = next((v for v in values if v.name == tag.name), None)
    bad_now = latest is None or latest.quality is not Quality.GOOD
    view.shape = trend.trend_shape(buckets, window, bad_at_end=bad_now and window.end >= now)
    if view.shape.empty:
        view.message = "No good-quality samples in this window."
    return view


async def _device_context(
    request: AnyRequest,
    tenant_slug: str,
    device_ref: str,
    selected: str | None,
    query: TrendQuery,
) -> dict[str, Any]:
    hub = _hub(request)
    require(request, *DEVICE)
    tenant = await hub.tenants.get(tenant_slug)
    device = await hub.plc.devices.get(tenant, device_ref)
    tag = _selected(device, selected)
    values = await hub.plc.devices.tag_values(device)
    view: TrendView | None = None
    if tag is not None and can(request, *HISTORY, device_id=device.name, tag=tag.name):
        view = await trend_view(request, tenant, device, tag, query, values)
    panel = None
    if (
        tag is not None
        and tag.writable
        and can(request, *WRITE, device_id=device.name, tag=tag.name)
    ):
        panel = _panel(tenant_slug, device, tag, values)
    return {
        "device": device,
        "status": _row(hub, device),
        "show_status": can(request, *STATUS, device_id=device.name),
        "rows": tag_rows(device, values, hub.clock.now()),
        "selected": tag.name if tag else None,
        "trend": view,
        "panel": panel,
        "live_url": device_url(tenant_slug, device.name)
        + "/live"
        + (f"?{urlencode({'tag': tag.name})}" if tag else ""),
        "list_url": tenant_url(tenant_slug, "devices/"),
        "poll_seconds": POLL_SECONDS,
        "trend_poll_seconds": TREND_POLL_SECONDS,
        "tag_link": lambda name: device_url(tenant_slug, device.name, tag=name),
    }


def _panel(tenant: str, device: Device, tag: Tag, values: list[TagValue]) -> WritePanel:
    latest = next((v for v in values if v.name == tag.name), None)
    current = "—"
    if latest is not None:
        shown = format_value(latest.value)
        unit = f" {tag.unit}" if tag.unit and latest.value is not None else ""
        current = f"{shown}{unit} ({latest.quality.label})"
    return WritePanel(device.name, tag, current, tag_url(tenant, device.name, tag.name, "write"))


# --- handlers ---


@get("/t/{tenant:str}/devices", opt={"api": DEVICES})
async def devices_page(request: AnyRequest, tenant: TenantSlug) -> Template:
    hub = _hub(request)
    rows = await device_rows(hub, await hub.tenants.get(tenant))
    return await render(
        request,
        "devices/list.html",
        title="Devices",
        active="devices",
        rows=rows,
        **_list_urls(tenant),
    )


@get("/t/{tenant:str}/devices/_live", opt={"api": DEVICES})
async def devices_live(request: AnyRequest, tenant: TenantSlug) -> Template:
    hub = _hub(request)
    rows = await device_rows(hub, await hub.tenants.get(tenant))
    return fragment(request, "devices/_list.html", rows=rows, **_list_urls(tenant))


def _list_urls(tenant: str) -> dict[str, Any]:
    return {
        "live_url": tenant_url(tenant, "devices/_live"),
        "poll_seconds": POLL_SECONDS,
        "device_link": lambda name: device_url(tenant, name),
    }


@get("/t/{tenant:str}/devices/{device_id:str}", opt={"api": TAGS})
async def device_page(request: AnyRequest, tenant: TenantSlug, device_id: DeviceRef) -> Template:
    query = trend_query(request.query_params)
    selected = request.query_params.get("tag")
    context = await _device_context(request, tenant, device_id, selected, query)
    device: Device = context["device"]
    return await render(
        request,
        "devices/device.html",
        title=f"Device {device.name}",
        active="devices",
        status_code=422 if query.problems else 200,
        **context,
    )


@get("/t/{tenant:str}/devices/{device_id:str}/live", opt={"api": TAGS})
async def device_live(request: AnyRequest, tenant: TenantSlug, device_id: DeviceRef) -> Template:
    hub = _hub(request)
    the_tenant = await hub.tenants.get(tenant)
    device = await hub.plc.devices.get(the_tenant, device_id)
    wanted = request.query_params.get("tag")
    selected = wanted[:64] if isinstance(wanted, str) else None
    values = await hub.plc.devices.tag_values(device)
    return fragment(
        request,
        "devices/_tags.html",
        device=device,
        status=_row(hub, device),
        show_status=can(request, *STATUS, device_id=device.name),
        rows=tag_rows(device, values, hub.clock.now()),
        selected=selected,
        live_url=device_url(tenant, device.name)
        + "/live"
        + (f"?{urlencode({'tag': selected})}" if selected else ""),
        poll_seconds=POLL_SECONDS,
        tag_link=lambda name: device_url(tenant, device.name, tag=name),
    )


@get("/t/{tenant:str}/devices/{device_id:str}/tags/{tag:str}/trend", opt={"api": HISTORY})
async def tag_trend(
    request: AnyRequest, tenant: TenantSlug, device_id: DeviceRef, tag: TagName
) -> Template:
    hub = _hub(request)
    the_tenant = await hub.tenants.get(tenant)
    device = await hub.plc.devices.get(the_tenant, device_id)
    spec = _selected(device, tag)
    assert spec is not None
    query = trend_query(request.query_params)
    view = await trend_view(request, the_tenant, device, spec, query)
    return fragment(
        request,
        "devices/_trend.html",
        trend=view,
        trend_poll_seconds=TREND_POLL_SECONDS,
        status_code=422 if query.problems else 200,
    )


def _is_htmx(request: AnyRequest) -> bool:
    return isinstance(request, HTMXRequest) and bool(request.htmx)


async def _write_panel(
    request: AnyRequest, tenant: str, device_ref: str, tag_name: str
) -> tuple[Tenant, WritePanel]:
    hub = _hub(request)
    the_tenant = await hub.tenants.get(tenant)
    device = await hub.plc.devices.get(the_tenant, device_ref)
    tag = _selected(device, tag_name)
    assert tag is not None
    values = await hub.plc.devices.tag_values(device)
    return the_tenant, _panel(tenant, device, tag, values)


async def _show_panel(
    request: AnyRequest, tenant: str, device: str, panel: WritePanel, status: int
) -> Response[Any]:
    if _is_htmx(request):
        return fragment(request, "devices/_write.html", panel=panel, status_code=status)
    query = trend_query({})
    context = await _device_context(request, tenant, device, panel.tag.name, query)
    context["panel"] = panel
    return await render(
        request,
        "devices/device.html",
        title=f"Device {panel.device}",
        active="devices",
        status_code=status,
        **context,
    )


@get(
    "/t/{tenant:str}/devices/{device_id:str}/tags/{tag:str}/write",
    opt={"api": WRITE},
)
async def write_form(
    request: AnyRequest, tenant: TenantSlug, device_id: DeviceRef, tag: TagName
) -> Response[Any]:
    """The write form again (Cancel on the confirmation)."""
    if not _is_htmx(request):
        return Redirect(device_url(tenant, device_id, tag=tag), status_code=303)
    _, panel = await _write_panel(request, tenant, device_id, tag)
    return fragment(request, "devices/_write.html", panel=panel)


@post(
    "/t/{tenant:str}/devices/{device_id:str}/tags/{tag:str}/write",
    opt={"api": WRITE, "action": "tag.write"},
    status_code=200,
)
async def write_tag(
    request: AnyRequest, tenant: TenantSlug, device_id: DeviceRef, tag: TagName
) -> Response[Any]:
    """Two steps: the value (checked, then a question: write it?), and, with confirm=yes,
    the write itself through the API's service, answered with the value read back.
    Nothing is written without the second step."""
    the_tenant, panel = await _write_panel(request, tenant, device_id, tag)
    form = await request.form()
    text = str(form.get("value", ""))
    panel.value_text = text[:MAX_VALUE_TEXT]
    if not panel.tag.writable:
        panel.message = f"Tag {panel.tag.name!r} of {panel.device!r} is not writable."
        return await _show_panel(request, tenant, device_id, panel, 409)
    if len(text) > MAX_VALUE_TEXT:
        panel.problem = f"at most {MAX_VALUE_TEXT} characters"
        return await _show_panel(request, tenant, device_id, panel, 422)
    if text.strip() == "" and panel.tag.datatype is not Datatype.STRING:
        panel.problem = "enter a value"
        return await _show_panel(request, tenant, device_id, panel, 422)
    value = parse_value(panel.tag.datatype, text)
    panel.value = value
    problem = panel.tag.value_problem(value)  # the domain's rule, as the service checks it
    if problem:
        panel.problem = problem
        return await _show_panel(request, tenant, device_id, panel, 422)
    if form.get("confirm") != "yes":
        panel.stage = "confirm"
        return await _show_panel(request, tenant, device_id, panel, 200)
    try:
        result = await _hub(request).plc.devices.write_tag(
            the_tenant, device_id, panel.tag.name, value, request_context(request)
        )
    except ValidationFailed as exc:
        panel.problem = "; ".join(p.message for p in exc.problems)
        return await _show_panel(request, tenant, device_id, panel, exc.status)
    except (PlcError, Conflict) as exc:
        panel.message = f"{exc.title}: {exc.detail}"
        return await _show_panel(request, tenant, device_id, panel, exc.status)
    panel.stage, panel.result, panel.value_text = "done", result, ""
    panel.current = panel.shown(result.value)
    return await _show_panel(request, tenant, device_id, panel, 200)


PAGE = Page(
    handlers=[
        devices_page,
        devices_live,
        device_page,
        device_live,
        tag_trend,
        write_form,
        write_tag,
    ],
    nav=NavEntry("devices", "Devices", "devices/", DEVICES),
)
