"""The prompt-feature cache: bounded in entries and in the memory its keys take."""

from __future__ import annotations

import functools
import tracemalloc

from satisfice.predict.features import KEY_CHARS, FeatureCache


def test_long_prompts_are_cached_by_digest_not_kept_whole() -> None:
    cache: FeatureCache[int] = FeatureCache(100)
    long_text = "lorem ipsum dolor " * 12_000  # 216 KB
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i in range(50):  # 10.8 MB of prompts, each dropped after its put
        cache.put((f"{i} {long_text}", 0, 1, False, False, 0, False, True), i)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(cache) == 50
    assert held - before < 200_000  # the keys hold digests: ~10 KB, not the 10.8 MB of text
    assert cache.get((f"7 {long_text}", 0, 1, False, False, 0, False, True)) == 7
    assert cache.get((f"7 {long_text}!", 0, 1, False, False, 0, False, True)) is None  # another text
    assert cache.get((f"7 {long_text}", 1, 1, False, False, 0, False, True)) is None  # another context


def test_short_prompts_and_lone_surrogates_are_cached() -> None:
    cache: FeatureCache[str] = FeatureCache(2)
    cache.put(("hi",), "a")
    odd = "\ud83d" * (KEY_CHARS + 1)  # not encodable as UTF-8 without surrogatepass
    cache.put((odd,), "b")
    assert cache.get(("hi",)) == "a" and cache.get((odd,)) == "b"
    cache.put(("third",), "c")  # the least recently used goes
    assert cache.get(("hi",)) is None and len(cache) == 2


def test_get_or_make_makes_only_on_a_miss() -> None:
    cache: FeatureCache[int] = FeatureCache(10)
    made: list[str] = []

    def make(text: str) -> int:
        made.append(text)
        return len(made)

    long_text = "x" * (KEY_CHARS + 10)  # kept by digest
    for text in ("short", long_text, "short", long_text):
        cache.get_or_make((text, 0), functools.partial(make, text))
    assert made == ["short", long_text]
    assert cache.get(("short", 0)) == 1 and cache.get((long_text, 0)) == 2
