"""Gemini `streamGenerateContent?alt=sse` events → OpenAI `chat.completion.chunk` dicts.

Each SSE event is a partial `GenerateContentResponse`: text arrives as fragments, a functionCall
arrives whole in one part, `finishReason` appears on the candidate's last event, and
`usageMetadata` (cumulative) may ride on any event, so the last one seen is the stream's usage.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from satisfice.errors import UpstreamFailed
from satisfice.providers.base import JSON, Deployment
from satisfice.providers.gemini_response import (
    blocked_reason,
    completion_id,
    failed_answer,
    finish_reason,
    logprobs_of,
    parts_of,
    text_of,
    tool_call,
    usage_from_gemini,
)
from satisfice.usage import Usage

# Gemini's error status (or HTTP code) → the error type Anthropic gives the same failure, carried as
# the error's code: opening the stream reads it (an overload fails over as a 529, a rate limit as a
# 429) and /v1/messages clients get it back (overloaded_error, rate_limit_error), not api_error.
_ERROR_TYPES: dict[str | int, str] = {
    "UNAVAILABLE": "overloaded_error",
    503: "overloaded_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    429: "rate_limit_error",
}


class GeminiStreamTranslator:
    """A StreamTranslator for one Gemini stream (see `satisfice.providers.base.StreamTranslator`).

    A stream that ends without a `finishReason` gets no invented one: a missing finish chunk is how
    the client can tell the answer was cut off.
    """

    def __init__(self, dep: Deployment) -> None:
        self.usage: Usage | None = None
        self._model = dep.model
        self._created = int(time.time())
        self._id: str | None = None
        self._started: set[int] = set()  # candidate indexes whose role chunk went out
        self._finished: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate index → tool calls emitted so far

    def feed(self, event: str | None, data: bytes) -> list[JSON]:
        if not data.strip() or data.strip() == b"[DONE]":
            return []
        try:
            resp = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamFailed("Gemini sent a stream event that is not JSON") from None
        if not isinstance(resp, dict):
            raise UpstreamFailed("Gemini sent an unexpected stream event")
        if isinstance(resp.get("error"), dict):
            # Errors after the 200 arrive in-band; there is no other way to surface them now.
            raise _stream_error(resp["error"])
        if self._id is None:
            self._id = completion_id(resp)
        usage = usage_from_gemini(resp.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        out: list[JSON] = []
        candidates = [c for c in resp.get("candidates") or [] if isinstance(c, dict)]
        if not candidates and blocked_reason(resp) is not None and 0 not in self._finished:
            out.extend(self._start(0))
            out.append(self._finish(0, "content_filter"))
        for pos, cand in enumerate(candidates):
            index = cand.get("index")
            out.extend(self._candidate(index if isinstance(index, int) else pos, cand))
        return out

    def finish(self) -> list[JSON]:
        if self.usage is None:
            return []
        chunk = self._chunk([])
        chunk["usage"] = self.usage.to_openai()
        return [chunk]

    def _candidate(self, index: int, cand: JSON) -> list[JSON]:
        out = self._start(index)
        parts = parts_of(cand)
        text = text_of(parts)
        if text:
            out.append(self._chunk([_choice(index, {"content": text}, logprobs=logprobs_of(cand))]))
        deltas: list[JSON] = []
        for part in parts:
            call = tool_call(part)
            if call is None:
                continue
            n = self._calls.get(index, 0)
            self._calls[index] = n + 1
            deltas.append({"index": n, **call})
        if deltas:
            out.append(self._chunk([_choice(index, {"tool_calls": deltas})]))
        reason = cand.get("finishReason")
        if isinstance(reason, str) and reason and index not in self._finished:
            finish = finish_reason(reason, index in self._calls)
            if finish is None:  # no answer: at the stream's start the attempt fails over
                raise UpstreamFailed(failed_answer(cand))
            out.append(self._finish(index, finish))
        return out

    def _start(self, index: int) -> list[JSON]:
        if index in self._started:
            return []
        self._started.add(index)
        return [self._chunk([_choice(index, {"role": "assistant", "content": ""})])]

    def _finish(self, index: int, reason: str) -> JSON:
        self._finished.add(index)
        return self._chunk([_choice(index, {}, finish=reason)])

    def _chunk(self, choices: list[JSON]) -> JSON:
        if self._id is None:
            self._id = completion_id({})
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }


def _stream_error(err: JSON) -> UpstreamFailed:
    status, code = err.get("status"), err.get("code")
    kind = _ERROR_TYPES.get(status) if isinstance(status, str) else None
    if kind is None and isinstance(code, int) and not isinstance(code, bool):
        kind = _ERROR_TYPES.get(code)
    return UpstreamFailed(str(err.get("message") or "Gemini stream failed"), code=kind)


def _choice(index: int, delta: JSON, *, finish: str | None = None, logprobs: Any = None) -> JSON:
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": logprobs}
