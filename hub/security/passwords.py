"""argon2 password hashing through passlib (the maintained libpass distribution)."""

from __future__ import annotations

from typing import Any

from passlib.context import CryptContext


class Argon2Hasher:
    def __init__(self, *, fast: bool = False) -> None:
        # `fast` lowers the cost for test suites only; production keeps passlib's defaults.
        settings: dict[str, Any] = (
            {"argon2__time_cost": 1, "argon2__memory_cost": 1024} if fast else {}
        )
        self._context = CryptContext(schemes=["argon2"], deprecated="auto", **settings)
        # Verified against when a username is unknown, so both paths cost the same time.
        self._dummy = self._context.hash("timing-equaliser-password")

    def hash(self, password: str) -> str:
        return self._context.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        if password_hash is None:
            self._context.verify(password, self._dummy)
            return False
        try:
            return self._context.verify(password, password_hash)
        except ValueError:
            return False
