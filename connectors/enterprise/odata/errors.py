"""An ERP's error answer turned into the typed errors of hub/domain/enterprise.py.

OData V4: `{"error": {"code", "message", "details": [{"code", "message", "target"}]}}`.
V2 (SAP Gateway): `{"error": {"code", "message": {"lang", "value"}, "innererror":
{"errordetails": [...]}}}`, or the same as XML. The server's code and message are kept
(bounded); the body itself never reaches a log or a workflow's history.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

from hub.domain.enterprise import (
    EnterpriseError,
    ErpAuthFailed,
    ErpConflict,
    ErpNotFound,
    ErpUnavailable,
    InvalidRequest,
    PreconditionFailed,
)

MAX_TEXT = 500
MAX_DETAILS = 20
RETRYABLE = frozenset({408, 429, 502, 503, 504})
INVALID = frozenset({400, 405, 409, 410, 415, 422, 428, 501})
MAX_RETRY_AFTER = 3600.0
XML_CODE = re.compile(rb"<(?:\w+:)?code>([^<]{0,200})</", re.S)
XML_MESSAGE = re.compile(rb"<(?:\w+:)?message[^>]*>([^<]{0,2000})</", re.S)


def _text(value: Any) -> str | None:
    if isinstance(value, dict):  # V2: {"lang": "en", "value": "..."}
        value = value.get("value")
    if value is None:
        return None
    return str(value)[:MAX_TEXT]


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    raw = error.get("details")
    inner = error.get("innererror")
    if raw is None and isinstance(inner, dict):
        raw = inner.get("errordetails")
    if not isinstance(raw, list):
        return []
    out = []
    for detail in raw[:MAX_DETAILS]:
        if isinstance(detail, dict):
            out.append(
                {
                    k: _text(detail.get(k))
                    for k in ("code", "message", "target", "severity")
                    if detail.get(k) is not None
                }
            )
    return out


def parse_body(body: bytes) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """(code, message, details) from an OData error body, JSON or XML; Nones when neither."""
    try:
        data = json.loads(body) if body[:1] in (b"{", b"[") else None
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        return _text(error.get("code")), _text(error.get("message")), _details(error)
    code = XML_CODE.search(body)
    message = XML_MESSAGE.search(body)
    if code or message:
        return (
            code.group(1).decode(errors="replace")[:MAX_TEXT] if code else None,
            message.group(1).decode(errors="replace")[:MAX_TEXT] if message else None,
            [],
        )
    return None, None, []


def retry_after(header: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), bounded; None when absent."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when - (time.time() if now is None else now), MAX_RETRY_AFTER))


def from_response(status: int, body: bytes, headers: dict[str, str], what: str) -> EnterpriseError:
    code, message, details = parse_body(body)
    said = f": {code + ' ' if code else ''}{message or ''}".rstrip() if code or message else ""
    detail = f"{what} answered {status}{said}"
    kw: dict[str, Any] = {
        "code": code,
        "message": message,
        "http_status": status,
        "details": details,
    }
    if status == 404:
        return ErpNotFound(detail, **kw)
    if status == 412:
        return PreconditionFailed(detail, **kw)
    if status == 409:
        return ErpConflict(detail, **kw)
    if status in (401, 403):
        return ErpAuthFailed(detail, **kw)
    if status in RETRYABLE:
        return ErpUnavailable(detail, retry_after=retry_after(headers.get("retry-after")), **kw)
    if status in INVALID or 400 <= status < 500:
        return InvalidRequest(detail, **kw)
    return EnterpriseError(detail, **kw)
