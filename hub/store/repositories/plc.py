"""PLC rows: devices and their tags, telemetry samples, alarms and the alarm journal."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Double,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from hub.domain.alarms import Alarm, AlarmRule, AlarmState, Priority, Transition, rule_dict
from hub.domain.plc import Device, Protocol, Tag
from hub.domain.plc_config import device_dict, parse_device, tag_dict
from hub.domain.samples import MAX_SPAN_US, MINUTE_US
from hub.store.conflicts import duplicates_conflict
from hub.store.inline import StoreConnection
from hub.store.results import plain_rows
from hub.store.tables.core import alarm_journal, alarms, plc_devices, plc_tags, telemetry_chunks

# Chunks go straight to the driver as tuples: SQLAlchemy's per-row parameter handling
# cost more than the insert itself.
_NAMES = (
    "series_id, ts_first, ts_last, count, ts, vals, texts, quality,"
    " usable, v_min, v_max, v_sum, v_last, v_last_ts"
)
_COLUMNS = f"telemetry_chunks ({_NAMES})"
_WIDTH = len(_NAMES.split(","))
INSERT_CHUNKS = {
    "qmark": f"INSERT INTO {_COLUMNS} VALUES ({', '.join('?' * _WIDTH)})",
    "numeric_dollar": (
        f"INSERT INTO {_COLUMNS} VALUES ({', '.join(f'${i + 1}' for i in range(_WIDTH))})"
    ),
}
CHUNK_COLUMNS = (
    telemetry_chunks.c.ts,
    telemetry_chunks.c.vals,
    telemetry_chunks.c.texts,
    telemetry_chunks.c.quality,
)


def _device(row: Any, tag_specs: Sequence[str]) -> Device:
    return _parsed_device(row.id, row.tenant_id, row.created_at, row.config, tuple(tag_specs))


@functools.lru_cache(maxsize=4096)
def _parsed_device(
    device_id: str,
    tenant_id: str,
    created_at: datetime,
    config_json: str,
    tag_specs: tuple[str, ...],
) -> Device:
    """A stored device, parsed (with every check of its configuration) once per stored
    form: the key is the row's text itself, so a changed row parses afresh, and a Device
    is frozen, so sharing one between readers is safe. Listing devices parsed each one's
    configuration and tags on every read."""
    config = json.loads(config_json)
    config["tags"] = [json.loads(s) for s in tag_specs]
    return parse_device(config, id=device_id, tenant_id=tenant_id, at=created_at)


def _alarm(row: Any) -> Alarm:
    raw = json.loads(row.rule)
    rule = AlarmRule(
        id=row.id,
        tenant_id=row.tenant_id,
        device_id=row.device_id,
        tag=row.tag,
        priority=Priority(raw["priority"]),
        area=raw["area"],
        hihi=raw.get("hihi"),
        hi=raw.get("hi"),
        lo=raw.get("lo"),
        lolo=raw.get("lolo"),
        deadband=raw.get("deadband") or 0.0,
        on_delay_ms=raw.get("on_delay_ms", 0),
        off_delay_ms=raw.get("off_delay_ms", 0),
        rate_of_change=raw.get("rate_of_change"),
        discrete=raw.get("discrete"),
        message=raw.get("message", ""),
    )
    return Alarm(
        rule,
        AlarmState(row.state),
        row.condition,
        None if row.value is None else json.loads(row.value),
        row.since,
        row.shelved_until,
    )


class SqlPlc:
    def __init__(self, conn: StoreConnection) -> None:
        self._conn = conn

    # --- devices and tags ---

    async def add_device(self, device: Device, at: datetime) -> None:
        config = device_dict(device, secrets=True)
        config.pop("tags")
        with duplicates_conflict(f"a device named {device.name!r} exists"):
            await self._conn.execute(
                insert(plc_devices).values(
                    id=device.id,
                    tenant_id=device.tenant_id,
                    name=device.name,
                    protocol=device.protocol.value,
                    config=json.dumps(config),
                    created_at=at,
                    updated_at=at,
                )
            )
        await self._set_tags(device)

    async def update_device(self, device: Device, at: datetime) -> None:
        config = device_dict(device, secrets=True)
        config.pop("tags")
        with duplicates_conflict(f"a device named {device.name!r} exists"):
            await self._conn.execute(
                update(plc_devices)
                .where(plc_devices.c.tenant_id == device.tenant_id, plc_devices.c.id == device.id)
                .values(name=device.name, config=json.dumps(config), updated_at=at)
            )
        await self._set_tags(device)

    async def _set_tags(self, device: Device) -> None:
        """Make the device's tag rows match; a kept tag keeps its series (and history)."""
        have = await self.series(device.tenant_id, device.id)
        wanted = {t.name: t for t in device.tags}
        gone = [sid for name, sid in have.items() if name not in wanted]
        if gone:
            await self._conn.execute(delete(plc_tags).where(plc_tags.c.id.in_(gone)))
            await self._conn.execute(
                delete(telemetry_chunks).where(telemetry_chunks.c.series_id.in_(gone))
            )
        for tag in device.tags:
            spec = json.dumps(tag_dict(tag))
            if tag.name in have:
                await self._conn.execute(
                    update(plc_tags).where(plc_tags.c.id == have[tag.name]).values(spec=spec)
                )
            else:
                await self._conn.execute(
                    insert(plc_tags).values(
                        tenant_id=device.tenant_id, device_id=device.id, name=tag.name, spec=spec
                    )
                )

    async def series(self, tenant_id: str, device_id: str) -> dict[str, int]:
        query = select(plc_tags.c.name, plc_tags.c.id).where(
            plc_tags.c.tenant_id == tenant_id, plc_tags.c.device_id == device_id
        )
        return {name: int(sid) for name, sid in plain_rows(await self._conn.execute(query))}

    async def _tag_specs(self, device_ids: Sequence[str]) -> dict[str, list[str]]:
        specs: dict[str, list[str]] = {d: [] for d in device_ids}
        if not device_ids:
            return specs
        query = (
            select(plc_tags.c.device_id, plc_tags.c.spec)
            .where(plc_tags.c.device_id.in_(list(device_ids)))
            .order_by(plc_tags.c.id)
        )
        for device_id, spec in plain_rows(await self._conn.execute(query)):
            specs[device_id].append(spec)
        return specs

    async def _devices(self, where: Any, limit: int | None = None) -> list[Device]:
        query = select(plc_devices).where(where).order_by(plc_devices.c.id)
        if limit is not None:
            query = query.limit(limit)
        rows = list(await self._conn.execute(query))
        specs = await self._tag_specs([r.id for r in rows])
        return [_device(r, specs[r.id]) for r in rows]

    async def device_names(self, tenant_id: str, device_ids: Sequence[str]) -> dict[str, str]:
        d = plc_devices.c
        query = select(d.id, d.name).where(d.tenant_id == tenant_id, d.id.in_(set(device_ids)))
        return {r.id: r.name for r in await self._conn.execute(query)}

    async def get_device(self, tenant_id: str, device_id: str) -> Device | None:
        found = await self._devices(
            and_(plc_devices.c.tenant_id == tenant_id, plc_devices.c.id == device_id)
        )
        return found[0] if found else None

    async def device_by_name(self, tenant_id: str, name: str) -> Device | None:
        found = await self._devices(
            and_(plc_devices.c.tenant_id == tenant_id, plc_devices.c.name == name)
        )
        return found[0] if found else None

    async def list_devices(self, tenant_id: str, after: str | None, limit: int) -> list[Device]:
        where = plc_devices.c.tenant_id == tenant_id
        if after is not None:
            where = and_(where, plc_devices.c.id > after)
        return await self._devices(where, limit)

    async def all_devices(self) -> list[Device]:
        """Every tenant's devices: what the connection supervisor runs."""
        return await self._devices(plc_devices.c.protocol.in_([p.value for p in Protocol]))

    async def delete_device(self, tenant_id: str, device_id: str) -> None:
        series = list((await self.series(tenant_id, device_id)).values())
        if series:
            await self._conn.execute(
                delete(telemetry_chunks).where(telemetry_chunks.c.series_id.in_(series))
            )
        await self._conn.execute(
            delete(plc_tags).where(
                plc_tags.c.tenant_id == tenant_id, plc_tags.c.device_id == device_id
            )
        )
        ids = select(alarms.c.id).where(
            alarms.c.tenant_id == tenant_id, alarms.c.device_id == device_id
        )
        await self._conn.execute(
            delete(alarm_journal).where(
                alarm_journal.c.tenant_id == tenant_id, alarm_journal.c.alarm_id.in_(ids)
            )
        )
        await self._conn.execute(
            delete(alarms).where(alarms.c.tenant_id == tenant_id, alarms.c.device_id == device_id)
        )
        await self._conn.execute(
            delete(plc_devices).where(
                plc_devices.c.tenant_id == tenant_id, plc_devices.c.id == device_id
            )
        )

    # --- samples (in chunks, see hub/domain/samples.py) ---

    async def add_chunks(self, rows: list[tuple[Any, ...]]) -> None:
        """One executemany per flush: rows as INSERT_CHUNKS orders the columns."""
        if rows:
            await self._conn.exec_driver_sql(INSERT_CHUNKS[self._conn.dialect.paramstyle], rows)

    async def _owned(self, tenant_id: str, series_id: int) -> bool:
        query = select(plc_tags.c.id).where(
            plc_tags.c.tenant_id == tenant_id, plc_tags.c.id == series_id
        )
        return (await self._conn.execute(query)).first() is not None

    def _overlapping(self, series_id: int, start: int, end: int) -> Any:
        """The chunks holding samples in [start, end): a chunk's samples lie within
        MAX_SPAN_US, so its ts_last is below end + MAX_SPAN_US (an index range)."""
        c = telemetry_chunks.c
        return and_(
            c.series_id == series_id,
            c.ts_last >= start,
            c.ts_last < end + MAX_SPAN_US,
            c.ts_first < end,
        )

    async def chunk_page(
        self,
        tenant_id: str,
        series_id: int,
        start: int,
        end: int,
        after: tuple[int, int] | None,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` chunks holding samples in [start, end) in stored order (ts_last,
        id), from the chunk `after` names on: (ts_last, id, ts, vals, texts, q)."""
        if not await self._owned(tenant_id, series_id):
            return []
        c = telemetry_chunks.c
        where = self._overlapping(series_id, start, end)
        if after is not None:
            where = and_(where, c.ts_last >= after[0], or_(c.ts_last > after[0], c.id >= after[1]))
        query = (
            select(c.ts_last, c.id, *CHUNK_COLUMNS)
            .where(where)
            .order_by(c.ts_last, c.id)
            .limit(limit)
        )
        return [tuple(r) for r in await self._conn.execute(query)]

    async def any_chunk(self, tenant_id: str, series_id: int, start: int, end: int) -> bool:
        """Whether any chunk may hold samples in [start, end)."""
        if not await self._owned(tenant_id, series_id):
            return False
        query = select(telemetry_chunks.c.id).where(self._overlapping(series_id, start, end))
        return (await self._conn.execute(query.limit(1))).first() is not None

    async def bucket_figures(
        self, tenant_id: str, series_id: int, start: int, end: int, width: int, agg: str
    ) -> list[tuple[int, int, float | None, int | None]]:
        """Per bucket of `width` µs, from the summaries of the chunks in [start, end) that
        lie wholly in one bucket: (bucket number, usable count, figure, ts of the last
        value); the figure is the sum for avg, else min, max or the last value."""
        if not await self._owned(tenant_id, series_id):
            return []
        c = telemetry_chunks.c
        bucket = c.ts_first // literal_column(str(int(width)), BigInteger)
        whole = and_(
            c.series_id == series_id,
            c.ts_last >= start,
            c.ts_last < end,
            c.ts_first >= start,
            c.usable.is_not(None),  # none on chunks stored before summaries
        )
        if width % MINUTE_US:  # a bucket of a minute or more holds its chunks wholly
            whole = and_(whole, bucket == c.ts_last // literal_column(str(int(width)), BigInteger))
        figure = {
            "avg": func.sum(c.v_sum),
            "min": func.min(c.v_min),
            "max": func.max(c.v_max),
            "last": self._newest_last(),
        }[agg]
        query = (
            select(bucket.label("b"), func.sum(c.usable), figure, func.max(c.v_last_ts))
            .where(whole)
            .group_by(literal_column("b"))
        )
        rows = plain_rows(await self._conn.execute(query))
        return [(int(b), int(n), v, t) for b, n, v, t in rows]

    def _newest_last(self) -> Any:
        """The last value of the bucket's chunk whose last value is newest. SQLite takes a
        bare column from the row that the query's single max() picked, in one pass; a
        window function would sort the whole range first."""
        c = telemetry_chunks.c
        if self._conn.dialect.name == "postgresql":
            newest = aggregate_order_by(c.v_last, c.v_last_ts.desc().nulls_last(), c.id.desc())
            return func.array_agg(newest, type_=ARRAY(Double))[1]
        return c.v_last

    async def edge_chunks(
        self, tenant_id: str, series_id: int, start: int, end: int, width: int
    ) -> list[tuple[Any, ...]]:
        """The chunks `bucket_figures` leaves out (they straddle a bucket's or the range's
        edge, or have no summary), to decode: (ts, vals, texts, q), in stored order."""
        if not await self._owned(tenant_id, series_id):
            return []
        c = telemetry_chunks.c
        overlapping = self._overlapping(series_id, start, end)
        if width % MINUTE_US:  # buckets shorter than a minute: chunks may cross their edges
            w = literal_column(str(int(width)), BigInteger)
            partly = or_(
                c.usable.is_(None),
                c.ts_first < start,
                c.ts_last >= end,
                c.ts_first // w != c.ts_last // w,
            )
            return await self._chunk_rows(and_(overlapping, partly))
        # Else only the range's two edges and unsummarised chunks: three index ranges, not
        # a scan of the range (the partial index holds only chunks without a summary).
        found = {}
        for where in (
            and_(self._overlapping(series_id, start, start), c.ts_first < start),
            and_(self._overlapping(series_id, end, end), c.ts_first < end),
            and_(overlapping, c.usable.is_(None)),
        ):
            query = select(c.ts_last, c.id, *CHUNK_COLUMNS).where(where)
            found.update({(r[0], r[1]): tuple(r[2:]) for r in await self._conn.execute(query)})
        return [found[key] for key in sorted(found)]

    async def _chunk_rows(self, where: Any) -> list[tuple[Any, ...]]:
        c = telemetry_chunks.c
        query = select(*CHUNK_COLUMNS).where(where).order_by(c.ts_last, c.id)
        return [tuple(r) for r in await self._conn.execute(query)]

    async def latest(self, tenant_id: str, series_ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        """The newest stored chunk of each series: (ts, vals, texts, q)."""
        out: dict[int, tuple[Any, ...]] = {}
        c = telemetry_chunks.c
        for sid in series_ids:
            if not await self._owned(tenant_id, sid):
                continue
            query = (
                select(*CHUNK_COLUMNS).where(c.series_id == sid).order_by(c.ts_last.desc()).limit(1)
            )
            row = (await self._conn.execute(query)).first()
            if row is not None:
                out[sid] = tuple(row)
        return out

    async def purge_samples(self, before_us: int) -> int:
        """Retention: drop every tenant's chunks whose newest sample is older than the cut-off."""
        result = await self._conn.execute(
            delete(telemetry_chunks).where(telemetry_chunks.c.ts_last < before_us)
        )
        return int(result.rowcount or 0)

    # --- alarms ---

    async def add_alarm(self, alarm: Alarm, at: datetime) -> None:
        rule = alarm.rule
        await self._conn.execute(
            insert(alarms).values(
                id=rule.id,
                tenant_id=rule.tenant_id,
                device_id=rule.device_id,
                tag=rule.tag,
                **_alarm_values(alarm),
                created_at=at,
                updated_at=at,
            )
        )

    async def save_alarm(self, alarm: Alarm, at: datetime) -> None:
        rule = alarm.rule
        keys = {"w_tenant": rule.tenant_id, "w_id": rule.id}
        await self._conn.execute(_SAVE_ALARM, {**_alarm_values(alarm), "updated_at": at, **keys})

    async def get_alarm(self, tenant_id: str, alarm_id: str) -> Alarm | None:
        query = select(alarms).where(alarms.c.tenant_id == tenant_id, alarms.c.id == alarm_id)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _alarm(row)

    async def list_alarms(
        self, tenant_id: str, states: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Alarm]:
        query = select(alarms).where(alarms.c.tenant_id == tenant_id)
        if states is not None:
            query = query.where(alarms.c.state.in_(list(states)))
        if after is not None:
            query = query.where(alarms.c.id > after)
        rows = await self._conn.execute(query.order_by(alarms.c.id).limit(limit))
        return [_alarm(r) for r in rows]

    async def all_alarms(self) -> list[Alarm]:
        """Every tenant's alarms: what the evaluator holds in memory."""
        return [_alarm(r) for r in await self._conn.execute(select(alarms).order_by(alarms.c.id))]

    async def delete_alarm(self, tenant_id: str, alarm_id: str) -> None:
        await self._conn.execute(
            delete(alarm_journal).where(
                alarm_journal.c.tenant_id == tenant_id, alarm_journal.c.alarm_id == alarm_id
            )
        )
        await self._conn.execute(
            delete(alarms).where(alarms.c.tenant_id == tenant_id, alarms.c.id == alarm_id)
        )

    async def journal_add(self, tenant_id: str, alarm_id: str, t: Transition) -> None:
        row = {
            "alarm_id": alarm_id,
            "tenant_id": tenant_id,
            "ts": t.at,
            "action": t.action,
            "old_state": t.old.value,
            "new_state": t.new.value,
            "condition": t.condition,
            "value": json.dumps(t.value),
            "limit": json.dumps(t.limit),
            "actor": t.actor,
            "comment": t.comment,
        }
        await self._conn.execute(_ADD_JOURNAL, row)

    async def journal(
        self, tenant_id: str, alarm_id: str, limit: int = 500
    ) -> list[dict[str, Any]]:
        j = alarm_journal.c
        query = (
            select(
                j.ts,
                j.action,
                j.old_state,
                j.new_state,
                j.condition,
                j.value,
                j.limit,
                j.actor,
                j.comment,
            )
            .where(j.tenant_id == tenant_id, j.alarm_id == alarm_id)
            .order_by(j.id.desc())
            .limit(limit)
        )
        rows = list(await self._conn.execute(query))
        return [
            {
                "ts": r.ts,
                "action": r.action,
                "from": r.old_state,
                "to": r.new_state,
                "condition": r.condition,
                "value": None if r.value is None else json.loads(r.value),
                "limit": None if r.limit is None else json.loads(r.limit),
                "actor": r.actor,
                "comment": r.comment,
            }
            for r in reversed(rows)
        ]


__all__ = ["SqlPlc", "Tag"]


# Built once (an alarm's transition is on the path to its interlock): the columns set
# are the parameters' keys.
_SAVE_ALARM = update(alarms).where(
    alarms.c.tenant_id == bindparam("w_tenant"), alarms.c.id == bindparam("w_id")
)
_ADD_JOURNAL = insert(alarm_journal)


def _alarm_values(alarm: Alarm) -> dict[str, Any]:
    """The columns an alarm's rule and state are stored in."""
    return {
        "rule": json.dumps(rule_dict(alarm.rule)),
        "state": alarm.state.value,
        "condition": alarm.condition,
        "value": json.dumps(alarm.value),
        "since": alarm.since,
        "shelved_until": alarm.shelved_until,
    }
