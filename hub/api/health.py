"""Liveness and readiness (the database answers); metrics are in hub/api/metrics.py."""

from __future__ import annotations

from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text

from hub.api.deps import HubDep
from hub.api.schemas import HealthOut


@get("/health/live", opt={"public": True}, tags=["health"], summary="The process is up")
async def live() -> HealthOut:
    return HealthOut("ok")


@get(
    "/health/ready",
    opt={"public": True},
    tags=["health"],
    summary="The hub can serve: the database answers",
    responses={
        503: ResponseSpec(
            HealthOut, generate_examples=False, description="Not ready: `checks` says why"
        )
    },
)
async def ready(hub: HubDep) -> Response[HealthOut]:
    try:
        if hub.engine is None:  # a hub built on a unit of work handed in has no engine
            raise RuntimeError("the hub has no database engine of its own")
        async with hub.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; say which
        body = HealthOut("unavailable", {"database": f"{type(exc).__name__}: {exc}"})
        return Response(body, status_code=503)
    return Response(HealthOut("ok", {"database": "ok"}))
