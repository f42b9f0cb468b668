"""Cache keys: the normalized request, scoped by tenant.

Everything that can change the answer is in the key: the model or route name (with any knob
suffix), the knob header, every message including the system prompt, tools, response_format and
every sampling parameter. Only fields that change delivery or bookkeeping, not the answer, are
left out, so a streamed and a non-streamed request share an entry.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Delivery and bookkeeping fields: they do not change the answer.
_NOT_IN_KEY = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    }
)


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def request_key(tenant: str, knob: str | None, body: dict[str, Any]) -> str:
    """The exact-match key of a request."""
    return _digest(["exact", tenant, knob or "", {k: v for k, v in body.items() if k not in _NOT_IN_KEY}])


def scope_key(tenant: str, knob: str | None, body: dict[str, Any]) -> str:
    """The semantic cache's scope: the whole request but the text of its last message. Only a
    paraphrase of that last turn, asked by the same tenant of the same model or route, after the same
    earlier messages and with the same tools, format and parameters, may match. Keeping the earlier
    turns (a long system prompt above all) out of the embedding keeps them from drowning a one-word
    difference in the question; they must match exactly instead."""
    rest = {k: v for k, v in body.items() if k not in _NOT_IN_KEY and k != "messages"}
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    frame = {k: v for k, v in last.items() if k != "content"} if isinstance(last, dict) else last
    # v2: entries from before the last-turn scope (and before non-text content was kept out) never match.
    return _digest(["scope-v2", tenant, knob or "", rest, messages[:-1], frame])
