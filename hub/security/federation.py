"""Cross-organisation federation crypto (issue 18): pure code, no I/O.

- Organisation keys: an Ed25519 signing key (its RFC 7638 JWK thumbprint is the organisation's
  global id and the signature keyid) and an X25519 encryption key.
- Requests between hubs: RFC 9421 HTTP Message Signatures (label "hub", tag "hub-federation",
  alg ed25519) over @method, @target-uri, content-digest (RFC 9530, sha-256) and content-type.
- Exchanged data: JWE compact serialization, ECDH-ES with X25519, enc A256GCM, one per recipient.
- Messages: CloudEvents 1.0 in structured JSON mode, parsed with bounds on size and nesting.

Everything an attacker can send (headers, bodies, tokens, key documents) fails with a
FederationError subclass carrying a short fixed reason, never with another exception type.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import http_sf
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    HTTPSignatureComponentResolver,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.structures import get_header_fields
from joserfc import jwe
from joserfc.jwk import OKPKey

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "COVERED",
    "MAX_EVENT_BYTES",
    "MAX_EVENT_DEPTH",
    "MAX_SKEW_S",
    "SIGNATURE_LABEL",
    "SIGNATURE_TAG",
    "DecryptionFailed",
    "EventRefused",
    "FederationError",
    "OrganisationKeys",
    "PublicOrganisationKeys",
    "SignatureRefused",
    "VerifiedRequest",
    "decrypt",
    "encode_event",
    "encrypt_for",
    "new_event",
    "parse_event",
    "sign_request",
    "verify_request",
]


# --------------------------------------------------------------------------- errors


class FederationError(Exception):
    """Base error; ``reason`` is short and safe to show to the caller that sent the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureRefused(FederationError):
    """Bad or missing signature, unknown key, digest mismatch, clock skew, malformed headers."""


class EventRefused(FederationError):
    """A malformed or oversized CloudEvent."""


class DecryptionFailed(FederationError):
    """A JWE that is not for us, tampered with, or not in the one accepted format."""


# --------------------------------------------------------------------------- keys

_B64U_32 = re.compile(r"[A-Za-z0-9_-]{43}")
_ED25519 = "Ed25519"
_X25519 = "X25519"
_SIGNING_ALG = "EdDSA"
_JWE_ALG = "ECDH-ES"
_JWE_ENC = "A256GCM"
# Members a public OKP JWK may carry; anything else (above all "d") is refused by name.
_PUBLIC_JWK_MEMBERS = frozenset({"kty", "crv", "x", "kid", "use", "alg"})
_KEY_FILE_KIND = "hub-organisation-keys"


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64u_key(value: Any, field: str) -> bytes:
    """32 key bytes from unpadded base64url; the canonical spelling only, so one key has one id."""
    if not isinstance(value, str) or not _B64U_32.fullmatch(value):
        raise FederationError(f"{field} must be 32 bytes, base64url without padding")
    raw = base64.urlsafe_b64decode(value + "=")
    if _b64u(raw) != value:
        raise FederationError(f"{field} is not canonical base64url")
    return raw


def _thumbprint(crv: str, x: str) -> str:
    """RFC 7638 thumbprint of an OKP public key: SHA-256 over the required members, sorted."""
    members = json.dumps({"crv": crv, "kty": "OKP", "x": x}, separators=(",", ":"))
    return _b64u(hashlib.sha256(members.encode("ascii")).digest())


def _public_jwk(crv: str, x: str) -> dict[str, Any]:
    """The canonical public JWK this module writes (and the only form the dataclass holds)."""
    jwk: dict[str, Any] = {"kty": "OKP", "crv": crv, "x": x, "kid": _thumbprint(crv, x)}
    if crv == _ED25519:
        jwk.update(use="sig", alg=_SIGNING_ALG)
    else:
        jwk["use"] = "enc"
    return jwk


