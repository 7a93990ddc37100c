"""The sample ERP behaves as the OData adapter needs: server-driven paging in V4 and V2,
composite keys, Gateway-style CSRF tokens, ETags, atomic change sets, CAP-style errors,
and the failure hooks. Plain httpx, no hub code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.erp import PAGE_SIZE, READINGS, SampleErp


@pytest.fixture
def erp(sample_erp: SampleErp) -> Iterator[SampleErp]:
    """The session's sample ERP, with no injected failure left behind by a test."""
    sample_erp.reset()
    yield sample_erp
    sample_erp.reset()


@contextmanager
def signed_in(erp: SampleErp, version: str = "v4") -> Iterator[httpx.Client]:
    """A client holding a session cookie and a CSRF token, as the adapter will."""
    with erp.client(version) as client:
        fetched = client.get("", headers={"X-CSRF-Token": "Fetch"})
        assert fetched.status_code == 200, fetched.text
        client.headers["X-CSRF-Token"] = fetched.headers["x-csrf-token"]
        yield client


def unique(prefix: str, size: int = 12) -> str:
    return (prefix + uuid.uuid4().hex)[:size]


def test_v4_pages_all_readings_with_next_links(erp: SampleErp) -> None:
    ids: list[int] = []
    pages = 0
    with erp.client() as client:
        url: str | None = "Readings"
        while url is not None:
            response = client.get(url)
            assert response.status_code == 200, response.text
            body = response.json()
            assert len(body["value"]) <= PAGE_SIZE
            ids += [row["ID"] for row in body["value"]]
            pages += 1
            url = body.get("@odata.nextLink")  # relative to the service root
    # CAP links a next page whenever a page is full: 12 full pages, then an empty one.
    assert pages == READINGS // PAGE_SIZE + 1
    assert sorted(ids) == list(range(1, READINGS + 1))


def test_v2_pages_all_readings_with_next(erp: SampleErp) -> None:
    ids: list[int] = []
    with erp.client("v2", headers={"Accept": "application/json"}) as client:
        response = client.get("Readings", params={"$inlinecount": "allpages"})
        assert response.status_code == 200, response.text
        body = response.json()["d"]
        assert body["__count"] == str(READINGS)
        first = body["results"][0]
        assert first["RecordedAt"].startswith("/Date(")
        assert first["__metadata"]["uri"].endswith("Readings(1)")
        while True:
            ids += [row["ID"] for row in body["results"]]
            if "__next" not in body:
                break
            response = client.get(body["__next"])  # absolute
            assert response.status_code == 200, response.text
            body = response.json()["d"]
    assert sorted(ids) == list(range(1, READINGS + 1))


def test_composite_key_reads(erp: SampleErp) -> None:
    key = "MaterialStock(Material='M1',Plant='1000')"
    with erp.client() as client:
        row = client.get(key).json()
    assert (row["Material"], row["Plant"], row["Unit"]) == ("M1", "1000", "PC")
    with erp.client("v2") as client:
        v2 = client.get(key, params={"$format": "json"}).json()["d"]
    assert v2["Quantity"] == str(row["Quantity"])  # V2 JSON writes decimals as strings
    assert v2["__metadata"]["uri"].endswith(key)


def test_anonymous_requests_are_refused(erp: SampleErp) -> None:
    response = httpx.get(f"{erp.v4_url}/Customers")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_csrf_token_required_fetched_and_expired(erp: SampleErp) -> None:
    new = {"Equipment": unique("PUMP-"), "Description": "leak", "Priority": 2}
    with erp.client() as client:
        refused = client.post("MaintenanceRequests", json=new)
        assert refused.status_code == 403
        assert refused.headers["x-csrf-token"] == "Required"
        fetched = client.get("$metadata", headers={"x-csrf-token": "fetch"})
        token = fetched.headers["x-csrf-token"]
        assert token and token != "Required"
        assert client.cookies  # the session the token belongs to
        created = client.post("MaintenanceRequests", json=new, headers={"x-csrf-token": token})
        assert created.status_code == 201, created.text
        erp.expire_csrf()
        stale = client.post("MaintenanceRequests", json=new, headers={"x-csrf-token": token})
        assert stale.status_code == 403
        assert stale.headers["x-csrf-token"] == "Required"
        again = client.get("", headers={"x-csrf-token": "Fetch"}).headers["x-csrf-token"]
        retried = client.post("MaintenanceRequests", json=new, headers={"x-csrf-token": again})
        assert retried.status_code == 201, retried.text
    assert erp.stats()["csrfRejected"] == 2


