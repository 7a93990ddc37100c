"""The definition layer imports no web framework, ORM or protocol library."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = [
    "hub.engine.definition",
    "hub.engine.diagram",
    "hub.engine.durations",
    "hub.engine.expressions",
    "hub.engine.versions",
]
FORBIDDEN = [
    "litestar", "starlette", "fastapi", "msgspec", "uvicorn", "sqlalchemy", "alembic",
    "asyncpg", "aiosqlite", "httpx", "paho", "aiomqtt", "asyncua", "pymodbus", "snap7",
]  # fmt: skip


def test_definition_layer_imports_stay_pure() -> None:
    # A fresh interpreter: this test process has already imported the web app.
    code = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(result.stdout)
    offenders = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert offenders == []
    assert "hub.engine.definition" in loaded