def _parse_public_jwk(jwk: Any, crv: str, field: str) -> dict[str, Any]:
    """A strict public OKP JWK -> the canonical form; the reason names the bad member."""
    if not isinstance(jwk, Mapping):
        raise FederationError(f"{field} must be a JWK object")
    if "d" in jwk:
        raise FederationError(f"{field}.d: private key material is not accepted")
    for name in jwk:
        if name not in _PUBLIC_JWK_MEMBERS:
            raise FederationError(f"{field}: unexpected member {str(name)[:32]!r}")
    if jwk.get("kty") != "OKP":
        raise FederationError(f"{field}.kty must be OKP")
    if jwk.get("crv") != crv:
        raise FederationError(f"{field}.crv must be {crv}")
    _b64u_key(jwk.get("x"), f"{field}.x")
    canonical = _public_jwk(crv, jwk["x"])
    # Optional members, when present, must agree with the key (an encryption JWK may say
    # alg ECDH-ES, the one algorithm it is used with, though we do not write it).
    expected = {**canonical, "alg": canonical.get("alg", _JWE_ALG)}
    for name in ("kid", "use", "alg"):
        if name in jwk and jwk[name] != expected[name]:
            raise FederationError(f"{field}.{name} does not match the key")
    return canonical


@dataclass(frozen=True)
class PublicOrganisationKeys:
    """An organisation's public keys, as canonical JWKs (validated on construction)."""

    signing_jwk: dict[str, Any]
    encryption_jwk: dict[str, Any]

    def __post_init__(self) -> None:
        for jwk, crv, field in (
            (self.signing_jwk, _ED25519, "signing_key"),
            (self.encryption_jwk, _X25519, "encryption_key"),
        ):
            if _parse_public_jwk(jwk, crv, field) != jwk:
                raise FederationError(f"{field} is not in canonical form")

    def __hash__(self) -> int:
        return hash((self.org_id, self.encryption_jwk["kid"]))

    @property
    def org_id(self) -> str:
        """RFC 7638 thumbprint of the signing key: the global id and the signature keyid."""
        return str(self.signing_jwk["kid"])

    @property
    def public_key(self) -> str:
        """The raw Ed25519 public key, base64url without padding."""
        return str(self.signing_jwk["x"])

    def as_document(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "signing_key": dict(self.signing_jwk),
            "encryption_key": dict(self.encryption_jwk),
        }

    @classmethod
    def from_document(cls, doc: Any) -> PublicOrganisationKeys:
        """Accepts as_document() output, or the partner-registration form
        ``{"public_key": <base64url Ed25519>, "encryption_key": <jwk>}``; other members ignored."""
        if not isinstance(doc, Mapping):
            raise FederationError("organisation keys must be a JSON object")
        signing = _signing_jwk_from(doc)
        if "encryption_key" not in doc:
            raise FederationError("encryption_key is missing")
        encryption = _parse_public_jwk(doc["encryption_key"], _X25519, "encryption_key")
        if "org_id" in doc and doc["org_id"] != signing["kid"]:
            raise FederationError("org_id does not match signing_key")
        return cls(signing_jwk=signing, encryption_jwk=encryption)

    @cached_property
    def _verification_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(_b64u_key(self.signing_jwk["x"], "x"))

    @cached_property
    def _encryption_key(self) -> OKPKey:
        raw = _b64u_key(self.encryption_jwk["x"], "x")
        return OKPKey.import_key(X25519PublicKey.from_public_bytes(raw))


def _signing_jwk_from(doc: Mapping[str, Any]) -> dict[str, Any]:
    if "signing_key" in doc:
        signing = _parse_public_jwk(doc["signing_key"], _ED25519, "signing_key")
        if "public_key" in doc and doc["public_key"] != signing["x"]:
            raise FederationError("public_key does not match signing_key")
        return signing
    if "public_key" in doc:
        _b64u_key(doc["public_key"], "public_key")
        return _public_jwk(_ED25519, doc["public_key"])
    raise FederationError("signing_key is missing")


