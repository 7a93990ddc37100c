"""Ed25519 keys, key documents and signed tree heads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from audit.signing import (
    generate_private_key,
    key_id,
    load_or_create_private_key,
    load_public_key_document,
    public_key_document,
    public_key_raw,
    sign_tree_head,
    tree_head_payload,
    verify_tree_head,
)

ROOT = "ab" * 32
WHEN = "2025-03-01T12:00:00Z"


def test_key_id_and_document() -> None:
    key = generate_private_key()
    raw = public_key_raw(key)
    assert raw == public_key_raw(key.public_key()) and len(raw) == 32
    assert key_id(key.public_key()) == hashlib.sha256(raw).digest()[:8].hex()
    assert key_id(raw) == key_id(key)
    doc = public_key_document(key.public_key())
    assert doc["algorithm"] == "ed25519"
    assert doc["key_id"] == key_id(key)
    assert base64.b64decode(doc["public_key"]) == raw
    assert doc["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert json.loads(json.dumps(doc)) == doc
    assert public_key_raw(load_public_key_document(doc)) == raw
    only_pem = {"algorithm": "ed25519", "pem": doc["pem"]}
    assert public_key_raw(load_public_key_document(only_pem)) == raw


@pytest.mark.parametrize(
    "change",
    [
        {"algorithm": "rsa"},
        {"public_key": "not base64!"},
        {"public_key": base64.b64encode(b"short").decode()},
        {"key_id": "0000000000000000"},
        {"pem": "garbage"},
        {"public_key": None, "pem": None},
    ],
)
def test_bad_key_documents(change: dict[str, Any]) -> None:
    doc: dict[str, Any] = {**public_key_document(generate_private_key().public_key()), **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(ValueError):
        load_public_key_document(doc)


def test_document_whose_pem_and_raw_key_disagree() -> None:
    doc = public_key_document(generate_private_key().public_key())
    doc["pem"] = public_key_document(generate_private_key().public_key())["pem"]
    del doc["key_id"]
    with pytest.raises(ValueError, match="different keys"):
        load_public_key_document(doc)


def test_load_or_create(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    created = load_or_create_private_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_raw(load_or_create_private_key(path)) == public_key_raw(created)
    assert [p.name for p in path.parent.iterdir()] == ["audit.pem"]


def test_concurrent_creation_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.pem"
    results: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(public_key_raw(load_or_create_private_key(path)))
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 8


def test_load_refuses_other_key_types(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    with pytest.raises(ValueError, match="not an Ed25519"):
        load_or_create_private_key(path)


def test_payload_is_canonical_and_binds_the_tenant() -> None:
    payload = tree_head_payload("acme", 7, ROOT, WHEN)
    assert payload == (
        b'{"root_hash":"'
        + ROOT.encode()
        + b'","tenant":"acme","timestamp":"'
        + WHEN.encode()
        + b'","tree_size":7}'
    )


def test_sign_and_verify() -> None:
    key = generate_private_key()
    head = sign_tree_head(key, "acme", 7, ROOT, WHEN)
    assert set(head) == {"tree_size", "root_hash", "timestamp", "signature", "key_id"}
    assert head["key_id"] == key_id(key)
    assert len(base64.b64decode(head["signature"])) == 64
    assert verify_tree_head(key.public_key(), "acme", head)
    assert verify_tree_head(key.public_key(), "acme", json.loads(json.dumps(head)))
    assert not verify_tree_head(key.public_key(), "globex", head)
    assert not verify_tree_head(generate_private_key().public_key(), "acme", head)
    head_without_key_id = {k: v for k, v in head.items() if k != "key_id"}
    assert verify_tree_head(key.public_key(), "acme", head_without_key_id)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 8},
        {"tree_size": True},
        {"tree_size": -7},
        {"tree_size": "7"},
        {"root_hash": "cd" * 32},
        {"root_hash": None},
        {"timestamp": "2025-03-01T12:00:01Z"},
        {"signature": "%%%"},
        {"signature": base64.b64encode(b"x" * 63).decode()},
        {"signature": None},
        {"key_id": "ffffffffffffffff"},
    ],
)
def test_tampered_heads_fail(change: dict[str, Any]) -> None:
    key = generate_private_key()
    head = {**sign_tree_head(key, "acme", 7, ROOT, WHEN), **change}
    assert verify_tree_head(key.public_key(), "acme", head) is False


@pytest.mark.parametrize("head", [None, [], "head", 7, {"tree_size": 7}, {}])
def test_garbage_heads_fail(head: Any) -> None:
    assert verify_tree_head(generate_private_key().public_key(), "acme", head) is False


def test_garbage_keys_and_tenants_fail() -> None:
    key = generate_private_key()
    head = sign_tree_head(key, "acme", 7, ROOT, WHEN)
    assert verify_tree_head(None, "acme", head) is False  # type: ignore[arg-type]
    assert verify_tree_head(key, "acme", head) is False  # type: ignore[arg-type]
    assert verify_tree_head(key.public_key(), None, head) is False  # type: ignore[arg-type]
