"""Which candidate answered a conversation's turn, found again from the request that continues it."""

from __future__ import annotations

import json
from typing import Any

from satisfice.routing.affinity import Affinity, MemoryTurnStore

ASK: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Weather in Paris?"},
]
CALL: dict[str, Any] = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Paris","unit":"C"}'},
        }
    ],
}


def echoed() -> dict[str, Any]:
    """The answer as an SDK sends it back: extra null fields, the arguments serialised anew."""
    call = CALL["tool_calls"][0]
    args = json.dumps({"unit": "C", "city": "Paris"}, indent=1)
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "audio": None,
        "function_call": None,
        "annotations": [],
        "tool_calls": [{**call, "function": {"name": "weather", "arguments": args}}],
    }


RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}


def test_a_tool_loop_continues_with_the_model_that_called_the_tool() -> None:
    a = Affinity()
    a.remember("auto", "tools", ASK, CALL, "gpt-4o-mini")
    assert a.recall("auto", "tools", [*ASK, echoed(), RESULT]) == "gpt-4o-mini"
    assert a.recall("other-route", "tools", [*ASK, echoed(), RESULT]) is None
    changed = [ASK[0], {"role": "user", "content": "Weather in Rome?"}]
    assert a.recall("auto", "tools", [*changed, echoed(), RESULT]) is None  # another conversation
    other_args = {
        **echoed(),
        "tool_calls": [{**CALL["tool_calls"][0], "function": {"name": "weather", "arguments": "{}"}}],
    }
    assert a.recall("auto", "tools", [*ASK, other_args, RESULT]) is None  # not the call it made
    # mode tools: only a tool loop's next step is kept; a new user turn is routed afresh
    follow_up = [*ASK, echoed(), RESULT, {"role": "assistant", "content": "It is sunny."}]
    assert a.recall("auto", "tools", [*follow_up, {"role": "user", "content": "And tomorrow?"}]) is None
    assert a.recall("auto", "tools", [*ASK, echoed()]) is None  # ends with the answer: a prefill
    assert a.recall("auto", "none", [*ASK, echoed(), RESULT]) is None


def test_conversation_mode_keeps_every_turn_and_tools_mode_only_tool_calls() -> None:
    a = Affinity()
    answer = {"role": "assistant", "content": "Paris is sunny."}
    a.remember("auto", "tools", ASK, answer, "gpt-4o")  # no tool call: nothing to continue
    turn2 = [*ASK, {"role": "assistant", "content": "Paris is sunny.", "refusal": None}]
    assert a.recall("auto", "conversation", [*turn2, {"role": "user", "content": "Thanks!"}]) is None
    a.remember("auto", "conversation", ASK, answer, "gpt-4o")
    assert a.recall("auto", "conversation", [*turn2, {"role": "user", "content": "Thanks!"}]) == "gpt-4o"
    parts = [*ASK[:1], {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}]
    assert (
        a.recall("auto", "conversation", [*parts, turn2[-1], {"role": "user", "content": "Thanks!"}])
        == "gpt-4o"
    )


def test_odd_messages_do_not_break_the_digest() -> None:
    a = Affinity()
    odd: list[Any] = ["not a message", {"role": "user", "content": "\ud83d lone surrogate"}]
    weird_call = {"role": "assistant", "tool_calls": [{"id": 1, "function": {"arguments": "{not json"}}, "x"]}
    a.remember("auto", "tools", odd, weird_call, "m")
    assert a.recall("auto", "tools", [*odd, weird_call, {"role": "tool", "content": None}]) == "m"


def test_the_store_keeps_the_most_recent_turns() -> None:
    store = MemoryTurnStore(size=2)
    for i in range(3):
        store.put(bytes([i]), f"m{i}")
    assert store.get(bytes([0])) is None and store.get(bytes([2])) == "m2"
