"""The nesting scan that guards every request body (issue 12, item 2): it must never say
"shallow" for a body a decoder would recurse into more than 64 levels."""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from hub.domain.nesting import MAX_DEPTH, json_too_deep


def _depth(text: bytes) -> int:
    """Reference: the deepest level a decoder could reach, reading one byte at a time. A
    backslash outside a string is where every decoder stops (invalid JSON)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "\\":
            break
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 65 + b"]" * 65, True),
        (b'{"a":' * 64 + b"1" + b"}" * 64, False),
        (b'{"a":' * 65 + b"1" + b"}" * 65, True),
        (b"[" * 100_000, True),  # unclosed, as in the attack
        (b'["' + b"[" * 1000 + b'"]', False),  # brackets in a string are text
        (b'["\\"' + b"[" * 1000 + b'"]', False),  # an escaped quote does not end it
        (b'["\\\\"' + b"[" * 1000 + b"]", True),  # an escaped backslash does
        (b"[[]" * 10_000 + b"]" * 10_000, True),  # deep without a run of 65 openers
        ((b"[" * 60 + b"]" * 60) * 500, False),  # many deep-ish subtrees
    ],
)
def test_json_too_deep(text: bytes, deep: bool) -> None:
    assert json_too_deep(text) is deep
    assert (_depth(text) > MAX_DEPTH) is deep


def test_scan_agrees_with_the_reference_on_random_texts() -> None:
    rng = random.Random(12)
    alphabet = [b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b",", b":"]
    for _ in range(3_000):
        weights = [8, 4, 4, 2, 1, 1, 1, 1, 1] if rng.random() < 0.5 else [1] * 9
        size = rng.randint(50, 600)
        text = b"".join(rng.choices(alphabet, weights, k=size))
        # Never shallow where a decoder would go deep; exact for text a decoder reads whole.
        if _depth(text) > MAX_DEPTH:
            assert json_too_deep(text), text
        elif b"\\" not in text:
            assert not json_too_deep(text), text


def test_ordinary_documents_are_not_too_deep() -> None:
    document = {"steps": {f"s{i}": {"input": {"a": [1, {"b": 'x[{\\"'}]}} for i in range(500)}}
    assert not json_too_deep(json.dumps(document).encode())
    assert not json_too_deep(msgspec.json.encode(document))
