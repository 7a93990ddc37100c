"""The Litestar application: routes, authorization, problem+json, CORS, metrics, OpenAPI."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State

import hub
from hub.api.alarms import AlarmController, AlarmRuleController
from hub.api.anchors import AnchorController, chain_rpc, entry_receipt, run_receipt
from hub.api.api_docs import docs_assets, openapi_config
from hub.api.audit import AuditController, public_key
from hub.api.audit_hooks import record_refusal
from hub.api.auth import AuthController, me
from hub.api.body_depth import body_depth_middleware
from hub.api.collaboration import (
    CollaborationController,
    OrganisationController,
    PartnerController,
    inbox,
)
from hub.api.console.app import console_handlers
from hub.api.contracts import document_problems
from hub.api.deps import hub_dependency
from hub.api.devices import DeviceController
from hub.api.egress import EgressController
from hub.api.enterprise import ConnectionController
from hub.api.events import EventController
from hub.api.guards import authorize_request
from hub.api.health import live, ready
from hub.api.metrics import metrics
from hub.api.observe import observe_middleware
from hub.api.packs import IncidentController, PackController
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
    app = Litestar(
        route_handlers=[
            AuthController,
            me,
            TenantController,
            TenantUserController,
            AuditController,
            WorkflowController,
            RunController,
            TaskController,
            AnchorController,  # issue 6: anchors and receipts
            entry_receipt,
            run_receipt,
            chain_rpc,
            DeviceController,
            AlarmRuleController,
            AlarmController,
            PackController,  # issue 7: industry packs and incidents
            IncidentController,
            EgressController,  # issue 12, item 3: egress rules
            EventController,  # issue 16: events from outside systems
            ConnectionController,  # issue 15: ERP connections
            OrganisationController,  # issue 18: collaboration between organisations
            PartnerController,
            CollaborationController,
            inbox,
            public_key,
            live,
            ready,
            metrics,  # issue 12: token or platform admin only
            docs_assets(),  # issue 14: the docs page's files, no CDN
            *console_handlers(the_hub),  # issue 17: the operator console at /ui/
        ],
        dependencies={"hub": hub_dependency(the_hub)},
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"hub": the_hub}),
        lifespan=[lifespan],
        cors_config=cors,
        middleware=[observe_middleware, body_depth_middleware],  # issue 12: body depth
        before_request=authorize_request,
        after_exception=[record_refusal],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config("Industrial Hub API", hub.__version__),
    )
    document_problems(app)  # issue 14, item 6: every route's problem+json answers
    return app
