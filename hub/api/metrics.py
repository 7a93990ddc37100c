"""GET /metrics for Prometheus: only for a scraper holding HUB_METRICS_TOKEN or a platform
admin (issue 12, item 11), since the series name tenants and their workflows.

The route skips the app-wide check (it is `public` there) and makes its own: the token is
compared in constant time, anything else must be a platform admin's access token. Series
are recorded with tenant ids (stable, cheap on the hot path); the exposition shows slugs,
which a platform-level reader may see and which say more on a dashboard.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

from hub.api.deps import HubDep
from hub.api.guards import bearer_token
from hub.bootstrap import Hub
from hub.domain.errors import Forbidden, Unauthorized

TENANT_LABEL = "tenant"
REFUSED = "metrics need Authorization: Bearer <HUB_METRICS_TOKEN> or a platform admin's token"


@get("/metrics", opt={"public": True}, include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], hub: HubDep) -> Response[bytes]:
    await _authorize_scraper(request, hub)
    families = list(_registry().collect())
    ids = {s.labels[TENANT_LABEL] for f in families for s in f.samples if TENANT_LABEL in s.labels}
    slugs = await _slugs(hub, request.app.state.setdefault("metric_tenant_slugs", {}), ids)
    body = generate_latest(_Families(families, slugs))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def _authorize_scraper(request: Request[Any, Any, Any], hub: Hub) -> None:
    try:
        token = bearer_token(request.scope)
    except Unauthorized:
        raise Unauthorized(REFUSED) from None
    expected = hub.settings.metrics_token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    try:
        user_id = hub.tokens.verify(token).user_id
    except Unauthorized:
        raise Unauthorized(REFUSED) from None
    await hub.authorizer.refresh_if_stale()
    if not hub.authorizer.is_active(user_id):
        raise Unauthorized(REFUSED)
    if not hub.authorizer.is_platform_admin(user_id):
        raise Forbidden("only a platform admin or a scraper with HUB_METRICS_TOKEN reads metrics")


def _registry() -> Any:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


async def _slugs(hub: Hub, known: dict[str, str], ids: set[str]) -> dict[str, str]:
    """Slugs by tenant id, cached in the app (slugs never change)."""
    unknown = ids - known.keys()
    if unknown:
        found = await hub.tenants.slugs(sorted(unknown))
        known.update({i: found.get(i, i) for i in unknown})  # a miss stays an id, once
    return known


class _Families:
    """The collected families with tenant ids shown as slugs (for generate_latest)."""

    def __init__(self, families: list[Metric], slugs: dict[str, str]) -> None:
        self._families = families
        self._slugs = slugs

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            if not any(TENANT_LABEL in s.labels for s in family.samples):
                yield family
                continue
            shown = Metric(family.name, family.documentation, family.type, family.unit)
            shown.samples = [
                s._replace(labels={**s.labels, TENANT_LABEL: self._slug(s.labels)})
                if TENANT_LABEL in s.labels
                else s
                for s in family.samples
            ]
            yield shown

    def _slug(self, labels: dict[str, str]) -> str:
        value = labels[TENANT_LABEL]
        return self._slugs.get(value, value)
