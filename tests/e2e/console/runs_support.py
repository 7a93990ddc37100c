"""Shared pieces of the Runs and Workflows console tests: a workflow that waits (a timer,
then a wait for a signal), publishing it and starting runs through the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.waiting import eventually

XSS = "<img src=x onerror=alert(1)>"
HOLD = """
name: hold
version: 1.0.0
description: "Holds until told: <img src=x onerror=alert(1)>"
vars: {line: "L<b>1</b>"}
start: pause
steps:
  pause: {type: timer, duration: 100ms, next: hold}
  hold: {type: wait, signal: go, timeout: 1h, on_timeout: late, next: done}
  late: {type: end, output: late}
  done: {type: end, output: "${steps.hold.output}"}
"""


def publish(api: httpx.Client, slug: str, text: str = HOLD) -> None:
    response = api.post(
        f"/api/v1/tenants/{slug}/workflows",
        content=text,
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 201, response.text


def start(api: httpx.Client, slug: str, workflow: str = "hold", **run_input: Any) -> str:
    response = api.post(
        f"/api/v1/tenants/{slug}/runs", json={"workflow": workflow, "input": run_input}
    )
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def run_of(api: httpx.Client, slug: str, run_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/tenants/{slug}/runs/{run_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def waiting_at(api: httpx.Client, slug: str, run_id: str, step: str) -> dict[str, Any]:
    """The run, once it waits at `step`."""
    found: dict[str, Any] = eventually(
        lambda: (r := run_of(api, slug, run_id))["current_steps"] == [step] and r, timeout=20
    )
    return found