@dataclass(frozen=True)
class OrganisationKeys:
    """An organisation's private keys. The caller seals to_bytes() at rest."""

    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @classmethod
    def generate(cls) -> OrganisationKeys:
        return cls(signing=Ed25519PrivateKey.generate(), encryption=X25519PrivateKey.generate())

    def public(self) -> PublicOrganisationKeys:
        return self._public

    @cached_property
    def _public(self) -> PublicOrganisationKeys:
        # Computed once: sign_request needs the org id (keyid) on every call.
        return PublicOrganisationKeys(
            signing_jwk=_public_jwk(_ED25519, _b64u(self.signing.public_key().public_bytes_raw())),
            encryption_jwk=_public_jwk(
                _X25519, _b64u(self.encryption.public_key().public_bytes_raw())
            ),
        )

    @cached_property
    def _decryption_key(self) -> OKPKey:
        return OKPKey.import_key(self.encryption)

    def to_bytes(self) -> bytes:
        public = self.public()
        doc = {
            "kind": _KEY_FILE_KIND,
            "version": 1,
            "signing": {**public.signing_jwk, "d": _b64u(self.signing.private_bytes_raw())},
            "encryption": {
                **public.encryption_jwk,
                "d": _b64u(self.encryption.private_bytes_raw()),
            },
        }
        return json.dumps(doc, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> OrganisationKeys:
        try:
            doc = json.loads(data)
        except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            raise FederationError("organisation keys are not valid JSON") from exc
        if not isinstance(doc, dict) or doc.get("kind") != _KEY_FILE_KIND:
            raise FederationError("not an organisation key document")
        if doc.get("version") != 1:
            raise FederationError("unsupported organisation key document version")
        keys = cls(
            signing=Ed25519PrivateKey.from_private_bytes(_private_d(doc, "signing", _ED25519)),
            encryption=X25519PrivateKey.from_private_bytes(_private_d(doc, "encryption", _X25519)),
        )
        # The stored public halves must be the ones the private keys derive: a mismatch means
        # a corrupted or spliced document, and signing under it would misattribute messages.
        public = keys.public()
        if doc["signing"].get("x") != public.signing_jwk["x"]:
            raise FederationError("signing.x does not match signing.d")
        if doc["encryption"].get("x") != public.encryption_jwk["x"]:
            raise FederationError("encryption.x does not match encryption.d")
        return keys


def _private_d(doc: Mapping[str, Any], field: str, crv: str) -> bytes:
    jwk = doc.get(field)
    if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != crv:
        raise FederationError(f"{field} must be an OKP {crv} JWK")
    return _b64u_key(jwk.get("d"), f"{field}.d")


# --------------------------------------------------------------------------- signatures

SIGNATURE_LABEL = "hub"
SIGNATURE_TAG = "hub-federation"
COVERED = ("@method", "@target-uri", "content-digest", "content-type")
MAX_SKEW_S = 300
_SIGNATURE_ALG = algorithms.ED25519.algorithm_id
_MAX_NONCE_CHARS = 128
# Serialized component ids as the library reports them in VerifyResult.covered_components;
# an id with parameters (e.g. '"content-digest";key="sha-512"') is another component.
_COVERED_IDS = tuple(f'"{name}"' for name in COVERED)
_DIGESTS: Mapping[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}
_COVERED_LIST = "(" + " ".join(_COVERED_IDS) + ")"
_METHOD = re.compile(r"[A-Z]{1,16}")
# A field value the verifier reads back unchanged: printable ASCII, no surrounding spaces.
_FIELD_VALUE = re.compile(r"[!-~](?:[ -~]{0,254}[!-~])?")
_SF_SAFE = re.compile(r"[A-Za-z0-9_.~-]{1,128}")


@dataclass(frozen=True)
class VerifiedRequest:
    """Who signed (org_id, the keyid), when (created, epoch seconds) and the nonce; replay
    protection (remembering nonces for the skew window) is the caller's."""

    org_id: str
    created: int
    nonce: str


@dataclass
class _Request:
    """The request view http_message_signatures reads: method, url and headers."""

    method: str
    url: str
    headers: Any


class _Fields:
    """Read-only header field lines for the verifier (it only calls items())."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields

    def items(self) -> Iterable[tuple[str, str]]:
        return iter(self._fields)


def sign_request(
    keys: OrganisationKeys,
    method: str,
    url: str,
    body: bytes,
    content_type: str,
    *,
    now: float,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers to add: Content-Type, Content-Digest, Signature-Input and Signature.

    The signature base is written here rather than by HTTPMessageSigner.prepare(): the
    covered components and parameters are fixed and every value is checked to need no
    Structured Field escaping, so the base is a format string, and prepare()'s generic
    serialisation costs several times the Ed25519 signature itself. @target-uri still comes
    from the library's component resolver, and the unit tests assert that this base equals
    prepare()'s and that HTTPMessageVerifier accepts the result.
    """
    nonce = secrets.token_urlsafe(16) if nonce is None else nonce
    if not _METHOD.fullmatch(method):
        raise FederationError("method must be an uppercase token")
    if not _FIELD_VALUE.fullmatch(content_type):
        raise FederationError("content type must be printable ASCII")
    if not _SF_SAFE.fullmatch(nonce):
        raise FederationError("nonce must be 1-128 URL-safe characters")
    try:
        target_uri = HTTPSignatureComponentResolver(_Request(method, url, {})).get_target_uri()
    except HTTPMessageSignaturesException as exc:
        raise FederationError("url must be an absolute, encoded URL") from exc
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    content_digest = f"sha-256=:{digest}:"
    params = (
        f"{_COVERED_LIST};created={int(now)};keyid={_sf_string(keys.public().org_id)}"
        f";alg={_sf_string(_SIGNATURE_ALG)};nonce={_sf_string(nonce)}"
        f";tag={_sf_string(SIGNATURE_TAG)}"
    )
    base = (
        f'"@method": {method}\n"@target-uri": {target_uri}\n'
        f'"content-digest": {content_digest}\n"content-type": {content_type}\n'
        f'"@signature-params": {params}'
    )
    signature = base64.b64encode(keys.signing.sign(base.encode("ascii"))).decode("ascii")
    return {
        "Content-Type": content_type,
        "Content-Digest": content_digest,
        "Signature-Input": f"{SIGNATURE_LABEL}={params}",
        "Signature": f"{SIGNATURE_LABEL}=:{signature}:",
    }


def _sf_string(value: str) -> str:
    """An RFC 8941 String for a value _SF_SAFE admits (no quote or backslash to escape)."""
    return f'"{value}"'


class _KeyResolver(HTTPSignatureKeyResolver):
    """Adapts resolve(keyid); remembers why a lookup failed so the caller gets the real cause."""

    def __init__(self, resolve: Callable[[str], PublicOrganisationKeys | None]) -> None:
        self._resolve = resolve
        self.unknown = False
        self.error: Exception | None = None

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
        try:
            keys = self._resolve(key_id)
        except Exception as exc:  # the resolver's own failure, re-raised by verify_request
            self.error = exc
            raise
        # A resolver returning another organisation's keys must not let that key speak for
        # key_id: the verified org id is key_id.
        if keys is None or keys.org_id != key_id:
            self.unknown = True
            return None
        return keys._verification_key

    def resolve_private_key(self, key_id: str) -> Any:
        raise HTTPMessageSignaturesException("verification only")


class _Verifier(HTTPMessageVerifier):
    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        """Disabled: verify_request checks times against the caller's clock (now)."""


# Library messages that are fixed strings, mapped to our short reasons; anything else from
# the library is "invalid signature" (its other messages can echo attacker-chosen text).
_LIBRARY_REASONS = (
    ("No signatures found matching", "no hub-federation signature labelled hub"),
    ("Malformed structured header", "malformed signature headers"),
    ("Signature-Input and Signature headers have different labels", "malformed signature headers"),
    ("Unexpected algorithm", "signature algorithm must be ed25519"),
    ('Signature is missing a required "keyid"', "signature keyid missing"),
)


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve: Callable[[str], PublicOrganisationKeys | None],
    *,
    now: float,
    max_skew_s: int = MAX_SKEW_S,
) -> VerifiedRequest:
    """Verify a federation request's digest and signature; see the module docstring."""
    lines = _header_lines(headers)
    fields = get_header_fields(_Fields(lines))  # case-insensitive, as the library combines them
    for name in ("Signature-Input", "Signature", "Content-Digest", "Content-Type"):
        if name not in fields:
            raise SignatureRefused(f"missing {name} header")
    if not isinstance(body, bytes):
        raise SignatureRefused("body must be bytes")
    _check_content_digest(fields["Content-Digest"], body)
    resolver = _KeyResolver(resolve)
    verifier = _Verifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    try:
        results = verifier.verify(
            _Request(method, url, _Fields(lines)),
            max_age=None,
            expect_tag=SIGNATURE_TAG,
            expect_label=SIGNATURE_LABEL,
        )
    except HTTPMessageSignaturesException as exc:
        if resolver.error is not None:
            raise resolver.error from exc
        if resolver.unknown:
            raise SignatureRefused("unknown key") from exc
        raise SignatureRefused(_library_reason(exc)) from exc
    if len(results) != 1:
        raise SignatureRefused("exactly one hub signature expected")
    result = results[0]
    for component_id in _COVERED_IDS:
        if component_id not in result.covered_components:
            raise SignatureRefused(f"signature does not cover {component_id.strip(chr(34))}")
    # Belt and braces: the digest checked above is the value the signature covers.
    if result.covered_components['"content-digest"'] != fields["Content-Digest"]:
        raise SignatureRefused("content-digest does not match the signed value")
    return _check_parameters(result.parameters, now=now, max_skew_s=max_skew_s)


