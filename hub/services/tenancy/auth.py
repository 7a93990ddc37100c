"""Log in, refresh with rotation and reuse detection, log out; each recorded in the audit log.

Sign-in events go to the platform's log and to the log of every tenant the user belongs
to, so each tenant's auditors see their users' sign-ins.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from datetime import timedelta

from hub.domain.audit import PLATFORM_LOG, ActorType, AuditEvent, Outcome, RequestContext
from hub.domain.errors import RateLimited, Unauthorized
from hub.domain.ids import new_id
from hub.domain.refresh_tokens import hash_refresh_token, new_refresh_token
from hub.domain.tenancy import USERNAME_RE, Membership, User, UserStatus
from hub.ports import AccessTokenIssuer, Clock, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from hub.services.audit.log import AuditLog

BAD_CREDENTIALS = "invalid username or password"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


@dataclass(frozen=True)
class SignInRules:
    max_failures: int  # failed sign-ins per username within `window` before a lock-out
    window: timedelta
    refresh_ttl: timedelta


class AuthService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        hasher: PasswordHasher,
        tokens: AccessTokenIssuer,
        clock: Clock,
        rules: SignInRules,
        audit: AuditLog,
    ) -> None:
        self._uow = uow_factory
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        self._audit = audit
        self._max_failures = rules.max_failures
        self._window = rules.window
        self._refresh_ttl = rules.refresh_ttl

    async def login(self, username: str, password: str, ctx: RequestContext) -> TokenPair:
        ctx = replace(ctx, actor=username[:64], actor_type=ActorType.ANONYMOUS)
        if not USERNAME_RE.match(username):
            # No such user can exist; spend the same time as a real check before saying so.
            await asyncio.to_thread(self._hasher.verify, password, None)
            raise Unauthorized(BAD_CREDENTIALS)
        now = self._clock.now()
        async with self._uow() as uow:
            failures = await uow.login_failures.since(username, now - self._window)
            found = await uow.users.by_username(username)
            logs = await self._logs(uow, found[0].id if found else None)
        if len(failures) >= self._max_failures:
            unblocked_at = failures[-self._max_failures] + self._window
            retry_after = max(1, math.ceil((unblocked_at - now).total_seconds()))
            await self._audit.record_now(logs, ctx, _login(Outcome.DENIED, "locked"))
            raise RateLimited(
                f"too many failed logins for {username!r}; try again in {retry_after} s",
                retry_after,
            )
        user, password_hash = found if found else (None, None)
        # argon2 is deliberately slow: keep it off the event loop and outside transactions.
        ok = await asyncio.to_thread(self._hasher.verify, password, password_hash)
        async with self._uow(write=True) as uow:
            refusal = await _refusal(uow, user) if ok and user is not None else "bad credentials"
            if refusal is not None:
                # The same answer whatever the reason: no oracle for an account's state.
                await uow.login_failures.add(username, now)
                await self._audit.record(uow, logs, ctx, _login(Outcome.FAILURE, refusal))
                await uow.commit()
                raise Unauthorized(BAD_CREDENTIALS)
            assert user is not None  # no refusal: the user was found
            await uow.login_failures.clear(username)
            family = new_id()
            pair = await self._issue(uow, user.id, family)
            user_ctx = replace(ctx, actor_type=ActorType.USER)
            await self._audit.record(uow, logs, user_ctx, _login(Outcome.SUCCESS, None, family))
            await uow.commit()
        return pair

    async def refresh(self, refresh_token: str, ctx: RequestContext) -> TokenPair:
        now = self._clock.now()
        async with self._uow(write=True) as uow:
            stored = await uow.refresh_tokens.by_hash(hash_refresh_token(refresh_token))
            if stored is None or stored.revoked_at is not None:
                raise Unauthorized("refresh token is not valid")
            user = await uow.users.get(stored.user_id)
            assert user is not None  # a token row references its user
            ctx = replace(ctx, actor=user.username, actor_type=ActorType.USER)
            logs = await self._logs(uow, user.id)
            if stored.expires_at <= now:
                raise Unauthorized("refresh token has expired")
            if stored.used_at is not None or not await uow.refresh_tokens.mark_used(stored.id, now):
                # A rotated token came back: someone holds a copy. End the whole login.
                await uow.refresh_tokens.revoke_family(stored.family_id, now)
                event = AuditEvent(
                    "auth.refresh_reuse",
                    "session",
                    stored.family_id,
                    Outcome.DENIED,
                    {"revoked": "token family"},
                )
                await self._audit.record(uow, logs, ctx, event)
                await uow.commit()
                raise Unauthorized("refresh token was already used; its sessions are revoked")
            refusal = await _refusal(uow, user)
            if refusal is not None:
                await uow.refresh_tokens.revoke_family(stored.family_id, now)
                event = AuditEvent(
                    "auth.refresh",
                    "session",
                    stored.family_id,
                    Outcome.DENIED,
                    {"reason": refusal, "revoked": "token family"},
                )
                await self._audit.record(uow, logs, ctx, event)
                await uow.commit()
                raise Unauthorized(f"{refusal}; the session is revoked")
            pair = await self._issue(uow, user.id, stored.family_id)
            event = AuditEvent("auth.refresh", "session", stored.family_id)
            await self._audit.record(uow, logs, ctx, event)
            await uow.commit()
        return pair

    async def logout(self, user_id: str, refresh_token: str, ctx: RequestContext) -> None:
        now = self._clock.now()
        async with self._uow(write=True) as uow:
            stored = await uow.refresh_tokens.by_hash(hash_refresh_token(refresh_token))
            # Someone else's token is left alone, and the answer does not say it exists.
            if stored is not None and stored.user_id == user_id:
                await uow.refresh_tokens.revoke_family(stored.family_id, now)
                event = AuditEvent("auth.logout", "session", stored.family_id)
                await self._audit.record(uow, await self._logs(uow, user_id), ctx, event)
                await uow.commit()

    async def me(self, user_id: str) -> tuple[User, list[Membership]]:
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise Unauthorized("user no longer exists")
            return user, await uow.memberships.for_user(user_id)

    async def _logs(self, uow: UnitOfWork, user_id: str | None) -> list[str]:
        tenants = await uow.memberships.tenant_ids_for_user(user_id) if user_id else []
        return [PLATFORM_LOG, *tenants]

    async def _issue(self, uow: UnitOfWork, user_id: str, family_id: str) -> TokenPair:
        now = self._clock.now()
        token, token_hash = new_refresh_token()
        await uow.refresh_tokens.add(
            new_id(), token_hash, family_id, user_id, now, now + self._refresh_ttl
        )
        return TokenPair(self._tokens.issue(user_id, now), token, self._tokens.ttl)


async def _refusal(uow: UnitOfWork, user: User) -> str | None:
    """Why this user may not sign in (or stay signed in), or None. A user whose every
    membership is deactivated (or whose tenants are all suspended) has nothing to sign in
    to, unless a platform admin (issue 12, item 13c)."""
    if user.status is not UserStatus.ACTIVE:
        return "inactive user"
    if not user.is_platform_admin and not await uow.memberships.for_user(user.id):
        return "no active membership"
    return None


def _login(outcome: Outcome, reason: str | None, session: str = "") -> AuditEvent:
    details = {"reason": reason} if reason else {}
    return AuditEvent("auth.login", "session", session, outcome, details)
