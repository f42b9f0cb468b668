"""The semantic cache's correctness guard: each near-miss kind is rejected, paraphrases pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from satisfice.cache.guard import conversation_text, guard

NEAR_MISSES = {
    "negation": [
        ("Turn on the kitchen lights.", "Turn off the kitchen lights."),
        ("Do use semicolons in the code.", "Don't use semicolons in the code."),
        ("A bread recipe with yeast.", "A bread recipe without yeast."),
        ("Is it legal to park here at night?", "Is it illegal to park here at night?"),
        ("How do I enable two-factor login?", "How do I disable two-factor login?"),
    ],
    "number": [
        ("Summarize the report in 3 sentences.", "Summarize the report in 5 sentences."),
        ("List three reasons to learn Go.", "List 4 reasons to learn Go."),
        ("What is 12 * 7?", "What is 12 * 8?"),
        ("Budget of $1,200 for a phone.", "Budget of $1,500 for a phone."),
    ],
    "date": [
        ("Book a table for Friday at 7.", "Book a table for Saturday at 7."),
        ("What did the Fed do in March?", "What did the Fed do in June?"),
        ("What's on my agenda tomorrow?", "What's on my agenda today?"),
        ("Sales report for last month.", "Sales report for next month."),
    ],
    "unit": [
        ("Convert 20 miles to km.", "Convert 20 km to miles."),
        ("Is 40 degrees Celsius hot?", "Is 40 degrees Fahrenheit hot?"),
        ("Add 2 cups of sugar.", "Add 2 tablespoons of sugar."),
        ("A 500 GB disk is enough?", "A 500 MB disk is enough?"),
    ],
    "entity": [
        ("What is the capital of Peru?", "What is the capital of Chile?"),
        ("Compare the iPhone 15 with the Pixel 8.", "Compare the iPhone 15 with the Galaxy S24."),
        ("Who discovered penicillin?", "Who discovered insulin?"),
        ("Explain the useMemo hook.", "Explain the useCallback hook."),
    ],
    "constraint": [
        ("How do I parse JSON in Python?", "How do I parse JSON in Rust?"),
        ("Write the invitation in a formal tone.", "Write the invitation in a casual tone."),
        ("Summarize this in 3 sentences.", "Summarize this in 3 bullet points."),
        ("Explain recursion to kids.", "Explain recursion to experts."),
        ("Translate the menu into Spanish.", "Translate the menu into French."),
        ("Return the list as JSON.", "Return the list as YAML."),
    ],
}

PARAPHRASES = [
    ("How do I reverse a string in Python?", "What's the way to reverse a string in python?"),
    ("Summarize this in three sentences.", "Summarize this in 3 sentences."),
    ("Don't use any libraries.", "Do not use any libraries."),
    ("Give me a cake recipe without eggs.", "Give me a cake recipe with no eggs."),
    ("Explain Big O notation simply.", "Explain Big O notation in simple terms."),
    ("Write a haiku about the sea.", "Write me a haiku about the sea, please."),
    ("What is the capital of Peru?", "What's Peru's capital?"),
    ("Set a timer for 10 minutes.", "Set a 10 minute timer."),
]


@pytest.mark.parametrize(
    ("kind", "a", "b"), [(k, a, b) for k, pairs in NEAR_MISSES.items() for a, b in pairs]
)
def test_near_misses_are_rejected_both_ways(kind: str, a: str, b: str) -> None:
    for query, cached in ((a, b), (b, a)):
        verdict = guard(query, cached)
        assert not verdict.ok, f"{kind}: {query!r} served for {cached!r}"
        assert verdict.reason != "same"


@pytest.mark.parametrize(("a", "b"), PARAPHRASES)
def test_paraphrases_pass(a: str, b: str) -> None:
    assert guard(a, b).ok, guard(a, b).reason
    assert guard(b, a).ok


def test_reasons_name_the_difference() -> None:
    assert guard("Summarize in 3 sentences.", "Summarize in 5 sentences.").reason == "numbers differ: 3 vs 5"
    assert guard("Turn on the fan.", "Turn off the fan.").reason.startswith("negation differs")
    assert "python" in guard("Sort a list in Python.", "Sort a list in Rust.").reason
    assert guard("same text", "same text") == guard("x", "x")


def test_conversation_text_includes_roles_parts_and_tool_calls() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in"},
                {"type": "image_url", "image_url": {"url": "data:..."}},
                {"type": "text", "text": "this picture?"},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"type": "function", "function": {"name": "lookup", "arguments": '{"q": 3}'}}],
        },
        {"role": "tool", "content": "42"},
    ]
    text = conversation_text(messages)
    assert text.splitlines() == [
        "system: Be brief.",
        "user: What is in this picture?",
        'assistant: [tool call lookup({"q": 3})]',
        "tool: 42",
    ]
    assert "data:" not in text


def test_guard_sees_the_whole_conversation() -> None:
    def convo(system: str) -> str:
        return conversation_text([{"role": "system", "content": system}, {"role": "user", "content": "Hi!"}])

    assert not guard(convo("Answer in French."), convo("Answer in German.")).ok
    assert guard(convo("Answer in French."), convo("Answer in French.")).ok


def test_project_eval_set_is_well_formed() -> None:
    path = Path(__file__).resolve().parents[2] / "satisfice" / "cache" / "guard_pairs.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) >= 300
    kinds = {"paraphrase", "negation", "number", "date", "unit", "entity", "constraint"}
    assert {r["kind"] for r in rows} == kinds
    assert {r["split"] for r in rows} == {"dev", "test"}
    assert all((r["label"] == "paraphrase") == (r["kind"] == "paraphrase") for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
