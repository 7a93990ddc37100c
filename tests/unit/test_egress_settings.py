"""HUB_EGRESS_ALLOW (issue 12, item 3): parsed at start-up; a bad value stops the hub with
one line naming the setting. Without it, loopback stays refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.demo import demo_settings
from hub.domain.egress import EgressPolicy, EgressRefused, parse_allow_list
from hub.settings import SettingsError, load_settings


def test_egress_allow_is_kept_in_canonical_form(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "HUB_DATA_DIR": str(tmp_path),
            "HUB_EGRESS_ALLOW": " 127.0.0.1:4005, 10.0.0.0/8,ERP.local:443,[::1]:8080 ,",
        }
    )
    assert settings.egress_allow == ("127.0.0.1:4005", "10.0.0.0/8", "erp.local:443", "[::1]:8080")


def test_egress_allow_defaults_to_nothing(tmp_path: Path) -> None:
    assert load_settings({"HUB_DATA_DIR": str(tmp_path)}).egress_allow == ()


@pytest.mark.parametrize(
    "value",
    ["10.1.2.3/8", "127.0.0.1:0", "127.0.0.1:http", "2130706433", "0x7f.1", "[::1", "::1:80]",
     "300.0.0.1", "erp local", "10.0.0.0/33", "[fe80::1%eth0]:80"],
)  # fmt: skip
def test_bad_egress_allow_names_the_setting_in_one_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_EGRESS_ALLOW": f"10.0.0.0/8,{value}"})
    message = str(caught.value)
    assert message.startswith("HUB_EGRESS_ALLOW: ") and "\n" not in message


def test_demo_allows_loopback_explicitly(tmp_path: Path) -> None:
    settings = load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_EGRESS_ALLOW": "10.0.0.0/8"})
    demo = demo_settings(settings)
    assert demo.egress_allow == ("10.0.0.0/8", "127.0.0.0/8", "::1", "localhost")
    policy = EgressPolicy(parse_allow_list(",".join(demo.egress_allow)))
    assert policy.choose("localhost", 8080, ["127.0.0.1"]) == "127.0.0.1"
    plain = EgressPolicy(parse_allow_list(",".join(settings.egress_allow)))
    with pytest.raises(EgressRefused):
        plain.choose("localhost", 8080, ["127.0.0.1"])
