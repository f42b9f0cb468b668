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


def usage_from_openai(obj: Any) -> Usage | None:
    """Read an OpenAI `usage` object (None or missing fields are tolerated)."""
    if not isinstance(obj, dict):
        return None
    prompt_details = obj.get("prompt_tokens_details") or {}
    completion_details = obj.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(obj.get("prompt_tokens") or 0),
        completion_tokens=int(obj.get("completion_tokens") or 0),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0)
        if isinstance(prompt_details, dict)
        else 0,
        # Cache writes (Anthropic's, billed at a premium) as the OpenAI shape carries them: OpenRouter's
        # name, which our own Anthropic translation uses too.
        cache_write_tokens=int(prompt_details.get("cache_write_tokens") or 0)
        if isinstance(prompt_details, dict)
        else 0,
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0)
        if isinstance(completion_details, dict)
        else 0,
    )