def _header_lines(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    try:
        lines = list(headers.items())
    except Exception as exc:
        raise SignatureRefused("malformed headers") from exc
    for name, value in lines:
        if not isinstance(name, str) or not isinstance(value, str):
            raise SignatureRefused("malformed headers")
    return lines


def _check_content_digest(value: str, body: bytes) -> None:
    """RFC 9530 Content-Digest: a Dictionary with a sha-256 member; every known member checked."""
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError) as exc:  # UnicodeEncodeError is a ValueError
        raise SignatureRefused("malformed Content-Digest") from exc
    if not isinstance(parsed, dict) or "sha-256" not in parsed:
        raise SignatureRefused("Content-Digest must include sha-256")
    for algorithm, member in parsed.items():
        if algorithm not in _DIGESTS:
            continue  # RFC 9530: unknown algorithms are ignored
        digest = member[0] if isinstance(member, tuple) else None
        if not isinstance(digest, bytes):
            raise SignatureRefused("malformed Content-Digest")
        if not hmac.compare_digest(digest, _DIGESTS[algorithm](body).digest()):
            raise SignatureRefused("Content-Digest does not match the body")


def _library_reason(exc: Exception) -> str:
    message = str(exc)
    for prefix, reason in _LIBRARY_REASONS:
        if message.startswith(prefix):
            return reason
    return "invalid signature"


