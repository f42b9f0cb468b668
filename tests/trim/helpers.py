"""Conversations for the trimming tests: deterministic filler text with known token sizes."""

from __future__ import annotations

from typing import Any

from satisfice.tokens import count_prompt

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
]


def filler(seed: int, n_words: int) -> str:
    return " ".join(f"{WORDS[(seed * 7 + i * 3) % len(WORDS)]}{(seed + i) % 89}" for i in range(n_words))


def tokens_of(messages: list[dict[str, Any]]) -> int:
    """The real count the gateway uses."""
    return count_prompt({"messages": messages})


def tool_turn(k: int, output: str) -> list[dict[str, Any]]:
    call_id = f"call_{k}"
    return [
        {"role": "user", "content": f"Look up item {k}: " + filler(k, 30)},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "lookup", "arguments": f'{{"k": {k}}}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": output},
        {"role": "assistant", "content": f"Item {k} found. " + filler(k + 1, 40)},
    ]


def conversation(
    turns: int = 10, words: int = 180, system: str = "You are a careful assistant."
) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for t in range(turns - 1):
        msgs.append({"role": "user", "content": f"Question {t}: " + filler(t, words)})
        msgs.append({"role": "assistant", "content": f"Answer {t}: " + filler(t + 50, words)})
    msgs.append({"role": "user", "content": "Final question: " + filler(99, words // 2)})
    return msgs
