"""Fixtures: a migrated database per session, cleaned before each test, and an API client.

The database is SQLite unless HUB_TEST_DATABASE_URL points at PostgreSQL.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Integer, text
from sqlalchemy.engine import make_url

from hub import bootstrap
from hub.api.app import create_app
from hub.bootstrap import Hub, build, ensure_platform_admin
from hub.domain.tenancy import TenantRole
from hub.security.passwords import Argon2Hasher
from hub.services.packs.catalog import DEFAULT_ROOT
from hub.settings import Settings, load_settings
from hub.store import migrate
from hub.store.database import create_engine
from hub.store.tables.core import metadata
from tests.support import services

PASSWORD = "a-long-test-password"
ADMIN = "root"
FAST_HASHER = Argon2Hasher(fast=True)
LOOPBACK = "127.0.0.0/8,[::1],localhost"
TESTS = Path(__file__).resolve().parent
LAYERS = ("unit", "integration", "e2e")


# Tests that never open the database HUB_TEST_DATABASE_URL names: the pure unit layer, and
# the console's browser tests (they serve a hub of their own on SQLite). A run on
# PostgreSQL leaves them to the SQLite run (CI makes both), which has them all.
NO_CONFIGURED_DATABASE = (("unit",), ("e2e", "console"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its layer, the first folder under tests/ (-m unit, ...); on
    PostgreSQL, leave out the tests that would not use it."""
    on_postgres = bool(os.environ.get("HUB_TEST_DATABASE_URL"))
    kept, left = [], []
    for item in items:
        parts = Path(item.path).resolve().relative_to(TESTS).parts
        if parts[0] not in LAYERS:
            raise pytest.UsageError(
                f"{item.nodeid}: tests live under tests/{{{','.join(LAYERS)}}}/"
            )
        item.add_marker(parts[0])
        same_anywhere = any(parts[: len(p)] == p for p in NO_CONFIGURED_DATABASE)
        (left if on_postgres and same_anywhere else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str | None:
    if os.environ.get("HUB_TEST_DATABASE_URL"):
        return (
            "HUB_TEST_DATABASE_URL is set: tests/unit and tests/e2e/console, which never "
            "open it, are left to the run on SQLite"
        )
    return None


def _tree_stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    found = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in found)


