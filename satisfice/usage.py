"""Token usage as the ledger needs it, read from any provider's response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Prompt tokens served from the provider's prompt cache (billed at the cached-input price).
    cached_tokens: int = 0
    # Prompt tokens written to the provider's cache (Anthropic bills them at a premium).
    cache_write_tokens: int = 0
    # Of those, the ones written to Anthropic's 1-hour cache (a higher premium than its 5-minute one).
    cache_write_1h_tokens: int = 0
    # Completion tokens spent on hidden reasoning (already included in completion_tokens).
    reasoning_tokens: int = 0
    # True when the provider did not report usage and we counted tokens ourselves.
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI `usage` object for these counts."""
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out


# No request comes near this many tokens; a count beyond it (or negative, or not a number) is an
# upstream's garbage, which would otherwise be billed, or kill the ledger's writer (SQLite integers
# end at 2**63).
MAX_TOKENS = 10**9


def usage_from_openai(obj: Any) -> Usage | None:
    """Read an OpenAI `usage` object (None or missing fields are tolerated). None when a count is not
    a plausible token count: the usage is then unknown, and the gateway counts the tokens itself."""
    if not isinstance(obj, dict):
        return None
    prompt_details = obj.get("prompt_tokens_details")
    completion_details = obj.get("completion_tokens_details")
    prompt_details = prompt_details if isinstance(prompt_details, dict) else {}
    completion_details = completion_details if isinstance(completion_details, dict) else {}
    counts = [
        _count(obj.get("prompt_tokens")),
        _count(obj.get("completion_tokens")),
        _count(prompt_details.get("cached_tokens")),
        # Cache writes (Anthropic's, billed at a premium) as the OpenAI shape carries them:
        # OpenRouter's name, which our own Anthropic translation uses too.
        _count(prompt_details.get("cache_write_tokens")),
        _count(completion_details.get("reasoning_tokens")),
        # Of the writes, those to a 1-hour cache: our Anthropic translation's own field.
        _count(prompt_details.get("cache_write_1h_tokens")),
    ]
    if None in counts:
        return None
    prompt, completion, cached, cache_write, reasoning, long_writes = (c or 0 for c in counts)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        cache_write_1h_tokens=min(long_writes, cache_write),
    )


def _count(value: Any) -> int | None:
    """A token count as an int (0 when absent); None when it is not a plausible one."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if 0 <= value <= MAX_TOKENS else None
