"""Bad input to the collaboration API and the federation inbox: a 4xx problem naming what
is wrong, nothing changed, never a 500."""

from __future__ import annotations

import json
import time

from hub.security.federation import (
    CLOUDEVENTS_CONTENT_TYPE,
    OrganisationKeys,
    encode_event,
    new_event,
    sign_request,
)
from tests.conftest import World
from tests.e2e.collaboration.test_one_hub import ACME, _org, befriend, partner_body
from tests.support.waiting import eventually

INBOX = "/federation/v1/organisations/{org}"


def test_bad_definitions_and_partners_are_422_naming_the_fields(world: World) -> None:
    operator, admin = world.as_("acme-operator"), world.as_("acme-tenant_admin")
    bad = world.client.post(
        f"{ACME}/collaborations",
        json={"name": "", "participants": [{"organisation": "nobody"}], "tasks": []},
        headers=operator,
    )
    assert bad.status_code == 422, bad.text
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"name", "participants", "tasks"} <= fields
    not_partner = world.client.post(
        f"{ACME}/collaborations",
        json={
            "name": "x",
            "participants": [
                {"organisation": "self", "role": "initiator"},
                {"organisation": "stranger"},
            ],
            "tasks": [{"id": "t", "type": "activity", "assigned_to": "stranger"}],
        },
        headers=operator,
    )
    assert not_partner.status_code == 422
    assert not_partner.json()["errors"][0]["field"] == "participants[1].organisation"
    globex = _org(world, "globex")
    for change, field in (
        ({"public_key": "AAAA"}, "public_key"),
        ({"endpoint_url": "ftp://x"}, "endpoint_url"),
        ({"name": "x" * 500}, "name"),
        ({"surprise": 1}, "body"),
    ):
        answer = world.client.post(
            f"{ACME}/partners", json={**partner_body(globex), **change}, headers=admin
        )
        assert answer.status_code == 422, (change, answer.text)
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.text
    own = world.client.post(
        f"{ACME}/partners", json=partner_body(_org(world, "acme")), headers=admin
    )
    assert own.status_code == 422
    assert world.client.get(f"{ACME}/partners", headers=admin).json()["items"] == []


def test_a_result_too_deep_or_too_large_is_422(world: World) -> None:
    _, globex = befriend(world)
    body = {
        "name": "bounds",
        "participants": [
            {"organisation": "self", "role": "initiator"},
            {"organisation": globex["org_id"]},
        ],
        "tasks": [{"id": "t", "type": "activity", "assigned_to": "self"}],
    }
    operator = world.as_("acme-operator")
    collab_id = world.client.post(f"{ACME}/collaborations", json=body, headers=operator).json()[
        "id"
    ]
    ready = f"{ACME}/collaborations/{collab_id}"
    eventually(lambda: world.client.get(ready, headers=operator).json()["status"] == "ready")
    assert world.client.post(f"{ready}/start", headers=operator).status_code == 200
    deep: dict[str, object] = {}
    node = deep
    for _ in range(30):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]
    url = f"{ACME}/collaborations/{collab_id}/tasks/t/result"
    for result in (deep, {"blob": "x" * 300_000}, ["not", "an", "object"]):
        answer = world.client.post(url, json={"result": result}, headers=operator)
        assert answer.status_code == 422, answer.text
    stray = world.client.post(url, json={"result": {}, "extra": 1}, headers=operator)
    assert stray.status_code == 422


def test_the_inbox_refuses_garbage_unsigned_and_misaddressed_messages(world: World) -> None:
    acme = _org(world, "acme")
    url = INBOX.format(org=acme["org_id"])
    headers = {"content-type": CLOUDEVENTS_CONTENT_TYPE}
    cases = [
        (b"not json", headers, 400),
        (b"[" * 10_000, headers, 400),
        (b'{"specversion": "0.3"}', headers, 400),
        (json.dumps({"specversion": "1.0", "id": "1", "source": "x", "type": "t"}).encode(),
         headers, 401),  # well formed, unsigned
        (b"{}", {"content-type": "text/plain"}, 415),
    ]  # fmt: skip
    for body, sent, status in cases:
        answer = world.client.post(url, content=body, headers=sent)
        assert answer.status_code == status, (body[:40], answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    unknown = world.client.post(INBOX.format(org="nobody"), content=b"{}", headers=headers)
    assert unknown.status_code == 404
    # signed by a key nobody registered, claiming to be acme's partner: refused, audited
    keys = OrganisationKeys.generate()
    event = new_event(
        type="org.industrialhub.direct_message",
        source="http://attacker.example",
        subject=None,
        data={"hi": 1},
        extensions={"orgid": keys.public().org_id},
    )
    body = encode_event(event)
    full = "http://127.0.0.1:8000" + url
    signed = sign_request(keys, "POST", full, body, CLOUDEVENTS_CONTENT_TYPE, now=time.time())
    forged = world.client.post(url, content=body, headers=signed)
    assert forged.status_code == 401, forged.text
    refusals = world.client.get(
        f"{ACME}/audit?action=federation.message.refuse", headers=world.as_("acme-auditor")
    ).json()["items"]
    assert any(r["details"].get("event_id") == event["id"] for r in refusals)
