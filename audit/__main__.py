"""`python -m audit verify-file FILE`: check an audit export offline.

Prints one line and exits 0 if the export is intact, 1 if it was tampered with, and 2 if
the file cannot be read as an export at all, so scripts can tell "bad" from "not ours".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from audit.bundle import FORMAT, verify_bundle
from audit.signing import key_id, load_public_key_document

EXIT_OK = 0
EXIT_TAMPERED = 1
EXIT_UNREADABLE = 2


class _Unreadable(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON parsers disagree on which duplicate wins, so a file with duplicates could
    # verify here and read differently elsewhere: refuse it.
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _Unreadable(f"duplicate key {name!r}")
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise _Unreadable(f"{name} is not JSON")


def _load(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _Unreadable(str(exc)) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _Unreadable(f"not an {FORMAT} file")
    return data


def _key_label(bundle: dict[str, Any]) -> str:
    try:
        return key_id(load_public_key_document(bundle.get("public_key")))
    except ValueError:
        return "unusable"


def verify_file(path: str, expected_key_id: str | None = None, verbose: bool = False) -> int:
    try:
        bundle = _load(path)
    except _Unreadable as exc:
        print(f"UNREADABLE {path}: {exc}")
        return EXIT_UNREADABLE
    report = verify_bundle(bundle, expected_key_id=expected_key_id)
    if verbose:
        for problem in report.problems:
            print(problem, file=sys.stderr)
    if report.ok:
        print(
            f"OK {path}: tenant {bundle.get('tenant')}, {report.entries} entries, "
            f"{report.heads_checked} signed heads verified, first {report.covered} entries "
            f"covered by a signature, key {_key_label(bundle)}"
        )
        return EXIT_OK
    more = len(report.problems) - 1
    tail = f" (+{more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    where = f"first bad seq {report.first_bad_seq}: " if report.first_bad_seq else ""
    print(f"TAMPERED {path}: {where}{report.problems[0]}{tail}")
    return EXIT_TAMPERED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify-file", help="verify an audit export file offline")
    verify.add_argument("file")
    verify.add_argument(
        "--key-id", help="fail unless the bundle is signed by this key id (hex, from the hub)"
    )
    verify.add_argument("-v", "--verbose", action="store_true", help="list every problem")
    args = parser.parse_args(argv)
    return verify_file(args.file, args.key_id, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
