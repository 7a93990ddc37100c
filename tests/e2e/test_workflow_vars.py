"""Definition `vars` (constants expressions read, never templated) and `secret` form
fields (kept only as their HMAC-SHA256 under the hub's secret key), the two engine
additions industry packs use."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from hub.bootstrap import Hub
from hub.engine.definition import DefinitionInvalid, parse_definition
from tests.conftest import World
from tests.support.workflow_helpers import history, publish, start, wait_for

WORKFLOW = """
name: with-vars
version: 1.0.0
vars: {limit: 10, area: "a${input.x}", groups: [operators]}
start: ask
steps:
  ask:
    type: user_task
    title: Key please
    form: [{id: key, type: secret, required: true}]
    next: done
  done:
    type: end
    output: {over: "${input.value > vars.limit}", area: "${vars.area}",
             key: "${steps.ask.output.key}"}
"""


def test_vars_are_constants_and_secrets_are_digests(world: World, hub: Hub) -> None:
    client, op = world.client, world.as_("acme-operator")
    assert publish(client, world.as_("acme-engineer"), WORKFLOW).status_code == 201
    run = start(client, op, "with-vars", {"value": 12, "x": 1})
    wait_for(client, op, run["id"], ("waiting",))
    task = client.get("/api/v1/tenants/acme/tasks?scope=open", headers=op).json()["items"][0]
    done = client.post(f"/api/v1/tenants/acme/tasks/{task['id']}/complete",
                       json={"values": {"key": "open-sesame"}}, headers=op)  # fmt: skip
    assert done.status_code == 200, done.text
    key = hub.settings.secret_key.encode()
    digest = "hmac-sha256:" + hmac.new(key, b"open-sesame", hashlib.sha256).hexdigest()
    assert done.json()["values"]["key"] == digest
    # keyed: the bare SHA-256 of a guess does not match what the history shows
    assert hashlib.sha256(b"open-sesame").hexdigest() not in done.text
    output = wait_for(client, op, run["id"])["output"]
    # a "${...}" inside vars is data: it is not evaluated
    assert output == {"over": True, "area": "a${input.x}", "key": digest}
    assert "open-sesame" not in str(history(client, op, run["id"]))


@pytest.mark.parametrize("bad", [[1, 2], "text", 5])
def test_vars_must_be_a_mapping(bad: object) -> None:
    body = {"name": "v", "version": "1.0.0", "vars": bad, "start": "e",
            "steps": {"e": {"type": "end"}}}  # fmt: skip
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(body)
    assert [p.field for p in info.value.problems] == ["vars"]
