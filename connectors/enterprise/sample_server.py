"""The sample ERP launcher: the SAP CAP service in connectors/enterprise/sample_erp,
started as a node process on a port of its own, for the tests, the benchmark and demos.

OData V4 at `v4_url`, V2 at `v2_url`; Basic auth as `user`/`password`; SAP Gateway-style
CSRF tokens (unless started with csrf=False); hooks under /-/ to expire the tokens, inject
failures or delays, and count requests (README.md in that folder). Its data lives in
memory for the life of the process.

`start_sample_erp(log)` (or `with running_sample_erp(log) as erp:`) starts it with PORT=0,
reads the port from its ready line in `log` and waits until it has seeded its data and
answers. Without `node` on PATH or without the project's node_modules it raises
SampleErpUnavailable saying what to install (`missing()` tells beforehand).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SAMPLE_ERP = Path(__file__).resolve().parent / "sample_erp"
SERVE = SAMPLE_ERP / "node_modules" / "@sap" / "cds" / "bin" / "serve.js"
SERVICE_PATH = "production"
USER = "alice"
PASSWORD = "alice-secret"
READ_ONLY_USER = "bob"  # authenticated too; the service grants every signed-in user alike
READ_ONLY_PASSWORD = "bob-secret"
READINGS = 12_000  # rows of the bulk entity set Readings
PAGE_SIZE = 1_000  # the server's maximum page size
START_TIMEOUT = 60.0
READY = re.compile(r"sample ERP ready at (http://\S+?):(\d+)")


class SampleErpUnavailable(RuntimeError):
    """The sample ERP cannot be started here: node or its node_modules are missing."""


def missing() -> str | None:
    """Why the sample ERP cannot be started here (what to install), or None if it can."""
    if shutil.which("node") is None:
        return (
            "node is not on PATH (the sample ERP is a Node.js CAP service: install Node.js "
            f"20 or later, then run `npm ci` in {SAMPLE_ERP})"
        )
    if not SERVE.exists():
        return f"the sample ERP is not installed ({SERVE} is missing: run `npm ci` in {SAMPLE_ERP})"
    return None


@dataclass
class SampleErp:
    """A running sample ERP. `base_url` is the server root (http://127.0.0.1:<port>)."""

    base_url: str
    csrf: bool = True
    user: str = USER
    password: str = PASSWORD
    log: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def v4_url(self) -> str:
        return f"{self.base_url}/odata/v4/{SERVICE_PATH}"

    @property
    def v2_url(self) -> str:
        return f"{self.base_url}/odata/v2/{SERVICE_PATH}"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def client(self, version: str = "v4", **kwargs: Any) -> httpx.Client:
        """An httpx client on the V4 (or V2) service root, signed in as `user`."""
        base = self.v4_url if version == "v4" else self.v2_url
        return httpx.Client(base_url=base + "/", auth=self.auth, timeout=30, **kwargs)

    def _hook(self, path: str, **params: Any) -> httpx.Response:
        query = {k: v for k, v in params.items() if v is not None}
        response = httpx.post(f"{self.base_url}/-/{path}", params=query, timeout=10)
        response.raise_for_status()
        return response

    def expire_csrf(self) -> None:
        """Forget every CSRF token and session: the next change with an old one gets 403."""
        self._hook("expire-csrf")

    def fail(self, status: int = 503, count: int = 1, retry_after: int | None = None) -> None:
        """The next `count` service requests answer `status` (with Retry-After if given)."""
        self._hook("fail", status=status, count=count, retry_after=retry_after)

    def slow(self, ms: int, count: int = 1) -> None:
        """The next `count` service requests wait `ms` milliseconds before being served."""
        self._hook("slow", ms=ms, count=count)

    def reset(self) -> None:
        """No more injected failures or delays; the request counters start again."""
        self._hook("reset")

    def stats(self) -> dict[str, Any]:
        """Service requests seen since the last reset: requests, byMethod, csrfFetched,
        csrfRejected, failed (the V2 adapter's inner calls are not counted twice)."""
        response = httpx.get(f"{self.base_url}/-/stats", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        """Stop the node process (and its process group); does nothing once stopped."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_sample_erp(log: Path, *, csrf: bool = True, timeout: float = START_TIMEOUT) -> SampleErp:
    """Start the sample ERP on a port the OS picks (PORT=0; the port is read from its
    ready line in `log`) and wait until it has seeded its data and answers.

    Raises SampleErpUnavailable when node or node_modules are missing, RuntimeError when
    the process exits or does not answer within `timeout` (with the log's tail)."""
    reason = missing()
    if reason is not None:
        raise SampleErpUnavailable(reason)
    env = {
        **os.environ,
        "PORT": "0",
        "CSRF": "on" if csrf else "off",
        "NO_COLOR": "1",
        "EXIT_WITH_PARENT": "1",  # gone with this process, however this process ends
    }
    env.pop("NODE_ENV", None)  # the development profile: mocked users, in-memory SQLite
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [shutil.which("node") or "node", str(SERVE)],
            cwd=SAMPLE_ERP,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    erp: SampleErp | None = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the sample ERP exited with {process.returncode}:\n{_log_tail(log)}"
                )
            if erp is None:
                found = READY.search(log.read_text(errors="replace"))
                if found:
                    erp = SampleErp(f"http://127.0.0.1:{found.group(2)}", csrf, log=log)
                    erp._process = process
            if erp is not None:
                try:
                    if httpx.get(f"{erp.base_url}/-/health", timeout=2).status_code == 200:
                        return erp
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"the sample ERP did not answer within {timeout} s:\n{_log_tail(log)}")
    except BaseException:
        if erp is None:
            erp = SampleErp("", csrf)
            erp._process = process
        erp.stop()
        raise


@contextmanager
def running_sample_erp(log: Path, *, csrf: bool = True) -> Iterator[SampleErp]:
    """A sample ERP of its own for the block; stopped after."""
    erp = start_sample_erp(log, csrf=csrf)
    try:
        yield erp
    finally:
        erp.stop()
