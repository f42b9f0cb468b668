"""`truncation`: the provider says the answer was cut off.

A cut at the client's own `max_tokens` is unsure, not a failure: every rung would be cut at the
same limit, so escalating only pays a dearer model for the same truncated text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, failed, passed, unsure
from satisfice.verify.text import finish_reason

# content_filter cuts the answer off too: what the client gets is incomplete either way.
_CUT = ("length", "content_filter")


class Truncation:
    name = "truncation"

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        reason = finish_reason(answer)
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        if reason == "length" and limit:
            return unsure(self.name, f"finish_reason=length at the client's limit of {limit} tokens")
        if reason in _CUT:
            return failed(self.name, f"finish_reason={reason}")
        return passed(self.name, f"finish_reason={reason}" if reason else "no finish_reason")
