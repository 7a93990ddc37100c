"""OData $batch in its multipart/mixed form (V2 and V4 alike): one change set, so the
service applies every change or none.

A request part is an embedded HTTP request (`application/http`) with a Content-ID; the
answer is a multipart body whose change set comes back as a nested multipart of the same
length, or, when the change set failed, as one error response in its place.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.domain.enterprise import EnterpriseError

BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.I)
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})")
MAX_PARTS = 1000


@dataclass(frozen=True)
class PartRequest:
    method: str
    path: str  # relative to the service root
    headers: Mapping[str, str]
    body: Any = None


@dataclass(frozen=True)
class PartResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def encode(requests: Sequence[PartRequest]) -> tuple[str, bytes]:
    """(content type, body) of a $batch request with the requests in one change set."""
    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    lines = [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
    for index, request in enumerate(requests, start=1):
        body = b"" if request.body is None else json.dumps(request.body).encode()
        lines += [
            f"--{changeset}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {index}",
            "",
            f"{request.method} {request.path} HTTP/1.1",
            *(f"{k}: {v}" for k, v in request.headers.items()),
            *(["Content-Type: application/json"] if request.body is not None else []),
            f"Content-Length: {len(body)}",
            "",
            body.decode(),
        ]
    lines += [f"--{changeset}--", f"--{batch}--", ""]
    return f"multipart/mixed; boundary={batch}", "\r\n".join(lines).encode()


def decode(content_type: str, body: bytes) -> list[PartResponse | list[PartResponse]]:
    """The parts of a $batch answer: a change set's answers as a list, a lone response
    (a failed change set, or a query) as itself."""
    out: list[PartResponse | list[PartResponse]] = []
    for headers, payload in _parts(content_type, body):
        inner_type = headers.get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            out.append([_http(p) for h, p in _parts(inner_type, payload)])
        else:
            out.append(_http(payload))
    return out


def _parts(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    match = BOUNDARY.search(content_type)
    if match is None:
        raise EnterpriseError("the ERP's $batch answer has no multipart boundary")
    delimiter = b"--" + match.group(1).encode()
    chunks = body.split(delimiter)
    if len(chunks) > MAX_PARTS + 2:
        raise EnterpriseError(f"the ERP's $batch answer has more than {MAX_PARTS} parts")
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        parts.append(_head_and_body(chunk.lstrip(b"\r\n")))
    return parts


def _head_and_body(chunk: bytes) -> tuple[dict[str, str], bytes]:
    head, sep, rest = chunk.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = chunk.partition(b"\n\n")
    headers = {}
    for line in head.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, rest.removesuffix(b"\r\n").removesuffix(b"\n")


def _http(payload: bytes) -> PartResponse:
    status_line, _, rest = payload.partition(b"\n")
    match = STATUS_LINE.match(status_line.strip())
    if match is None:
        raise EnterpriseError("a part of the ERP's $batch answer is not an HTTP response")
    headers, body = _head_and_body(rest)
    return PartResponse(status=int(match.group(1)), headers=headers, body=body)
