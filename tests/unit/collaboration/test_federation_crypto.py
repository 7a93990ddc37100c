"""Federation crypto (issue 18): organisation keys, RFC 9421 request signatures, JWE for
exchanged data and bounded CloudEvents parsing. Hostile inputs must fail with the module's
own error (and a short reason), never with another exception type."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from joserfc import jwe
from joserfc.jwk import OKPKey

from hub.security import federation as fed
from hub.security.federation import (
    CLOUDEVENTS_CONTENT_TYPE,
    COVERED,
    MAX_EVENT_BYTES,
    MAX_EVENT_DEPTH,
    MAX_SKEW_S,
    DecryptionFailed,
    EventRefused,
    FederationError,
    OrganisationKeys,
    PublicOrganisationKeys,
    SignatureRefused,
    decrypt,
    encode_event,
    encrypt_for,
    new_event,
    parse_event,
    sign_request,
    verify_request,
)

URL = "https://hub-b.example:8443/federation/v1/events"
NOW = 1_700_000_000.25
BODY = b'{"specversion":"1.0","id":"e1","source":"urn:hub:a","type":"t","data":{"q":1}}'


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.fixture(scope="module")
def alice() -> OrganisationKeys:
    return OrganisationKeys.generate()


@pytest.fixture(scope="module")
def mallory() -> OrganisationKeys:
    return OrganisationKeys.generate()


@pytest.fixture(scope="module")
def resolve(alice: OrganisationKeys) -> Callable[[str], PublicOrganisationKeys | None]:
    known = {alice.public().org_id: alice.public()}
    return known.get


def _signed(keys: OrganisationKeys, **overrides: Any) -> dict[str, str]:
    args: dict[str, Any] = {"method": "POST", "url": URL, "body": BODY, "now": NOW}
    args.update(overrides)
    return sign_request(
        keys,
        args["method"],
        args["url"],
        args["body"],
        CLOUDEVENTS_CONTENT_TYPE,
        now=args["now"],
        nonce=args.get("nonce"),
    )


class _FixedKey(HTTPSignatureKeyResolver):
    """Hands the library a chosen private key whatever the keyid: forged signatures."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str) -> Any:
        return self.key

    def resolve_public_key(self, key_id: str) -> Any:
        return self.key.public_key()


def _library_signed(
    signer_keys: OrganisationKeys,
    *,
    keyid: str,
    covered: tuple[str, ...] = COVERED,
    nonce: str | None = "n-1",
    include_alg: bool = True,
    label: str = "hub",
    tag: str | None = "hub-federation",
    created: float = NOW,
) -> dict[str, str]:
    """Headers signed by http_message_signatures itself, with any parameters we choose."""
    request = fed._Request(
        "POST",
        URL,
        {"Content-Type": CLOUDEVENTS_CONTENT_TYPE, "Content-Digest": _digest_header(BODY)},
    )
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_FixedKey(signer_keys.signing)
    )
    signer.sign(
        request,
        key_id=keyid,
        created=datetime.fromtimestamp(int(created), UTC),
        nonce=nonce,
        label=label,
        tag=tag,
        include_alg=include_alg,
        covered_component_ids=covered,
        use_existing_digest=True,
    )
    return dict(request.headers)


def _digest_header(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def _refused(headers: dict[str, str], resolve: Any, **overrides: Any) -> str:
    args: dict[str, Any] = {"method": "POST", "url": URL, "body": BODY, "now": NOW}
    args.update(overrides)
    with pytest.raises(SignatureRefused) as caught:
        verify_request(args["method"], args["url"], headers, args["body"], resolve, now=args["now"])
    assert len(caught.value.reason) <= 80
    return caught.value.reason


# --------------------------------------------------------------------------- keys


def test_org_id_is_the_rfc7638_thumbprint_of_the_signing_key(alice: OrganisationKeys) -> None:
    public = alice.public()
    raw = alice.signing.public_key().public_bytes_raw()
    members = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64u(raw)}, separators=(",", ":")
    ).encode()
    assert public.org_id == _b64u(hashlib.sha256(members).digest())
    assert public.org_id == OKPKey.import_key(alice.signing.public_key()).thumbprint()
    enc_kid = OKPKey.import_key(alice.encryption.public_key()).thumbprint()
    assert public.encryption_jwk["kid"] == enc_kid
    assert public.public_key == _b64u(raw)
    assert public.signing_jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64u(raw),
        "kid": public.org_id,
        "use": "sig",
        "alg": "EdDSA",
    }
    assert public.encryption_jwk["use"] == "enc"
    assert "d" not in public.signing_jwk and "d" not in public.encryption_jwk


def test_documents_round_trip_in_both_forms(alice: OrganisationKeys) -> None:
    public = alice.public()
    doc = json.loads(json.dumps(public.as_document()))
    assert set(doc) == {"org_id", "signing_key", "encryption_key"}
    assert PublicOrganisationKeys.from_document(doc) == public
    registration = {
        "name": "Supplier",
        "domain": "supplier.example",
        "public_key": public.public_key,
        "encryption_key": {k: v for k, v in public.encryption_jwk.items() if k != "kid"},
    }
    assert PublicOrganisationKeys.from_document(registration) == public
    assert hash(PublicOrganisationKeys.from_document(doc)) == hash(public)


def _doc_with(alice: OrganisationKeys, path: str, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(alice.public().as_document()))
    *parents, last = path.split(".")
    target = doc
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


