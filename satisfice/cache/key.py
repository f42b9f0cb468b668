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
    """The semantic cache's scope: the request without its messages. Only a paraphrase asked of the
    same model or route, by the same tenant, with the same tools, format and parameters may match."""
    rest = {k: v for k, v in body.items() if k not in _NOT_IN_KEY and k != "messages"}
    return _digest(["scope", tenant, knob or "", rest])
