"""CSRF tokens: an HMAC of the session with a server secret, never stored.

A signed-in session's token is HMAC-SHA256(key, user id | session id); the session id is
a random value kept in the HttpOnly session cookie, so another site can neither read nor
compute the token, and one user's token is worthless in another's session. The sign-in
form, before there is a session, carries HMAC(key, nonce) for a nonce in a short-lived
cookie of its own. Forms send the token in a hidden field, htmx in the X-CSRF-Token header
(hx-headers on <body>). The key is derived from the hub's secret key (HUB_SECRET_KEY or
the one kept in the data directory), so tokens survive a restart and differ per hub.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def derive_key(secret: str) -> bytes:
    """The console's CSRF key, derived from (and never equal to) the hub's secret key."""
    return hmac.new(secret.encode(), b"hub-console-csrf-v1", hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def session_token(key: bytes, user_id: str, session_id: str) -> str:
    """The token every unsafe request of this session must carry."""
    return _mac(key, f"session|{user_id}|{session_id}")


def login_token(key: bytes, nonce: str) -> str:
    """The sign-in form's token, for the nonce in its cookie."""
    return _mac(key, f"login|{nonce}")


def matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; a missing or non-ASCII token never matches."""
    if not given or not given.isascii():
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