_DELETE = object()
_SHORT_X = _b64u(bytes(31))


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("signing_key.d", _b64u(bytes(32)), "signing_key.d"),
        ("encryption_key.d", _b64u(bytes(32)), "encryption_key.d"),
        ("signing_key.crv", "Ed448", "signing_key.crv"),
        ("signing_key.crv", "X25519", "signing_key.crv"),
        ("encryption_key.crv", "Ed25519", "encryption_key.crv"),
        ("signing_key.kty", "EC", "signing_key.kty"),
        ("signing_key.x", _SHORT_X, "signing_key.x"),
        ("signing_key.x", _b64u(bytes(33)), "signing_key.x"),
        ("signing_key.x", _b64u(bytes(32)) + "=", "signing_key.x"),
        ("signing_key.x", "A" * 42 + "B", "signing_key.x"),  # non-canonical final character
        ("signing_key.x", 7, "signing_key.x"),
        ("encryption_key.x", _SHORT_X, "encryption_key.x"),
        ("signing_key.kid", "someone-else", "signing_key.kid"),
        ("signing_key.use", "enc", "signing_key.use"),
        ("signing_key.alg", "ES256", "signing_key.alg"),
        ("encryption_key.use", "sig", "encryption_key.use"),
        ("signing_key.x5c", ["cert"], "signing_key"),
        ("org_id", "forged-id", "org_id"),
        ("encryption_key", _DELETE, "encryption_key"),
        ("signing_key", "not a jwk", "signing_key"),
    ],
)
def test_from_document_is_strict_and_names_the_field(
    alice: OrganisationKeys, path: str, value: Any, named: str
) -> None:
    with pytest.raises(FederationError) as caught:
        PublicOrganisationKeys.from_document(_doc_with(alice, path, value))
    assert named in caught.value.reason


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "text",
        {},
        {"encryption_key": {}},
        {"public_key": "short", "encryption_key": {}},
    ],
)
def test_from_document_refuses_shapes(doc: Any) -> None:
    with pytest.raises(FederationError):
        PublicOrganisationKeys.from_document(doc)


def test_registration_form_public_key_must_agree_with_signing_key(
    alice: OrganisationKeys, mallory: OrganisationKeys
) -> None:
    doc = alice.public().as_document()
    doc["public_key"] = mallory.public().public_key
    with pytest.raises(FederationError, match="public_key"):
        PublicOrganisationKeys.from_document(doc)


def test_constructor_refuses_non_canonical_jwks(alice: OrganisationKeys) -> None:
    public = alice.public()
    with pytest.raises(FederationError):
        PublicOrganisationKeys({**public.signing_jwk, "d": "x"}, public.encryption_jwk)
    with pytest.raises(FederationError):
        PublicOrganisationKeys(public.encryption_jwk, public.signing_jwk)


def test_private_keys_round_trip(alice: OrganisationKeys) -> None:
    data = alice.to_bytes()
    doc = json.loads(data)
    assert doc["signing"]["d"] and doc["encryption"]["d"]
    again = OrganisationKeys.from_bytes(data)
    assert again.public() == alice.public()
    message = b"signed by the same key"
    alice.signing.public_key().verify(again.signing.sign(message), message)
    assert decrypt(encrypt_for({"k": 1}, alice.public()), again) == {"k": 1}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: b"not json",
        lambda d: b"\xff\xfe",
        lambda d: json.dumps([1]).encode(),
        lambda d: json.dumps({**d, "kind": "other"}).encode(),
        lambda d: json.dumps({**d, "version": 2}).encode(),
        lambda d: json.dumps({**d, "signing": {**d["signing"], "d": "short"}}).encode(),
        lambda d: json.dumps({**d, "signing": {**d["signing"], "crv": "X25519"}}).encode(),
        lambda d: json.dumps({**d, "encryption": None}).encode(),
        # a spliced document: another organisation's public half with our private key
        lambda d: json.dumps(
            {**d, "signing": {**d["signing"], "x": OrganisationKeys.generate().public().public_key}}
        ).encode(),
    ],
)
def test_private_key_document_refuses_garbage(
    alice: OrganisationKeys, mutate: Callable[[dict[str, Any]], bytes]
) -> None:
    with pytest.raises(FederationError):
        OrganisationKeys.from_bytes(mutate(json.loads(alice.to_bytes())))


# --------------------------------------------------------------------------- signatures


def test_sign_verify_round_trip(alice: OrganisationKeys, resolve: Any) -> None:
    headers = _signed(alice, nonce="nonce-1")
    assert set(headers) == {"Content-Type", "Content-Digest", "Signature-Input", "Signature"}
    assert headers["Content-Type"] == CLOUDEVENTS_CONTENT_TYPE
    assert headers["Content-Digest"] == _digest_header(BODY)
    verified = verify_request("POST", URL, headers, BODY, resolve, now=NOW)
    assert verified == fed.VerifiedRequest(
        org_id=alice.public().org_id, created=int(NOW), nonce="nonce-1"
    )


def test_random_nonces_differ(alice: OrganisationKeys, resolve: Any) -> None:
    first = verify_request("POST", URL, _signed(alice), BODY, resolve, now=NOW)
    second = verify_request("POST", URL, _signed(alice), BODY, resolve, now=NOW)
    assert first.nonce != second.nonce and len(first.nonce) >= 16


