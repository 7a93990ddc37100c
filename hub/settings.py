"""Settings read from the environment (HUB_*).

Every setting is validated up front so a bad value stops start-up with one line that
names it, instead of failing later in some unrelated place.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from hub.domain.egress import EgressRuleError, parse_allow_list
from hub.security.private_files import private_dir, read_or_create

JWT_ALGORITHMS = ("HS256", "RS256", "ES256")
SQLITE_SYNCHRONOUS = ("normal", "full")


class SettingsError(ValueError):
    """A setting has a value the hub cannot run with."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    # SQLite durability: "normal" (WAL; a power loss may drop the last transactions, never
    # corrupts) or "full" (every commit fsynced). PostgreSQL follows its own settings.
    sqlite_synchronous: str = "normal"
    jwt_algorithm: str = "HS256"
    jwt_secret: str = ""
    secret_key: str = ""  # keys the digests of secret values (override keys, secret fields)
    jwt_private_key: str = ""
    jwt_public_key: str = ""
    jwt_issuer: str = "industrial-hub"
    jwt_audience: str = "hub-api"
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 7 * 24 * 3600
    cors_origins: tuple[str, ...] = ()
    login_max_failures: int = 5
    login_window: int = 15 * 60
    max_body_bytes: int = 1024 * 1024
    authz_refresh_interval: float = 2.0
    read_cache: bool = True
    workflow_lease_seconds: float = 30.0
    # finished runs kept this many days, then removed with their history (issue 13); 0: kept
    run_retention_days: int = 30
    activity_modules: tuple[str, ...] = ()
    log_level: str = "INFO"
    # --- chain anchoring (issue 6) ---
    chain_url: str = ""  # empty: the embedded eth-tester chain
    chain_private_key: str = ""
    anchor_contract: str = ""
    anchor_interval: float = 60.0
    anchor_confirmations: int = 1
    anchor_retry_max: float = 300.0
    # PLC connectivity (issue 5)
    plc_supervisor: bool = True
    telemetry_retention_days: int = 30
    telemetry_flush_ms: int = 500
    # Industry packs (issue 7): where the catalog is read from; None: industry_packs/
    packs_dir: Path | None = None
    # Egress policy (issue 12, item 3): HUB_EGRESS_ALLOW, what tenants' outbound calls
    # may reach besides public addresses (hosts or CIDRs with optional ports)
    egress_allow: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    # Hardening (issue 12, item 11): the bearer token Prometheus scrapes /metrics with;
    # empty: only a platform admin's access token reads them
    metrics_token: str = ""
    # Collaboration (issue 18): the address partner hubs reach this hub at; the
    # organisations' inbox URLs are made from it (HUB_PUBLIC_URL)
    public_url: str = "http://127.0.0.1:8000"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not on/off (1/0, true/false, yes/no)")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return value


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = env.get("HUB_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'hub.db'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # Accept the URL people copy from psql; the hub always talks asyncpg.
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite"):
        url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
    if url.startswith("sqlite") and (
        ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:")
    ):
        raise SettingsError("HUB_DATABASE_URL: in-memory SQLite is not supported; give a file path")
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise SettingsError(
            f"HUB_DATABASE_URL={url!r} is not supported; use sqlite+aiosqlite:///PATH "
            "or postgresql+asyncpg://USER@HOST:PORT/DB"
        )
    return url


def _read_key(env: Mapping[str, str], name: str) -> str:
    path = env.get(name, "")
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise SettingsError(f"{name}={path!r} cannot be read: {exc.strerror}") from None


def _kept_secret(env: Mapping[str, str], data_dir: Path, name: str, file: str) -> str:
    """The configured secret, or one generated once and kept in the data dir."""
    secret = env.get(name, "")
    if secret:
        if len(secret) < 32:
            raise SettingsError(f"{name} must be at least 32 characters")
        return secret
    path = data_dir / file
    try:
        kept = read_or_create(path, lambda: secrets.token_urlsafe(48).encode()).decode().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} cannot be read or created: {exc}") from None
    if len(kept) < 32:
        raise SettingsError(f"{path} must hold at least 32 characters (or set {name})")
    return kept


def _data_dir(env: Mapping[str, str]) -> Path:
    data_dir = Path(env.get("HUB_DATA_DIR") or ".hub").expanduser().resolve()
    try:
        private_dir(data_dir)  # 0700 from the start (issue 12, item 12)
    except OSError as exc:
        raise SettingsError(
            f"HUB_DATA_DIR={str(data_dir)!r} cannot be created: {exc.strerror}"
        ) from None
    return data_dir


class _ChainSettings(TypedDict):
    """The Settings fields that _chain reads, together."""

    chain_url: str
    chain_private_key: str
    anchor_contract: str
    anchor_interval: float
    anchor_confirmations: int
    anchor_retry_max: float


