"""The http_request activity against a real local HTTP server, fair dispatch order, and
the workflow metrics."""

from __future__ import annotations

import json
import threading
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hub.services.workflows.rows import fair_order
from tests.conftest import World
from tests.support.workflow_helpers import publish, start, wait_for

received: list[dict[str, Any]] = []


class Receiver(BaseHTTPRequestHandler):
    fail_first = True

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        received.append({"key": self.headers["Idempotency-Key"], "body": body})
        if Receiver.fail_first:
            Receiver.fail_first = False
            self.send_response(503)
            self.end_headers()
            return
        payload = json.dumps({"accepted": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def test_http_request_retries_with_one_idempotency_key(world: World) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/orders"
        client, eng = world.client, world.as_("acme-engineer")
        publish(
            client,
            eng,
            f"""
name: post-order
version: 1.0.0
start: send
steps:
  send:
    type: activity
    activity: http_request
    input: {{method: POST, url: "{url}", json: {{order: "${{input.order}}"}}}}
    retry: {{max_attempts: 3, initial_interval: 10ms}}
    next: done
  done: {{type: end, output: "${{steps.send.output}}"}}
""",
        )
        run = start(client, eng, "post-order", {"order": "A-1"})
        done = wait_for(client, eng, run["id"])
    finally:
        server.shutdown()
    assert done["output"] == {"status": 200, "body": {"accepted": {"order": "A-1"}}}
    assert len(received) == 2 and received[0]["key"] == received[1]["key"]
    assert received[0]["key"].startswith(f"{run['id']}:send:")  # this execution of the step


Row = namedtuple("Row", "id tenant_id priority")


def test_fair_order_priority_then_tenants_in_turn() -> None:
    rows = [
        Row("a1", "a", 5),
        Row("a2", "a", 0),
        Row("a3", "a", 0),
        Row("a4", "a", 0),
        Row("b1", "b", 0),
        Row("c1", "c", 0),
        Row("b2", "b", 0),
    ]
    assert [r.id for r in fair_order(rows)] == ["a1", "a2", "b1", "c1", "a3", "b2", "a4"]


def test_metrics_name_workflow_and_tenant_not_run(world: World) -> None:
    client, eng = world.client, world.as_("acme-engineer")
    publish(
        client,
        eng,
        """
name: measured
version: 1.0.0
start: a
steps:
  a: {type: activity, activity: noop, next: done}
  done: {type: end}
""",
    )
    run = start(client, eng, "measured")
    wait_for(client, eng, run["id"])
    metrics = client.get("/metrics", headers=world.as_("platform_admin")).text
    lines = [line for line in metrics.splitlines() if 'workflow="measured"' in line]
    assert any(line.startswith("hub_workflow_duration_seconds") for line in lines)
    assert any(line.startswith("hub_activity_duration_seconds") for line in lines)
    finished = [line for line in lines if line.startswith("hub_runs_finished_total")]
    assert any('status="completed"' in line and float(line.split()[-1]) >= 1 for line in finished)
    assert all(run["id"] not in line for line in lines)