def test_the_signature_base_is_the_libraries(alice: OrganisationKeys) -> None:
    """sign_request writes the base itself (speed); it must be byte for byte prepare()'s and
    pass the library's own verifier with every COVERED component required."""
    url = "https://Hub-B.Example:443/federation/v1/events?x=1&y=%20"
    headers = _signed(alice, url=url, nonce="abc_DEF-1.2~")
    request = fed._Request("POST", url, {"Content-Type": CLOUDEVENTS_CONTENT_TYPE})
    prepared = HTTPMessageSigner(signature_algorithm=algorithms.ED25519).prepare(
        request,
        key_id=alice.public().org_id,
        created=datetime.fromtimestamp(int(NOW), UTC),
        nonce="abc_DEF-1.2~",
        label="hub",
        tag="hub-federation",
        covered_component_ids=COVERED,
        body=BODY,
    )
    assert headers["Signature-Input"] == "hub=" + prepared.signature_params
    assert headers["Content-Digest"] == request.headers["Content-Digest"]
    signature = base64.b64decode(headers["Signature"].removeprefix("hub=:").removesuffix(":"))
    alice.signing.public_key().verify(signature, prepared.signature_base)

    class Plain(HTTPMessageVerifier):
        max_clock_skew = timedelta(days=365 * 100)

    verifier = Plain(signature_algorithm=algorithms.ED25519, key_resolver=_FixedKey(alice.signing))
    results = verifier.verify(
        fed._Request("POST", url, headers),
        max_age=None,
        expect_tag="hub-federation",
        expect_label="hub",
        require_components=COVERED,
        body=BODY,
    )
    assert results[0].body == BODY


@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_header_names_are_case_insensitive(
    alice: OrganisationKeys, resolve: Any, case: Callable[[str], str]
) -> None:
    headers = {case(name): value for name, value in _signed(alice).items()}
    assert verify_request("POST", URL, headers, BODY, resolve, now=NOW).org_id


def test_tampered_body_is_refused(alice: OrganisationKeys, resolve: Any) -> None:
    headers = _signed(alice)
    reason = _refused(headers, resolve, body=BODY.replace(b'"q":1', b'"q":2'))
    assert reason == "Content-Digest does not match the body"


def test_tampered_body_with_a_recomputed_digest_is_refused(
    alice: OrganisationKeys, resolve: Any
) -> None:
    body = BODY.replace(b'"q":1', b'"q":2')
    headers = {**_signed(alice), "Content-Digest": _digest_header(body)}
    assert _refused(headers, resolve, body=body) == "invalid signature"


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://hub-c.example:8443/federation/v1/events"},
        {"url": URL + "?replay=1"},
        {"url": URL.replace("/events", "/events2")},
        {"method": "PUT"},
    ],
)
def test_changed_target_is_refused(
    alice: OrganisationKeys, resolve: Any, change: dict[str, str]
) -> None:
    assert _refused(_signed(alice), resolve, **change) == "invalid signature"


def test_changed_content_type_is_refused(alice: OrganisationKeys, resolve: Any) -> None:
    headers = {**_signed(alice), "Content-Type": "application/json"}
    assert _refused(headers, resolve) == "invalid signature"


@pytest.mark.parametrize("name", ["Signature-Input", "Signature", "Content-Digest", "Content-Type"])
def test_missing_header_is_refused(alice: OrganisationKeys, resolve: Any, name: str) -> None:
    headers = {k: v for k, v in _signed(alice).items() if k != name}
    assert _refused(headers, resolve) == f"missing {name} header"


def test_unknown_keyid_is_refused(mallory: OrganisationKeys, resolve: Any) -> None:
    assert _refused(_signed(mallory), resolve) == "unknown key"


def test_another_orgs_key_under_the_victims_keyid_is_refused(
    alice: OrganisationKeys, mallory: OrganisationKeys, resolve: Any
) -> None:
    forged = _library_signed(mallory, keyid=alice.public().org_id)
    assert _refused(forged, resolve) == "invalid signature"
    # The same forgery with the signature value swapped in from a genuine request fails too.
    genuine = _signed(alice)
    spliced = {**forged, "Signature": genuine["Signature"]}
    assert _refused(spliced, resolve) == "invalid signature"


def test_a_resolver_answering_with_other_keys_does_not_authenticate(
    alice: OrganisationKeys, mallory: OrganisationKeys
) -> None:
    # A confused resolver returns mallory's keys for alice's keyid: the keyid is what a
    # verified request names, so this must not verify as alice.
    forged = _library_signed(mallory, keyid=alice.public().org_id)
    assert _refused(forged, lambda keyid: mallory.public()) == "unknown key"


def test_resolver_failures_propagate_unchanged(alice: OrganisationKeys) -> None:
    class StoreDown(Exception):
        pass

    def resolve(keyid: str) -> PublicOrganisationKeys | None:
        raise StoreDown(keyid)

    with pytest.raises(StoreDown):
        verify_request("POST", URL, _signed(alice), BODY, resolve, now=NOW)


@pytest.mark.parametrize("offset", [-MAX_SKEW_S - 1, MAX_SKEW_S + 1, -86_400, 86_400])
def test_created_outside_the_skew_is_refused(
    alice: OrganisationKeys, resolve: Any, offset: int
) -> None:
    headers = _signed(alice, now=NOW + offset)
    assert _refused(headers, resolve) == "signature created outside the allowed clock skew"


@pytest.mark.parametrize("offset", [-MAX_SKEW_S, MAX_SKEW_S])
def test_created_at_the_skew_edge_is_accepted(
    alice: OrganisationKeys, resolve: Any, offset: int
) -> None:
    headers = _signed(alice, now=int(NOW) + offset)
    assert verify_request("POST", URL, headers, BODY, resolve, now=int(NOW)).created == int(
        NOW + offset
    )