def test_v2_merge_needs_the_token_too(erp: SampleErp) -> None:
    with erp.client("v2", headers={"Accept": "application/json"}) as client:
        response = client.request("MERGE", "Customers('C100')", json={"Name": "Acme Manufacturing"})
    assert response.status_code == 403
    assert response.headers["x-csrf-token"] == "Required"


def test_etag_changes_on_every_update_and_a_stale_one_is_refused(erp: SampleErp) -> None:
    order_id = unique("T")
    with signed_in(erp) as client:
        created = client.post(
            "ProductionOrders",
            json={"ID": order_id, "Material": "M1", "Plant": "1000", "Quantity": 10},
        )
        assert created.status_code == 201, created.text
        path = f"ProductionOrders('{order_id}')"
        etags = [client.get(path).headers["etag"]]
        for quantity in (11, 12):  # two quick updates in a row
            updated = client.patch(
                path, json={"Quantity": quantity}, headers={"If-Match": etags[-1]}
            )
            assert updated.status_code == 200, updated.text
            etags.append(updated.headers["etag"])
        assert len(set(etags)) == 3
        stale = client.patch(path, json={"Quantity": 13}, headers={"If-Match": etags[0]})
        assert stale.status_code == 412
        missing = client.patch(path, json={"Quantity": 13})
        assert missing.status_code == 428  # CAP wants If-Match on an entity with an ETag
        assert client.get(path).json()["Quantity"] == 12


def test_actions_functions_and_errors(erp: SampleErp) -> None:
    with signed_in(erp) as client:
        completed = client.post(
            "ProductionOrders('1000003')/ProductionService.release",
            json={},
            headers={"If-Match": "*"},
        )
        assert completed.status_code == 409
        assert completed.json()["error"]["code"] == "ORDER_COMPLETED"
        before = client.get("checkAvailability(Material='M1',Plant='2000')").json()["value"]
        moved = client.post(
            "postGoodsMovement", json={"Material": "M1", "Plant": "2000", "Quantity": 5}
        )
        assert moved.status_code == 200, moved.text
        after = client.get("checkAvailability(Material='M1',Plant='2000')").json()["value"]
        assert after == before + 5
        reference = unique("hub-", 40)
        confirmation = {"OrderID": "1000005", "Yield": 1, "Scrap": 0, "ClientReference": reference}
        assert client.post("ProductionConfirmations", json=confirmation).status_code == 201
        duplicate = client.post("ProductionConfirmations", json=confirmation)
        assert duplicate.status_code == 409
        assert duplicate.json()["error"]["code"] == "DUPLICATE_CLIENT_REFERENCE"
    with signed_in(erp, "v2") as client:
        v2 = client.post(
            "ProductionOrders_release",
            params={"ID": "'1000003'"},
            headers={"Accept": "application/json", "If-Match": "*"},
        )
        assert v2.status_code == 409
        assert v2.json()["error"]["code"] == "ORDER_COMPLETED"
        assert v2.json()["error"]["message"]["value"].startswith("Production order 1000003")


def _multipart(boundary: str, parts: list[str]) -> bytes:
    return "\r\n".join([*parts, f"--{boundary}--", ""]).encode()


def _part(boundary: str, request: str, body: str | None = None, headers: str = "") -> list[str]:
    lines = [
        f"--{boundary}",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"{request} HTTP/1.1",
        "Content-Type: application/json",
        "Accept: application/json",
    ]
    if headers:
        lines.append(headers)
    return [*lines, "", body or ""]


def _rolled_back(client: httpx.Client, equipment: str, suffix: str = "") -> bool:
    # CAP's URL parser takes %20 for a space, not the "+" httpx writes for params=.
    condition = quote(f"Equipment eq '{equipment}'")
    found = client.get(f"MaintenanceRequests?$filter={condition}{suffix}")
    assert found.status_code == 200, found.text
    body = found.json()
    rows = body["d"]["results"] if "d" in body else body["value"]
    return rows == []


