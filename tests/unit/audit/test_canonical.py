"""RFC 8785 examples (expected bytes are the RFC's), and the entry leaf hash built on them."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

import pytest

from audit.canonical import CanonicalizationError, canonical, entry_leaf

# RFC 8785 section 3.2.2 input and section 3.2.3 output.
RFC_SAMPLE = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_CANONICAL = (
    r'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    r'"string":"€$\u000f\nA' + "'" + r'B\"\\\\\"/"}'
)


def test_rfc_sample() -> None:
    assert canonical(json.loads(RFC_SAMPLE)) == RFC_CANONICAL.encode("utf-8")


def test_keys_sort_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: the emoji (a surrogate pair, 0xD83D...) sorts before U+FB33,
    # although its code point is larger.
    sample = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = [key for key in json.loads(canonical(sample))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740991, "9007199254740991"),
        (-9007199254740991, "-9007199254740991"),
    ],
)
def test_number_formatting(number: float, text: str) -> None:
    assert canonical({"n": number}) == b'{"n":' + text.encode() + b"}"


def test_unicode_is_utf8_and_controls_are_escaped() -> None:
    assert canonical({"s": "é€😀\x01\t"}) == '{"s":"é€😀\\u0001\\t"}'.encode()


def test_any_mapping_and_nesting() -> None:
    nested = OrderedDict([("b", {"d": [1, {"z": 0, "y": 1}], "c": None}), ("a", True)])
    assert canonical(nested) == b'{"a":true,"b":{"c":null,"d":[1,{"y":1,"z":0}]}}'


@pytest.mark.parametrize(
    "bad", [{"n": 2**53}, {"n": float("nan")}, {"n": float("inf")}, {1: "x"}, {"s": {1, 2}}]
)
def test_non_json_values_are_refused(bad: dict[object, object]) -> None:
    with pytest.raises(CanonicalizationError):
        canonical(bad)  # type: ignore[arg-type]


def test_canonical_refuses_non_objects() -> None:
    with pytest.raises(CanonicalizationError):
        canonical([1, 2])  # type: ignore[arg-type]


def test_entry_leaf_ignores_its_own_leaf_hash() -> None:
    entry = {"seq": 1, "action": "login", "leaf_hash": "whatever"}
    expected = hashlib.sha256(b'\x00{"action":"login","seq":1}').digest()
    assert entry_leaf(entry) == expected
    assert entry_leaf({"action": "login", "seq": 1}) == expected
    assert entry_leaf({**entry, "seq": 2}) != expected