def test_smaller_skew_is_honoured(alice: OrganisationKeys, resolve: Any) -> None:
    headers = _signed(alice, now=NOW - 10)
    with pytest.raises(SignatureRefused):
        verify_request("POST", URL, headers, BODY, resolve, now=NOW, max_skew_s=5)


def test_missing_nonce_is_refused(alice: OrganisationKeys, resolve: Any) -> None:
    headers = _library_signed(alice, keyid=alice.public().org_id, nonce=None)
    assert _refused(headers, resolve) == "signature nonce missing"


def test_library_signed_request_with_everything_verifies(
    alice: OrganisationKeys, resolve: Any
) -> None:
    """The control for the library-signed refusals: the same helper, nothing left out."""
    headers = _library_signed(alice, keyid=alice.public().org_id)
    assert verify_request("POST", URL, headers, BODY, resolve, now=NOW).nonce == "n-1"


@pytest.mark.parametrize("left_out", COVERED)
def test_a_signature_not_covering_a_component_is_refused(
    alice: OrganisationKeys, resolve: Any, left_out: str
) -> None:
    covered = tuple(c for c in COVERED if c != left_out)
    headers = _library_signed(alice, keyid=alice.public().org_id, covered=covered)
    assert _refused(headers, resolve) == f"signature does not cover {left_out}"


def test_covering_a_digest_member_instead_of_the_field_is_refused(
    alice: OrganisationKeys, resolve: Any
) -> None:
    covered = ("@method", "@target-uri", '"content-digest";key="sha-256"', "content-type")
    headers = _library_signed(alice, keyid=alice.public().org_id, covered=covered)
    assert _refused(headers, resolve) == "signature does not cover content-digest"


def test_signature_without_alg_is_refused(alice: OrganisationKeys, resolve: Any) -> None:
    headers = _library_signed(alice, keyid=alice.public().org_id, include_alg=False)
    assert _refused(headers, resolve) == "signature alg must be ed25519"


@pytest.mark.parametrize(("label", "tag"), [("other", "hub-federation"), ("hub", None)])
def test_signature_needs_the_hub_label_and_tag(
    alice: OrganisationKeys, resolve: Any, label: str, tag: str | None
) -> None:
    headers = _library_signed(alice, keyid=alice.public().org_id, label=label, tag=tag)
    assert _refused(headers, resolve) == "no hub-federation signature labelled hub"


@pytest.mark.parametrize(
    ("digest", "reason"),
    [
        ("sha-256=abc", "malformed Content-Digest"),
        ("sha-256=:not base64:", "malformed Content-Digest"),
        ("sha-256=:" + "A" * 10 + "==:", "Content-Digest does not match the body"),
        ("sha-256=?1", "malformed Content-Digest"),
        ("sha-256=:é:", "malformed Content-Digest"),
        ("sha-256", "malformed Content-Digest"),
        ("", "Content-Digest must include sha-256"),
        (
            "sha-512=:" + base64.b64encode(hashlib.sha512(BODY).digest()).decode() + ":",
            "Content-Digest must include sha-256",
        ),
        ("md5=:AAAA:", "Content-Digest must include sha-256"),
    ],
)
def test_bad_content_digest_is_refused(
    alice: OrganisationKeys, resolve: Any, digest: str, reason: str
) -> None:
    headers = {**_signed(alice), "Content-Digest": digest}
    assert _refused(headers, resolve) == reason


def test_a_wrong_extra_digest_member_is_refused(alice: OrganisationKeys, resolve: Any) -> None:
    wrong_512 = base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    headers = _signed(alice)
    headers["Content-Digest"] += f", sha-512=:{wrong_512}:"
    assert _refused(headers, resolve) == "Content-Digest does not match the body"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: {**h, "Signature-Input": "garbage((("},
        lambda h: {**h, "Signature": "hub=notbytes"},
        lambda h: {**h, "Signature": "hub=:AAAA:"},
        lambda h: {**h, "Signature": "other=:AAAA:"},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace('"ed25519"', '"hmac"')},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace("created=", "created=9")},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace(";keyid=", ";x=1;keyid=")},
        lambda h: {**h, "Signature-Input": h["Signature-Input"].replace('keyid="', 'keyid="x')},
        lambda h: {**h, "Signature-Input": h["Signature-Input"] + ";created=1"},
        lambda h: {**h, "Signature-Input": "hub=" + "(" * 5000},
        lambda h: {**h, "Signature-Input": "hub=\u00e9"},
        lambda h: {**h, "Signature": "hub=:" + "A" * 100_000 + ":"},
        lambda h: {**h, "Signature-Input": h["Signature-Input"] + ', hub=("@method")'},
        lambda h: {**h, "Content-Type": "application/cloudevents+json\r\nX: 1"},
        lambda h: {**h, "Content-Type": 7},
        lambda h: {**h, 7: "x"},
    ],
)
def test_malformed_signature_headers_are_refused(
    alice: OrganisationKeys, resolve: Any, mutate: Callable[[dict[Any, Any]], dict[Any, Any]]
) -> None:
    _refused(mutate(_signed(alice)), resolve)


def _mutations(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars) + 1)
        roll = rng.random()
        if roll < 0.4 and chars:
            del chars[min(at, len(chars) - 1)]
        elif roll < 0.8:
            chars.insert(at, rng.choice('()";=:,\\ \x00\xe9\ud800aZ9-*?'))
        else:
            chars[min(at, len(chars) - 1) if chars else 0 : 0] = rng.choice(["(", "=:", '"'])
    return "".join(chars)


