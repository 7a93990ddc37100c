"""Secrets at rest (issue 12, item 12): the data dir, its keys and the SQLite database
are private from the moment they exist, whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hub.security.private_files import ensure_private_file, read_or_create
from hub.settings import SettingsError, load_settings

# Opens the hub on a data dir and prints each file's mode while the database (and so its
# -wal and -shm files) is open.
LIST_MODES = """
import asyncio, os, stat
from hub.bootstrap import build
from hub.settings import load_settings

async def main():
    hub = build(load_settings())
    await hub.start()
    async with hub.engine.connect():
        folder = hub.settings.data_dir
        for name in sorted(os.listdir(folder)):
            print(name, oct(stat.S_IMODE(os.stat(folder / name).st_mode)))
    await hub.close()

asyncio.run(main())
"""


def _run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(data_dir)
    # umask 0: a file that is not created private would come out world-readable.
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
        umask=0,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_hub_init_creates_a_private_data_dir_keys_and_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    init = _run(
        ["-m", "hub", "init", "--admin-user", "ops", "--admin-password", "a-long-admin-password"],
        data_dir,
    )
    assert init.returncode == 0, init.stderr
    assert _mode(data_dir) == 0o700
    for name in ("jwt_secret", "secret_key", "audit_ed25519.pem", "hub.db"):
        assert _mode(data_dir / name) == 0o600, name
    opened = _run(["-c", LIST_MODES], data_dir)
    assert opened.returncode == 0, opened.stderr
    modes = dict(line.split() for line in opened.stdout.splitlines())
    assert {"hub.db", "hub.db-wal", "hub.db-shm"} <= set(modes), modes
    assert set(modes.values()) == {"0o600"}, modes
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".")]


def test_older_world_readable_key_files_are_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    kept = "k" * 64
    for name in ("jwt_secret", "secret_key"):
        (data_dir / name).write_text(kept)
        os.chmod(data_dir / name, 0o644)
    settings = load_settings({"HUB_DATA_DIR": str(data_dir)})
    assert settings.jwt_secret == kept and settings.secret_key == kept
    assert _mode(data_dir / "jwt_secret") == 0o600
    assert _mode(data_dir / "secret_key") == 0o600


def test_an_empty_kept_secret_stops_start_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret_key").touch(mode=0o600)
    with pytest.raises(SettingsError, match="secret_key must hold at least 32 characters"):
        load_settings({"HUB_DATA_DIR": str(data_dir)})


def test_concurrent_starters_keep_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    seen: list[bytes] = []
    made = iter(range(1000))

    def start() -> None:
        seen.append(read_or_create(path, lambda: str(next(made)).encode()))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1
    assert path.read_bytes() == seen[0] and _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_an_existing_database_file_is_left_with_its_content(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    path.write_bytes(b"data")
    os.chmod(path, 0o644)
    ensure_private_file(path)
    assert path.read_bytes() == b"data" and _mode(path) == 0o600
