"""How deeply a JSON text nests, found without decoding it (issue 12, item 2).

Decoders recurse once per level. msgspec's C decoder, with the recursion limit that py-evm
raises at import, overflowed the C stack at 100,000 nested ``[`` and killed the process; at
the normal limit it raises RecursionError, a 500. Bodies are therefore refused above
``MAX_DEPTH`` before any decoder sees them.

The scan is sound for anything a JSON decoder would recurse into: a decoder only nests
inside a valid prefix, and in a valid prefix every ``"`` not escaped by a backslash opens or
closes a string. Outside such a prefix it may over-count (the decoder would stop there
anyway), never under-count. Every pass is a C-level bytes operation; a 1 MB body costs a
few milliseconds, a body with fewer than 65 brackets a fraction of a microsecond.
"""

from __future__ import annotations

import re
from itertools import accumulate

from hub.domain.errors import HubError

MAX_DEPTH = 64

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_CHUNK = 32 * 1024  # brackets per C-level call of the exact count
# +1 for an opening bracket, -1 for a closing one, indexed by byte value.
_STEP = tuple(1 if b == ord("[") else -1 if b == ord("]") else 0 for b in range(256))


class NestingTooDeep(HubError):
    """A body (JSON or YAML) nested deeper than ``MAX_DEPTH`` levels: 400."""

    status = 400


def too_deep_detail(what: str = "request body", limit: int = MAX_DEPTH) -> str:
    return f"{what} nested deeper than {limit} levels"


def json_too_deep(text: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON `text` opens more than `limit` arrays/objects inside one another.

    Pure CPU; each step is one C-level call of at most a few milliseconds, so a caller may
    run it in a worker thread for a large body without holding the GIL for long."""
    # Nearly every request: fewer openers than the limit cannot nest deeper.
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    brackets = _structure(text).translate(_BRACES_AS_BRACKETS, _NOT_BRACKET)
    if b"[" * (limit + 1) in brackets:
        return True
    # Each pass drops the innermost pairs, so a balanced text of depth d is gone after d
    # passes: ordinary documents end here after a handful.
    rest = brackets
    for _ in range(limit):
        shorter = rest.replace(b"[]", b"")
        if len(shorter) == len(rest):
            break
        rest = shorter
    return bool(rest) and _deepest(brackets, limit) > limit


def _deepest(brackets: bytes, limit: int) -> int:
    """The exact deepest level of `brackets`, or the first level found above `limit`."""
    depth = deepest = 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = brackets[start : start + _CHUNK]
        deepest = max(deepest, max(accumulate(map(_STEP.__getitem__, chunk), initial=depth)))
        if deepest > limit:
            break
        depth += 2 * chunk.count(b"[") - len(chunk)
    return deepest


def _structure(text: bytes) -> bytes:
    """`text` without the contents of its strings (quotes stay out too)."""
    if b"\\" in text:
        text = _ESCAPE.sub(b"", text)  # escapes only occur inside strings in valid JSON
    return b"".join(text.split(b'"')[::2])
