"""Load generators: wrk when installed, else a small asyncio HTTP/1.1 client of the same
shape (N keep-alive connections, each sending the next request when the last answered).

Both take a list of requests and cycle through it, each connection (or wrk thread)
starting at its own place, so a mixed workload of many users, pages and writes runs the
same way under either client (wrk through a generated Lua script). Both run as their own
process, pinned to the CPUs given (see _serve.cpu_plan), so the client does not share the
server's core. `client_label()` names the client that ran, for the result JSON.

Run as a script, it is the asyncio client: a JSON spec on stdin, a JSON result on stdout.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _method import tail
from _serve import BenchError, pinned

# wrk's default 2 s timeout would drop slow requests from the latency numbers as "socket
# errors"; with a longer one they are counted, and any timeout still fails the run.
REQUEST_TIMEOUT_S = 10
CLIENT_ENV = "HUB_BENCH_CLIENT"  # "wrk", "asyncio" or unset (wrk when installed)
ASYNCIO_LABEL = "python asyncio (bench/_load.py)"
_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_WRK_TIME = r"([\d.]+)(us|ms|s|m|h)"


@dataclass(frozen=True)
class Request:
    """One request of a workload; `target` is the path with its query."""

    target: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: str = ""  # JSON text for writes


@dataclass(frozen=True)
class LoadResult:
    requests: int
    elapsed_s: float
    requests_per_second: float
    tail_ms: float
    tail_name: str  # "p99", or "max" under 100 requests (_method.tail)


@cache
def _wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    # "wrk 4.1.0 [epoll] ...", or "wrk debian/4.1.0-3+b2 [epoll] ..." from a package.
    found = re.search(r"wrk \S*?(\d+\.\d+(?:\.\d+)?)", done.stdout + done.stderr)
    return found.group(1) if found else "(unknown version)"


def use_wrk() -> bool:
    wanted = os.environ.get(CLIENT_ENV, "").strip().lower()
    if wanted not in ("", "wrk", "asyncio"):
        raise BenchError(f"{CLIENT_ENV}={wanted!r}: use wrk or asyncio")
    if wanted == "asyncio":
        return False
    if _wrk_version() is None:
        if wanted == "wrk":
            raise BenchError(f"{CLIENT_ENV}=wrk but wrk is not installed")
        return False
    return True


def client_label() -> str:
    """The client that runs the load, as the result JSON names it."""
    return f"wrk {_wrk_version()}" if use_wrk() else ASYNCIO_LABEL


def announce_client(log: Callable[[str], None]) -> None:
    """One line on stderr naming the client; says so plainly when it is the fallback."""
    if use_wrk():
        log(f"load client: {client_label()}")
    elif os.environ.get(CLIENT_ENV, "").strip().lower() == "asyncio":
        log(f"load client: {ASYNCIO_LABEL} ({CLIENT_ENV}=asyncio)")
    else:
        log(f"wrk is not installed: falling back to the load client {ASYNCIO_LABEL}")


def effective_duration(duration: float) -> float:
    """The duration the client will actually run: wrk only takes whole seconds."""
    return float(max(1, round(duration))) if use_wrk() else duration


def load(
    base: str,
    requests: Sequence[Request],
    connections: int,
    duration: float,
    cpus: Collection[int] | None = None,
) -> LoadResult:
    """Keep `connections` requests in flight against `base` for `duration` seconds, cycling
    through `requests`; the client process runs on `cpus` (None: anywhere)."""
    if not requests:
        raise BenchError("no requests to send")
    if use_wrk():
        return _wrk(base, requests, connections, duration, cpus)
    return _asyncio_child(base, requests, connections, duration, cpus)


# --- wrk ---


def _lua_string(text: str) -> str:
    if "]==]" in text:
        raise BenchError("a request holds ']==]', which the wrk script cannot quote")
    return f"[==[{text}]==]"


def wrk_script(requests: Sequence[Request]) -> str:
    """A wrk script sending `requests` in turn; each wrk thread starts at its own place."""
    rows = []
    for r in requests:
        # "[ [==[" with spaces: "[[" would open a Lua long string.
        headers = ", ".join(
            f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in r.headers.items()
        )
        body = _lua_string(r.body) if r.body else "nil"
        rows.append(
            f"  {{{_lua_string(r.method)}, {_lua_string(r.target)}, {{{headers}}}, {body}}},"
        )
    return "\n".join(
        [
            "local raw = {",
            *rows,
            "}",
            "local threads = 0",
            "function setup(thread)",
            f"  thread:set('offset', threads * {max(1, len(requests) // 7)})",
            "  threads = threads + 1",
            "end",
            "local built = {}",
            "local i = 0",
            "function init(args)",
            "  for k, r in ipairs(raw) do built[k] = wrk.format(r[1], r[2], r[3], r[4]) end",
            "  i = offset or 0",
            "end",
            "function request()",
            "  i = i + 1",
            "  return built[(i % #built) + 1]",
            "end",
        ]
    )


def _wrk(
    base: str,
    requests: Sequence[Request],
    connections: int,
    duration: float,
    cpus: Collection[int] | None,
) -> LoadResult:
    seconds = round(effective_duration(duration))
    threads = max(1, len(cpus) if cpus else 2)
    command = ["wrk", f"-c{connections}", f"-t{threads}", f"-d{seconds}s", "--latency"]
    command += [f"--timeout={REQUEST_TIMEOUT_S}s"]
    with tempfile.TemporaryDirectory(prefix="hub-bench-wrk-") as folder:
        only = requests[0]
        if len(requests) == 1 and only.method == "GET" and not only.body:
            # One plain GET: wrk's static request, no Lua call per request.
            for name, value in only.headers.items():
                command += ["-H", f"{name}: {value}"]
            url = base + only.target
        else:
            script = Path(folder) / "requests.lua"
            script.write_text(wrk_script(requests))
            command += ["-s", str(script)]
            url = base + "/"
        done = subprocess.run(
            [*command, url],
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=pinned(cpus),
        )
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
    count = int(total.group(1))
    if count == 0:
        raise BenchError(f"no request completed:\n{output}")
    if count < 100:
        # wrk's 99% over fewer than 100 requests is its maximum (_method.percentile_name).
        tail_value = _search(rf"^\s*Latency\s+\S+\s+\S+\s+{_WRK_TIME}", output)
        tail_name, tail_ms = "max", float(tail_value.group(1)) * _WRK_UNITS_MS[tail_value.group(2)]
    else:
        tail_name, tail_ms = "p99", float(p99.group(1)) * _WRK_UNITS_MS[p99.group(2)]
    return LoadResult(
        requests=count,
        elapsed_s=float(total.group(2)) * _WRK_UNITS_MS[total.group(3)] / 1000,
        requests_per_second=float(_search(r"^Requests/sec:\s+([\d.]+)", output).group(1)),
        tail_ms=tail_ms,
        tail_name=tail_name,
    )


# --- the asyncio client, in its own (pinned) process ---


def _asyncio_child(
    base: str,
    requests: Sequence[Request],
    connections: int,
    duration: float,
    cpus: Collection[int] | None,
) -> LoadResult:
    spec = {
        "base": base,
        "requests": [asdict(r) for r in requests],
        "connections": connections,
        "duration": duration,
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=pinned(cpus),
    )
    if done.returncode != 0:
        raise BenchError(f"the asyncio load client failed: {done.stderr.strip()[-2000:]}")
    return LoadResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def _request_bytes(host: str, request: Request) -> bytes:
    lines = [f"{request.method} {request.target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    body = request.body.encode()
    if body or request.method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    host: str,
    port: int,
    requests: Sequence[tuple[bytes, str]],
    start: int,
    deadline: float,
    latencies: list[float],
) -> None:
    """One keep-alive connection sending `requests` in turn from `start`, like wrk's."""
    reader, writer = await asyncio.open_connection(host, port)
    index = start
    try:
        while time.perf_counter() < deadline:
            raw, what = requests[index % len(requests)]
            index += 1
            started = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length is None:
                raise BenchError("the asyncio client needs responses with Content-Length")
            body = await reader.readexactly(int(length.group(1)))
            if not 200 <= status < 300:
                raise BenchError(f"{what} answered {status}, not 2xx: {body[:300]!r}")
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def _asyncio_client(
    base: str, requests: Sequence[Request], connections: int, duration: float
) -> LoadResult:
    # Raw HTTP/1.1 rather than httpx: httpx's shared pool collapses at 64 concurrent
    # requests (~130 req/s against a server doing 10k+), which would measure the client.
    parts = urlsplit(base)
    host, port = parts.hostname or "", parts.port or 80
    built = [(_request_bytes(parts.netloc, r), f"{r.method} {r.target}") for r in requests]
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration
    stride = max(1, len(built) // connections)
    clients = (
        _connection(host, port, built, i * stride, deadline, latencies) for i in range(connections)
    )
    try:
        # One deadline for all: a per-request timeout would cost a task per request.
        await asyncio.wait_for(asyncio.gather(*clients), duration + REQUEST_TIMEOUT_S)
    except (OSError, EOFError) as exc:  # TimeoutError is an OSError
        raise BenchError(f"the load client failed: {type(exc).__name__}: {exc}") from None
    elapsed = time.perf_counter() - started
    if not latencies:
        raise BenchError(f"no request to {base} completed")
    name, value = tail([x * 1000 for x in latencies], 99)
    count = len(latencies)
    return LoadResult(count, elapsed, count / elapsed, float(value or math.nan), name)


def _main() -> None:
    spec: dict[str, Any] = json.loads(sys.stdin.read())
    requests = [Request(**r) for r in spec["requests"]]
    coroutine = _asyncio_client(spec["base"], requests, spec["connections"], spec["duration"])
    try:
        # The servers run on uvloop; a client on the slower default loop would cap the peer.
        import uvloop
    except ImportError:
        result = asyncio.run(coroutine)
    else:
        result = uvloop.run(coroutine)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    try:
        _main()
    except BenchError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(1)