def _chain(env: Mapping[str, str]) -> _ChainSettings:
    """HUB_CHAIN_* and HUB_ANCHOR_*: the embedded chain unless HUB_CHAIN_URL is set."""
    url = env.get("HUB_CHAIN_URL", "").strip()
    key = env.get("HUB_CHAIN_PRIVATE_KEY", "").strip()
    contract = env.get("HUB_ANCHOR_CONTRACT", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"HUB_CHAIN_URL={url!r} is not an http(s) JSON-RPC URL")
    if key and not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", key):
        raise SettingsError("HUB_CHAIN_PRIVATE_KEY must be 32 bytes of hex (0x...)")
    if contract and not re.fullmatch(r"0x[0-9a-fA-F]{40}", contract):
        raise SettingsError(f"HUB_ANCHOR_CONTRACT={contract!r} is not a 0x address")
    if url and not key:
        raise SettingsError("HUB_CHAIN_URL needs HUB_CHAIN_PRIVATE_KEY (the key that anchors)")
    interval = _float(env, "HUB_ANCHOR_INTERVAL", 60.0)
    if interval <= 0:
        raise SettingsError("HUB_ANCHOR_INTERVAL must be more than 0 seconds")
    return {
        "chain_url": url,
        "chain_private_key": key,
        "anchor_contract": contract,
        "anchor_interval": interval,
        "anchor_confirmations": _int(env, "HUB_ANCHOR_CONFIRMATIONS", 1),
        "anchor_retry_max": _float(env, "HUB_ANCHOR_RETRY_MAX", 300.0) or 300.0,
    }


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = _data_dir(env)
    algorithm = env.get("HUB_JWT_ALGORITHM", "HS256").upper()
    if algorithm not in JWT_ALGORITHMS:
        raise SettingsError(
            f"HUB_JWT_ALGORITHM={algorithm!r} is not one of {', '.join(JWT_ALGORITHMS)}"
        )
    private_key = _read_key(env, "HUB_JWT_PRIVATE_KEY_FILE")
    public_key = _read_key(env, "HUB_JWT_PUBLIC_KEY_FILE")
    if algorithm != "HS256" and not (private_key and public_key):
        raise SettingsError(
            f"HUB_JWT_ALGORITHM={algorithm} needs HUB_JWT_PRIVATE_KEY_FILE "
            "and HUB_JWT_PUBLIC_KEY_FILE"
        )
    origins = tuple(o.strip() for o in env.get("HUB_CORS_ORIGINS", "").split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise SettingsError(f"HUB_CORS_ORIGINS entry {origin!r} is not an http(s) origin")
    synchronous = env.get("HUB_SQLITE_SYNCHRONOUS", "normal").strip().lower()
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise SettingsError(f"HUB_SQLITE_SYNCHRONOUS={synchronous!r} is not normal or full")
    log_level = env.get("HUB_LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"HUB_LOG_LEVEL={log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        sqlite_synchronous=synchronous,
        jwt_algorithm=algorithm,
        jwt_secret=(
            _kept_secret(env, data_dir, "HUB_JWT_SECRET", "jwt_secret")
            if algorithm == "HS256"
            else ""
        ),
        secret_key=_kept_secret(env, data_dir, "HUB_SECRET_KEY", "secret_key"),
        jwt_private_key=private_key,
        jwt_public_key=public_key,
        jwt_issuer=env.get("HUB_JWT_ISSUER", "industrial-hub"),
        jwt_audience=env.get("HUB_JWT_AUDIENCE", "hub-api"),
        access_token_ttl=_int(env, "HUB_ACCESS_TOKEN_TTL", 15 * 60),
        refresh_token_ttl=_int(env, "HUB_REFRESH_TOKEN_TTL", 7 * 24 * 3600),
        cors_origins=origins,
        login_max_failures=_int(env, "HUB_LOGIN_MAX_FAILURES", 5),
        login_window=_int(env, "HUB_LOGIN_WINDOW", 15 * 60),
        authz_refresh_interval=_float(env, "HUB_AUTHZ_REFRESH_INTERVAL", 2.0),
        read_cache=_bool(env, "HUB_READ_CACHE", True),
        workflow_lease_seconds=_float(env, "HUB_WORKFLOW_LEASE_SECONDS", 30.0),
        run_retention_days=_int(env, "HUB_RUN_RETENTION_DAYS", 30, minimum=0),
        activity_modules=tuple(
            m.strip() for m in env.get("HUB_ACTIVITY_MODULES", "").split(",") if m.strip()
        ),
        log_level=log_level,
        **_chain(env),
        plc_supervisor=_bool(env, "HUB_PLC_SUPERVISOR", True),
        telemetry_retention_days=_int(env, "HUB_TELEMETRY_RETENTION_DAYS", 30),
        telemetry_flush_ms=_int(env, "HUB_TELEMETRY_FLUSH_MS", 500),
        packs_dir=_packs_dir(env),
        egress_allow=_egress_allow(env),
        metrics_token=_metrics_token(env),
        public_url=_public_url(env),
    )


def _public_url(env: Mapping[str, str]) -> str:
    url = env.get("HUB_PUBLIC_URL", "").strip().rstrip("/") or "http://127.0.0.1:8000"
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest or "?" in rest or "#" in rest:
        raise SettingsError(f"HUB_PUBLIC_URL={url!r} is not an http(s) base URL")
    return url


def _metrics_token(env: Mapping[str, str]) -> str:
    """HUB_METRICS_TOKEN (issue 12, item 11): a long random string, or nothing."""
    token = env.get("HUB_METRICS_TOKEN", "").strip()
    if token and len(token) < 32:
        raise SettingsError("HUB_METRICS_TOKEN must be at least 32 characters")
    return token


def _packs_dir(env: Mapping[str, str]) -> Path | None:
    raw = env.get("HUB_PACKS_DIR", "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise SettingsError(f"HUB_PACKS_DIR={raw!r} is not a directory")
    return path


def _egress_allow(env: Mapping[str, str]) -> tuple[str, ...]:
    """HUB_EGRESS_ALLOW (issue 12, item 3), kept in its canonical form."""
    try:
        return tuple(str(e) for e in parse_allow_list(env.get("HUB_EGRESS_ALLOW", "")))
    except EgressRuleError as exc:
        raise SettingsError(f"HUB_EGRESS_ALLOW: {exc}") from None
