"""Ed25519 keys and signed tree heads.

A signed tree head binds tenant, size, root and time: without the tenant one tenant's
head could be replayed as another's, since tree sizes and even roots can coincide.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Mapping
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audit.canonical import canonical

__all__ = [
    "ALGORITHM",
    "generate_private_key",
    "key_id",
    "load_or_create_private_key",
    "load_private_key_pem",
    "load_public_key_document",
    "private_key_pem",
    "public_key_document",
    "public_key_raw",
    "sign_tree_head",
    "tree_head_payload",
    "verify_tree_head",
]

ALGORITHM = "ed25519"
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32

AnyKey = Ed25519PrivateKey | Ed25519PublicKey


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The key as unencrypted PEM (PKCS8)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key_pem(pem: bytes, where: str = "the PEM") -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{where} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def _load_private_pem(path: Path) -> Ed25519PrivateKey:
    return load_private_key_pem(path.read_bytes(), str(path))


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """Load the PEM (PKCS8) key at `path`, creating it with mode 0600 if it is missing.

    The new key is written to a private temporary file and hard-linked into place, so a
    concurrent starter never reads a half-written key and two starters cannot each keep
    a different key: whoever links second loads the winner's.
    """
    path = Path(path)
    if path.exists():
        return _load_private_pem(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    # mkstemp creates the file 0600 regardless of umask.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-audit-key-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(private_key_pem(key))
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return _load_private_pem(path)
    finally:
        os.unlink(tmp_name)
    return key


def _public(key: AnyKey) -> Ed25519PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def public_key_raw(key: AnyKey) -> bytes:
    """The 32 raw public key bytes (of a public key, or of a private key's public half)."""
    return _public(key).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: AnyKey | bytes) -> str:
    """Hex of the first 8 bytes of SHA-256 of the raw public key."""
    raw = public_key if isinstance(public_key, bytes) else public_key_raw(public_key)
    return sha256(raw).digest()[:8].hex()


def public_key_document(public_key: AnyKey) -> dict[str, str]:
    """A JSON-ready description of the key, for /.well-known style publication and bundles."""
    public = _public(public_key)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(public),
        "public_key": base64.b64encode(public_key_raw(public)).decode("ascii"),
        "pem": pem.decode("ascii"),
    }


def load_public_key_document(doc: object) -> Ed25519PublicKey:
    """The key described by a `public_key_document`; ValueError if it is not one.

    When the document carries several forms of the key they must agree, so a reader
    that trusts one field cannot be shown a different key in another.
    """
    if not isinstance(doc, Mapping):
        raise ValueError("public key document is not an object")
    if doc.get("algorithm") != ALGORITHM:
        raise ValueError(f"unsupported key algorithm {doc.get('algorithm')!r}")
    keys: list[Ed25519PublicKey] = []
    encoded = doc.get("public_key")
    if encoded is not None:
        try:
            raw = base64.b64decode(str(encoded), validate=True)
        except binascii.Error as exc:
            raise ValueError("public_key is not base64") from exc
        if len(raw) != PUBLIC_KEY_SIZE:
            raise ValueError("public_key is not 32 bytes")
        keys.append(Ed25519PublicKey.from_public_bytes(raw))
    pem = doc.get("pem")
    if pem is not None:
        try:
            loaded = serialization.load_pem_public_key(str(pem).encode("ascii", "replace"))
        except UnsupportedAlgorithm as exc:
            raise ValueError("pem holds an unsupported key type") from exc
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("pem is not an Ed25519 public key")
        keys.append(loaded)
    if not keys:
        raise ValueError("public key document holds no key")
    raws = {public_key_raw(k) for k in keys}
    if len(raws) != 1:
        raise ValueError("public_key and pem are different keys")
    claimed = doc.get("key_id")
    if claimed is not None and claimed != key_id(keys[0]):
        raise ValueError("key_id does not match the key")
    return keys[0]


def tree_head_payload(tenant: str, tree_size: int, root_hash_hex: str, timestamp: str) -> bytes:
    """The exact bytes a tree head signature covers (canonical JSON)."""
    return canonical(
        {
            "tenant": tenant,
            "tree_size": tree_size,
            "root_hash": root_hash_hex,
            "timestamp": timestamp,
        }
    )


def sign_tree_head(
    private_key: Ed25519PrivateKey,
    tenant: str,
    tree_size: int,
    root_hash_hex: str,
    timestamp: str,
) -> dict[str, Any]:
    """A signed tree head as served: the tenant is signed but not repeated in the head."""
    signature = private_key.sign(tree_head_payload(tenant, tree_size, root_hash_hex, timestamp))
    return {
        "tree_size": tree_size,
        "root_hash": root_hash_hex,
        "timestamp": timestamp,
        "signature": base64.b64encode(signature).decode("ascii"),
        "key_id": key_id(private_key.public_key()),
    }


def verify_tree_head(public_key: Ed25519PublicKey, tenant: str, head: Mapping[str, Any]) -> bool:
    """True if `head` is a tree head of `tenant` signed by `public_key`; never raises."""
    if not isinstance(public_key, Ed25519PublicKey) or not isinstance(head, Mapping):
        return False
    tree_size = head.get("tree_size")
    root_hash = head.get("root_hash")
    timestamp = head.get("timestamp")
    signature = head.get("signature")
    if type(tree_size) is not int or tree_size < 0 or not isinstance(tenant, str):
        return False
    if not (
        isinstance(root_hash, str) and isinstance(timestamp, str) and isinstance(signature, str)
    ):
        return False
    claimed_key = head.get("key_id")
    try:
        if claimed_key is not None and claimed_key != key_id(public_key):
            return False
        raw_signature = base64.b64decode(signature, validate=True)
        if len(raw_signature) != SIGNATURE_SIZE:
            return False
        payload = tree_head_payload(tenant, tree_size, root_hash, timestamp)
        public_key.verify(raw_signature, payload)
    except (InvalidSignature, ValueError, TypeError):
        # binascii.Error and rfc8785's errors are ValueErrors.
        return False
    return True
