"""`python -m audit verify-file`: one line out, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from audit.__main__ import main
from audit.signing import key_id
from tests.support.audit_bundles import KEY, make_bundle

REPO = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, bundle: Any, name: str = "export.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def test_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run(capsys, "verify-file", _write(tmp_path, make_bundle()))
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith("OK ") and "30 entries" in lines[0]
    assert key_id(KEY) in lines[0]


def test_tampered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = make_bundle()
    bundle["entries"][16]["actor"] = "intruder"
    code, lines = _run(capsys, "verify-file", _write(tmp_path, bundle))
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("TAMPERED ")
    assert "first bad seq 17: seq 17: content does not match its leaf_hash" in lines[0]
    assert "(+2 more problems)" in lines[0]


def test_verbose_lists_problems_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle()
    del bundle["entries"][4]
    assert main(["verify-file", "-v", _write(tmp_path, bundle)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1
    assert "seq 5 missing (entries jump from 4 to 6)" in captured.err


def test_pinned_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, make_bundle())
    assert _run(capsys, "verify-file", "--key-id", key_id(KEY), path)[0] == 0
    assert _run(capsys, "verify-file", "--key-id", "00" * 8, path)[0] == 1


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        '{"format": "something/1"}',
        '{"format": "industrial-hub-audit-export/1", "format": "industrial-hub-audit-export/1"}',
        '{"format": "industrial-hub-audit-export/1", "x": NaN}',
        b"\xff\xfe",
    ],
)
def test_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any) -> None:
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    code, lines = _run(capsys, "verify-file", str(path))
    assert code == 2 and len(lines) == 1 and lines[0].startswith("UNREADABLE ")


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "verify-file", str(tmp_path / "nope.json"))[0] == 2


def test_module_entry_point(tmp_path: Path) -> None:
    bundle = make_bundle()
    bundle["signed_heads"] = bundle["signed_heads"][:2]
    bundle["entries"] = bundle["entries"][:15]
    done = subprocess.run(
        [sys.executable, "-m", "audit", "verify-file", _write(tmp_path, bundle)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "first bad seq 16" in done.stdout and "entries truncated" in done.stdout
