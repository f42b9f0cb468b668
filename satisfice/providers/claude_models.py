"""What each Claude model takes, read from its id: the version and tier decide the request shapes
Anthropic's API accepts (its model pages and migration guides, as of 2026-11).

- Budgeted thinking (`{"type": "enabled", "budget_tokens": N}`): Claude 3.7 Sonnet and Claude 4 up
  to 4.6 (4.6 deprecates it); Opus 4.7 and later refuse it with a 400 and take only adaptive
  thinking, whose depth `output_config.effort` sets.
- Adaptive thinking is off unless asked for up to 4.8, and on by default from Claude 5. It can be
  switched off (`{"type": "disabled"}`) on Sonnet 5, Opus 5 and Haiku 5.5, at an effort of high
  or below; Opus 5.5, Sonnet 5.5 and every Fable or Mythos model always think.
- Sampling parameters (`temperature`, `top_p`, `top_k`) other than the defaults are refused from
  Opus 4.7 on; Claude 4 before that takes `temperature` or `top_p`, not both.
- `output_config.effort` is taken from 4.6 on: low, medium, high and max, and xhigh from 4.7.
- An assistant prefill (a conversation ending with an assistant turn) is refused from 4.6 on.
- A forced tool (`tool_choice` "any" or a named tool) is refused by Opus 5.5, Sonnet 5.5 and
  Fable/Mythos 5.1 and later.
- Structured outputs (`output_config.format`, strict tools) are taken from 4.5 on.

A version newer than any listed here is read as the newest known one of its tier: what Anthropic
removed so far has stayed removed. Ids may carry a platform prefix (Bedrock's
"global.anthropic.claude-opus-5") or a date ("claude-opus-4-5-20251101").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# "claude-opus-4-5", "claude-opus-4", "claude-sonnet-4-20250514", "claude-fable-5-1", "claude-opus-4.1"
_TIER_FIRST = re.compile(r"claude-(opus|sonnet|haiku|fable|mythos)-(\d+)(?:[-.](\d+))?")
# The Claude 3 naming: "claude-3-7-sonnet-20250219", "claude-3-5-haiku", "claude-3-haiku-20240307"
_VERSION_FIRST = re.compile(r"claude-(\d+)(?:[-.](\d)(?!\d))?-(opus|sonnet|haiku)")
EFFORTS = ("low", "medium", "high", "xhigh", "max")
_ALWAYS_THINKING_TIERS = ("fable", "mythos")


@dataclass(frozen=True, slots=True)
class Claude:
    tier: str  # "opus" | "sonnet" | "haiku" | "fable" | "mythos"
    version: tuple[int, int]  # (4, 5) for Claude Opus 4.5; (4, 0) for Claude Opus 4

    @property
    def budgeted_thinking(self) -> bool:
        """Takes `{"type": "enabled", "budget_tokens": N}`."""
        if self.version == (3, 7):
            return self.tier == "sonnet"
        return (4, 0) <= self.version <= (4, 6)

    @property
    def adaptive_only(self) -> bool:
        """Thinks only adaptively, its depth set by `output_config.effort` (refuses budgets)."""
        return self.version >= (4, 7)

    @property
    def takes_effort(self) -> bool:
        """Takes `output_config.effort` (generally available from 4.6)."""
        return self.version >= (4, 6)

    def effort(self, asked: str) -> str:
        """The effort to send for `asked` (one of `EFFORTS`): itself, or on 4.6, which has no
        xhigh, the next one up."""
        return "max" if asked == "xhigh" and self.version < (4, 7) else asked

    @property
    def one_sampling_knob(self) -> bool:
        """Takes `temperature` or `top_p`, not both."""
        return self.version >= (4, 0)

    @property
    def thinks_by_default(self) -> bool:
        return self.version >= (5, 0)

    @property
    def always_thinks(self) -> bool:
        """Refuses `{"type": "disabled"}`."""
        return self.tier in _ALWAYS_THINKING_TIERS or (self.version >= (5, 5) and self.tier != "haiku")

    @property
    def fixed_sampling(self) -> bool:
        """Refuses temperature, top_p and top_k other than their defaults."""
        return self.version >= (4, 7)

    @property
    def refuses_prefill(self) -> bool:
        return self.version >= (4, 6)

    @property
    def refuses_forced_tools(self) -> bool:
        if self.tier in _ALWAYS_THINKING_TIERS:
            return self.version >= (5, 1)
        return self.tier != "haiku" and self.version >= (5, 5)

    @property
    def native_structured_output(self) -> bool:
        """Takes `output_config.format` and strict tools."""
        return self.version >= (4, 5)


@functools.lru_cache(maxsize=512)  # asked per candidate of every routed request; ids are few
def claude(model: str) -> Claude | None:
    """The tier and version of a Claude model id, None for any other id (or a Claude before 3)."""
    name = model.lower()
    found = _TIER_FIRST.search(name)
    if found is not None:
        tier, major, minor = found.groups()
        # A minor of more than two digits is a date ("claude-opus-4-20250514"): version x.0.
        return Claude(tier, (int(major), int(minor) if minor is not None and len(minor) <= 2 else 0))
    found = _VERSION_FIRST.search(name)
    if found is not None:
        major, minor, tier = found.groups()
        return Claude(tier, (int(major), int(minor or 0)))
    return None
