"""`truncation`: the provider says the answer was cut off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from satisfice.verify.base import Check, failed, passed
from satisfice.verify.text import finish_reason

# content_filter cuts the answer off too: what the client gets is incomplete either way.
_CUT = ("length", "content_filter")


class Truncation:
    name = "truncation"

    def check(
        self, request: Mapping[str, Any], answer: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Check:
        reason = finish_reason(answer)
        if reason in _CUT:
            return failed(self.name, f"finish_reason={reason}")
        return passed(self.name, f"finish_reason={reason}" if reason else "no finish_reason")
