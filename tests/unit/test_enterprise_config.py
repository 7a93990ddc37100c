"""ERP connection bodies (issue 15, item 1): every problem named by its field, URLs
normalised, secrets kept apart, and PATCH rules for secrets."""

from __future__ import annotations

from typing import Any

import pytest

from hub.domain.enterprise import ConnectionSecrets
from hub.domain.enterprise_config import (
    connection_dict,
    given_secrets,
    parse_connection,
    patch_connection,
    sealing_context,
    target,
    without_secrets,
)
from hub.domain.errors import ValidationFailed

BASIC = {"type": "basic", "username": "alice", "password": "s3cret-pw"}
OAUTH = {
    "type": "oauth2_client_credentials",
    "token_url": "https://login.example.com/oauth/token",
    "client_id": "hub",
    "client_secret": "client-s3cret",
    "scope": "api",
}


def body(**over: Any) -> dict[str, Any]:
    return {"name": "erp", "kind": "odata", "url": "https://erp.example.com/odata", **over}


def fields(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_connection(raw, tenant_id="t1")
    return [p.field for p in caught.value.problems]


def test_defaults_and_a_normalised_service_root() -> None:
    connection = parse_connection(body(), tenant_id="t1")
    assert connection.url == "https://erp.example.com/odata/"
    assert (connection.version, connection.timeout_s, connection.auth.type) == ("v4", 30.0, "none")
    assert connection.headers == {} and connection.profile is None and connection.revision == 1
    root = parse_connection(body(url="HTTP://erp.example.com:8080"), tenant_id="t1")
    assert root.url == "http://erp.example.com:8080/"
    assert target(root.url) == ("erp.example.com", 8080)
    assert target(connection.url) == ("erp.example.com", 443)


def test_basic_and_oauth_keep_their_secrets_apart_from_the_view() -> None:
    basic = parse_connection(body(auth=BASIC), tenant_id="t1")
    assert basic.secrets == ConnectionSecrets(password="s3cret-pw")
    assert connection_dict(basic)["auth"] == {"type": "basic", "username": "alice"}
    assert "s3cret-pw" not in repr(connection_dict(basic))
    oauth = parse_connection(body(auth=OAUTH, version="v2", timeout_s=5), tenant_id="t1")
    assert given_secrets(oauth) == {"client_secret": "client-s3cret"}
    assert oauth.auth.token_url == OAUTH["token_url"] and oauth.version == "v2"
    assert without_secrets(oauth).secrets == ConnectionSecrets()


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"url": "https://bob:pw@erp.example.com/odata/"}, "url"),
        ({"url": "https://bob@erp.example.com/odata/"}, "url"),
        ({"url": "ftp://erp.example.com/odata/"}, "url"),
        ({"url": "https:///odata/"}, "url"),
        ({"url": "https://erp.example.com/odata/?sap-client=100"}, "url"),
        ({"url": "https://erp.example.com/odata/#x"}, "url"),
        ({"url": "https://erp.example.com:99999/"}, "url"),
        ({"url": "https://erp.example.com/a b/"}, "url"),
        ({"url": 5}, "url"),
        ({"version": "v3"}, "version"),
        ({"kind": "soap"}, "kind"),
        ({"name": "-bad"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": 301}, "timeout_s"),
        ({"timeout_s": True}, "timeout_s"),
        ({"headers": {"Authorization": "Bearer x"}}, "headers.Authorization"),
        ({"headers": {"cookie": "a=b"}}, "headers.cookie"),
        ({"headers": {"X-CSRF-Token": "Fetch"}}, "headers.X-CSRF-Token"),
        ({"headers": {"Host": "evil"}}, "headers.Host"),
        ({"headers": {"Content-Length": "1"}}, "headers.Content-Length"),
        ({"headers": {"X-Ok": "line\r\nInjected: 1"}}, "headers.X-Ok"),
        ({"headers": {"bad name": "v"}}, "headers.bad name"),
        ({"headers": {"X-Ok": 1}}, "headers.X-Ok"),
        ({"headers": {f"X-{i}": "v" for i in range(21)}}, "headers"),
        ({"headers": {"X-Ok": "v" * 1025}}, "headers.X-Ok"),
        ({"profile": "S4HANA"}, "profile"),
        ({"other": 1}, "other"),
        ({"auth": {"type": "kerberos"}}, "auth.type"),
        ({"auth": "basic"}, "auth"),
        ({"auth": {"type": "basic", "username": "alice"}}, "auth.password"),
        ({"auth": {**BASIC, "username": "a:b"}}, "auth.username"),
        ({"auth": {**BASIC, "client_id": "x"}}, "auth.client_id"),
        ({"auth": {**OAUTH, "token_url": "https://u:p@login.example.com/t"}}, "auth.token_url"),
        ({"auth": {**OAUTH, "token_url": "file:///etc/passwd"}}, "auth.token_url"),
        ({"auth": {k: v for k, v in OAUTH.items() if k != "client_secret"}}, "auth.client_secret"),
        ({"auth": {"type": "none", "password": "x"}}, "auth.password"),
    ],
)
def test_each_problem_names_its_field(over: dict[str, Any], field: str) -> None:
    assert fields(body(**over)) == [field]


