"""Static files: the console's own (static/: console.css, console.js) and htmx.

htmx is not copied into this repository and not fetched from a CDN: it comes from an
installed package that ships it (django-js-lib-htmx, htmx's own files repackaged, 0BSD
like htmx; its Python side is a Django app that is never imported here, we only read the
files from where pip put them).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/static"  # /ui/static/console.css
HTMX_PATH = "/vendor/htmx"  # /ui/vendor/htmx/htmx.min.js
HTMX_PACKAGE = "js_lib_htmx"  # the import name of the django-js-lib-htmx distribution
CACHE = CacheControlHeader(max_age=300)
OPT = {"public": True, "assets": True}


class MissingAsset(RuntimeError):
    pass


def htmx_directory() -> Path:
    """The folder holding htmx.min.js in the installed distribution (found, not imported)."""
    spec = importlib.util.find_spec(HTMX_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "static" / "htmx"
        if (folder / "htmx.min.js").is_file():
            return folder
    raise MissingAsset(
        "htmx.min.js not found: install the hub with its dependencies "
        "(pip install -e .), which include django-js-lib-htmx"
    )


def asset_routers() -> list[Router]:
    return [
        create_static_files_router(
            path=STATIC_PATH,
            directories=[STATIC],
            opt=OPT,
            include_in_schema=False,
            send_as_attachment=False,
            cache_control=CACHE,
            name="console.static",
        ),
        create_static_files_router(
            path=HTMX_PATH,
            directories=[htmx_directory()],
            opt=OPT,
            include_in_schema=False,
            send_as_attachment=False,
            cache_control=CACHE,
            name="console.htmx",
        ),
    ]
