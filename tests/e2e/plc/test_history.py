"""Tag history over long ranges: a day at 10 samples/s answers every bucket, from chunk
summaries and the chunks that straddle an edge; raw reads and long bucketed reads come in
pages that say they are cut, and the pages together are the whole range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.bootstrap import Hub
from hub.domain.samples import NUMBER, Sample, pack, pack_chunks
from hub.services.telemetry.feed import from_micros, micros
from tests.conftest import World

BASE = "/api/v1/tenants/acme/devices"
RATE = 10  # samples per second
STEP_US = 1_000_000 // RATE
MINUTE_US = 60_000_000
DAY_SAMPLES = 86_400 * RATE
CHUNK_SIZES = (7, 9, 11, 13)  # flushes of varying length, so chunks straddle minutes


def _sample(day_us: int, i: int) -> Sample:
    """The i-th sample of the day: pseudo-random values, some bad (a value no bucket may
    show), some empty, some uncertain (usable)."""
    if i % 1013 == 0:
        return day_us + i * STEP_US, 1e6, 2
    if i % 911 == 0:
        return day_us + i * STEP_US, None, 0
    return day_us + i * STEP_US, (i * 7919 % 10007) / 10.0 - 500.0, 1 if i % 17 == 0 else 0


def _samples(day_us: int, first: int, stop: int) -> Iterator[Sample]:
    return (_sample(day_us, i) for i in range(first, stop))


def _chunks(day_us: int, count: int) -> Iterator[list[Sample]]:
    i, n = 0, 0
    while i < count:
        size = CHUNK_SIZES[n % len(CHUNK_SIZES)]
        yield list(_samples(day_us, i, min(i + size, count)))
        i, n = i + size, n + 1


def _expected(samples: Iterator[Sample], width: int) -> dict[int, list[Any]]:
    """Per bucket start (µs): [count, sum, min, max, last] of the usable samples."""
    out: dict[int, list[Any]] = {}
    for ts, value, quality in samples:
        if quality >= 2 or value is None:
            continue
        entry = out.setdefault(ts // width * width, [0, 0.0, value, value, value])
        entry[0] += 1
        entry[1] += value
        entry[2], entry[3], entry[4] = min(entry[2], value), max(entry[3], value), value
    return out


def _device(world: World) -> dict[str, Any]:
    created = world.client.post(
        BASE,
        json={
            "name": "meter",
            "protocol": "modbus",
            "endpoint": "modbus-tcp://127.0.0.1:9",  # nothing listens: simply unreachable
            "unit_id": 1,
            "tags": [{"name": "flow", "register": "holding", "address": 0, "datatype": "float32"}],
        },
        headers=world.as_("acme-engineer"),
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _store(
    hub: Hub, device: dict[str, Any], day_us: int, count: int, legacy: bool = False
) -> int:
    """Write `count` samples of the day through the store, as flushes would (`legacy`: as
    they did before chunks had summaries, and crossed minutes)."""
    tenant = await hub.tenants.get("acme")
    async with hub.uow(write=True) as uow:
        series = (await uow.plc.series(tenant.id, device["id"]))["flow"]
        if legacy:
            rows = [(series, *pack(NUMBER, s)[:7], *[None] * 6) for s in _chunks(day_us, count)]
        else:
            rows = [(series, *c) for s in _chunks(day_us, count) for c in pack_chunks(NUMBER, s)]
        await uow.plc.add_chunks(rows)
        await uow.commit()
    return len(rows)


def _day(world: World, hub: Hub, count: int, legacy: bool = False) -> tuple[int, str, int]:
    """A device whose tag has `count` samples from midnight two days ago (UTC): the day's
    start, the history's URL and how many chunks hold them."""
    device = _device(world)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day_us = micros(midnight - timedelta(days=2))
    with world.client.portal() as portal:
        chunks = portal.call(_store, hub, device, day_us, count, legacy)
    return day_us, f"{BASE}/meter/tags/flow/history", chunks


def _iso(us: int) -> str:
    return from_micros(us).isoformat().replace("+00:00", "Z")