def _check_parameters(
    params: Mapping[str, int | str], *, now: float, max_skew_s: int
) -> VerifiedRequest:
    if params.get("alg") != _SIGNATURE_ALG:
        raise SignatureRefused("signature alg must be ed25519")
    created = params.get("created")
    if type(created) is not int:
        raise SignatureRefused("signature created missing")
    if abs(created - now) > max_skew_s:
        raise SignatureRefused("signature created outside the allowed clock skew")
    expires = params.get("expires")
    if expires is not None and (type(expires) is not int or expires < now):
        raise SignatureRefused("signature expired")
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= _MAX_NONCE_CHARS:
        raise SignatureRefused("signature nonce missing")
    return VerifiedRequest(org_id=str(params["keyid"]), created=created, nonce=nonce)


# --------------------------------------------------------------------------- JWE

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
MAX_EVENT_BYTES = 1_048_576
MAX_EVENT_DEPTH = 32
# A token travels inside an event, so no accepted token is larger than an event.
_MAX_TOKEN_CHARS = MAX_EVENT_BYTES
_MAX_JWE_HEADER_CHARS = 1024


class _JWERegistry(jwe.JWERegistry):
    # joserfc's default caps ciphertext at 64 KiB; ours is bounded by the event size instead.
    max_ciphertext_length = _MAX_TOKEN_CHARS


