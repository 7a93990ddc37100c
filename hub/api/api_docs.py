"""The API's documentation page, served whole by the hub.

Litestar's default page loads Redoc from a CDN and fonts from Google, so on an air-gapped
plant network it stays blank. Swagger UI's files come from an installed package
(swagger-ui-bundle) and are served under /schema/assets, so the page needs nothing
outside the hub.
"""

from __future__ import annotations

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """The schema at /schema/openapi.json (and .yaml), the docs page at /schema."""
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        path="/swagger",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(
        title=title,
        version=version,
        path=SCHEMA_PATH,
        render_plugins=[swagger, JsonRenderPlugin(), YamlRenderPlugin()],
        openapi_router=Router(
            SCHEMA_PATH, route_handlers=[], include_in_schema=False, opt={"public": True}
        ),
    )


def docs_assets() -> Router:
    """Swagger UI's files from the installed package (read-only, no token needed)."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_path],
        opt={"public": True},
        include_in_schema=False,
        send_as_attachment=False,
    )
