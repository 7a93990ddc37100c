"""The data.map activity through the API: a bad literal mapping is a 422 at publish naming
its field; a good one maps a run's input (issue 15, item 7)."""

from __future__ import annotations

from tests.conftest import World
from tests.support.workflow_helpers import publish, start, wait_for

ENGINEER = "acme-engineer"
MAPPED = """
name: mapped
version: 1.0.0
start: map_order
steps:
  map_order:
    type: activity
    activity: data.map
    input:
      input: "${{input}}"
      mapping:
        fields:
          - {{target: order.id, path: $.id, transform: {transform}}}
          - {{target: order.title, template: "Order {{id}} for {{customer.name}}"}}
    next: done
  done: {{type: end, output: "${{steps.map_order.output}}"}}
"""


def test_publish_with_a_bad_mapping_names_the_field(world: World) -> None:
    response = publish(world.client, world.as_(ENGINEER), MAPPED.format(transform="uppr"))
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    field = "steps.map_order.input.mapping.fields[0].transform"
    assert field in errors, errors
    assert "unknown transform 'uppr'" in errors[field]


def test_a_published_mapping_maps_the_run_input(world: World) -> None:
    client, eng = world.client, world.as_(ENGINEER)
    assert publish(client, eng, MAPPED.format(transform="upper")).status_code == 201
    run = start(client, eng, "mapped", {"id": "so-1", "customer": {"name": "ACME"}})
    done = wait_for(client, eng, run["id"], ("completed",))
    assert done["output"] == {"order": {"id": "SO-1", "title": "Order so-1 for ACME"}}
