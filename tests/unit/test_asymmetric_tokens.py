"""RS256 and ES256 access tokens when a key pair is configured."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.domain.errors import Unauthorized
from hub.security.tokens import AccessTokens
from hub.settings import load_settings


def _key_pair(algorithm: str) -> tuple[bytes, bytes]:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_key_pair_signs_and_other_algorithms_are_refused(tmp_path: Path, algorithm: str) -> None:
    private, public = _key_pair(algorithm)
    (tmp_path / "key.pem").write_bytes(private)
    (tmp_path / "pub.pem").write_bytes(public)
    settings = load_settings(
        {
            "HUB_DATA_DIR": str(tmp_path),
            "HUB_JWT_ALGORITHM": algorithm,
            "HUB_JWT_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"),
            "HUB_JWT_PUBLIC_KEY_FILE": str(tmp_path / "pub.pem"),
        }
    )
    tokens = AccessTokens(settings)
    token = tokens.issue("user-1", datetime.now(UTC))
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert tokens.verify(token).user_id == "user-1"

    now = int(time.time())
    claims = {
        "sub": "user-1",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    # An HS256 token must not pass where only the configured key pair is trusted.
    forged = jwt.encode(claims, "a-shared-secret-of-enough-length-0000", algorithm="HS256")
    with pytest.raises(Unauthorized):
        tokens.verify(forged)
    other_private, _ = _key_pair(algorithm)
    with pytest.raises(Unauthorized):
        tokens.verify(jwt.encode(claims, other_private, algorithm=algorithm))
