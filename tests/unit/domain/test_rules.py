"""Domain rules (hub/domain) that need no store: anchor retry back-off and chain identity,
time-ordered ids against a fake clock, list cursors, and tenancy's field rules."""

from __future__ import annotations

import re

import pytest

from hub.domain import ids
from hub.domain.anchors import Anchor, AnchorStatus, ChainRef, LedgerHealth, retry_delay
from hub.domain.errors import ValidationFailed
from hub.domain.paging import decode_cursor, encode_cursor
from hub.domain.tenancy import (
    check,
    name_problems,
    password_problems,
    role_problems,
    slug_problems,
    username_problems,
)
from tests.fakes import EPOCH, FakeClock


def test_anchor_retries_back_off_doubling_up_to_the_maximum() -> None:
    assert [retry_delay(n, 30) for n in range(7)] == [1, 1, 2, 4, 8, 16, 30]


def _anchor(chain_id: int | None, contract: str | None) -> Anchor:
    return Anchor("a1", "log", 3, "ab" * 32, AnchorStatus.CONFIRMED, EPOCH, chain_id, contract)


def test_a_chain_is_its_id_and_contract_whatever_the_node_or_case() -> None:
    health = LedgerHealth(True, "json-rpc", 31337, "0xAbC", 12, "0xsigner")
    chain = ChainRef.of(health)
    assert chain == ChainRef(31337, "0xAbC")
    assert chain.holds(_anchor(31337, "0xabc"))  # addresses compare without case
    assert not chain.holds(_anchor(31337, "0xdef"))  # a new contract is another chain
    assert not chain.holds(_anchor(1, "0xabc"))
    assert not chain.holds(_anchor(None, None))  # never sent
    assert ChainRef.of(LedgerHealth(False, "json-rpc", None, None, None, None)) is None


def test_ids_made_after_a_moment_sort_above_its_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(ids.time, "time", lambda: clock.now().timestamp())
    before = ids.new_id()
    floor = ids.time_ordered_floor(clock.advance(0.001))
    after = ids.new_id()
    assert before < floor <= after
    assert ids.is_id(before) and ids.is_id(floor) and not ids.is_id(before.upper())
    clock.advance(seconds=1)
    assert ids.new_id() > after


@pytest.mark.parametrize("key", ["", "0123456789abcdef", "tenant/ä/ü", "a" * 200])
def test_cursors_round_trip(key: str) -> None:
    cursor = encode_cursor(key)
    assert re.fullmatch(r"[A-Za-z0-9_-]*", cursor)  # URL-safe, no padding
    assert decode_cursor(cursor) == key
    assert decode_cursor(None) is None


@pytest.mark.parametrize("cursor", ["not a cursor!", "%%%", "/w=="])
def test_a_cursor_the_api_did_not_hand_out_is_refused(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor)
    assert [p.field for p in caught.value.problems] == ["cursor"]


def test_tenancy_field_rules_name_each_bad_field() -> None:
    assert slug_problems("acme-2") == [] and slug_problems("-acme") != []
    assert slug_problems("Acme") != [] and slug_problems("a" * 64) != []
    assert name_problems("Acme Corp") == []
    assert [p.message for p in name_problems("  ")] == ["must not be blank"]
    assert name_problems("bad\x07bell") != [] and name_problems("x" * 201) != []
    assert username_problems("dana.k@plant") == [] and username_problems("d") != []
    assert password_problems("a-long-test-password") == [] and password_problems("short") != []
    assert role_problems("engineer") == [] and role_problems("owner") != []
    with pytest.raises(ValidationFailed) as caught:
        check(slug_problems("-"), name_problems(""), role_problems("owner"))
    assert [p.field for p in caught.value.problems] == ["slug", "name", "role"]
