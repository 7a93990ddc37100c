"""Semantic versions: precedence and npm-style ranges."""

from __future__ import annotations

import pytest

from hub.engine.versions import (
    match_version_range,
    parse_version,
    parse_version_range,
    split_workflow_ref,
    version_greater,
    version_key,
)

VERSIONS = [
    "0.0.3", "0.0.4", "0.2.3", "0.2.9", "0.3.0", "0.9.0", "1.0.0", "1.2.0", "1.2.5",
    "1.3.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "2.1.0", "not-a-version",
]  # fmt: skip


def test_precedence() -> None:
    assert version_greater("1.10.0", "1.9.0")
    assert version_greater("1.0.0", "1.0.0-rc.1")
    assert not version_greater("1.0.0-rc.1", "1.0.0")
    assert version_greater("1.0.0-alpha.10", "1.0.0-alpha.9")
    assert version_greater("1.0.0-beta", "1.0.0-alpha.1")
    assert not version_greater("1.0.0+build.2", "1.0.0+build.1")  # build metadata is ignored
    ordered = sorted(["1.0.0", "0.9.1", "1.0.0-rc.2", "1.0.0-rc.10", "0.10.0"], key=version_key)
    assert ordered == ["0.9.1", "0.10.0", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0"]


@pytest.mark.parametrize("text", ["1.2", "v1.2.3", "01.2.3", "1.2.3.4", "", "latest"])
def test_invalid_versions(text: str) -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        parse_version(text)


@pytest.mark.parametrize(
    ("range_text", "best"),
    [
        ("^1", "1.10.0"),
        ("^1.2.1", "1.10.0"),
        ("~1.2", "1.2.5"),
        ("~1.2.3", "1.2.5"),
        ("~1", "1.10.0"),
        ("1.2.3", None),
        ("1.2.5", "1.2.5"),
        ("=1.2.0", "1.2.0"),
        ("1", "1.10.0"),
        ("1.2", "1.2.5"),
        ("1.x", "1.10.0"),
        (">=1.0,<2", "1.10.0"),
        (">=1.0 <1.3", "1.2.5"),
        (">1", "2.1.0"),
        ("<=1.2", "1.2.5"),
        ("<1", "0.9.0"),
        ("^0.2.3", "0.2.9"),
        ("^0.0.3", "0.0.3"),
        ("^0", "0.9.0"),
        ("*", "2.1.0"),
        ("", "2.1.0"),
        ("<1 || ^2", "2.1.0"),
        ("!=1.3.0, >=1.3 <2", "1.10.0"),
        ("^3", None),
        ("2.0.0-rc.1", "2.0.0-rc.1"),
        ("deidentify@^1", "1.10.0"),
        ("deidentify@~1.2", "1.2.5"),
    ],
)
def test_ranges_pick_the_highest_match(range_text: str, best: str | None) -> None:
    assert match_version_range(range_text, VERSIONS) == best


def test_prereleases_only_match_when_named() -> None:
    assert match_version_range("^2.0.0-rc.0", ["2.0.0-rc.1"]) == "2.0.0-rc.1"
    assert match_version_range(">=1.0.0", ["2.0.0-rc.1"]) is None
    assert parse_version_range("^1").contains("1.5.0")
    assert not parse_version_range("^1").contains("1.5.0-beta")


@pytest.mark.parametrize("text", ["^a", ">=", "1.2-rc", "!=1", "1.2.3.4", ">= 1 foo~"])
def test_invalid_ranges(text: str) -> None:
    with pytest.raises(ValueError, match="invalid version range"):
        parse_version_range(text)


def test_workflow_reference() -> None:
    assert split_workflow_ref("deidentify@^1") == ("deidentify", "^1")
    assert split_workflow_ref("deidentify") == ("deidentify", "")
