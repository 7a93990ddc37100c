"""Canonical JSON (RFC 8785, JCS) and the leaf hash of an audit entry.

Leaf hashes must be reproducible by anyone holding the served JSON, in any language, so
the bytes hashed are the JCS form rather than whatever a serializer happens to emit.
JCS follows I-JSON: integers beyond +-(2**53 - 1) are refused (`rfc8785.IntegerDomainError`,
a ValueError), because other JSON parsers would read them back as different numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import rfc8785

from audit.hashing import leaf_hash

__all__ = ["LEAF_HASH_KEY", "CanonicalizationError", "canonical", "entry_leaf"]

LEAF_HASH_KEY = "leaf_hash"
CanonicalizationError = rfc8785.CanonicalizationError


def canonical(obj: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a JSON object (raises CanonicalizationError on non-JSON values)."""
    if not isinstance(obj, Mapping):
        raise CanonicalizationError(f"expected a JSON object, not {type(obj).__name__}")
    # rfc8785 only recognises dict, so plain-copy other mappings first.
    return rfc8785.dumps(obj if isinstance(obj, dict) else dict(obj))


def entry_leaf(entry: Mapping[str, Any]) -> bytes:
    """The leaf hash of an entry as served: its own "leaf_hash" field is not hashed."""
    content = {key: value for key, value in entry.items() if key != LEAF_HASH_KEY}
    return leaf_hash(canonical(content))
