"""Files only the hub's user may read: the data dir, its keys, the SQLite database.

Every such file is private from its first byte. A file created and then chmod'ed is
readable by anyone in between (the umask decides), so nothing here chmods a new file:
keys are written to a `mkstemp` file (always 0600) and hard-linked into place, and the
database is created empty with `O_CREAT | O_EXCL` and mode 0600 before SQLite opens it
(SQLite gives its -wal and -shm files the database file's mode). The data dir is made
with mode 0700 by `mkdir` itself.

Files that already exist (older installs made them 0644) lose their group and other
bits when the hub opens them; a directory that already exists is left alone, since
HUB_DATA_DIR may name a directory the hub does not own.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
OWNER_ONLY = 0o700  # the bits a tightened file keeps


def private_dir(path: Path) -> None:
    """Create `path` with mode 0700 (missing parents get the usual mode, as `mkdir -p`)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of `path`; when it is missing, create it 0600 holding `make()`.

    The new content goes to a private temporary file that is hard-linked into place, so
    no reader ever sees a half-written file, and of two processes starting at once the
    second to link reads the first one's content instead of keeping its own.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        _link_new(path, make())
        return path.read_bytes()
    tighten(path)
    return data


def ensure_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (then take away group/other)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.close(os.open(path, flags, FILE_MODE))
    except FileExistsError:
        tighten(path)


def tighten(path: Path) -> None:
    """Drop group and other permissions of a file this user owns, where it can."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return
    owner = found.st_uid == os.getuid() if hasattr(os, "getuid") else True
    if owner and stat.S_ISREG(found.st_mode) and found.st_mode & 0o077:
        # On a read-only mount the file stays as its owner made it.
        with contextlib.suppress(OSError):
            path.chmod(stat.S_IMODE(found.st_mode) & OWNER_ONLY)


def _link_new(path: Path, data: bytes) -> bool:
    """Put `data` at `path` unless something is there already; True if this call did."""
    # mkstemp creates the file 0600 whatever the umask is.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp_name)
    return True
