"""A bad HUB_EGRESS_ALLOW stops the `hub` command with one line naming the setting (moved
from tests/unit/test_egress_settings.py: it runs the CLI in a process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_bad_egress_allow_stops_the_hub_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "HUB_DATA_DIR": str(tmp_path), "HUB_EGRESS_ALLOW": "10.1.2.3/8"}
    result = subprocess.run(
        [sys.executable, "-m", "hub", "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "HUB_EGRESS_ALLOW" in line and "10.1.2.3/8" in line
