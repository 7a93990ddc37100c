"""Liveness, readiness (the database answers) and Prometheus metrics."""

from __future__ import annotations

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusController
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
)
async def ready(hub: HubDep) -> Response[HealthOut]:
    try:
        async with hub.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; say which
        body = HealthOut("unavailable", {"database": f"{type(exc).__name__}: {exc}"})
        return Response(body, status_code=503)
    return Response(HealthOut("ok", {"database": "ok"}))


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = {"public": True}
    include_in_schema = False