@pytest.fixture(scope="session", autouse=True)
def _catalog_once() -> Iterator[None]:
    """Every hub a test builds reads the same pack catalog: parse it once per session
    (a third of build()'s time) and hand each hub its own copy. Keyed by the folder and
    its files' times and sizes, so a test's own or changed pack folder is read again;
    load_catalog itself, called directly, still parses (tests/unit/packs)."""
    real = bootstrap.load_catalog
    parsed: dict[tuple[Any, ...], Any] = {}

    def load_catalog(root: Path | None = None) -> Any:
        folder = (root or DEFAULT_ROOT).resolve()
        key = (folder, _tree_stamp(folder)) if folder.is_dir() else None
        if key is None:
            return real(root)  # let it fail as it does
        if key not in parsed:
            parsed[key] = real(root)
        return copy.deepcopy(parsed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bootstrap, "load_catalog", load_catalog)
        yield


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("HUB_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'hub.db'}"
        return
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        parsed = make_url(url)
        services.need("PostgreSQL", parsed.host or "127.0.0.1", parsed.port or 5432)
        yield url
        return
    # Under pytest-xdist each worker wipes the database before every test: give each its
    # own, on the same server, named after the given one.
    with services.scratch_postgres(make_url(url).database or "hub", admin_url=url) as own:
        yield own


async def _prepare(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


# Every sequence back to its start (what TRUNCATE ... RESTART IDENTITY did).
_RESTART_SEQUENCES = """
DO $$ DECLARE s record; BEGIN
  FOR s IN SELECT sequence_schema, sequence_name FROM information_schema.sequences LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I RESTART', s.sequence_schema, s.sequence_name);
  END LOOP;
END $$"""


async def _empty_postgres(conn: Any) -> None:
    """Every table emptied, children first, in one round trip. DELETE, not TRUNCATE: on
    tables this small TRUNCATE (new files for each of ~45 tables) costs 0.17 s a test,
    DELETE 0.02 s."""
    names = [t.name for t in reversed(metadata.sorted_tables)]
    raw = await _raw(conn)
    await raw.execute(";".join(f"DELETE FROM {n}" for n in names) + ";" + _RESTART_SEQUENCES)


async def _clean(url: str) -> None:
    engine = create_engine(url)
    names = [t.name for t in reversed(metadata.sorted_tables)]
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await _empty_postgres(conn)
            else:
                for name in names:
                    await conn.execute(text(f"DELETE FROM {name}"))
            await conn.execute(text("INSERT INTO authz_state (id, version) VALUES (1, 1)"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    asyncio.run(_prepare(database_url))
    return database_url


def _settings(url: str, data_dir: Path) -> Settings:
    return load_settings(
        {
            "HUB_DATA_DIR": str(data_dir),
            "HUB_DATABASE_URL": url,
            "HUB_AUTHZ_REFRESH_INTERVAL": "0",
            # The tests' peers (webhook receivers, SMTP, HTTP servers) listen on loopback,
            # which the hub refuses unless allowed (issue 12, item 3).
            "HUB_EGRESS_ALLOW": LOOPBACK,
        }
    )


@pytest.fixture
def settings(request: pytest.FixtureRequest, migrated: str, tmp_path: Path) -> Settings:
    template = _world_template(request, migrated) if "world" in request.fixturenames else None
    if template is not None:
        template.restore(migrated, tmp_path / "data")
        request.node.stash[RESTORED] = template
    else:
        asyncio.run(_clean(migrated))
    return _settings(migrated, tmp_path / "data")


@pytest.fixture
def hub(settings: Settings) -> Hub:
    return build(settings, hasher=FAST_HASHER)


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(hub), raise_server_exceptions=False) as test_client:
        yield test_client


def login(client: TestClient[Any], username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """Two tenants, each with one user per role, and a platform admin; all logged in."""

    client: TestClient[Any]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return self.headers[who]


def user_name(tenant: str, role: str) -> str:
    return f"{tenant}-{role}"


def _populate(client: TestClient[Any], hub: Hub) -> World:
    with client.portal() as portal:
        portal.call(ensure_platform_admin, hub, ADMIN, PASSWORD)
    world = World(client)
    world.headers["platform_admin"] = bearer(login(client, ADMIN)["access_token"])
    admin = world.as_("platform_admin")
    for tenant in ("acme", "globex"):
        created = client.post(
            "/api/v1/tenants", json={"slug": tenant, "name": tenant.title()}, headers=admin
        )
        assert created.status_code == 201, created.text
        # One user per role, plus "extra", a viewer that tests may change or deactivate.
        for role in [*TenantRole, "extra"]:
            name = user_name(tenant, role)
            response = client.post(
                f"/api/v1/tenants/{tenant}/users",
                json={
                    "username": name,
                    "password": PASSWORD,
                    "role": "viewer" if role == "extra" else role,
                },
                headers=admin,
            )
            assert response.status_code == 201, response.text
            world.user_ids[name] = response.json()["id"]
            world.headers[name] = bearer(login(client, name)["access_token"])
    return world


@dataclass
class WorldTemplate:
    """The world built once through the API: its database as the logins left them, the
    data directory (its JWT and sealing secrets), and the tokens they gave. A test
    restores both instead of signing 13 users in again. On SQLite the database is a file
    copied whole; on PostgreSQL the rows of every table, copied back in (COPY) after the
    usual TRUNCATE."""

    database: Path | None  # SQLite: the template's file
    rows: dict[str, list[tuple[Any, ...]]] | None  # PostgreSQL: table -> rows
    columns: dict[str, list[str]]
    data_dir: Path
    headers: dict[str, dict[str, str]]
    user_ids: dict[str, str]
    built: float

    def restore(self, url: str, data_dir: Path) -> None:
        if self.rows is not None:
            asyncio.run(_load_rows(url, self.rows, self.columns))
        else:
            target = make_url(url).database
            assert target is not None and self.database is not None
            with (
                closing(sqlite3.connect(self.database)) as source,
                closing(sqlite3.connect(target)) as copy,
            ):
                source.backup(copy)  # the whole file, through its WAL, in one go
        shutil.copytree(self.data_dir, data_dir)


async def _raw(conn: Any) -> Any:
    """The asyncpg connection under an SQLAlchemy one (COPY and plain records)."""
    return (await conn.get_raw_connection()).driver_connection


async def _dump_rows(url: str) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[str]]]:
    engine = create_engine(url)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    columns: dict[str, list[str]] = {}
    try:
        async with engine.connect() as conn:
            raw = await _raw(conn)
            for table in metadata.sorted_tables:
                records = await raw.fetch(f"SELECT * FROM {table.name}")
                if records:
                    rows[table.name] = [tuple(r) for r in records]
                    columns[table.name] = list(records[0].keys())
    finally:
        await engine.dispose()
    return rows, columns


async def _load_rows(
    url: str, rows: dict[str, list[tuple[Any, ...]]], columns: dict[str, list[str]]
) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await _empty_postgres(conn)
            raw = await _raw(conn)
            for table in metadata.sorted_tables:
                found = rows.get(table.name)
                if not found:
                    continue
                await raw.copy_records_to_table(
                    table.name, records=found, columns=columns[table.name]
                )
                # serial keys go on from the copied rows, not from 1
                for column in table.primary_key.columns:
                    if not isinstance(column.type, Integer):
                        continue
                    await raw.execute(
                        f"SELECT setval(s, (SELECT max({column.name}) FROM {table.name})) "
                        f"FROM pg_get_serial_sequence('{table.name}', '{column.name}') AS s "
                        "WHERE s IS NOT NULL"
                    )
    finally:
        await engine.dispose()


# Tokens in a template must stay well inside the access-token TTL (15 min) for the test
# that uses them: a template older than this is built again.
TEMPLATE_MAX_AGE = 5 * 60
_templates: dict[str, WorldTemplate] = {}
RESTORED = pytest.StashKey["WorldTemplate"]()


def _world_template(request: pytest.FixtureRequest, url: str) -> WorldTemplate | None:
    """The current world template, built when there is none or it is too old: on SQLite
    in a database file of its own, on PostgreSQL in the test's own database (the next
    restore truncates it anyway), whose rows are then kept."""
    found = _templates.get(url)
    if found is not None and time.monotonic() - found.built < TEMPLATE_MAX_AGE:
        return found
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    root = factory.mktemp("world")
    on_sqlite = make_url(url).get_backend_name() == "sqlite"
    template_url = f"sqlite+aiosqlite:///{root / 'hub.db'}" if on_sqlite else url
    if on_sqlite:
        asyncio.run(_prepare(template_url))
    asyncio.run(_clean(template_url))
    hub = build(_settings(template_url, root / "data"), hasher=FAST_HASHER)
    with TestClient(create_app(hub), raise_server_exceptions=False) as client:
        world = _populate(client, hub)
    rows, columns = (None, {}) if on_sqlite else asyncio.run(_dump_rows(url))
    _templates[url] = WorldTemplate(
        root / "hub.db" if on_sqlite else None,
        rows,
        columns,
        root / "data",
        world.headers,
        world.user_ids,
        time.monotonic(),
    )
    return _templates[url]


@pytest.fixture
def world(request: pytest.FixtureRequest, client: TestClient[Any], hub: Hub) -> World:
    template = request.node.stash.get(RESTORED, None)
    assert template is not None, "settings restores a world template for every world test"
    # `settings` restored this template's database and data directory for this test.
    return World(
        client,
        {who: dict(header) for who, header in template.headers.items()},
        dict(template.user_ids),
    )
