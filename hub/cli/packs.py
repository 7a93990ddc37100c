"""`hub packs list`: the industry packs this hub can install."""

from __future__ import annotations

import argparse
from typing import Any

from hub.services.packs.catalog import PackInvalid, load_catalog
from hub.settings import Settings


class PacksCliError(Exception):
    """Printed as one line; exit 2."""


def add_parser(sub: Any) -> None:
    packs = sub.add_parser("packs", help="industry packs")
    actions = packs.add_subparsers(dest="packs_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="print the available packs and their versions")


def run_packs(settings: Settings, args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(settings.packs_dir)
    except PackInvalid as exc:
        raise PacksCliError(str(exc)) from None
    if not catalog:
        print("no industry packs found")
        return 0
    width = max(len(name) for name in catalog)
    for name, pack in sorted(catalog.items()):
        required = pack.parameters.get("required", [])
        print(f"{name:<{width}}  {pack.version:<8}  {pack.description}")
        print(f"{'':<{width}}  {'':<8}  parameters: {', '.join(required) or 'none required'}")
    return 0
