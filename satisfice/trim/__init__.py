"""Prompt trimming: fit a conversation into a model's context window and a route's token budget.

Opt-in per route (it changes what the model sees): `TrimSettings.from_config(route["trim"])`, then
`trim(messages, settings, context_window=..., max_output_tokens=..., model=...)`. See docs/trimming.md.
"""

from __future__ import annotations

from satisfice.trim.settings import LEVELS, TrimSettings
from satisfice.trim.trim import TrimResult, prompt_limit, trim

__all__ = ["LEVELS", "TrimResult", "TrimSettings", "prompt_limit", "trim"]