def test_v4_json_batch_change_set_is_atomic(erp: SampleErp) -> None:
    equipment = unique("B4J-")
    requests = [
        {
            "id": "1",
            "atomicityGroup": "g1",
            "method": "POST",
            "url": "MaintenanceRequests",
            "headers": {"content-type": "application/json"},
            "body": {"Equipment": equipment, "Priority": 2},
        },
        {
            "id": "2",
            "atomicityGroup": "g1",
            "method": "POST",
            "url": "postGoodsMovement",
            "headers": {"content-type": "application/json"},
            "body": {"Material": "M2", "Plant": "2000", "Quantity": -1_000_000},
        },
    ]
    with signed_in(erp) as client:
        response = client.post("$batch", json={"requests": requests})
        assert response.status_code == 200, response.text
        statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
        failed = next(r for r in response.json()["responses"] if r["id"] == "2")
        assert statuses["2"] == 409
        assert failed["body"]["error"]["code"] == "INSUFFICIENT_STOCK"
        assert _rolled_back(client, equipment)  # though CAP reports "1" as 201


def test_v4_multipart_batch_change_set_is_atomic(erp: SampleErp) -> None:
    equipment = unique("B4M-")
    body = _multipart(
        "batch_1",
        [
            "--batch_1",
            "Content-Type: multipart/mixed; boundary=changeset_1",
            "",
            *_part("changeset_1", "POST MaintenanceRequests", f'{{"Equipment":"{equipment}"}}'),
            *_part(
                "changeset_1",
                "POST postGoodsMovement",
                '{"Material":"M2","Plant":"2000","Quantity":-1000000}',
            ),
            "--changeset_1--",
        ],
    )
    with signed_in(erp) as client:
        response = client.post(
            "$batch", content=body, headers={"Content-Type": "multipart/mixed; boundary=batch_1"}
        )
        assert response.status_code == 200, response.text
        assert "HTTP/1.1 409 Conflict" in response.text
        assert "HTTP/1.1 201" not in response.text
        assert _rolled_back(client, equipment)


def test_v2_multipart_batch_change_set_is_atomic(erp: SampleErp) -> None:
    equipment = unique("B2M-")
    body = _multipart(
        "batch_1",
        [
            "--batch_1",
            "Content-Type: multipart/mixed; boundary=changeset_1",
            "",
            *_part("changeset_1", "POST MaintenanceRequests", f'{{"Equipment":"{equipment}"}}'),
            *_part(
                "changeset_1",
                "POST postGoodsMovement?Material='M2'&Plant='2000'&Quantity=-1000000M",
                "{}",
            ),
            "--changeset_1--",
            *_part("batch_1", "GET Customers('C100')"),
        ],
    )
    with signed_in(erp, "v2") as client:
        response = client.post(
            "$batch", content=body, headers={"Content-Type": "multipart/mixed; boundary=batch_1"}
        )
        assert response.status_code == 202, response.text
        statuses = [line for line in response.text.splitlines() if line.startswith("HTTP/1.1")]
        assert statuses == ["HTTP/1.1 409 Conflict", "HTTP/1.1 200 OK"]  # then the GET
        assert "INSUFFICIENT_STOCK" in response.text
        assert _rolled_back(client, equipment, "&$format=json")


def test_fail_hook_answers_503_with_retry_after_then_recovers(erp: SampleErp) -> None:
    erp.fail(503, count=2, retry_after=1)
    with erp.client() as client:
        for _ in range(2):
            failed = client.get("Customers")
            assert failed.status_code == 503
            assert failed.headers["retry-after"] == "1"
            assert failed.json()["error"]["code"] == "503"
        assert client.get("Customers").status_code == 200
    erp.fail(500, count=1)
    with erp.client("v2") as client:
        failed = client.get("Customers", params={"$format": "json"})
        assert failed.status_code == 500
        assert "retry-after" not in failed.headers
        assert failed.json()["error"]["message"]["value"]  # the V2 error shape
    erp.fail(503, count=5)
    erp.reset()
    with erp.client() as client:
        assert client.get("Customers").status_code == 200


def test_csrf_can_be_switched_off(tmp_path: Any) -> None:
    from tests.support.erp import running_sample_erp

    with running_sample_erp(tmp_path / "erp.log", csrf=False) as erp, erp.client() as client:
        created = client.post(
            "MaintenanceRequests", json={"Equipment": unique("NOCSRF-"), "Priority": 1}
        )
        assert created.status_code == 201, created.text