# Only ECDH-ES + A256GCM: no other alg, no enc, no "zip" (a decompression bomb).
_JWE_REGISTRY = _JWERegistry(algorithms=[_JWE_ALG, _JWE_ENC])


def encrypt_for(payload: Any, recipient: PublicOrganisationKeys) -> str:
    """Canonical JSON (RFC 8785) -> JWE compact, ECDH-ES / A256GCM, kid = recipient's enc kid."""
    try:
        plaintext = rfc8785.dumps(payload)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise FederationError("payload is not JSON") from exc
    try:
        _check_depth(plaintext, MAX_EVENT_DEPTH)
    except _JSONRefused as exc:
        raise FederationError(f"payload {exc.reason}") from exc
    header = {"alg": _JWE_ALG, "enc": _JWE_ENC, "kid": recipient.encryption_jwk["kid"]}
    try:
        token = jwe.encrypt_compact(
            header, plaintext, recipient._encryption_key, registry=_JWE_REGISTRY
        )
    except ValueError as exc:  # a low-order X25519 key: the shared secret would be zero
        raise FederationError("recipient encryption key is unusable") from exc
    if len(token) > _MAX_TOKEN_CHARS:
        raise FederationError("payload too large to encrypt")
    return token


def decrypt(token: str, keys: OrganisationKeys) -> Any:
    """JWE compact -> the parsed JSON payload; DecryptionFailed on anything wrong."""
    if not isinstance(token, str) or not token.isascii():
        raise DecryptionFailed("not a JWE")
    if len(token) > _MAX_TOKEN_CHARS:
        raise DecryptionFailed("JWE too large")
    parts = token.split(".")
    if len(parts) != 5:
        raise DecryptionFailed("not a JWE compact serialization")
    _check_jwe_header(parts[0], keys)
    if parts[1]:
        raise DecryptionFailed("ECDH-ES carries no encrypted key")
    try:
        plaintext = jwe.decrypt_compact(token, keys._decryption_key, registry=_JWE_REGISTRY)
    except Exception as exc:  # any failure on this hostile input means "not decryptable"
        raise DecryptionFailed("cannot decrypt") from exc
    try:
        return _load_json(plaintext.plaintext or b"")
    except _JSONRefused as exc:
        raise DecryptionFailed(f"payload {exc.reason}") from exc


def _check_jwe_header(segment: str, keys: OrganisationKeys) -> None:
    """Checked before joserfc sees the token, so an attacker cannot choose the algorithm."""
    if len(segment) > _MAX_JWE_HEADER_CHARS:
        raise DecryptionFailed("JWE header too large")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise DecryptionFailed("malformed JWE header") from exc
    if not isinstance(header, dict):
        raise DecryptionFailed("malformed JWE header")
    if header.get("alg") != _JWE_ALG:
        raise DecryptionFailed("JWE alg must be ECDH-ES")
    if header.get("enc") != _JWE_ENC:
        raise DecryptionFailed("JWE enc must be A256GCM")
    if "zip" in header or "crit" in header:
        raise DecryptionFailed("JWE zip and crit are not accepted")
    if "kid" in header and header["kid"] != keys.public().encryption_jwk["kid"]:
        raise DecryptionFailed("JWE is for another key")


