"""Builders for chat requests and answers, and a sync runner for the async API."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar, cast

from satisfice.verify import VERIFIERS, Check, Verdict, Verifier, VerifySettings

T = TypeVar("T")
DEFAULTS = VerifySettings().params


def req(user: str = "Hello", *, system: str | None = None, **extra: Any) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return {"model": "cheap", "messages": messages, **extra}


def ans(content: str | None = "", finish: str | None = "stop", **message: Any) -> dict[str, Any]:
    msg = {"role": "assistant", "content": content, **message}
    return {"object": "chat.completion", "choices": [{"index": 0, "message": msg, "finish_reason": finish}]}


def call(name: str, arguments: Any, call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def check(name: str, request: Mapping[str, Any], answer: Mapping[str, Any], **thresholds: float) -> Check:
    verifier = cast(Verifier, VERIFIERS[name])
    params = {**DEFAULTS, **thresholds}
    result = verifier.check(request, answer, params)
    assert isinstance(result, Check)
    return result


def verdict(name: str, request: Mapping[str, Any], answer: Mapping[str, Any], **thresholds: float) -> Verdict:
    return check(name, request, answer, **thresholds).verdict


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
