"""Run one benchmark: `python bench/run.py NAME [--duration S]`, or `--list` them.

A benchmark is a module bench/NAME.py with a `main()` that returns an exit code (or
None for 0); one that sets `ACCEPTS_ARGS = True` gets the arguments run.py does not know
as `main(extra)` (`python bench/run.py production --orders 20`). It prints progress to
stderr and, as the last line of stdout, one JSON object with its result. Modules whose
names start with "_" are helpers, not benchmarks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
from pathlib import Path
from types import FrameType

BENCH_DIR = Path(__file__).resolve().parent
NAME = re.compile(r"[a-z][a-z0-9_]*")
NOT_BENCHMARKS = {"run"}


def available() -> list[str]:
    return sorted(
        path.stem
        for path in BENCH_DIR.glob("*.py")
        if NAME.fullmatch(path.stem) and path.stem not in NOT_BENCHMARKS
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="the benchmark to run (see --list)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of measured load per side (sets HUB_BENCH_DURATION; default 10)",
    )
    return parser


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so the benchmark's finally blocks stop its servers.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    if args.name is None:
        print("bench/run.py: name a benchmark, or use --list", file=sys.stderr)
        return 2
    if args.name not in names:
        known = ", ".join(names) or "none"
        print(f"bench/run.py: unknown benchmark {args.name!r} (known: {known})", file=sys.stderr)
        return 2
    if args.duration is not None:
        if args.duration <= 0:
            print("bench/run.py: --duration must be positive", file=sys.stderr)
            return 2
        # Benchmarks read the environment so they also run without this harness.
        os.environ["HUB_BENCH_DURATION"] = str(args.duration)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # bench/ is sys.path[0] when this file is run as a script; make sure of it when imported.
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    module = importlib.import_module(args.name)
    if not callable(getattr(module, "main", None)):
        print(f"bench/run.py: bench/{args.name}.py has no main()", file=sys.stderr)
        return 2
    if extra and not getattr(module, "ACCEPTS_ARGS", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code = module.main(extra) if extra else module.main()
    except KeyboardInterrupt:
        print(f"bench/run.py: {args.name} interrupted", file=sys.stderr)
        return 130
    return 0 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main())
