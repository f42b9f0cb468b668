"""How much of a stream a cascade holds back for verification: each choice's prefix, not all the
choices' text together (they interleave), and a short answer whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from satisfice.cascade import Hold


def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({"object": "chat.completion.chunk", "choices": [choice]}) + b"\n\n"


class Forever:
    deadline_s = 10.0

    def left(self) -> float:
        return 5.0


async def _events(events: list[bytes]) -> AsyncIterator[bytes]:
    for e in events:
        yield e


def hold(events: list[bytes], choices: int, limit: int) -> Hold:
    held = Hold(events[0], choices)

    async def run() -> None:
        await held.read(_events(events[1:]), limit, Forever())  # type: ignore[arg-type]

    asyncio.run(run())
    return held


def interleaved(choices: int, words: int) -> list[bytes]:
    out = [chunk(i, {"role": "assistant", "content": ""}) for i in range(choices)]
    for w in range(words):
        out += [chunk(i, {"content": f"w{w:03d} "}) for i in range(choices)]  # 5 characters each
    out += [chunk(i, {}, "stop") for i in range(choices)]
    return out


def test_each_of_several_choices_is_held_to_the_limit() -> None:
    held = hold(interleaved(3, 100), choices=3, limit=50)
    assert all(len(held.texts[i]) >= 50 for i in range(3)), held.texts
    assert not held.finished
    assert len(held.texts[0]) < 60  # and not much further


def test_one_choice_is_held_to_the_limit_only() -> None:
    held = hold(interleaved(1, 100), choices=1, limit=50)
    assert 50 <= len(held.texts[0]) < 60 and not held.finished


def test_a_short_answer_is_held_whole_to_the_end_of_its_stream() -> None:
    """Every choice finished before the limit: the rest (a usage chunk) is read too, so the answer
    is verified as a whole answer, not as a prefix."""
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    events = [*interleaved(2, 2), usage]
    held = hold(events, choices=2, limit=50)
    assert held.finished and held.events[-1] == usage


def test_a_finished_choice_is_not_waited_for() -> None:
    """Choice 0 stops after two words while choice 1 goes on: the hold stops once choice 1 has the
    limit, rather than reading choice 1 to its end."""
    events = [chunk(0, {"content": "ab "}), chunk(0, {}, "stop")]
    events += [chunk(1, {"content": f"w{w:03d} "}) for w in range(100)] + [chunk(1, {}, "stop")]
    held = hold(events, choices=2, limit=50)
    assert held.texts[0] == "ab " and 50 <= len(held.texts[1]) < 60 and not held.finished
