"""The sample ERP for the tests: the pytest side of connectors/enterprise/sample_server.py,
which starts the SAP CAP service (connectors/enterprise/sample_erp) as a node process on a
port of its own (the benchmark uses that module directly).

OData V4 at `v4_url`, V2 at `v2_url`; Basic auth as `user`/`password`; SAP Gateway-style
CSRF tokens (unless started with csrf=False); test hooks under /-/ to expire the tokens,
inject failures or delays, and count requests (README.md in that folder). Its data lives
in memory for the life of the process: tests that change data use keys of their own.

A conftest takes the session fixture with `from tests.support.erp import sample_erp`.
Without `node` on PATH or without the project's node_modules (`npm ci` in that folder;
.ci/run does it) the tests that need it skip with the reason, or fail under
HUB_REQUIRE_SERVICES=1 (tests/support/services.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from connectors.enterprise import sample_server
from connectors.enterprise.sample_server import (
    PAGE_SIZE,
    PASSWORD,
    READ_ONLY_PASSWORD,
    READ_ONLY_USER,
    READINGS,
    SAMPLE_ERP,
    SERVE,
    SERVICE_PATH,
    START_TIMEOUT,
    USER,
    SampleErp,
)
from tests.support import services

__all__ = [
    "PAGE_SIZE",
    "PASSWORD",
    "READINGS",
    "READ_ONLY_PASSWORD",
    "READ_ONLY_USER",
    "SAMPLE_ERP",
    "SERVE",
    "SERVICE_PATH",
    "START_TIMEOUT",
    "USER",
    "SampleErp",
    "need_sample_erp",
    "running_sample_erp",
    "sample_erp",
    "start_sample_erp",
]


def need_sample_erp() -> None:
    """Skip (or fail under HUB_REQUIRE_SERVICES) unless the sample ERP can be started."""
    reason = sample_server.missing()
    if reason is None:
        return
    if services.services_required():
        pytest.fail(f"{reason} and HUB_REQUIRE_SERVICES is set")
    pytest.skip(reason)


def start_sample_erp(log: Path, *, csrf: bool = True, timeout: float = START_TIMEOUT) -> SampleErp:
    """sample_server.start_sample_erp, skipping (or failing) first when it cannot start."""
    need_sample_erp()
    return sample_server.start_sample_erp(log, csrf=csrf, timeout=timeout)


@contextmanager
def running_sample_erp(log: Path, *, csrf: bool = True) -> Iterator[SampleErp]:
    """A sample ERP of its own for the block (e.g. one with CSRF off); stopped after."""
    need_sample_erp()
    with sample_server.running_sample_erp(log, csrf=csrf) as erp:
        yield erp


@pytest.fixture(scope="session")
def sample_erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleErp]:
    """One sample ERP (CSRF on) per test session, per xdist worker."""
    with running_sample_erp(tmp_path_factory.mktemp("sample_erp") / "server.log") as erp:
        yield erp
