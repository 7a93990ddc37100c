"""The `hub` command: init, serve, demo, db, audit, chain, simulate, packs."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from connectors.enterprise.sample_server import SampleErp
from hub import __version__
from hub.bootstrap import build, ensure_platform_admin
from hub.cli.audit import AuditCliError, run_audit
from hub.cli.audit import add_parser as add_audit_parser
from hub.cli.chain import ChainCliError, add_chain_parser, run_chain
from hub.cli.demo import DEMO_ADMIN, DEMO_TENANT, demo_settings, seed_demo
from hub.cli.demo_erp import seed_erp, start_demo_erp
from hub.cli.demo_plant import DEMO_OVERRIDE_KEY, PlantThread, seed_plant
from hub.cli.packs import PacksCliError, run_packs
from hub.cli.packs import add_parser as add_packs_parser
from hub.cli.simulate import SimulateError, run_simulate
from hub.cli.simulate import add_parser as add_simulate_parser
from hub.domain.errors import HubError
from hub.settings import Settings, SettingsError, load_settings
from hub.store import migrate
from hub.store.database import create_engine


class CliError(Exception):
    """A user's mistake: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub",
        description="Industrial and enterprise integration hub. Settings come from HUB_* "
        "environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"hub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = sub.add_parser("init", help="create or upgrade the database and the platform admin")
    init.add_argument("--admin-user", help="platform admin username (prompted on a terminal)")
    init.add_argument("--admin-password", help="platform admin password, 12+ characters")

    for name, text in (
        ("serve", "serve the API"),
        ("demo", "start a simulated plant, seed demo data and the safety pack, then serve"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
        cmd.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    demo = sub.choices["demo"]
    demo.add_argument("--modbus-port", type=int, default=5020, help="the plant's Modbus port")
    demo.add_argument("--opcua-port", type=int, default=4840, help="the plant's OPC-UA port")
    add_packs_parser(sub)

    add_audit_parser(sub)
    add_chain_parser(sub)
    add_simulate_parser(sub)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations")
    db_sub.add_parser("current", help="print the schema revision")
    return parser


def _admin_credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    user, password = args.admin_user, args.admin_password
    if user and password:
        return user, password
    if not sys.stdin.isatty():
        if user or password:
            raise CliError("--admin-user and --admin-password go together")
        return None
    user = user or input("platform admin username: ").strip()
    password = password or getpass.getpass("platform admin password (12+ characters): ")
    return user, password


async def _init(settings: Settings, credentials: tuple[str, str] | None) -> None:
    hub = build(settings)
    try:
        await hub.start()
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        print(f"database ready at {url}")
        if credentials:
            created = await ensure_platform_admin(hub, *credentials)
            state = "created" if created else "already exists"
            print(f"platform admin {credentials[0]!r} {state}")
    finally:
        await hub.close()


async def _demo_seed(
    settings: Settings, modbus_endpoint: str, erp: SampleErp | None
) -> list[tuple[str, str, str]]:
    hub = build(settings)
    try:
        await hub.start()
        accounts = await seed_demo(hub)
        await seed_plant(hub, DEMO_TENANT, modbus_endpoint)
        if erp is not None:
            await seed_erp(hub, DEMO_TENANT, erp)
        return accounts
    finally:
        await hub.close()


async def _db(settings: Settings, action: str) -> None:
    engine = create_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    try:
        if action == "upgrade":
            await migrate.upgrade(engine)
        current = await migrate.current_revision(engine)
        print(f"schema revision {current or 'none'} (newest {migrate.head_revision()})")
    finally:
        await engine.dispose()


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from hub.api.app import create_app

    app = create_app(build(settings))
    print(
        f"hub {__version__} serving on http://{host}:{port}  "
        f"(API docs: http://{host}:{port}/schema)",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())


def _start_plant(host: str, modbus_port: int, opcua_port: int) -> PlantThread:
    plant = PlantThread(host, modbus_port, opcua_port)
    try:
        plant.start()
    except OSError as exc:
        raise CliError(f"the demo plant cannot listen: {exc.strerror or exc}") from None
    return plant


def _print_demo(accounts: list[tuple[str, str, str]], host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    print("\ndemo tenant 'acme' is ready; accounts:")
    for username, password, role in accounts:
        print(f"  {role:<15} {username:<15} {password}")
    print(
        f"\nconsole  {base}/  (sign in as {DEMO_ADMIN} / {accounts[0][1]})\n"
        f"API      {base}/api/v1\nAPI docs {base}/schema\n"
        f"try      curl -s {base}/api/v1/auth/login -H 'content-type: application/json' "
        f'-d \'{{"username": "{DEMO_ADMIN}", "password": "{accounts[0][1]}"}}\'\n'
    )
    tenant = f"{base}/api/v1/tenants/{DEMO_TENANT}"
    print(
        "plant    boiler-1 (Modbus) with the safety-monitoring pack in area boiler-house\n"
        "line     line-1 (Modbus): a production line, recipe setpoints, START, good/scrap "
        "counters (docs/PLC.md)\n"
        f'live     curl -s {tenant}/devices/boiler-1/tags -H "Authorization: Bearer $TOKEN"\n'
        f"HiHi     curl -s {tenant}/devices/boiler-1/tags/setpoint/write "
        "-H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' "
        "-d '{\"value\": 12}'\n"
        f"watch    {tenant}/alarms?state=all  {tenant}/runs  {tenant}/incidents\n"
        f"release  complete the open task ({tenant}/tasks?scope=open) with "
        f'{{"values": {{"override_key": "{DEMO_OVERRIDE_KEY}"}}}}\n'
    )


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "asyncua", "pymodbus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "init":
        asyncio.run(_init(settings, _admin_credentials(args)))
    elif args.command == "db":
        asyncio.run(_db(settings, args.db_command))
    elif args.command == "serve":
        _serve(settings, args.host, args.port)
    elif args.command == "simulate":
        return asyncio.run(run_simulate(args))
    elif args.command == "audit":
        return asyncio.run(run_audit(settings, args))
    elif args.command == "chain":
        return run_chain(settings, args)
    elif args.command == "packs":
        return run_packs(settings, args)
    elif args.command == "demo":
        settings = demo_settings(settings)
        plant = _start_plant(args.host, args.modbus_port, args.opcua_port)
        erp, erp_line = start_demo_erp(settings.data_dir)
        try:
            accounts = asyncio.run(_demo_seed(settings, plant.sim.modbus_endpoint, erp))
            _print_demo(accounts, args.host, args.port)
            print(erp_line, flush=True)
            if erp is not None:
                runs = f"http://{args.host}:{args.port}/api/v1/tenants/{DEMO_TENANT}/runs"
                print(
                    "orders   released orders 1000101 and 1000102 of work center LINE1 run on "
                    f"line-1 within a minute:\n         {runs}?workflow=production-control "
                    "(1000102 is short of material: complete its open task once stock "
                    "arrives)",
                    flush=True,
                )
            _serve(settings, args.host, args.port)
        finally:
            if erp is not None:
                erp.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(argv)
    except (
        SettingsError,
        CliError,
        AuditCliError,
        ChainCliError,
        SimulateError,
        PacksCliError,
    ) as exc:
        print(f"hub: error: {exc}", file=sys.stderr)
        code = 2
    except HubError as exc:
        print(f"hub: error: {exc.detail}", file=sys.stderr)
        code = 2
    except (OperationalError, DBAPIError) as exc:
        print(f"hub: error: database: {exc.orig}", file=sys.stderr)
        code = 1
    except OSError as exc:
        print(f"hub: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