def _get(world: World, url: str, **params: Any) -> dict[str, Any]:
    response = world.client.get(url, params=params, headers=world.as_("acme-viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def _check(buckets: list[dict[str, Any]], expected: dict[int, list[Any]], agg: str) -> None:
    assert [b["ts"] for b in buckets] == [_iso(ts) for ts in sorted(expected)]
    for bucket, (ts, (n, total, low, high, last)) in zip(
        buckets, sorted(expected.items()), strict=True
    ):
        want = {"avg": total / n, "min": low, "max": high, "last": last}[agg]
        assert bucket["count"] == n, (ts, agg)
        assert bucket["value"] == pytest.approx(want, rel=1e-9, abs=1e-9), (ts, agg)


def test_a_day_at_ten_samples_a_second_answers_every_minute(world: World, hub: Hub) -> None:
    day_us, url, chunks = _day(world, hub, DAY_SAMPLES)
    assert chunks > 20_000  # the old read stopped silently after 20,000 chunks
    day = _expected(_samples(day_us, 0, DAY_SAMPLES), MINUTE_US)
    span = {"from": _iso(day_us), "to": _iso(day_us + 86_400_000_000)}
    for agg in ("avg", "min", "max", "last"):
        page = _get(world, url, bucket="1m", agg=agg, **span)
        assert len(page["items"]) == 1440 and page["truncated"] is False
        assert page["next_cursor"] is None
        _check(page["items"], day, agg)
    # Edges inside a minute and inside a chunk: partial first and last buckets.
    low, high = day_us + 30_050_000 + 7, day_us + 5 * MINUTE_US + 10_350_000
    inside = _samples(day_us, -(-(low - day_us) // STEP_US), -(-(high - day_us) // STEP_US))
    part = _expected(inside, MINUTE_US)
    for agg in ("avg", "min", "max", "last"):
        page = _get(world, url, bucket="1m", agg=agg, **{"from": _iso(low), "to": _iso(high)})
        _check(page["items"], part, agg)


def test_chunks_stored_before_summaries_are_decoded(world: World, hub: Hub) -> None:
    count = 20 * 60 * RATE
    day_us, url, _ = _day(world, hub, count, legacy=True)
    span = {"from": _iso(day_us + 1), "to": _iso(day_us + count * STEP_US - 1)}
    inside = _samples(day_us, 1, count)
    for bucket, width in (("1m", MINUTE_US), ("10s", 10_000_000)):
        expected = _expected(inside, width)
        for agg in ("avg", "last"):
            _check(_get(world, url, bucket=bucket, agg=agg, **span)["items"], expected, agg)
        inside = _samples(day_us, 1, count)
    raw = _get(world, url, limit=5000, **span)
    assert raw["items"][0]["ts"] == _iso(day_us + STEP_US) and len(raw["items"]) == 5000


def test_long_bucketed_ranges_come_in_pages(world: World, hub: Hub) -> None:
    count = 3 * 3600 * RATE  # three hours at 1s: 10,800 buckets, over one page
    day_us, url, _ = _day(world, hub, count)
    span = {"from": _iso(day_us), "to": _iso(day_us + 3 * 3600_000_000)}
    first = _get(world, url, bucket="1s", agg="max", **span)
    assert first["truncated"] is True and len(first["items"]) == 10_000
    rest = _get(world, url, bucket="1s", agg="max", cursor=first["next_cursor"])
    assert rest["truncated"] is False and rest["next_cursor"] is None
    _check(first["items"] + rest["items"], _expected(_samples(day_us, 0, count), 1_000_000), "max")


def test_raw_reads_say_they_are_cut_and_page_to_the_end(world: World, hub: Hub) -> None:
    count = 25 * 60 * RATE  # 15,000 samples: over the 10,000 of one page
    day_us, url, _ = _day(world, hub, count + 2000)
    span = {"from": _iso(day_us), "to": _iso(day_us + count * STEP_US)}
    want = [
        {"ts": _iso(ts), "value": value, "quality": ["good", "uncertain", "bad"][q]}
        for ts, value, q in _samples(day_us, 0, count)
    ]
    whole = _get(world, url, **span)
    assert whole["truncated"] is True and len(whole["items"]) == 10_000
    assert whole["items"] == want[:10_000]
    pages, cursor = [], None
    while True:
        page = _get(world, url, limit=4321, **({"cursor": cursor} if cursor else span))
        pages.append(page)
        cursor = page["next_cursor"]
        assert page["truncated"] is (cursor is not None)
        if cursor is None:
            break
    assert [len(p["items"]) for p in pages] == [4321, 4321, 4321, count - 3 * 4321]
    assert [s for p in pages for s in p["items"]] == want


def test_a_cursor_keeps_its_range_and_bad_ones_are_refused(world: World, hub: Hub) -> None:
    day_us, url, _ = _day(world, hub, 25_000)
    span = {"from": _iso(day_us), "to": _iso(day_us + 2_000_000_000)}
    cursor = _get(world, url, limit=10, **span)["next_cursor"]
    viewer = world.as_("acme-viewer")
    for params in (
        {"cursor": "bm90LWEtY3Vyc29y"},
        {"cursor": cursor, "from": _iso(day_us + 1)},
        {"cursor": cursor, "bucket": "1m"},
    ):
        refused = world.client.get(url, params=params, headers=viewer)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["cursor"]
    assert world.client.get(url, params={"limit": 10_001}, headers=viewer).status_code == 422


def test_the_schema_documents_the_page(world: World) -> None:
    spec = world.client.get("/schema/openapi.json").json()
    operation = spec["paths"]["/api/v1/tenants/{tenant}/devices/{device_id}/tags/{tag}/history"]
    params = {p["name"]: p for p in operation["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 10_000 and "cursor" in params
    schema = operation["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert {"items", "truncated", "next_cursor"} <= set(page["properties"])
    assert "next_cursor" in page["properties"]["truncated"]["description"]