def test_fuzzed_headers_only_ever_raise_signature_refused(
    alice: OrganisationKeys, resolve: Any
) -> None:
    rng = random.Random(9421)
    genuine = _signed(alice)
    refused = 0
    for _ in range(600):
        headers = dict(genuine)
        name = rng.choice(list(headers))
        headers[name] = _mutations(rng, headers[name])
        try:
            verify_request("POST", URL, headers, BODY, resolve, now=NOW)
        except SignatureRefused as exc:
            assert 0 < len(exc.reason) <= 80
            refused += 1
    assert refused > 500  # nearly every mutation breaks something; none escaped as another type


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", URL), ("POST", "not a url"), ("POST", "https://hub-b.example/é"), ("", URL)],
)
def test_a_bad_method_or_url_on_the_receiving_side_is_refused(
    alice: OrganisationKeys, resolve: Any, method: str, url: str
) -> None:
    _refused(_signed(alice), resolve, method=method, url=url)


def test_a_non_bytes_body_is_refused(alice: OrganisationKeys, resolve: Any) -> None:
    _refused(_signed(alice), resolve, body="text")


@pytest.mark.parametrize(
    "change",
    [
        {"method": "post"},
        {"url": "relative/path"},
        {"nonce": 'has"quote'},
        {"nonce": ""},
        {"nonce": "x" * 129},
    ],
)
def test_sign_refuses_inputs_it_cannot_sign_faithfully(
    alice: OrganisationKeys, change: dict[str, str]
) -> None:
    with pytest.raises(FederationError):
        _signed(alice, **change)


@pytest.mark.parametrize("content_type", ["", " text/plain", "a\r\nb", "caf\u00e9"])
def test_sign_refuses_bad_content_types(alice: OrganisationKeys, content_type: str) -> None:
    with pytest.raises(FederationError):
        sign_request(alice, "POST", URL, BODY, content_type, now=NOW)


def test_sign_and_verify_are_fast(alice: OrganisationKeys, resolve: Any) -> None:
    """A loose guard against per-call key work (the budget is well under 1 ms; the bound
    is generous because other suites share this machine)."""
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        headers = _signed(alice)
        verify_request("POST", URL, headers, BODY, resolve, now=NOW)
    assert (time.perf_counter() - started) / rounds < 0.005


# --------------------------------------------------------------------------- JWE


def _segments(token: str) -> list[str]:
    return token.split(".")


def _header(token: str) -> dict[str, Any]:
    segment = _segments(token)[0]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def test_jwe_round_trip(alice: OrganisationKeys) -> None:
    payload = {"b": [1, 2.5, None, True], "a": "caf\u00e9 \U0001f600", "n": {"x": {"y": {}}}}
    token = encrypt_for(payload, alice.public())
    parts = _segments(token)
    assert len(parts) == 5 and parts[1] == ""  # compact, direct key agreement
    header = _header(token)
    assert header["alg"] == "ECDH-ES" and header["enc"] == "A256GCM"
    assert header["kid"] == alice.public().encryption_jwk["kid"]
    assert header["epk"]["crv"] == "X25519"
    assert decrypt(token, alice) == payload
    assert encrypt_for(payload, alice.public()) != token  # a fresh ephemeral key each time


def test_plaintext_is_rfc8785_canonical(alice: OrganisationKeys) -> None:
    token = encrypt_for({"b": 1, "a": 2}, alice.public())
    plaintext = jwe.decrypt_compact(token, OKPKey.import_key(alice.encryption)).plaintext
    assert plaintext == b'{"a":2,"b":1}'


def test_wrong_recipient_cannot_decrypt(alice: OrganisationKeys, mallory: OrganisationKeys) -> None:
    token = encrypt_for({"secret": 1}, alice.public())
    with pytest.raises(DecryptionFailed):
        decrypt(token, mallory)
    # Even with the kid rewritten to mallory's, the key agreement fails.
    relabelled = jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A256GCM", "kid": mallory.public().encryption_jwk["kid"]},
        b'{"secret":1}',
        OKPKey.import_key(alice.encryption.public_key()),
    )
    with pytest.raises(DecryptionFailed, match="cannot decrypt"):
        decrypt(relabelled, mallory)


