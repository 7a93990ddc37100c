"""Benchmark `audit`: the audit log through the hub's service (append rates, inclusion-proof
latency at 1,000,000 entries) plus bench/audit_tree.py's tree comparison.
The benchmark itself is bench/_audit_bench.py; read its docstring for what is measured.

Why this file is only a shim: its name is also the name of the repository's `audit`
package, and bench/ is first on sys.path in every bench process (Python puts a script's
directory there), so `import audit` anywhere in such a process (the hub imports
`audit.merkle`) loads this file, not the package. When loaded under that name, it turns
itself into the package: it takes the package's `__path__`, so `audit.merkle` and friends
import from the real directory, and runs the package's `__init__` in its own namespace.
That is also why it imports nothing heavy: bench/api.py and bench/audit_tree.py load it
whenever they import the hub.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from pathlib import Path

_BENCH_DIR = Path(__file__).resolve().parent


def _package_spec(name: str) -> ModuleSpec:
    """The spec the import system would find for `name` if bench/ were not on sys.path."""
    path = [p for p in sys.path if Path(p or ".").resolve() != _BENCH_DIR]
    # PathFinder searches `path`; the editable install's finder maps names and ignores it.
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(name, path) if find_spec else None
        if spec is not None and spec.submodule_search_locations:
            return spec
    raise ImportError(f"the {name!r} package is not installed; bench/{name}.py hides nothing")


if __name__ == "audit":
    _spec = _package_spec(__name__)
    __path__ = list(_spec.submodule_search_locations or [])
    if _spec.origin and _spec.origin.endswith("__init__.py"):
        exec(compile(Path(_spec.origin).read_text(), _spec.origin, "exec"), globals())


def main() -> int:
    # Imported here, not at the top, so that `import audit` stays as cheap as the package.
    import _audit_bench

    return _audit_bench.main()


if __name__ == "__main__":
    sys.exit(main())
