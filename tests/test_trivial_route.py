"""Trivial prompts (a greeting, thanks, a sum of small numbers) go to the cheapest candidate of an
auto route: the rule, where it stops, how to turn it off, and the reason it gives."""

from __future__ import annotations

import random
from typing import Any

import pytest

from satisfice.catalog import load_catalog
from satisfice.config import ConfigError, parse_settings
from satisfice.routing.constraints import needs_of
from satisfice.routing.directory import ModelDirectory
from satisfice.routing.planner import Planner
from satisfice.routing.trivial import trivial_kind

ENV = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}
CANDIDATES = ["gpt-4.1", "gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"]


def user(text: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("hi", "a greeting"),
        ("Hello!", "a greeting"),
        ("hey there, how are you?", "a greeting"),
        ("Hi Claude 👋", "a greeting"),
        ("what's up?", "a greeting"),
        ("Thank you so much!!", "thanks or a goodbye"),
        ("bye", "thanks or a goodbye"),
        ("What is 2+2?", "a sum of small numbers"),
        ("calculate 12 * 7", "a sum of small numbers"),
        ("what is 10/2", "a sum of small numbers"),
        ("3\u00d74", "a sum of small numbers"),
        ([{"type": "text", "text": "hello"}], "a greeting"),
    ],
)
def test_trivial_prompts(text: Any, kind: str) -> None:
    assert trivial_kind(user(text)) == kind
    assert trivial_kind([{"role": "system", "content": "Be terse."}, *user(text)]) == kind


@pytest.mark.parametrize(
    "text",
    [
        "hi, can you prove the Riemann hypothesis?",
        "hello world program in C",
        "what is 2+2 in binary",
        "What is 12345*6789?",
        "9999*9999",
        "what is 1234.5678 * 8765.4321",
        "1920x1080",
        "0x10",
        "24/7",
        "7-11",
        "1-800",
        "thanks, now write the code",
        "hi hi hi hi",
        "ok",  # a go-ahead, not a pleasantry
        "",  # nothing said: the task may be in the system message
        "???",
        "...",
        "\U0001f914",
        [],
        [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
    ],
)
def test_prompts_that_are_not_trivial(text: Any) -> None:
    assert trivial_kind(user(text)) is None


def test_only_the_first_user_turn_is_trivial() -> None:
    """Later in a conversation a short "thanks" or "ok" may be the go-ahead for what came before."""
    later = [
        *user("Refactor this module"),
        {"role": "assistant", "content": "Here is a plan."},
        *user("thanks"),
    ]
    assert trivial_kind(later) is None
    assert trivial_kind([*user("hi"), *user("hi")]) is None


def planner(route: dict[str, Any]) -> Planner:
    s = parse_settings({"routes": {"r": route}}, ENV)
    return Planner(ModelDirectory(s, load_catalog(), s.providers), s.reliability, random.Random(0))


def test_an_auto_route_sends_a_greeting_to_its_cheapest_candidate() -> None:
    auto = planner({"strategy": "auto", "candidates": CANDIDATES})
    plan = auto.plan("r", needs_of({"model": "r", "messages": user("Hi!")}))
    assert plan.targets[0].dep.model == "gpt-4.1-nano"
    assert "the cheapest: a greeting, which any model answers (a rule, not a prediction)" in plan.reason
    assert plan.scores is not None  # the headers still show what was predicted for it
    assert plan.predicted_quality == pytest.approx(plan.scores["gpt-4.1-nano"][0])
    # The same words inside a real question are routed by the knob.
    asked = auto.plan(
        "r", needs_of({"model": "r", "messages": user("Hi! Prove that sqrt(2) is irrational.")})
    )
    assert "rule" not in asked.reason


def test_the_rule_can_be_turned_off_and_is_for_auto_routes_only() -> None:
    off = planner({"strategy": "auto", "candidates": CANDIDATES, "trivial_to_cheapest": False})
    plan = off.plan("r", needs_of({"model": "r", "messages": user("hi")}))
    assert "rule" not in plan.reason and plan.targets[0].dep.model != "gpt-4.1-nano"
    with pytest.raises(ConfigError, match="trivial_to_cheapest: only strategy auto reads it"):
        planner({"strategy": "cascade", "candidates": CANDIDATES, "trivial_to_cheapest": True})


def test_constraints_come_first() -> None:
    """The cheapest candidate that can take the request: one asking for tools skips a model without."""
    auto = planner({"strategy": "auto", "candidates": ["gpt-4o", "gpt-3.5-turbo-instruct"]})
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    plan = auto.plan("r", needs_of({"model": "r", "messages": user("hello"), "tools": tools}))
    assert plan.targets[0].dep.model == "gpt-4o"
