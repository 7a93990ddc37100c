"""RFC 6962 / RFC 9162 hash primitives (SHA-256 with domain-separation prefixes)."""

from __future__ import annotations

from hashlib import sha256

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

# MTH({}) is the hash of the empty string, with no prefix (RFC 6962 section 2.1).
EMPTY_ROOT: bytes = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right); the prefix keeps a node from passing as a leaf."""
    return sha256(NODE_PREFIX + left + right).digest()


def is_hash(value: object) -> bool:
    """True for a 32-byte bytes-like value, the only thing a tree node can be."""
    return isinstance(value, (bytes, bytearray)) and len(value) == HASH_SIZE
