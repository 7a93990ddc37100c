"""Tenants, users and memberships, and the rules on their fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hub.domain.errors import FieldProblem, ValidationFailed

PLATFORM_ADMIN = "platform_admin"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


class TenantRole(StrEnum):
    TENANT_ADMIN = "tenant_admin"
    ENGINEER = "engineer"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    VIEWER = "viewer"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")


@dataclass(frozen=True)
class Tenant:
    id: str
    slug: str
    name: str
    status: TenantStatus
    created_at: datetime


@dataclass(frozen=True)
class User:
    id: str
    username: str
    status: UserStatus
    is_platform_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class Membership:
    user_id: str
    tenant_slug: str
    role: TenantRole


@dataclass(frozen=True)
class TenantMember:
    """A user as seen from inside one tenant."""

    user: User
    role: TenantRole
    since: datetime


def slug_problems(slug: str) -> list[FieldProblem]:
    if not SLUG_RE.match(slug):
        return [FieldProblem("slug", "1-63 lowercase letters, digits or '-', not at the ends")]
    return []


def name_problems(name: str, field: str = "name") -> list[FieldProblem]:
    if not name.strip():
        return [FieldProblem(field, "must not be blank")]
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return [FieldProblem(field, "must not contain control characters")]
    if len(name) > 200:
        return [FieldProblem(field, "at most 200 characters")]
    return []


def username_problems(username: str) -> list[FieldProblem]:
    if not USERNAME_RE.match(username):
        return [FieldProblem("username", "2-64 characters: letters, digits, '.', '_', '@', '-'")]
    return []


def password_problems(password: str) -> list[FieldProblem]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return [FieldProblem("password", f"at least {MIN_PASSWORD_LENGTH} characters")]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [FieldProblem("password", f"at most {MAX_PASSWORD_LENGTH} characters")]
    return []


def role_problems(role: str) -> list[FieldProblem]:
    if role not in TenantRole.__members__.values():
        allowed = ", ".join(r.value for r in TenantRole)
        return [FieldProblem("role", f"must be one of {allowed}")]
    return []


def check(*problem_lists: list[FieldProblem]) -> None:
    problems = [p for group in problem_lists for p in group]
    if problems:
        raise ValidationFailed(problems)


@dataclass(frozen=True)
class Principal:
    """Who is calling, as authorization sees it."""

    user_id: str
    is_platform_admin: bool
    tenants: frozenset[str]