def test_problems_never_repeat_a_secret_or_the_url() -> None:
    raw = body(url="https://bob:hunter2@erp.example.com/", auth={**BASIC, "password": 7})
    with pytest.raises(ValidationFailed) as caught:
        parse_connection(raw, tenant_id="t1")
    assert "hunter2" not in caught.value.detail and "bob" not in caught.value.detail
    assert [p.field for p in caught.value.problems] == ["url", "auth.password"]


def test_every_problem_at_once() -> None:
    assert fields({"name": "", "url": "ftp://x/", "version": "v1", "timeout_s": -1}) == [
        "name",
        "url",
        "version",
        "timeout_s",
    ]


def test_a_patch_keeps_the_stored_secret_while_the_type_stays() -> None:
    current = without_secrets(parse_connection(body(auth=BASIC), tenant_id="t1"))
    renamed = patch_connection(
        current, {"password"}, {"auth": {"type": "basic", "username": "bob"}}
    )
    assert renamed.auth.username == "bob" and renamed.secrets.password is None  # kept
    assert renamed.revision == 2
    moved = patch_connection(current, {"password"}, {"url": "https://erp2.example.com/x/"})
    assert moved.url == "https://erp2.example.com/x/" and moved.auth.username == "alice"
    changed = patch_connection(current, {"password"}, {"auth": {**BASIC, "password": "new-pw"}})
    assert changed.secrets.password == "new-pw"


def test_a_patch_that_changes_the_auth_type_must_bring_its_secret() -> None:
    current = without_secrets(parse_connection(body(auth=BASIC), tenant_id="t1"))
    no_secret = {k: v for k, v in OAUTH.items() if k != "client_secret"}
    with pytest.raises(ValidationFailed) as caught:
        patch_connection(current, {"password"}, {"auth": no_secret})
    assert [p.field for p in caught.value.problems] == ["auth.client_secret"]
    switched = patch_connection(current, {"password"}, {"auth": OAUTH})
    assert switched.auth.type == "oauth2_client_credentials"
    dropped = patch_connection(current, {"password"}, {"auth": {"type": "none"}})
    assert dropped.auth.type == "none" and given_secrets(dropped) == {}


def test_a_patch_cannot_rename_or_change_the_kind() -> None:
    current = parse_connection(body(), tenant_id="t1")
    with pytest.raises(ValidationFailed) as caught:
        patch_connection(current, set(), {"name": "other", "kind": "odata", "x": 1})
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("kind", "cannot be changed"),
        ("name", "cannot be changed"),
        ("x", "unknown field"),
    ]


def test_sealing_contexts_bind_tenant_connection_and_field() -> None:
    contexts = {
        sealing_context("t1", "erp", "password"),
        sealing_context("t2", "erp", "password"),
        sealing_context("t1", "erp2", "password"),
        sealing_context("t1", "erp", "client_secret"),
    }
    assert len(contexts) == 4