# --------------------------------------------------------------------------- JSON bounds


class _JSONRefused(ValueError):
    """Internal: JSON refused; ``reason`` is mapped onto the caller's error class."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Brackets become "(" / ")", every other byte is dropped: the nesting skeleton of the text.
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _check_depth(raw: bytes, limit: int) -> None:
    """Refuse JSON text nesting more than ``limit`` containers deep, before parsing it.

    Escapes go first (backslash pairs, then escaped quotes, as a JSON parser pairs them left
    to right), so the text splits on the remaining quotes into code and strings; a bracket
    in a string does not nest. In the code's brackets each pass deletes the innermost "()"
    pairs: a balanced skeleton empties in exactly depth passes. Every step is a linear scan
    in C (no regex that could rescan, no recursion), so a hostile megabyte costs
    milliseconds. Unbalanced brackets are not JSON and are refused too.
    """
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    code = b"".join(unescaped.split(b'"')[::2])
    skeleton = code.translate(_BRACKETS, _NOT_BRACKETS)
    if b"(" * (limit + 1) in skeleton:
        raise _JSONRefused("nests too deeply")
    for _ in range(limit):
        if not skeleton:
            return
        reduced = skeleton.replace(b"()", b"")
        if len(reduced) == len(skeleton):
            raise _JSONRefused("is not valid JSON")
        skeleton = reduced
    if skeleton:
        raise _JSONRefused("nests too deeply")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could pick different values for a repeated key; the audit log must not.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _JSONRefused("has a duplicate key")
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JSONRefused("has a number out of range")
    return value


def _reject_constant(text: str) -> Any:
    raise _JSONRefused("is not valid JSON")


def _load_json(raw: bytes) -> Any:
    """Strict JSON from UTF-8 bytes, bounded in depth; _JSONRefused(reason) if not."""
    _check_depth(raw, MAX_EVENT_DEPTH)
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_float=_finite_float,
            parse_constant=_reject_constant,
        )
    except _JSONRefused:
        raise
    except UnicodeDecodeError as exc:
        raise _JSONRefused("is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:  # JSON syntax and int-size errors
        raise _JSONRefused("is not valid JSON") from exc


# --------------------------------------------------------------------------- CloudEvents

_SPECVERSION = "1.0"
_MAX_ATTRIBUTE_CHARS = 256
_CONTEXT_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}
)
_DATA_MEMBERS = frozenset({"data", "data_base64"})
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_INT32 = range(-(2**31), 2**31)
# CloudEvents String: no controls, surrogates or noncharacters.
_BAD_STRING_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def new_event(
    *,
    type: str,
    source: str,
    subject: str | None,
    data: Any,
    event_id: str | None = None,
    time: datetime | None = None,
    extensions: Mapping[str, str | int] | None = None,
) -> dict[str, Any]:
    """A CloudEvents 1.0 event (structured mode) with JSON data; EventRefused if invalid."""
    moment = datetime.now(UTC) if time is None else time
    if moment.tzinfo is None:
        raise EventRefused("time must be timezone-aware")
    event: dict[str, Any] = {
        "specversion": _SPECVERSION,
        "id": uuid.uuid4().hex if event_id is None else event_id,
        "source": source,
        "type": type,
    }
    if subject is not None:
        event["subject"] = subject
    event["time"] = _format_time(moment)
    event["datacontenttype"] = "application/json"
    for name, value in (extensions or {}).items():
        if name in event or name in _CONTEXT_ATTRIBUTES or name in _DATA_MEMBERS:
            raise EventRefused(f"extension {str(name)[:32]!r} is a reserved attribute name")
        if isinstance(value, bool):
            raise EventRefused(f"extension {name} must be a string or an integer")
        event[name] = value
    event["data"] = data
    _check_event(event)
    return event


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, refused (EventRefused) if the receiving side would refuse it."""
    _check_event(event)
    try:
        body = json.dumps(
            dict(event), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # incl. UnicodeEncodeError
        raise EventRefused("event is not JSON") from exc
    if len(body) > MAX_EVENT_BYTES:
        raise EventRefused("event too large")
    try:
        _check_depth(body, MAX_EVENT_DEPTH)
    except _JSONRefused as exc:
        raise EventRefused(f"event {exc.reason}") from exc
    return body


def parse_event(body: bytes) -> dict[str, Any]:
    """A received CloudEvent, bounded in size and depth and checked; EventRefused if not."""
    if not isinstance(body, bytes):
        raise EventRefused("event must be bytes")
    if len(body) > MAX_EVENT_BYTES:
        raise EventRefused("event too large")
    try:
        event = _load_json(body)
    except _JSONRefused as exc:
        raise EventRefused(f"event {exc.reason}") from exc
    if not isinstance(event, dict):
        raise EventRefused("event must be a JSON object")
    _check_event(event)
    return event


def _check_event(event: Mapping[str, Any]) -> None:
    if not isinstance(event, Mapping):
        raise EventRefused("event must be a JSON object")
    if event.get("specversion") != _SPECVERSION:
        raise EventRefused("specversion must be 1.0")
    for name in ("id", "source", "type"):
        if name not in event:
            raise EventRefused(f"{name} is missing")
        _check_string(event[name], name)
    for name in ("subject", "datacontenttype", "dataschema"):
        if name in event:
            _check_string(event[name], name)
    if "time" in event:
        _check_string(event["time"], "time")
        _parse_time(event["time"])
    if "data" in event and "data_base64" in event:
        raise EventRefused("data and data_base64 are exclusive")
    if "data_base64" in event and not isinstance(event["data_base64"], str):
        raise EventRefused("data_base64 must be a string")
    for name, value in event.items():
        if name not in _CONTEXT_ATTRIBUTES and name not in _DATA_MEMBERS:
            _check_extension(name, value)


def _check_string(value: Any, name: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_ATTRIBUTE_CHARS:
        raise EventRefused(f"{name} must be a non-empty string of at most 256 characters")
    if _BAD_STRING_CHARS.search(value):
        raise EventRefused(f"{name} contains characters CloudEvents does not allow")


def _check_extension(name: Any, value: Any) -> None:
    if not isinstance(name, str) or not _EXTENSION_NAME.fullmatch(name):
        raise EventRefused("extension names must be 1-20 lowercase letters or digits")
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if value not in _INT32:
            raise EventRefused(f"extension {name} is outside the 32-bit integer range")
        return
    if not isinstance(value, str):
        raise EventRefused(f"extension {name} must be a string, an integer or a boolean")
    if len(value) > _MAX_ATTRIBUTE_CHARS or _BAD_STRING_CHARS.search(value):
        raise EventRefused(f"extension {name} is not a valid CloudEvents string")


def _parse_time(value: str) -> datetime:
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise EventRefused("time must be an RFC 3339 timestamp")
    date, clock, fraction, offset = match.groups()
    # fromisoformat takes at most microseconds; RFC 3339 allows any number of digits.
    micro = (fraction or ".0")[:7].ljust(7, "0")
    zone = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{date}T{clock}{micro}{zone}")
    except ValueError as exc:
        raise EventRefused("time must be an RFC 3339 timestamp") from exc


def _format_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return f"{utc:%Y-%m-%dT%H:%M:%S}{fraction}Z"
