"""Between the two shapes of one answer: a streamed answer's SSE events become the chat.completion
that is stored, and a stored chat.completion is replayed as a proper SSE stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from satisfice.usage import Usage, usage_from_openai

_PIECE_CHARS = 64  # replayed content goes out in pieces of about this many characters


def _choice(choices: dict[int, dict[str, Any]], index: int) -> dict[str, Any]:
    return choices.setdefault(
        index, {"index": index, "message": {"role": "assistant", "content": None}, "finish_reason": None}
    )


def _add_tool_calls(message: dict[str, Any], deltas: list[Any]) -> None:
    calls: list[dict[str, Any]] = message.setdefault("tool_calls", [])
    for d in deltas:
        i = int(d.get("index", len(calls)))
        while len(calls) <= i:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call, fn = calls[i], d.get("function") or {}
        call["id"] = d.get("id") or call["id"]
        call["type"] = d.get("type") or call["type"]
        call["function"]["name"] += fn.get("name") or ""
        call["function"]["arguments"] += fn.get("arguments") or ""


def event_text(event: bytes) -> str:
    """The output text one SSE event carries: its choices' content and tool-call arguments (what
    counts as generated tokens, and what a held stream measures)."""
    if b'"content"' not in event and b'"arguments"' not in event:
        return ""
    try:
        chunk = orjson.loads(event[6:])  # strip "data: "
    except orjson.JSONDecodeError:
        return ""
    parts: list[str] = []
    for choice in (chunk.get("choices") or []) if isinstance(chunk, dict) else []:
        delta = choice.get("delta") or {}
        if isinstance(delta.get("content"), str):
            parts.append(delta["content"])
        for call in delta.get("tool_calls") or []:
            parts.append(str((call.get("function") or {}).get("arguments") or ""))
    return "".join(parts)


def completion_from_events(events: list[bytes]) -> dict[str, Any] | None:
    """The chat.completion a finished stream amounts to; None when any choice did not finish (a
    cut stream is not an answer worth keeping) or an event is unreadable."""
    head: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    usage: Any = None
    for ev in events:
        try:
            chunk = orjson.loads(ev[6:])  # strip "data: "
        except orjson.JSONDecodeError:
            return None
        if not head:
            head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        usage = chunk.get("usage") or usage
        for c in chunk.get("choices") or []:
            choice = _choice(choices, int(c.get("index", 0)))
            message, delta = choice["message"], c.get("delta") or {}
            if isinstance(delta.get("content"), str):
                message["content"] = (message["content"] or "") + delta["content"]
            if isinstance(delta.get("refusal"), str):
                message["refusal"] = (message.get("refusal") or "") + delta["refusal"]
            if delta.get("tool_calls"):
                _add_tool_calls(message, delta["tool_calls"])
            if c.get("logprobs"):
                content = (c["logprobs"] or {}).get("content") or []
                choice.setdefault("logprobs", {"content": []})["content"].extend(content)
            if c.get("finish_reason"):
                choice["finish_reason"] = c["finish_reason"]
    if not choices or any(c["finish_reason"] is None for c in choices.values()):
        return None
    body: dict[str, Any] = {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [choices[i] for i in sorted(choices)],
    }
    if head.get("system_fingerprint"):
        body["system_fingerprint"] = head["system_fingerprint"]
    if usage:
        body["usage"] = usage
    return body


def _pieces(text: str) -> list[str]:
    """Split at spaces into pieces of about _PIECE_CHARS, so the joined pieces equal the text."""
    out, start = [], 0
    while start < len(text):
        cut = text.find(" ", start + _PIECE_CHARS)
        end = len(text) if cut < 0 else cut + 1
        out.append(text[start:end])
        start = end
    return out


class CachedStream:
    """A stored answer replayed as OpenAI SSE events (an EventStream; it cost nothing)."""

    def __init__(self, body: dict[str, Any], completion_id: str) -> None:
        self.body = body
        self.id = completion_id
        self.created = int(time.time())
        self.events: list[bytes] = []
        self.more = True  # the whole answer is at hand: the relay may write it in one go
        self._usage = usage_from_openai(body.get("usage"))
        self._it = self._events()

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def cost_usd(self) -> float | None:
        return 0.0

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.body.get("model"),
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _choice_chunks(self, choice: dict[str, Any]) -> list[bytes]:
        index = choice.get("index", 0)
        message = choice.get("message") or {}

        def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
            return self._chunk([{"index": index, "delta": d, "logprobs": None, "finish_reason": finish}])

        out = [delta({"role": "assistant", "content": ""})]
        out += [delta({"content": piece}) for piece in _pieces(message.get("content") or "")]
        if message.get("refusal"):
            out.append(delta({"refusal": message["refusal"]}))
        for i, call in enumerate(message.get("tool_calls") or []):
            out.append(delta({"tool_calls": [{"index": i, **call}]}))
        out.append(delta({}, choice.get("finish_reason") or "stop"))
        return out

    async def _events(self) -> AsyncIterator[bytes]:
        events = [e for choice in self.body.get("choices") or [] for e in self._choice_chunks(choice)]
        if self.body.get("usage") is not None:
            events.append(self._chunk([], self.body["usage"]))
        for i, event in enumerate(events):
            self.more = i < len(events) - 1
            self.events.append(event)
            yield event

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    async def aclose(self) -> None:
        await self._it.aclose()  # type: ignore[attr-defined]
