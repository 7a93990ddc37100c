"""The API's contract in /schema/openapi.json (issue 14, item 6): every body typed, every
error documented as RFC 9457 problem+json, and real answers that match what it says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from litestar.testing import TestClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hub.bootstrap import Hub, ensure_platform_admin
from tests.conftest import ADMIN, PASSWORD, bearer, login

METHODS = ("get", "put", "post", "patch", "delete")
PROBLEM_JSON = "application/problem+json"
SPEC_URI = "urn:hub:openapi"
# Litestar's own error shape, which the API never answers with.
LITESTAR_ERROR_FIELDS = {"status_code", "extra"}


@pytest.fixture
def spec(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_request_body_is_typed_or_documented_as_open(spec: dict[str, Any]) -> None:
    bodies = 0
    for path, method, operation in _operations(spec):
        body = operation.get("requestBody")
        if body is None:
            continue
        bodies += 1
        where = f"{method.upper()} {path}"
        assert "application/json" in body["content"], where
        for media_type in body["content"].values():
            schema = _resolve(spec, media_type["schema"])
            typed = bool(schema.get("properties"))
            open_object = schema.get("type") == "object" and "additionalProperties" in schema
            open_value = "type" not in schema and bool(schema.get("description"))
            assert typed or open_object or open_value, f"{where}: {schema}"
    # devices, alarm rules, workflows, runs, signals, tasks, packs, incidents, tenants...
    assert bodies >= 20


def test_every_successful_json_answer_has_a_schema(spec: dict[str, Any]) -> None:
    answers = 0
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if not status.startswith("2"):
                continue
            for media_type, content in response.get("content", {}).items():
                if "json" not in media_type:
                    continue
                answers += 1
                schema = _resolve(spec, content["schema"])
                assert schema.get("properties") or schema.get("items"), (
                    f"{method.upper()} {path} {status}: {schema}"
                )
    assert answers >= len(_operations(spec)) - 1  # the diagram is text/plain


def test_every_error_is_documented_as_problem_json(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert {"type", "title", "status", "detail", "instance"} <= set(schemas["Problem"]["required"])
    assert "errors" in schemas["ValidationProblem"]["required"]
    for path, method, operation in _operations(spec):
        where = f"{method.upper()} {path}"
        errors = {
            status: response
            for status, response in operation["responses"].items()
            if status.startswith("4") or (status.startswith("5") and path != "/health/ready")
        }
        if "{tenant}" in path:
            assert {"401", "403", "404"} <= set(errors), where
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(errors), where
        for status, response in errors.items():
            assert list(response["content"]) == [PROBLEM_JSON], f"{where} {status}"
            ref = response["content"][PROBLEM_JSON]["schema"]["$ref"]
            expected = "ValidationProblem" if status == "422" else "Problem"
            assert ref == f"#/components/schemas/{expected}", f"{where} {status}"
    text = json.dumps(spec)
    assert '"status_code"' not in text and "Validation Exception" not in text


class Contract:
    """Checks an answer against what the spec documents for its route and status."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, response: Any, method: str, path: str) -> Any:
        responses = self.spec["paths"][path][method]["responses"]
        status = str(response.status_code)
        assert status in responses, f"{method.upper()} {path} answered {status}: {response.text}"
        media_type = response.headers["content-type"].split(";")[0]
        content = responses[status]["content"]
        assert media_type in content, f"{method.upper()} {path} {status}: {media_type}"
        schema = json.loads(
            json.dumps(content[media_type]["schema"]).replace('"#/', f'"{SPEC_URI}#/')
        )
        errors = list(
            Draft202012Validator(schema, registry=self.registry).iter_errors(response.json())
        )
        assert not errors, f"{method.upper()} {path} {status}: {errors[0]}"
        self.checked.add((method, path, response.status_code))
        return response.json()


T = "/api/v1/tenants/{tenant}"
DEVICE = {
    "name": "press-1",
    "protocol": "modbus",
    "endpoint": "modbus-tcp://127.0.0.1:1502",
    "enabled": False,
    "tags": [
        {"name": "temp", "datatype": "float32", "register": "holding", "address": 0},
        {"name": "ok", "datatype": "bool", "register": "coil", "address": 1, "writable": True},
    ],
}
WORKFLOW = {"name": "noop", "version": "1.0.0", "start": "done", "steps": {"done": {"type": "end"}}}


