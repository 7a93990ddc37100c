"""Durations as written in definitions, converted to seconds.

Accepted forms: a plain number of seconds (``30``, ``1.5``, ``"30"``), a number with one
unit suffix (``250ms``, ``5s``, ``1.5m``, ``2h``, ``1d``, ``1w``) and ISO 8601 durations
(``PT4H``, ``P1DT30M``, ``PT0.5S``, ``P2W``). ISO years and months are refused: their length
in seconds depends on the calendar, and a timer that drifts with the month is a surprise.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_SUFFIXED = re.compile(rf"^({_NUMBER})\s*(ms|s|m|h|d|w)?$")
# ISO 8601 allows a comma as the decimal mark; only the last component may be fractional
# in the standard, but accepting a fraction anywhere costs nothing and confuses no one.
_ISO = re.compile(
    r"^P(?!$)(?:(?P<Y>[\d.,]+)Y)?(?:(?P<M>[\d.,]+)M)?(?:(?P<W>[\d.,]+)W)?(?:(?P<D>[\d.,]+)D)?"
    r"(?:T(?=[\d.,])(?:(?P<h>[\d.,]+)H)?(?:(?P<m>[\d.,]+)M)?(?:(?P<s>[\d.,]+)S)?)?$"
)
_ISO_SECONDS = {"W": 604800.0, "D": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_EXAMPLES = "use seconds (30), a unit (250ms, 5s, 1.5m, 2h, 1d) or ISO 8601 (PT4H, P1DT30M)"


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; ``ValueError`` naming the text if it is not a duration."""
    if isinstance(text, bool):
        # bool is an int subclass; "timeout: true" is a mistake, not one second.
        raise ValueError(f"invalid duration {text!r}: {_EXAMPLES}")
    if isinstance(text, int | float):
        return _checked(float(text), text)
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected a string or a number")
    cleaned = text.strip()
    if cleaned.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: durations cannot be negative")
    if cleaned[:1] in ("P", "p"):
        return _checked(_parse_iso(cleaned.upper(), text), text)
    match = _SUFFIXED.match(cleaned)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: {_EXAMPLES}")
    number, unit = match.groups()
    return _checked(float(number) * _UNITS[unit or "s"], text)


def _parse_iso(upper: str, original: str) -> float:
    match = _ISO.match(upper)
    if match is None:
        raise ValueError(f"invalid ISO 8601 duration {original!r}: {_EXAMPLES}")
    parts = match.groupdict()
    if parts["Y"] is not None or parts["M"] is not None:
        raise ValueError(
            f"invalid duration {original!r}: years and months have no fixed length, use days"
        )
    total = 0.0
    for key, scale in _ISO_SECONDS.items():
        value = parts[key]
        if value is not None:
            total += _iso_number(value, original) * scale
    return total


def _iso_number(value: str, original: str) -> float:
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise ValueError(f"invalid ISO 8601 duration {original!r}: bad number {value!r}") from None


def _checked(seconds: float, original: object) -> float:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"invalid duration {original!r}: must be a finite number of seconds")
    if seconds < 0:
        raise ValueError(f"invalid duration {original!r}: durations cannot be negative")
    return seconds
