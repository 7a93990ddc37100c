"""Opaque refresh tokens: random, and stored only as their SHA-256 (a stolen table
cannot be replayed)."""

from __future__ import annotations

import hashlib
import secrets


def new_refresh_token() -> tuple[str, str]:
    """A refresh token and the hash that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
