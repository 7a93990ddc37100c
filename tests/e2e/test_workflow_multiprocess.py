"""Two hub processes on one PostgreSQL database share the work: 200 runs, each completes
once, and no step runs twice at the same time."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
from pathlib import Path

import httpx

from tests.e2e.test_workflow_crash import Server, _admin, _prepare
from tests.support import services

RUNS = 200
WORKFLOW = """
name: shared
version: 1.0.0
start: one
steps:
  one: {type: activity, activity: slow_effect, input: {seconds: 0.02, step: 1}, next: two}
  two: {type: activity, activity: slow_effect, input: {seconds: 0.02, step: 2}, next: done}
  done: {type: end, output: ok}
"""


async def _start_all(bases: list[str], headers: dict[str, str]) -> list[str]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def start(i: int) -> str:
            base = bases[i % len(bases)]
            response = await client.post(
                f"{base}/api/v1/tenants/acme/runs",
                json={"workflow": "shared", "input": {"i": i}},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        ids: list[str] = []
        for chunk in range(0, RUNS, 20):
            ids += await asyncio.gather(*(start(i) for i in range(chunk, chunk + 20)))
        return ids


async def _wait_all(base: str, headers: dict[str, str], ids: list[str]) -> dict[str, list[str]]:
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(600):
            runs = (
                await client.get(
                    f"{base}/api/v1/tenants/acme/runs", params={"limit": 500}, headers=headers
                )
            ).json()["items"]
            if sum(r["status"] == "completed" for r in runs) == RUNS:
                break
            await asyncio.sleep(0.2)
        histories = {}
        for run_id in ids:
            items = (
                await client.get(
                    f"{base}/api/v1/tenants/acme/runs/{run_id}/history", headers=headers
                )
            ).json()["items"]
            histories[run_id] = [e["type"] for e in items]
        return histories


def test_two_processes_share_200_runs(tmp_path: Path) -> None:
    servers: list[Server] = []
    with services.scratch_postgres("hub_multi") as url:
        env = {
            **os.environ,
            "HUB_DATA_DIR": str(tmp_path / "data"),
            "HUB_DATABASE_URL": url,
            "HUB_ACTIVITY_MODULES": "tests.support.crash_activities",
            "HUB_TEST_EFFECTS": str(tmp_path / "effects.db"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
        _admin(env)
        try:
            servers += [Server(env, tmp_path / "a.log"), Server(env, tmp_path / "b.log")]
            headers = _prepare(servers[0].base)
            httpx.post(
                f"{servers[0].base}/api/v1/tenants/acme/workflows",
                content=WORKFLOW,
                headers={**headers, "content-type": "application/yaml"},
            ).raise_for_status()
            ids = asyncio.run(_start_all([s.base for s in servers], headers))
            histories = asyncio.run(_wait_all(servers[1].base, headers, ids))
        finally:
            for server in servers:
                server.stop()

    assert all(h.count("RunCompleted") == 1 for h in histories.values()), histories
    assert all(h.count("ActivityCompleted") == 2 for h in histories.values())
    db = sqlite3.connect(tmp_path / "effects.db")
    assert db.execute("SELECT COUNT(*) FROM effects").fetchone()[0] == 2 * RUNS
    attempts = db.execute("SELECT key, started, ended, pid FROM attempts ORDER BY key, started")
    by_key: dict[str, list[tuple[float, float]]] = {}
    pids = set()
    for key, started, ended, pid in attempts:
        by_key.setdefault(key, []).append((started, ended))
        pids.add(pid)
    for key, spans in by_key.items():
        for (_, end), (begin, _) in itertools.pairwise(spans):
            assert begin >= end, f"{key} ran twice at once"
    assert len(pids) == 2, "both processes should have done work"