@pytest.mark.parametrize("segment", [0, 2, 3, 4])
def test_tampered_jwe_is_refused(alice: OrganisationKeys, segment: int) -> None:
    parts = _segments(encrypt_for({"amount": 100, "pad": "x" * 40}, alice.public()))
    raw = bytearray(base64.urlsafe_b64decode(parts[segment] + "=" * (-len(parts[segment]) % 4)))
    raw[len(raw) // 2] ^= 0x01
    parts[segment] = _b64u(bytes(raw))
    with pytest.raises(DecryptionFailed):
        decrypt(".".join(parts), alice)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "none", "enc": "A256GCM"}, "JWE alg must be ECDH-ES"),
        ({"alg": "dir", "enc": "A256GCM"}, "JWE alg must be ECDH-ES"),
        ({"alg": "RSA1_5", "enc": "A256GCM"}, "JWE alg must be ECDH-ES"),
        ({"enc": "A256GCM"}, "JWE alg must be ECDH-ES"),
        ({"alg": "ECDH-ES", "enc": "A128CBC-HS256"}, "JWE enc must be A256GCM"),
        ({"alg": "ECDH-ES", "enc": "A256GCM", "zip": "DEF"}, "JWE zip and crit are not accepted"),
        ({"alg": "ECDH-ES", "enc": "A256GCM", "crit": ["x"]}, "JWE zip and crit are not accepted"),
        ({"alg": "ECDH-ES", "enc": "A256GCM", "kid": "other"}, "JWE is for another key"),
    ],
)
def test_other_algorithms_and_headers_are_refused(
    alice: OrganisationKeys, header: dict[str, Any], reason: str
) -> None:
    token = _b64u(json.dumps(header).encode()) + "..aXY.Y3Q.dGFn"
    with pytest.raises(DecryptionFailed) as caught:
        decrypt(token, alice)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("alg", "enc", "extra"),
    [
        ("ECDH-ES+A256KW", "A256GCM", {}),
        ("ECDH-ES", "A128GCM", {}),
        ("ECDH-ES", "A256GCM", {"zip": "DEF"}),
    ],
)
def test_real_tokens_in_other_modes_are_refused(
    alice: OrganisationKeys, alg: str, enc: str, extra: dict[str, str]
) -> None:
    allowed = [alg, enc, *extra.values()]
    token = jwe.encrypt_compact(
        {"alg": alg, "enc": enc, **extra},
        b'{"a":1}',
        OKPKey.import_key(alice.encryption.public_key()),
        algorithms=allowed,
    )
    assert jwe.decrypt_compact(token, OKPKey.import_key(alice.encryption), algorithms=allowed)
    with pytest.raises(DecryptionFailed):
        decrypt(token, alice)


def _raw_token(alice: OrganisationKeys, plaintext: bytes) -> str:
    return jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A256GCM"},
        plaintext,
        OKPKey.import_key(alice.encryption.public_key()),
    )


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [
        (b"not json", "payload is not valid JSON"),
        (b"\xff\xfe", "payload is not UTF-8"),
        (b'{"a":1,"a":2}', "payload has a duplicate key"),
        (b"[NaN]", "payload is not valid JSON"),
        (b"[1e400]", "payload has a number out of range"),
        (b"[" * (MAX_EVENT_DEPTH + 1) + b"]" * (MAX_EVENT_DEPTH + 1), "payload nests too deeply"),
        (b"", "payload is not valid JSON"),
    ],
)
def test_decrypted_payload_must_be_bounded_json(
    alice: OrganisationKeys, plaintext: bytes, reason: str
) -> None:
    with pytest.raises(DecryptionFailed) as caught:
        decrypt(_raw_token(alice, plaintext), alice)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b.c.d.e",
        "....",
        "a.b.c.d.e.f",
        "\u00e9.b.c.d.e",
        "x" * (MAX_EVENT_BYTES + 1),
        "e30..aXY.Y3Q.dGFn",  # {} header
        "W10..aXY.Y3Q.dGFn",  # [] header
        "!!!..aXY.Y3Q.dGFn",
        "A" * 2000 + "..aXY.Y3Q.dGFn",
        None,
        b"bytes.are.not.a.token",
        42,
    ],
)
def test_non_jwe_garbage_is_refused(alice: OrganisationKeys, token: Any) -> None:
    with pytest.raises(DecryptionFailed):
        decrypt(token, alice)


def test_fuzzed_tokens_only_ever_raise_decryption_failed(alice: OrganisationKeys) -> None:
    rng = random.Random(7516)
    token = encrypt_for({"a": [1, 2, 3]}, alice.public())
    for _ in range(300):
        with pytest.raises(DecryptionFailed):
            decrypt(_mutations(rng, token), alice)


def test_an_encrypted_key_segment_is_refused(alice: OrganisationKeys) -> None:
    parts = _segments(encrypt_for({"a": 1}, alice.public()))
    parts[1] = "AAAA"
    with pytest.raises(DecryptionFailed):
        decrypt(".".join(parts), alice)


def test_payloads_over_joserfcs_default_limit_round_trip(alice: OrganisationKeys) -> None:
    payload = {"blob": "x" * 200_000}
    assert decrypt(encrypt_for(payload, alice.public()), alice) == payload


@pytest.mark.parametrize(
    "payload",
    [{1, 2}, float("nan"), {"a": object()}, {1: "non-string key"}, 2**60],
)
def test_encrypt_refuses_what_is_not_json(alice: OrganisationKeys, payload: Any) -> None:
    with pytest.raises(FederationError):
        encrypt_for(payload, alice.public())


def test_encrypt_refuses_too_deep_and_too_large(alice: OrganisationKeys) -> None:
    deep: Any = 1
    for _ in range(MAX_EVENT_DEPTH + 1):
        deep = [deep]
    with pytest.raises(FederationError, match="nests too deeply"):
        encrypt_for(deep, alice.public())
    with pytest.raises(FederationError, match="too large"):
        encrypt_for("x" * MAX_EVENT_BYTES, alice.public())


def test_encrypt_refuses_a_low_order_recipient_key(alice: OrganisationKeys) -> None:
    zero = fed._public_jwk("X25519", _b64u(bytes(32)))
    recipient = PublicOrganisationKeys(alice.public().signing_jwk, zero)
    with pytest.raises(FederationError, match="unusable"):
        encrypt_for({"a": 1}, recipient)


# --------------------------------------------------------------------------- CloudEvents


