"""Tampering with the stored log is found by `hub audit verify`, and never yields a
proof that verifies for altered content."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import merkle
from hub.domain.audit import INDEXED_FIELDS
from hub.settings import Settings
from hub.store.database import create_engine
from hub.store.tables.core import audit_entries, audit_logs, audit_nodes
from tests.conftest import World
from tests.support.cli import run_hub

AUDIT = "/api/v1/tenants/acme/audit"


def _sql(url: str, change: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                return await change(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tenant_id(world: World) -> str:
    return world.client.get("/api/v1/tenants/acme", headers=world.as_("platform_admin")).json()[
        "id"
    ]


def _body(log_id: str, seq: int) -> Any:
    return select(audit_entries.c.body).where(
        audit_entries.c.log_id == log_id, audit_entries.c.seq == seq
    )


def _edit(log_id: str) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def change(conn: AsyncConnection) -> None:
        body = (await conn.execute(_body(log_id, 4))).scalar_one()
        entry = json.loads(body)
        entry["actor"] = "someone-else"
        await conn.execute(
            update(audit_entries)
            .where(
                audit_entries.c.log_id == log_id,
                audit_entries.c.seq == 4,
            )
            .values(body=json.dumps(entry), actor="someone-else")
        )

    return change


def _delete(log_id: str) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def change(conn: AsyncConnection) -> None:
        await conn.execute(
            delete(audit_entries).where(audit_entries.c.log_id == log_id, audit_entries.c.seq == 5)
        )

    return change


def _reorder(log_id: str) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def change(conn: AsyncConnection) -> None:
        two = (await conn.execute(_body(log_id, 2))).scalar_one()
        three = (await conn.execute(_body(log_id, 3))).scalar_one()
        for seq, body in ((2, three), (3, two)):
            await conn.execute(
                update(audit_entries)
                .where(audit_entries.c.log_id == log_id, audit_entries.c.seq == seq)
                .values(body=body)
            )

    return change


def _insert(log_id: str) -> Callable[[AsyncConnection], Awaitable[None]]:
    """Slip a forged entry in at seq 3, shifting the rest up, as an intruder would."""

    async def change(conn: AsyncConnection) -> None:
        rows = (
            await conn.execute(
                select(audit_entries)
                .where(
                    audit_entries.c.log_id == log_id,
                    audit_entries.c.seq >= 3,
                )
                .order_by(audit_entries.c.seq.desc())
            )
        ).all()
        for row in rows:
            entry = json.loads(row.body)
            entry["seq"] = row.seq + 1
            await conn.execute(
                update(audit_entries)
                .where(
                    audit_entries.c.log_id == log_id,
                    audit_entries.c.seq == row.seq,
                )
                .values(seq=row.seq + 1, body=json.dumps(entry))
            )
        forged = json.loads(rows[-1].body)
        forged.update(seq=3, actor="intruder", action="user.create")
        await conn.execute(
            audit_entries.insert().values(
                log_id=log_id,
                seq=3,
                ts=rows[-1].ts,
                actor="intruder",
                action="user.create",
                resource_type="user",
                resource_id="x",
                outcome="success",
                body=json.dumps(forged),
            )
        )
        await conn.execute(
            update(audit_logs)
            .where(audit_logs.c.log_id == log_id)
            .values(size=audit_logs.c.size + 1)
        )

    return change


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (_edit, 4),
        (_delete, 5),
        (_reorder, 2),
        (_insert, 3),
    ],
)
def test_verify_names_the_first_bad_seq(
    world: World, settings: Settings, tamper: Any, first_bad: int
) -> None:
    world.client.get(f"{AUDIT}/head", headers=world.as_("acme-auditor"))  # publish a head
    intact = run_hub(settings, "audit", "verify", "--tenant", "acme")
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stdout

    _sql(settings.database_url, tamper(_tenant_id(world)))
    result = run_hub(settings, "audit", "verify", "--tenant", "acme")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"first bad seq {first_bad}" in result.stderr
    assert "Traceback" not in result.stderr


def test_truncation_after_a_published_head_is_found(world: World, settings: Settings) -> None:
    client, auditor = world.client, world.as_("acme-auditor")
    published = client.get(f"{AUDIT}/head", headers=auditor).json()
    size = published["tree_size"]
    log_id = _tenant_id(world)

    async def truncate(conn: AsyncConnection) -> None:
        await conn.execute(
            delete(audit_entries).where(
                audit_entries.c.log_id == log_id, audit_entries.c.seq > size - 2
            )
        )
        await conn.execute(
            delete(audit_nodes).where(
                audit_nodes.c.log_id == log_id,
                ((audit_nodes.c.idx + 1) * (2**audit_nodes.c.level)) > size - 2,
            )
        )
        await conn.execute(
            update(audit_logs).where(audit_logs.c.log_id == log_id).values(size=size - 2)
        )

    _sql(settings.database_url, truncate)
    result = run_hub(settings, "audit", "verify", "--tenant", "acme")
    assert result.returncode == 1
    assert f"first bad seq {size - 1}" in result.stderr

    # The log grows again past the published size: the new head is not an extension of it.
    for role in ("viewer", "operator", "auditor"):
        client.patch(
            f"/api/v1/tenants/acme/users/{world.user_ids['acme-extra']}",
            json={"role": role},
            headers=world.as_("acme-tenant_admin"),
        )
    new = client.get(f"{AUDIT}/head", headers=auditor).json()
    assert new["tree_size"] > size
    proof = client.get(
        f"{AUDIT}/consistency", headers=auditor, params={"first": size, "second": new["tree_size"]}
    ).json()
    assert not merkle.verify_consistency(
        size,
        new["tree_size"],
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(published["root_hash"]),
        bytes.fromhex(new["root_hash"]),
    )


def test_api_never_serves_or_proves_altered_content(world: World, settings: Settings) -> None:
    client, auditor = world.client, world.as_("acme-auditor")
    client.get(f"{AUDIT}/head", headers=auditor)
    _sql(settings.database_url, _edit(_tenant_id(world)))
    entry = client.get(f"{AUDIT}/4", headers=auditor)
    assert entry.status_code == 409, entry.text
    assert entry.headers["content-type"].startswith("application/problem+json")
    assert "entry 4 does not match its signed body (body)" in entry.json()["detail"]
    proof = client.get(f"{AUDIT}/4/proof", headers=auditor)
    assert proof.status_code == 409
    assert "does not match" in proof.json()["detail"]
    assert client.get(f"{AUDIT}/3/proof", headers=auditor).status_code == 200


def _tampered_column(log_id: str, column: str) -> Callable[[AsyncConnection], Awaitable[Any]]:
    """Change one filter column of entry 4 and leave its body and leaf alone, as someone
    with SQL access would to hide an entry from `?actor=` or make it match `?action=`."""

    async def change(conn: AsyncConnection) -> Any:
        row = (
            await conn.execute(
                select(audit_entries).where(
                    audit_entries.c.log_id == log_id, audit_entries.c.seq == 4
                )
            )
        ).one()
        new: Any = {
            "seq": 99,
            "ts": row.ts - timedelta(hours=1),
            "actor": "someone-else",
            "action": "tenant.delete",
            "resource_type": "invoice",
            "resource_id": "forged-id",
            "outcome": "denied" if row.outcome != "denied" else "success",
        }[column]
        await conn.execute(
            update(audit_entries)
            .where(audit_entries.c.log_id == log_id, audit_entries.c.seq == 4)
            .values({column: new})
        )
        return new

    return change


@pytest.mark.parametrize("column", INDEXED_FIELDS)
def test_an_edited_index_column_is_reported_by_verify_and_refused_by_the_api(
    world: World, settings: Settings, column: str
) -> None:
    client, auditor = world.client, world.as_("acme-auditor")
    client.get(f"{AUDIT}/head", headers=auditor)
    new = _sql(settings.database_url, _tampered_column(_tenant_id(world), column))
    seq = 99 if column == "seq" else 4

    result = run_hub(settings, "audit", "verify", "--tenant", "acme")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    named = [line for line in result.stderr.splitlines() if f"column {column} " in line]
    assert len(named) == 1 and named[0].strip().startswith(f"seq {seq}:"), result.stderr

    one = client.get(f"{AUDIT}/{seq}", headers=auditor)
    assert one.status_code == 409, one.text
    assert one.headers["content-type"].startswith("application/problem+json")
    assert f"entry {seq} does not match its signed body ({column}" in one.json()["detail"]
    # A query that the edit made match (or the whole list) refuses rather than serve it.
    params = {} if column in ("seq", "ts") else {column: new}
    listed = client.get(AUDIT, headers=auditor, params=params)
    assert listed.status_code == 409, listed.text
    assert f"entry {seq} does not match" in listed.json()["detail"]
    csv = client.get(AUDIT, headers={**auditor, "Accept": "text/csv"}, params=params)
    assert csv.status_code == 409
    assert client.get(f"{AUDIT}/{seq}/proof", headers=auditor).status_code in (409, 422)
    if column != "seq":  # the rest of the log stays readable: a cursor pages past it
        after = client.get(AUDIT, headers=auditor, params={"cursor": "4"})
        assert after.status_code == 200 and after.json()["items"], after.text
    assert client.get(f"{AUDIT}/3", headers=auditor).status_code == 200


def test_export_then_verify_file_offline(world: World, settings: Settings, tmp_path: Path) -> None:
    world.client.get(f"{AUDIT}/head", headers=world.as_("acme-auditor"))
    out = tmp_path / "acme-audit.json"
    exported = run_hub(settings, "audit", "export", "--tenant", "acme", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    bundle = json.loads(out.read_text())
    assert bundle["tenant"] == "acme" and bundle["signed_heads"] and bundle["public_key"]
    checked = run_hub(settings, "audit", "verify-file", str(out))
    assert checked.returncode == 0, checked.stderr

    bundle["entries"][1]["details"] = {"forged": True}
    out.write_text(json.dumps(bundle))
    tampered = run_hub(settings, "audit", "verify-file", str(out))
    assert tampered.returncode == 1
    assert "first bad seq 2" in tampered.stderr
    unreadable = run_hub(settings, "audit", "verify-file", str(tmp_path / "missing.json"))
    assert unreadable.returncode == 2 and "Traceback" not in unreadable.stderr


def test_unknown_tenant_is_one_line(settings: Settings, world: World) -> None:
    result = run_hub(settings, "audit", "verify", "--tenant", "nope")
    assert result.returncode == 2
    assert result.stderr.strip() == "hub: error: no tenant 'nope'"