def test_real_answers_match_the_documented_schemas(
    client: TestClient[Any], hub: Hub, spec: dict[str, Any]
) -> None:
    contract = Contract(spec)
    with client.portal() as portal:
        portal.call(ensure_platform_admin, hub, ADMIN, PASSWORD)
    admin = bearer(login(client, ADMIN)["access_token"])
    base = "/api/v1/tenants/acme"

    def call(
        method: str, path: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        sent = {**admin, **(headers or {})}
        response = client.request(method.upper(), url, headers=sent, **kwargs)
        return contract.check(response, method, path)

    call("post", "/api/v1/tenants", "/api/v1/tenants", json={"slug": "acme", "name": "Acme"})
    call("get", "/api/v1/me", "/api/v1/me")
    call("get", "/api/v1/tenants", "/api/v1/tenants")
    call("get", "/api/v1/tenants/{tenant}/users", f"{base}/users")

    device = call("post", f"{T}/devices", f"{base}/devices", json=DEVICE)
    one = f"{base}/devices/{device['id']}"
    call("get", f"{T}/devices", f"{base}/devices")
    call("get", f"{T}/devices/{{device_id}}", one)
    call("patch", f"{T}/devices/{{device_id}}", one, json={"poll_interval_ms": 500})
    call("get", f"{T}/devices/{{device_id}}/status", f"{one}/status")
    call("get", f"{T}/devices/{{device_id}}/tags", f"{one}/tags")
    call("get", f"{T}/devices/{{device_id}}/tags/{{tag}}/history", f"{one}/tags/temp/history")

    rule = {"device": "press-1", "tag": "temp", "priority": "high", "area": "hall-1", "hi": 80}
    alarm = call("post", f"{T}/alarm-rules", f"{base}/alarm-rules", json=rule)
    rules = f"{base}/alarm-rules/{alarm['id']}"
    call("get", f"{T}/alarm-rules", f"{base}/alarm-rules")
    call("get", f"{T}/alarm-rules/{{alarm_id}}", rules)
    call("patch", f"{T}/alarm-rules/{{alarm_id}}", rules, json={"hi": 90, "in_service": True})
    call("get", f"{T}/alarms", f"{base}/alarms", params={"state": "all"})
    call("get", f"{T}/alarms/{{alarm_id}}", f"{base}/alarms/{alarm['id']}")
    call("delete", f"{T}/alarm-rules/{{alarm_id}}", rules)

    call("post", f"{T}/workflows", f"{base}/workflows", json=WORKFLOW)
    call("get", f"{T}/workflows", f"{base}/workflows")
    call("get", f"{T}/workflows/{{name}}", f"{base}/workflows/noop")
    call("get", f"{T}/workflows/{{name}}/{{version}}", f"{base}/workflows/noop/1.0.0")
    run = call("post", f"{T}/runs", f"{base}/runs", json={"workflow": "noop"})
    call("get", f"{T}/runs", f"{base}/runs")
    call("get", f"{T}/runs/{{run_id}}", f"{base}/runs/{run['id']}")
    call("get", f"{T}/runs/{{run_id}}/history", f"{base}/runs/{run['id']}/history")
    call("get", f"{T}/tasks", f"{base}/tasks", params={"scope": "all"})

    call("get", f"{T}/packs", f"{base}/packs")
    call("get", f"{T}/incidents", f"{base}/incidents")
    call("get", f"{T}/egress", f"{base}/egress")
    entries = call("get", f"{T}/audit", f"{base}/audit")
    head = call("get", f"{T}/audit/head", f"{base}/audit/head")
    call("get", f"{T}/audit/{{seq}}", f"{base}/audit/1")
    call("get", f"{T}/audit/{{seq}}/proof", f"{base}/audit/1/proof")
    sizes = {"first": 1, "second": head["tree_size"]}
    call("get", f"{T}/audit/consistency", f"{base}/audit/consistency", params=sizes)
    call("get", f"{T}/audit/anchors", f"{base}/audit/anchors")
    call("get", "/api/v1/audit/public-key", "/api/v1/audit/public-key")
    call("delete", f"{T}/devices/{{device_id}}", one)
    assert entries["items"]

    # Problems, each as documented for its route.
    call("post", f"{T}/devices", f"{base}/devices", content=b"{not json")  # 400
    call("post", f"{T}/devices", f"{base}/devices", json={**DEVICE, "protocol": "x"})  # 422
    call("post", "/api/v1/tenants", "/api/v1/tenants", json={"slug": "acme", "name": "A"})  # 409
    call("get", f"{T}/devices", "/api/v1/tenants/nowhere/devices")  # 404
    unknown_type = {"content-type": "text/x-unknown"}
    call("post", f"{T}/workflows", f"{base}/workflows", content=b"x", headers=unknown_type)  # 415
    no_token = client.get(f"{base}/devices")
    contract.check(no_token, "get", f"{T}/devices")  # 401
    statuses = {status for _, _, status in contract.checked}
    assert {200, 201, 400, 401, 404, 409, 415, 422} <= statuses
    assert len(contract.checked) >= 40
