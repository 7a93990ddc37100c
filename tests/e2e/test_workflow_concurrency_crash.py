"""Concurrency keys across crashes and processes: a hub killed while run A holds its key
and B is queued behind it finishes A after the restart and only then starts B; two hub
processes on one PostgreSQL database run the runs of one key one at a time, in order."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.e2e.test_workflow_crash import Server, _admin
from tests.support import services
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = """
name: queued
version: 1.0.0
concurrency: {key: "${input.line}"}
start: effect
steps:
  effect:
    type: activity
    activity: slow_effect
    input: {seconds: "${input.seconds}", n: "${input.n}"}
    next: done
  done: {type: end, output: "${steps.effect.output}"}
"""
PASSWORD = "a-long-test-password"


class Tracked(Server):
    """A Server added to `servers` for teardown, and stopped at once if it does not come
    up in time (a process left behind would take the next test's tasks)."""

    def __init__(self, env: dict[str, str], log: Path, servers: list[Server]) -> None:
        try:
            super().__init__(env, log)
        except BaseException:
            if getattr(self, "process", None) is not None:
                self.process.kill()
                self.process.wait(timeout=10)
            raise
        servers.append(self)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _env(database_url: str, data_dir: Path, effects: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HUB_DATA_DIR": str(data_dir),
        "HUB_DATABASE_URL": database_url,
        "HUB_WORKFLOW_LEASE_SECONDS": "3",
        "HUB_ACTIVITY_MODULES": "tests.support.crash_activities",
        "HUB_TEST_EFFECTS": str(effects),
        "PYTHONPATH": str(ROOT),
    }


def _prepare(base: str) -> dict[str, str]:
    token = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "root", "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{base}/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=headers)
    published = httpx.post(
        f"{base}/api/v1/tenants/acme/workflows",
        content=WORKFLOW,
        headers={**headers, "content-type": "application/yaml"},
    )
    assert published.status_code == 201, published.text
    return headers


def _start(base: str, headers: dict[str, str], n: int, seconds: float) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/v1/tenants/acme/runs",
        json={"workflow": "queued", "input": {"line": "L1", "n": n, "seconds": seconds}},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _run(base: str, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/v1/tenants/acme/runs/{run_id}", headers=headers)
    return dict(response.json())


def _history(base: str, headers: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/tenants/acme/runs/{run_id}/history"
    return list(httpx.get(url, headers=headers).json()["items"])


def _spans(effects: Path) -> dict[str, list[tuple[float, float]]]:
    """Each run's activity attempts that ended (start, end), by run id."""
    with sqlite3.connect(effects) as db:
        rows = db.execute("SELECT key, started, ended FROM attempts ORDER BY started").fetchall()
    spans: dict[str, list[tuple[float, float]]] = {}
    for key, started, ended in rows:
        spans.setdefault(key.split(":")[0], []).append((started, ended))
    return spans


def test_a_queue_survives_a_crash_of_the_hub(
    settings: Settings, servers: list[Server], tmp_path: Path
) -> None:
    effects = tmp_path / "effects.db"
    env = _env(settings.database_url, settings.data_dir, effects)
    _admin(env)
    first = Tracked(env, tmp_path / "first.log", servers)
    headers = _prepare(first.base)
    a = _start(first.base, headers, 1, 2)
    b = _start(first.base, headers, 2, 0)
    assert b["status"] == "queued"

    def a_under_way() -> bool:
        with sqlite3.connect(effects) as db:
            keys = [k for (k,) in db.execute("SELECT key FROM started").fetchall()]
        return any(k.startswith(a["id"]) for k in keys)

    eventually(a_under_way, timeout=10)
    assert _run(first.base, headers, b["id"])["status"] == "queued"
    first.kill()

    second = Tracked(env, tmp_path / "second.log", servers)
    for run in (a, b):
        eventually(
            lambda run=run: _run(second.base, headers, run["id"])["status"] == "completed",
            timeout=40,
        )
    # A's effect was applied once; B began after A's last attempt ended and A completed
    with sqlite3.connect(effects) as db:
        applied = dict(db.execute("SELECT key, COUNT(*) FROM effects GROUP BY key").fetchall())
    assert sorted(k.split(":")[0] for k in applied) == sorted([a["id"], b["id"]])
    assert set(applied.values()) == {1}
    spans = _spans(effects)
    assert spans[b["id"]][0][0] >= spans[a["id"]][-1][1]
    a_done = _history(second.base, headers, a["id"])[-1]
    b_began = _history(second.base, headers, b["id"])[0]
    assert (a_done["type"], b_began["type"]) == ("RunCompleted", "RunStarted")
    assert b_began["ts"] >= a_done["ts"]


async def _start_together(bases: list[str], headers: dict[str, str], count: int) -> list[Any]:
    """`count` runs of one key started at once, through every process in turn."""
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(n: int) -> Any:
            response = await client.post(
                f"{bases[n % len(bases)]}/api/v1/tenants/acme/runs",
                json={"workflow": "queued", "input": {"line": "L1", "n": n, "seconds": 0.2}},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            return response.json()

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def test_two_processes_run_one_key_one_at_a_time_in_order(tmp_path: Path) -> None:
    effects = tmp_path / "effects.db"
    servers: list[Server] = []
    with services.scratch_postgres("hub_queue") as url:
        env = _env(url, tmp_path / "data", effects)
        _admin(env)
        try:
            Tracked(env, tmp_path / "a.log", servers)
            Tracked(env, tmp_path / "b.log", servers)
            headers = _prepare(servers[0].base)
            runs = asyncio.run(_start_together([s.base for s in servers], headers, 10))
            # started together through two processes, one of them started at once
            assert sorted(r["status"] for r in runs) == ["queued"] * 9 + ["running"]

            def all_done() -> bool:
                statuses = {_run(servers[1].base, headers, r["id"])["status"] for r in runs}
                assert statuses <= {"queued", "running", "completed"}, statuses
                return statuses == {"completed"}

            eventually(all_done, timeout=60)
        finally:
            for server in servers:
                server.stop()

    spans = _spans(effects)
    order = sorted(spans, key=lambda run_id: spans[run_id][0][0])
    created = sorted(runs, key=lambda r: (datetime.fromisoformat(r["created_at"]), r["id"]))
    assert order == [r["id"] for r in created]  # first created, first started
    timeline = [span for run_id in order for span in spans[run_id]]
    for (_, end), (begin, _) in itertools.pairwise(timeline):
        assert begin >= end, "two runs of one key were active at once"


HELD_FROM_EFFECT = """
name: stepped
version: 1.0.0
concurrency: {key: "${input.line}", from: effect}
start: prep
steps:
  prep: {type: activity, activity: slow_effect, input: {seconds: 0, n: "${input.n}"}, next: effect}
  effect:
    type: activity
    activity: slow_effect
    input: {seconds: "${input.seconds}", n: "${input.n}"}
    next: done
  done: {type: end, output: "${steps.effect.output}"}
"""


def test_a_run_waiting_at_its_from_step_survives_a_crash_of_the_hub(
    settings: Settings, servers: list[Server], tmp_path: Path
) -> None:
    """`concurrency.from`: A holds the key at `effect` and B, past `prep`, waits there;
    the hub is killed; after the restart A completes, and only then B runs `effect`."""
    effects = tmp_path / "effects.db"
    env = _env(settings.database_url, settings.data_dir, effects)
    _admin(env)
    first = Tracked(env, tmp_path / "first.log", servers)
    headers = _prepare(first.base)
    published = httpx.post(
        f"{first.base}/api/v1/tenants/acme/workflows",
        content=HELD_FROM_EFFECT,
        headers={**headers, "content-type": "application/yaml"},
    )
    assert published.status_code == 201, published.text

    def begin(n: int, seconds: float) -> dict[str, Any]:
        response = httpx.post(
            f"{first.base}/api/v1/tenants/acme/runs",
            json={"workflow": "stepped", "input": {"line": "L1", "n": n, "seconds": seconds}},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def effect_started(run_id: str) -> bool:
        if not effects.exists():
            return False
        with sqlite3.connect(effects) as db:
            try:
                keys = [k for (k,) in db.execute("SELECT key FROM started").fetchall()]
            except sqlite3.OperationalError:  # no activity has run yet
                return False
        return any(k.startswith(f"{run_id}:effect") for k in keys)

    a = begin(1, 3)
    eventually(lambda: effect_started(a["id"]), timeout=10)
    b = begin(2, 0)
    assert b["status"] == "running"  # it holds nothing until `effect`
    eventually(lambda: _run(first.base, headers, b["id"])["status"] == "queued", timeout=10)
    assert _run(first.base, headers, b["id"])["current_steps"] == ["effect"]
    assert not effect_started(b["id"])
    first.kill()

    second = Tracked(env, tmp_path / "second.log", servers)
    for run in (a, b):
        eventually(
            lambda run=run: _run(second.base, headers, run["id"])["status"] == "completed",
            timeout=40,
        )
    with sqlite3.connect(effects) as db:
        applied = dict(db.execute("SELECT key, COUNT(*) FROM effects GROUP BY key").fetchall())
        spans = db.execute(
            "SELECT key, started, ended FROM attempts WHERE key LIKE '%:effect%' ORDER BY started"
        ).fetchall()
    assert set(applied.values()) == {1}  # each step's effect applied once
    a_ended = max(ended for key, _, ended in spans if key.startswith(a["id"]))
    b_began = min(started for key, started, _ in spans if key.startswith(b["id"]))
    assert b_began >= a_ended
    a_done = _history(second.base, headers, a["id"])[-1]
    b_events = _history(second.base, headers, b["id"])
    taken = next(e for e in b_events if e["type"] == "SlotTaken")
    assert a_done["type"] == "RunCompleted" and taken["ts"] >= a_done["ts"]
    assert [e["type"] for e in b_events].count("SlotRequested") == 1
