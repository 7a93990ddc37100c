"""Load generators: wrk when installed, else a small asyncio HTTP/1.1 client of the same
shape (N keep-alive connections, each sending the next request when the last answered)."""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import subprocess
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from _serve import BenchError

# wrk's default 2 s timeout would drop slow requests from the latency numbers as "socket
# errors"; with a longer one they are counted, and any timeout still fails the run.
REQUEST_TIMEOUT_S = 10
WRK_THREADS = 2
_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_WRK_TIME = r"([\d.]+)(us|ms|s|m|h)"


@dataclass(frozen=True)
class LoadResult:
    requests: int
    elapsed_s: float
    requests_per_second: float
    p99_ms: float


def client_name() -> str:
    return "wrk" if shutil.which("wrk") else "asyncio"


def effective_duration(duration: float) -> float:
    """The duration the client will actually run: wrk only takes whole seconds."""
    return float(max(1, round(duration))) if client_name() == "wrk" else duration


def load(url: str, headers: dict[str, str], connections: int, duration: float) -> LoadResult:
    """Keep `connections` requests in flight against `url` for `duration` seconds."""
    if client_name() == "wrk":
        return _wrk(url, headers, connections, duration)
    return _run(_asyncio_client(url, headers, connections, duration))


def _run(coroutine: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    # The servers run on uvloop; a client on the slower default loop would cap the peer.
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _wrk(url: str, headers: dict[str, str], connections: int, duration: float) -> LoadResult:
    seconds = round(effective_duration(duration))
    command = ["wrk", f"-c{connections}", f"-t{WRK_THREADS}", f"-d{seconds}s", "--latency"]
    command += [f"--timeout={REQUEST_TIMEOUT_S}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}: {done.stderr.strip()}")
    result = parse_wrk(done.stdout)
    # wrk stops early and still reports when it gets SIGINT; a partial run is no result.
    if result.elapsed_s < 0.9 * seconds:
        raise BenchError(f"wrk stopped after {result.elapsed_s:.1f} s of {seconds} s")
    return result


def _search(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise BenchError(f"wrk output has no {pattern!r}:\n{output}")
    return match


def parse_wrk(output: str) -> LoadResult:
    """Requests, requests/sec and the 99th percentile; any failed request is an error."""
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx is not None:
        raise BenchError(f"{non_2xx.group(1)} responses were not 2xx:\n{output}")
    socket_errors = re.search(r"Socket errors: .*", output)
    if socket_errors is not None:
        raise BenchError(f"wrk saw {socket_errors.group(0)}:\n{output}")
    p99 = _search(rf"^\s*99%\s+{_WRK_TIME}\s*$", output)
    total = _search(rf"^\s*(\d+) requests in {_WRK_TIME},", output)
    return LoadResult(
        requests=int(total.group(1)),
        elapsed_s=float(total.group(2)) * _WRK_UNITS_MS[total.group(3)] / 1000,
        requests_per_second=float(_search(r"^Requests/sec:\s+([\d.]+)", output).group(1)),
        p99_ms=float(p99.group(1)) * _WRK_UNITS_MS[p99.group(2)],
    )


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _request_bytes(url: str, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return parts.hostname or "", parts.port or 80, ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _connection(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float]
) -> None:
    """One keep-alive connection sending `request` back to back, like a wrk connection."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if not 200 <= status < 300:
                raise BenchError(f"a response was {status}, not 2xx")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length is None:
                raise BenchError("the fallback client needs responses with Content-Length")
            await reader.readexactly(int(length.group(1)))
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def _asyncio_client(
    url: str, headers: dict[str, str], connections: int, duration: float
) -> LoadResult:
    # Raw HTTP/1.1 rather than httpx: httpx's shared pool collapses at 64 concurrent
    # requests (~130 req/s against a server doing 10k+), which would measure the client.
    host, port, request = _request_bytes(url, headers)
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration
    clients = (_connection(host, port, request, deadline, latencies) for _ in range(connections))
    try:
        # One deadline for all: a per-request timeout would cost a task per request.
        await asyncio.wait_for(asyncio.gather(*clients), duration + REQUEST_TIMEOUT_S)
    except (OSError, EOFError) as exc:  # TimeoutError is an OSError
        raise BenchError(f"the load client failed: {type(exc).__name__}: {exc}") from None
    elapsed = time.perf_counter() - started
    if not latencies:
        raise BenchError(f"no request to {url} completed")
    count = len(latencies)
    return LoadResult(count, elapsed, count / elapsed, percentile(latencies, 99) * 1000)
