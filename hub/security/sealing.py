"""Write-only pack parameters at rest: AES-256-GCM under a key derived from HUB_SECRET_KEY.

The key is HKDF-SHA256 of the secret key with its own label, so it shares no bytes with
the HMAC key of secret form fields (which is the secret key itself). Each value is JSON,
encrypted with a fresh 96-bit nonce and bound (as associated data) to its tenant, pack
and parameter, so a sealed value copied into another row does not open there. Stored as
``{"$sealed": "v1.<base64url(nonce || ciphertext || tag)>"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.domain.packs import SEALED, SealBroken

LABEL = b"industrial-hub pack parameters aes-256-gcm v1"
VERSION = "v1"
NONCE_BYTES = 12


def derive_key(secret_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL).derive(secret_key)


class AeadSealer:
    def __init__(self, secret_key: bytes) -> None:
        self._aead = AESGCM(derive_key(secret_key))

    def seal(self, value: Any, context: str) -> dict[str, str]:
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        box = nonce + self._aead.encrypt(nonce, plain, context.encode())
        return {SEALED: f"{VERSION}.{base64.urlsafe_b64encode(box).decode()}"}

    def unseal(self, sealed: Any, context: str) -> Any:
        token = sealed.get(SEALED) if isinstance(sealed, dict) else None
        version, _, data = str(token).partition(".")
        if version != VERSION:
            raise SealBroken(f"not a sealed value of version {VERSION}")
        try:
            box = base64.urlsafe_b64decode(data.encode())
            plain = self._aead.decrypt(box[:NONCE_BYTES], box[NONCE_BYTES:], context.encode())
            return json.loads(plain)
        except (binascii.Error, ValueError, InvalidTag):
            raise SealBroken("cannot be decrypted with this hub's HUB_SECRET_KEY") from None
