"""Reading an upstream's usage: counts that cannot be token counts make the usage unknown."""

from __future__ import annotations

from typing import Any

import pytest

from satisfice.usage import MAX_TOKENS, Usage, usage_from_openai


def test_a_usage_is_read_with_its_details() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 12,
            "completion_tokens": 5.0,  # some servers send floats
            "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": None},
            "completion_tokens_details": {"reasoning_tokens": 2},
        }
    )
    assert usage == Usage(
        prompt_tokens=12, completion_tokens=5, cached_tokens=4, cache_write_tokens=0, reasoning_tokens=2
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"prompt_tokens": 2**63 + 5},  # killed the ledger's writer (SQLite integers end at 2**63)
        {"prompt_tokens": 10**30},  # a 500 when the attempts were serialised
        {"completion_tokens": MAX_TOKENS + 1},
        {"completion_tokens": -3},
        {"prompt_tokens": "12"},
        {"prompt_tokens": True},
        {"prompt_tokens": 1.5},
        {"prompt_tokens": float("nan")},
        {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": 10**20}},
        {"prompt_tokens": 1, "completion_tokens_details": {"reasoning_tokens": -1}},
    ],
)
def test_an_implausible_count_makes_the_usage_unknown(bad: dict[str, Any]) -> None:
    assert usage_from_openai(bad) is None
