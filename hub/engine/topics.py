"""Event-bus topic filters in triggers and waits: MQTT wildcards plus named levels.

``+`` matches one level and ``#`` (last level only) any number of levels, as in MQTT.
A level written ``{name}`` matches one level like ``+`` and binds it as ``params.name``,
so ``areas/{area_id}/sensors/+/alarm`` hands the area id to the run.
"""

from __future__ import annotations

import re
from typing import Any

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
MAX_TOPIC_LENGTH = 1024


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
