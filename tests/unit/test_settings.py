"""Settings from HUB_* with defaults, a kept JWT secret, and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import SettingsError, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"HUB_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    assert settings.access_token_ttl == 900
    assert settings.refresh_token_ttl == 7 * 24 * 3600
    assert settings.jwt_algorithm == "HS256"
    assert settings.cors_origins == ()
    assert settings.run_retention_days == 30


def test_run_retention_zero_keeps_finished_runs(tmp_path: Path) -> None:
    settings = load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_RUN_RETENTION_DAYS": "0"})
    assert settings.run_retention_days == 0


def test_generated_jwt_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    first = load_settings({"HUB_DATA_DIR": str(tmp_path)}).jwt_secret
    second = load_settings({"HUB_DATA_DIR": str(tmp_path)}).jwt_secret
    assert first == second and len(first) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_the_secret_key_is_kept_apart_from_the_jwt_secret(tmp_path: Path) -> None:
    first = load_settings({"HUB_DATA_DIR": str(tmp_path)})
    again = load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_JWT_SECRET": "j" * 40})
    assert first.secret_key == again.secret_key != first.jwt_secret
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    given = load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_SECRET_KEY": "k" * 32})
    assert given.secret_key == "k" * 32


def test_values_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "HUB_DATA_DIR": str(tmp_path),
            "HUB_DATABASE_URL": "postgresql://hub@db:5432/hub",
            "HUB_JWT_SECRET": "s" * 40,
            "HUB_ACCESS_TOKEN_TTL": "60",
            "HUB_CORS_ORIGINS": "https://console.example, http://localhost:5173",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://hub@db:5432/hub"
    assert settings.jwt_secret == "s" * 40
    assert settings.access_token_ttl == 60
    assert settings.cors_origins == ("https://console.example", "http://localhost:5173")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HUB_DATABASE_URL", "mysql://x"),
        ("HUB_JWT_SECRET", "too-short"),
        ("HUB_SECRET_KEY", "too-short"),
        ("HUB_JWT_ALGORITHM", "HS512"),
        ("HUB_JWT_ALGORITHM", "RS256"),  # without a key pair
        ("HUB_ACCESS_TOKEN_TTL", "soon"),
        ("HUB_REFRESH_TOKEN_TTL", "0"),
        ("HUB_CORS_ORIGINS", "ftp://x"),
        ("HUB_JWT_PRIVATE_KEY_FILE", "/no/such/key.pem"),
        ("HUB_LOG_LEVEL", "LOUD"),
        ("HUB_RUN_RETENTION_DAYS", "-1"),
        ("HUB_RUN_RETENTION_DAYS", "a month"),
    ],
)
def test_a_bad_setting_names_itself(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HUB_DATA_DIR": str(tmp_path), name: value})
    message = str(caught.value)
    assert message.startswith("HUB_")
    assert "\n" not in message
    assert name in message or (name == "HUB_JWT_ALGORITHM" and "KEY_FILE" in message)


# --- chain anchoring (issue 6) ---


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HUB_CHAIN_URL": "ftp://node"}, "HUB_CHAIN_URL"),
        ({"HUB_CHAIN_URL": "http://127.0.0.1:8545"}, "HUB_CHAIN_PRIVATE_KEY"),
        ({"HUB_CHAIN_PRIVATE_KEY": "0x1234"}, "HUB_CHAIN_PRIVATE_KEY"),
        ({"HUB_ANCHOR_CONTRACT": "0xnope"}, "HUB_ANCHOR_CONTRACT"),
        ({"HUB_ANCHOR_INTERVAL": "0"}, "HUB_ANCHOR_INTERVAL"),
        ({"HUB_ANCHOR_INTERVAL": "soon"}, "HUB_ANCHOR_INTERVAL"),
        ({"HUB_ANCHOR_CONFIRMATIONS": "0"}, "HUB_ANCHOR_CONFIRMATIONS"),
    ],
)
def test_bad_chain_settings_name_the_setting(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({"HUB_DATA_DIR": str(tmp_path), **env})


def test_chain_defaults_are_the_embedded_chain(tmp_path: Path) -> None:
    settings = load_settings({"HUB_DATA_DIR": str(tmp_path)})
    assert settings.chain_url == "" and settings.anchor_interval == 60.0
    assert settings.anchor_confirmations == 1


def test_an_unknown_sqlite_durability_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="HUB_SQLITE_SYNCHRONOUS"):
        load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_SQLITE_SYNCHRONOUS": "off"})
