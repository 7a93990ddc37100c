"""The api bench's load clients (bench/_load.py): wrk's output read honestly, request lists
cycled by both clients, the client named, and the processes pinned when asked."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import _load
import _serve

USERS = "/api/v1/tenants/{}/users"

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:1/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.00ms    2.00ms  40.00ms   90.00%
    Req/Sec     6.00k   100.00     6.50k    70.00%
  Latency Distribution
     50%    9.00ms
     75%   11.00ms
     90%   13.00ms
     99%   20.00ms
  {count} requests in 3.00s, 1.00MB read
Requests/sec:   {rate}
Transfer/sec:      1.00MB
"""


def test_wrk_p99_is_called_p99_only_over_100_requests() -> None:
    many = _load.parse_wrk(WRK_OUTPUT.format(count=18000, rate="6000.00"))
    assert (many.tail_name, many.tail_ms, many.requests) == ("p99", 20.0, 18000)
    few = _load.parse_wrk(WRK_OUTPUT.format(count=60, rate="20.00"))
    assert (few.tail_name, few.tail_ms) == ("max", 40.0)


@pytest.mark.parametrize(
    "extra",
    ["  Non-2xx or 3xx responses: 3\n", "  Socket errors: connect 0, read 0, write 0, timeout 2\n"],
)
def test_wrk_failures_fail_the_run(extra: str) -> None:
    with pytest.raises(_serve.BenchError):
        _load.parse_wrk(WRK_OUTPUT.format(count=18000, rate="6000.00") + extra)


def test_no_completed_request_is_no_result() -> None:
    with pytest.raises(_serve.BenchError, match="no request completed"):
        _load.parse_wrk(WRK_OUTPUT.format(count=0, rate="0.00"))


def test_wrk_script_quotes_headers_without_opening_a_long_string() -> None:
    request = _load.Request(
        "/a?b=1", {"Authorization": "Bearer x.y.z"}, "PATCH", '{"role": "viewer"}'
    )
    script = _load.wrk_script([request])
    assert "[ [==[Authorization]==] ] = [==[Bearer x.y.z]==]" in script
    assert '[==[{"role": "viewer"}]==]' in script
    with pytest.raises(_serve.BenchError):
        _load.wrk_script([_load.Request("/a]==]")])


def test_the_client_is_named_and_the_fallback_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_load.CLIENT_ENV, "asyncio")
    assert _load.client_label() == _load.ASYNCIO_LABEL
    lines: list[str] = []
    _load.announce_client(lines.append)
    assert lines == [f"load client: {_load.ASYNCIO_LABEL} ({_load.CLIENT_ENV}=asyncio)"]
    monkeypatch.delenv(_load.CLIENT_ENV)
    monkeypatch.setattr(_load, "_wrk_version", lambda: None)
    lines.clear()
    _load.announce_client(lines.append)
    assert _load.client_label() == _load.ASYNCIO_LABEL
    assert lines and lines[0].startswith("wrk is not installed: falling back")


def test_cpu_plan_splits_servers_from_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    plan = _serve.cpu_plan()
    assert plan is not None and plan.as_json() == {"servers": [0], "load_client": [1, 2]}
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert _serve.cpu_plan() is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setenv(_serve.PIN_ENV, "0")
    assert _serve.cpu_plan() is None


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    body = tmp_path_factory.mktemp("peer") / "body.json"
    body.write_text('{"items": [], "next_cursor": null}')
    with _serve.running(["peer", str(body)], USERS.format("a")) as base:
        yield base


CLIENTS = [
    "asyncio",
    pytest.param("wrk", marks=pytest.mark.skipif(not shutil.which("wrk"), reason="no wrk")),
]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_request_list_is_cycled(peer: str, client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_load.CLIENT_ENV, client)
    requests = [_load.Request(USERS.format(t), {"Authorization": f"Bearer {t}"}) for t in "abc"]
    cpus = sorted(os.sched_getaffinity(0))[-1:]
    result = _load.load(peer, requests, 4, 1.0, cpus)
    assert result.requests > 0 and result.requests_per_second > 0
    # Every request in the list is sent: one that fails fails the run.
    with pytest.raises(_serve.BenchError):
        _load.load(peer, [*requests, _load.Request("/nowhere")], 4, 1.0, cpus)


def test_an_idle_server_settles_at_once_and_an_unknown_one_is_not_waited_for(peer: str) -> None:
    assert _serve.settle(peer, timeout=10.0) < 5.0
    assert _serve.settle("http://127.0.0.1:1") == 0.0
