"""Expressions may be compiled and evaluated in worker threads (the API validates
definitions off the event loop; the runtime may run transitions there). celpy's parser
keeps the text it parses on a shared object, so compiling is serialized: two threads
compiling at once swapped texts (1 in ~2,000 compiles under forced switching)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celpy.celparser import CELParser

from hub.engine.cel import _environment, compile_expression


@pytest.fixture
def slow_parser(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The shared lark parser, slowed so that unserialized parses overlap for sure."""
    _environment()
    parser = CELParser.CEL_PARSER
    assert parser is not None
    real = parser.parse
    seen = {"inside": 0, "most": 0}
    lock = threading.Lock()

    def parse(text: str, *args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["inside"] += 1
            seen["most"] = max(seen["most"], seen["inside"])
        try:
            time.sleep(0.01)  # lets the other threads run
            return real(text, *args, **kwargs)
        finally:
            with lock:
                seen["inside"] -= 1

    monkeypatch.setattr(parser, "parse", parse)
    yield seen


def test_expressions_compiled_in_several_threads_are_each_their_own(
    slow_parser: dict[str, int],
) -> None:
    results: dict[int, Any] = {}
    tag = uuid.uuid4().int % 1_000_000  # texts this process has not compiled (cache)

    def work(worker: int) -> None:
        for i in range(10):
            number = tag * 1_000 + worker * 100 + i
            results[number] = compile_expression(f"{number} + 0").evaluate({})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slow_parser["most"] == 1  # never two parses at once
    assert len(results) == 40
    assert all(value == number for number, value in results.items())
