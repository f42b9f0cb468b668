"""Kept JSON bytes are exactly sized: orjson's own result carries a working buffer many times the
JSON's size, which a cache of thousands of entries would keep."""

from __future__ import annotations

import tracemalloc

import orjson

from satisfice.json_bytes import dumps_kept

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "x" * 20_000}}]}


def test_kept_json_is_the_same_bytes_in_an_exactly_sized_object() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = dumps_kept(ANSWER)
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept == orjson.dumps(ANSWER)
    assert size < len(kept) + 200  # the object's header, not a working buffer
