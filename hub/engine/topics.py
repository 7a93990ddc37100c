"""Event-bus topic filters in triggers and waits: MQTT wildcards plus named levels.

``+`` matches one level and ``#`` (last level only) any number of levels, as in MQTT.
A level written ``{name}`` matches one level like ``+`` and binds it as ``params.name``,
so ``areas/{area_id}/sensors/+/alarm`` hands the area id to the run.

Waits are looked up by key, not by reading them all: ``wait_key`` files a filter under its
topic (exact filters) or under the literal levels before its first wildcard, and
``event_keys`` names every key a filter matching a topic can be filed under. A key may be
shared by filters that do not match the same topics, so what a key finds is then matched
with ``match_topic``, which alone decides.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import accumulate
from typing import Any

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
MAX_TOPIC_LENGTH = 1024
KEY_LENGTH = 256  # characters of a lookup key: a small index entry however long the topic
KEY_LEVELS = 8  # literal levels of a wildcard filter kept in its key


def topic_problem(topic: object) -> str | None:
    """Why ``topic`` is not a valid filter, or None."""
    if not isinstance(topic, str) or not topic:
        return "must be a non-empty topic string"
    if len(topic) > MAX_TOPIC_LENGTH or "\x00" in topic:
        return f"must be at most {MAX_TOPIC_LENGTH} characters, without NUL"
    levels = topic.split("/")
    names: set[str] = set()
    for index, level in enumerate(levels):
        problem = _level_problem(level, index == len(levels) - 1, names)
        if problem:
            return f"invalid topic {topic!r}: {problem}"
    return None


def _level_problem(level: str, last: bool, names: set[str]) -> str | None:
    if level == "#":
        return None if last else "'#' may only be the last level"
    if level == "+":
        return None
    if "#" in level or "+" in level:
        return f"wildcards must fill a whole level, not {level!r}"
    if "{" in level or "}" in level:
        match = _PARAM.match(level)
        if match is None:
            return f"a named level is written {{name}}, not {level!r}"
        if match[1] in names:
            return f"the name {match[1]!r} is used twice"
        names.add(match[1])
    return None


def topic_params(topic_filter: str) -> tuple[str, ...]:
    """The names of ``{name}`` levels, in order."""
    return tuple(m[1] for level in topic_filter.split("/") if (m := _PARAM.match(level)))


def match_topic(topic_filter: str, topic: str) -> dict[str, str] | None:
    """The named levels if ``topic`` matches ``topic_filter``, else None."""
    wanted = topic_filter.split("/")
    actual = topic.split("/")
    params: dict[str, str] = {}
    for index, level in enumerate(wanted):
        if level == "#":
            return params
        if index >= len(actual):
            return None
        if (named := _PARAM.match(level)) is not None:
            params[named[1]] = actual[index]
        elif level not in ("+", actual[index]):
            return None
    return params if len(actual) == len(wanted) else None


def payload_matches(payload: Any, match: Any) -> bool:
    """Does `payload` have every field of `match` with an equal value (mappings compared
    field by field, so a match names only the fields it cares about)?"""
    if isinstance(match, dict):
        return isinstance(payload, dict) and all(
            key in payload and payload_matches(payload[key], value) for key, value in match.items()
        )
    if isinstance(match, bool) or isinstance(payload, bool):
        return payload is match  # true is not 1
    return bool(payload == match)


def is_wildcard_level(level: str) -> bool:
    """Does ``match_topic`` take this filter level as a wildcard (not compared literally)?"""
    return level in ("+", "#") or _PARAM.match(level) is not None


def wait_key(topic_filter: str) -> str:
    """The key a wait's filter is stored under: ``=`` and the filter when it has no
    wildcard (it matches only itself), else ``+`` and its levels before the first wildcard,
    at most KEY_LEVELS of them. Cut to KEY_LENGTH characters."""
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if is_wildcard_level(level):
            return _key("+", "/".join(levels[: min(index, KEY_LEVELS)]))
    return _key("=", topic_filter)


def event_keys(topic: str) -> frozenset[str]:
    """Every key a filter matching ``topic`` can be stored under: the topic's own, and its
    first 0..KEY_LEVELS levels as a wildcard filter's start (at most KEY_LEVELS + 2 keys,
    however many levels the topic has). Telemetry repeats its topics in every burst, so
    short ones are remembered."""
    return _short_topic_keys(topic) if len(topic) < KEY_LENGTH else _event_keys(topic)


def _event_keys(topic: str) -> frozenset[str]:
    levels = topic.split("/", KEY_LEVELS)  # past KEY_LEVELS, the rest stays in one piece
    starts = accumulate(levels[:KEY_LEVELS], lambda start, level: f"{start}/{level}")
    if len(topic) < KEY_LENGTH and topic.isascii() and "\x00" not in topic:
        return frozenset(("=" + topic, "+", *["+" + start for start in starts]))  # as is
    return frozenset((_key("=", topic), "+", *[_key("+", start) for start in starts]))


_short_topic_keys = lru_cache(maxsize=4096)(_event_keys)


def _key(kind: str, text: str) -> str:
    # PostgreSQL text holds neither NUL nor lone surrogates: replacing them (like cutting)
    # only lets more filters share a key, never loses a match.
    cut = text[: KEY_LENGTH - 1].replace("\x00", "\ufffd")
    return kind + cut.encode("utf-8", "replace").decode("utf-8")
