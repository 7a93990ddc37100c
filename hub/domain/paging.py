"""Opaque list cursors: the last key of a page, encoded so clients do not depend on it."""

from __future__ import annotations

import base64
import binascii

from hub.domain.errors import FieldProblem, ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed(
            [FieldProblem("cursor", "not a cursor this API handed out")]
        ) from None
