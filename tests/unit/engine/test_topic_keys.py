"""Wait lookup keys (issue 13, item 5): every filter that matches a topic is stored under
one of the topic's keys, so looking waits up by key finds every wait match_topic would
wake; keys stay small and few however long the topic."""

from __future__ import annotations

import itertools
import random

from hub.engine.topics import (
    KEY_LENGTH,
    KEY_LEVELS,
    event_keys,
    match_topic,
    wait_key,
)

FILTER_LEVELS = ("a", "b", "", "+", "#", "{x}", "{bad-name}", "a+")
TOPIC_LEVELS = ("a", "b", "", "+", "#", "{x}")  # an event topic may hold any text


def _words(alphabet: tuple[str, ...], most: int) -> list[str]:
    return [
        "/".join(levels)
        for n in range(1, most + 1)
        for levels in itertools.product(alphabet, repeat=n)
    ]


def _found(topic_filter: str, topic: str) -> bool:
    return wait_key(topic_filter) in event_keys(topic)


def test_every_filter_that_matches_a_topic_is_found_by_its_keys() -> None:
    filters, topics = _words(FILTER_LEVELS, 3), _words(TOPIC_LEVELS, 3)
    pairs = [(f, t) for f in filters for t in topics if match_topic(f, t) is not None]
    assert len(pairs) > 1000  # the alphabet gives wildcards, named levels and exact ones
    assert [(f, t) for f, t in pairs if not _found(f, t)] == []


def test_deep_and_long_topics_are_found() -> None:
    pick = random.Random(13)
    levels = ["a", "b", "", "x" * 300, "é\x00\ud800"]
    for _ in range(3000):
        topic = "/".join(pick.choice(levels) for _ in range(pick.randint(1, KEY_LEVELS + 4)))
        parts = topic.split("/")
        cut = pick.randint(0, len(parts))
        wildcard = pick.choice(["+", "#", "{area}"])
        tail = [] if wildcard == "#" else parts[cut + 1 :]
        topic_filter = "/".join([*parts[:cut], wildcard, *tail])
        if match_topic(topic_filter, topic) is not None:
            assert _found(topic_filter, topic), (topic_filter, topic)
        assert _found(topic, topic)  # an exact filter, however long


def test_an_exact_filter_is_not_filed_with_its_topic_s_parents_or_children() -> None:
    # thousands of runs waiting on "orders" cost nothing to an event on "orders/7"
    assert not _found("orders", "orders/7")
    assert not _found("orders/7", "orders")
    assert not _found("orders/7/+", "orders/8")  # a wildcard filter under another branch
    assert _found("orders/#", "orders")  # '#' also matches its parent level


def test_keys_are_few_and_short_whatever_the_topic() -> None:
    for topic in ["a/" * 5000, "x" * 100_000, "é" * 2000 + "/b", ""]:
        keys = event_keys(topic)
        assert len(keys) <= KEY_LEVELS + 2
        assert max(len(k) for k in keys) <= KEY_LENGTH
    assert len(wait_key("a" * 5000)) == KEY_LENGTH


def test_keys_hold_no_nul_or_lone_surrogate() -> None:
    # PostgreSQL text refuses both; replacing them only lets more filters share a key
    for key in [*event_keys("a\x00/\ud800/b"), wait_key("a\x00/+"), wait_key("\ud800")]:
        assert "\x00" not in key
        key.encode("utf-8")  # no lone surrogate left