def test_new_event_is_cloudevents_structured() -> None:
    moment = datetime(2025, 3, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    event = new_event(
        type="org.hub.collaboration.task.completed",
        source="https://hub-a.example/orgs/abc",
        subject="collab-1/task-2",
        data={"result": [1, 2]},
        time=moment,
        extensions={"collabid": "c1", "sequence": 7},
    )
    assert event == {
        "specversion": "1.0",
        "id": event["id"],
        "source": "https://hub-a.example/orgs/abc",
        "type": "org.hub.collaboration.task.completed",
        "subject": "collab-1/task-2",
        "time": "2025-03-01T10:00:00.000005Z",
        "datacontenttype": "application/json",
        "collabid": "c1",
        "sequence": 7,
        "data": {"result": [1, 2]},
    }
    assert len(event["id"]) == 32 and int(event["id"], 16) >= 0
    body = encode_event(event)
    assert b" " not in body.replace(b"task completed", b"")
    assert parse_event(body) == event


def test_new_event_defaults() -> None:
    before = datetime.now(UTC)
    event = new_event(type="t", source="urn:a", subject=None, data=None, event_id="e-1")
    assert "subject" not in event and event["id"] == "e-1" and event["data"] is None
    assert event["time"].endswith("Z")
    stamped = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC) + timedelta(seconds=1)
    whole = new_event(
        type="t", source="s", subject=None, data=1, time=datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert whole["time"] == "2025-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"extensions": {"CollabId": "x"}},
        {"extensions": {"collab-id": "x"}},
        {"extensions": {"a" * 21: "x"}},
        {"extensions": {"data": "x"}},
        {"extensions": {"id": "x"}},
        {"extensions": {"dataschema": "x"}},
        {"extensions": {"flag": True}},
        {"extensions": {"big": 2**31}},
        {"extensions": {"text": "line\nbreak"}},
        {"time": datetime(2025, 1, 1)},  # naive
        {"type": ""},
        {"source": "x" * 257},
        {"event_id": "id\x00"},
        {"subject": ""},
    ],
)
def test_new_event_refuses_invalid_attributes(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"type": "t", "source": "s", "subject": None, "data": {}}
    args.update(kwargs)
    with pytest.raises(EventRefused):
        new_event(**args)


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"specversion": "1.0", "id": "e1", "source": "urn:a", "type": "t"}
    event.update(changes)
    return {k: v for k, v in event.items() if v is not _DELETE}


