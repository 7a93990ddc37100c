"""/metrics (issue 12, item 11): the series name tenants and workflows, so only a scraper
holding HUB_METRICS_TOKEN or a platform admin reads them; tenants appear by slug."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from hub.settings import Settings, SettingsError, load_settings
from tests.conftest import World, bearer
from tests.support.workflow_helpers import publish, start, wait_for

TOKEN = "scraper-token-" + "x" * 32


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, metrics_token=TOKEN)


def _problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


def test_metrics_without_a_token_are_401(world: World) -> None:
    body = _problem(world.client.get("/metrics"))
    assert "HUB_METRICS_TOKEN" in str(body["detail"])


@pytest.mark.parametrize(
    "header",
    [
        bearer(TOKEN[:-1] + "y"),  # one character off
        bearer(TOKEN + "x"),  # longer
        bearer("not-a-jwt"),
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_metrics_with_a_wrong_token_are_401(world: World, header: dict[str, str]) -> None:
    _problem(world.client.get("/metrics", headers=header))


def test_metrics_with_the_scraper_token_show_tenant_slugs_not_ids(world: World) -> None:
    engineer = world.as_("acme-engineer")
    publish(
        world.client,
        engineer,
        "name: scraped\nversion: 1.0.0\nstart: a\nsteps:\n"
        "  a: {type: activity, activity: noop, next: done}\n  done: {type: end}\n",
    )
    wait_for(world.client, engineer, start(world.client, engineer, "scraped")["id"])
    answer = world.client.get("/metrics", headers=bearer(TOKEN))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    tenant_id = world.client.get("/api/v1/tenants/acme", headers=world.as_("platform_admin"))
    lines = [line for line in answer.text.splitlines() if 'workflow="scraped"' in line]
    assert any(line.startswith("hub_workflow_duration_seconds") for line in lines)
    assert all('tenant="acme"' in line for line in lines), lines
    assert tenant_id.json()["id"] not in answer.text


def test_metrics_for_a_platform_admin_but_not_a_tenant_admin(world: World) -> None:
    assert world.client.get("/metrics", headers=world.as_("platform_admin")).status_code == 200
    refused = world.client.get("/metrics", headers=world.as_("acme-tenant_admin"))
    assert refused.status_code == 403, refused.text


def test_a_short_metrics_token_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="HUB_METRICS_TOKEN must be at least 32"):
        load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_METRICS_TOKEN": "short"})
