"""JWT access tokens (pyjwt): the AccessTokenIssuer adapter. Refresh tokens are opaque
(hub/domain/refresh_tokens.py)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt

from hub.domain.errors import Unauthorized
from hub.settings import Settings

VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    jti: str
    expires_at: int


class AccessTokens:
    """Issues and checks access tokens; only the one configured algorithm is accepted."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm
        if self.algorithm == "HS256":
            self._signing_key: str = settings.jwt_secret
            self._verify_key: str = settings.jwt_secret
        else:
            self._signing_key = settings.jwt_private_key
            self._verify_key = settings.jwt_public_key
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = settings.access_token_ttl
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, user_id: str, now: datetime) -> str:
        iat = int(now.timestamp())
        claims = {
            "sub": user_id,
            "iat": iat,
            "exp": iat + self.ttl,
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
        }
        return jwt.encode(claims, self._signing_key, algorithm=self.algorithm)

    def verify(self, token: str) -> AccessClaims:
        # Signature checks dominate an authenticated GET; a token that verified once is
        # remembered until it expires (only successes are cached, keyed by the whole token).
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > time.time():
                return cached
            del self._verified[token]
        claims = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = claims
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "iat", "exp", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("access token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid access token: {exc}") from None
        if not isinstance(claims["sub"], str):
            raise Unauthorized("invalid access token: sub is not a string")
        return AccessClaims(claims["sub"], str(claims["jti"]), int(claims["exp"]))
