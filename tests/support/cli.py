"""The `hub` command, run as a user runs it: in a subprocess, on a test's settings."""

from __future__ import annotations

import os
import subprocess
import sys

from hub.settings import Settings


def run_hub(
    settings: Settings, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """`hub ARGS` on the settings' data dir and database, with extra HUB_* `env`."""
    environment = {
        **os.environ,
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_DATABASE_URL": settings.database_url,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
