"""The Litestar application: routes, the guard, problem+json, CORS, metrics, OpenAPI."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig

import hub
from hub.api.alarms import AlarmController, AlarmRuleController
from hub.api.audit import AuditController, public_key
from hub.api.audit_hooks import record_refusal
from hub.api.auth import AuthController, me
from hub.api.context import request_id_middleware
from hub.api.deps import provide_hub
from hub.api.devices import DeviceController
from hub.api.guards import authorize
from hub.api.health import MetricsController, live, ready
from hub.api.problems import EXCEPTION_HANDLERS
from hub.api.tenants import TenantController, TenantUserController
from hub.api.workflows import RunController, TaskController, WorkflowController
from hub.bootstrap import Hub


def create_app(the_hub: Hub, *, migrate_on_start: bool = True) -> Litestar:
    """An app serving `the_hub`; its lifespan starts and closes it."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await the_hub.start(migrate_schema=migrate_on_start, run_workers=True)
        # Everything loaded so far lives as long as the process; keeping it out of the
        # collector's generations stops full collections from stalling requests.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await the_hub.close()

    settings = the_hub.settings
    cors = CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None
    metrics = PrometheusConfig(
        app_name="hub", prefix="hub", group_path=True, exclude=["/metrics", "/health"]
    )
    return Litestar(
        route_handlers=[
            AuthController,
            me,
            TenantController,
            TenantUserController,
            AuditController,
            WorkflowController,
            RunController,
            TaskController,
            DeviceController,
            AlarmRuleController,
            AlarmController,
            public_key,
            live,
            ready,
            MetricsController,
        ],
        guards=[authorize],
        dependencies={"hub": Provide(provide_hub, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        state=State({"hub": the_hub}),
        lifespan=[lifespan],
        cors_config=cors,
        middleware=[request_id_middleware, metrics.middleware],
        after_exception=[record_refusal],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Industrial Hub API",
            version=hub.__version__,
            path="/schema",
            openapi_router=Router(
                "/schema", route_handlers=[], include_in_schema=False, opt={"public": True}
            ),
        ),
    )