def _nested(depth: int) -> bytes:
    """An event whose outermost object counts as depth 1; data nests depth - 1 more."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return b'{"specversion":"1.0","id":"e","source":"s","type":"t","data":' + inner + b"}"


def test_depth_limit_is_exact() -> None:
    assert parse_event(_nested(MAX_EVENT_DEPTH))["id"] == "e"
    with pytest.raises(EventRefused, match="nests too deeply"):
        parse_event(_nested(MAX_EVENT_DEPTH + 1))


def test_brackets_inside_strings_do_not_nest() -> None:
    text = '[[[{{{\\"]]' * 40
    event = parse_event(json.dumps(_event(data={"s": text})).encode())
    assert event["data"]["s"] == text


def test_a_megabyte_of_brackets_is_refused_quickly() -> None:
    started = time.perf_counter()
    hostile = (
        b"[" * MAX_EVENT_BYTES,
        b"[]" * (MAX_EVENT_BYTES // 2),
        b"{" + b"[" * 30_000,
        b"[[]" * (MAX_EVENT_BYTES // 3),
        # an unterminated string of escaped quotes: a regex that rescans from every quote
        # would take minutes here
        b'"' + b'\\"' * (MAX_EVENT_BYTES // 2 - 1),
        b'{"a":"' + b"\\" * (MAX_EVENT_BYTES - 10),
        b'"' * MAX_EVENT_BYTES,
    )
    for body in hostile:
        with pytest.raises(EventRefused):
            parse_event(body)
    assert time.perf_counter() - started < 2.0


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _random_json(rng: random.Random, budget: int) -> Any:
    roll = rng.random()
    if budget <= 0 or roll < 0.3:
        return rng.choice([1, "s]", '"{', None, True, 2.5, "\\[", "", '\\"]', "\\\\", "[\\"])
    children = [_random_json(rng, budget - rng.randint(1, 3)) for _ in range(rng.randint(0, 3))]
    if roll < 0.65:
        return children
    return {f"k{i}]": child for i, child in enumerate(children)}


def test_depth_scan_agrees_with_the_parsed_depth() -> None:
    rng = random.Random(18)
    seen_over = seen_under = 0
    for _ in range(400):
        value = _random_json(rng, rng.randint(1, 12))
        raw = json.dumps(value).encode()
        limit = max(1, _depth(value) + rng.randint(-2, 1))  # near the edge, both sides
        try:
            fed._check_depth(raw, limit)
            accepted = True
        except fed._JSONRefused:
            accepted = False
        assert accepted == (_depth(value) <= limit), raw
        seen_over += not accepted
        seen_under += accepted
    assert seen_over > 40 and seen_under > 40  # both outcomes were exercised


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"x" * (MAX_EVENT_BYTES + 1), "event too large"),
        (b"[1]", "event must be a JSON object"),
        (b'"text"', "event must be a JSON object"),
        (b"42", "event must be a JSON object"),
        (b"null", "event must be a JSON object"),
        (b"", "event is not valid JSON"),
        (b"{", "event is not valid JSON"),
        (b"{]", "event is not valid JSON"),
        (b"}{", "event is not valid JSON"),
        (b'{"a":1', "event is not valid JSON"),
        (b"\xef\xbb\xbf{}", "event is not valid JSON"),
        (b'{"id":"\xff"}', "event is not UTF-8"),
        (json.dumps(_event()).encode("utf-16"), "event is not UTF-8"),
        (b'{"specversion":"1.0","specversion":"1.0"}', "event has a duplicate key"),
        (b'{"x":NaN}', "event is not valid JSON"),
        (b'{"x":-Infinity}', "event is not valid JSON"),
        (b'{"x":1e999}', "event has a number out of range"),
        (b'{"x":' + b"9" * 5000 + b"}", "event is not valid JSON"),
        (json.dumps(_event(id=_DELETE)).encode(), "id is missing"),
        (json.dumps(_event(source=_DELETE)).encode(), "source is missing"),
        (json.dumps(_event(type=_DELETE)).encode(), "type is missing"),
        (json.dumps(_event(specversion=_DELETE)).encode(), "specversion must be 1.0"),
        (json.dumps(_event(specversion="0.3")).encode(), "specversion must be 1.0"),
        (json.dumps(_event(specversion=1.0)).encode(), "specversion must be 1.0"),
    ],
)
def test_parse_event_refuses(body: bytes, reason: str) -> None:
    with pytest.raises(EventRefused) as caught:
        parse_event(body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "event",
    [
        _event(id=""),
        _event(id=7),
        _event(id=None),
        _event(id="x" * 257),
        _event(source=["a"]),
        _event(type="bad\u0000type"),
        _event(type="\ud800"),
        _event(subject=""),
        _event(subject=3),
        _event(time="2024-01-01"),
        _event(time="yesterday"),
        _event(time="2024-13-01T00:00:00Z"),
        _event(time="2024-01-01T25:00:00Z"),
        _event(time="2024-01-01T00:00:00"),
        _event(time=1700000000),
        _event(datacontenttype=1),
        _event(data=1, data_base64="AA=="),
        _event(data_base64=5),
        _event(Bad=1),
        _event(**{"bad-name": 1}),
        _event(**{"a" * 21: 1}),
        _event(**{"": 1}),
        _event(**{"ext\u00e9": 1}),
        _event(ext=1.5),
        _event(ext={"nested": 1}),
        _event(ext=None),
        _event(ext=2**31),
        _event(ext="x" * 257),
    ],
)
def test_parse_event_refuses_invalid_attributes(event: dict[str, Any]) -> None:
    with pytest.raises(EventRefused) as caught:
        parse_event(json.dumps(event).encode())
    assert 0 < len(caught.value.reason) <= 80


@pytest.mark.parametrize(
    "time_value",
    ["2024-01-01T00:00:00Z", "2024-01-01t00:00:00.123456789z", "2024-02-29T23:59:59+05:30"],
)
def test_parse_event_accepts_rfc3339_times(time_value: str) -> None:
    assert parse_event(json.dumps(_event(time=time_value)).encode())["time"] == time_value


def test_parse_event_keeps_extensions_and_data() -> None:
    event = _event(flag=True, seq=-(2**31), traceparent="00-ab-cd-01", data={"k": [1, {}]})
    assert parse_event(json.dumps(event).encode()) == event


def test_fuzzed_events_only_ever_raise_event_refused() -> None:
    rng = random.Random(1)
    genuine = encode_event(
        new_event(type="t", source="s", subject="x", data={"a": [1, {"b": "c"}]})
    ).decode()
    parsed = 0
    for _ in range(600):
        try:
            parse_event(_mutations(rng, genuine).encode("utf-8", "surrogatepass"))
            parsed += 1
        except EventRefused as exc:
            assert 0 < len(exc.reason) <= 80
    assert parsed < 600


def test_parse_event_refuses_non_bytes() -> None:
    with pytest.raises(EventRefused):
        parse_event("{}")  # type: ignore[arg-type]


def test_encode_event_refuses_what_a_peer_would_refuse() -> None:
    with pytest.raises(EventRefused, match="too large"):
        encode_event(_event(data="x" * MAX_EVENT_BYTES))
    with pytest.raises(EventRefused):
        encode_event(_event(data={"s": "\ud800"}))  # not encodable as UTF-8
    with pytest.raises(EventRefused):
        encode_event(_event(data=float("inf")))
    with pytest.raises(EventRefused):
        encode_event(_event(data={1, 2}))
    with pytest.raises(EventRefused, match="specversion"):
        encode_event(_event(specversion="0.3"))
    deep: Any = 1
    for _ in range(MAX_EVENT_DEPTH):
        deep = [deep]
    with pytest.raises(EventRefused, match="nests too deeply"):
        encode_event(_event(data=deep))


def test_signed_event_end_to_end(alice: OrganisationKeys, resolve: Any) -> None:
    """The pieces together: an encrypted data exchange in a signed CloudEvent."""
    bob = OrganisationKeys.generate()
    event = new_event(
        type="org.hub.collaboration.data_exchange",
        source=f"urn:hub:org:{alice.public().org_id}",
        subject="collab-1",
        data={"jwe": encrypt_for({"batch": "B-7", "qty": 40}, bob.public())},
    )
    body = encode_event(event)
    headers = sign_request(alice, "POST", URL, body, CLOUDEVENTS_CONTENT_TYPE, now=NOW)
    verified = verify_request("POST", URL, headers, body, resolve, now=NOW)
    received = parse_event(body)
    assert verified.org_id == alice.public().org_id
    assert decrypt(received["data"]["jwe"], bob) == {"batch": "B-7", "qty": 40}
    with pytest.raises(DecryptionFailed):
        decrypt(received["data"]["jwe"], alice)
