"""A clearly labelled simulated provider for a keyless try-out.

It answers in-process with deterministic latency, real token counts and the catalog's real prices,
and every answer says that it is simulated. It is only wired in when no real provider is configured.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from satisfice import tokens
from satisfice.providers.base import Deployment
from satisfice.providers.results import Completion, EventStream
from satisfice.usage import Usage

# Models the try-out serves (those present in the catalog are used).
SIMULATED_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "claude-3-5-haiku",
    "claude-3-5-sonnet",
    "gemini-2.0-flash",
    "mixtral-8x7b-instruct",
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
)
FIRST_TOKEN_S = 0.02  # deterministic latency to the first token
PER_CHUNK_S = 0.002  # and between stream chunks


def _last_user_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            text, _ = tokens.message_text(msg.get("content"))
            return text
    return ""


def _answer(dep: Deployment, body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    asked = " ".join(_last_user_text(body).split())[:160]
    text = (
        f"[simulated answer from {dep.model}] Satisfice is running without a provider key, so no model was "
        f"called. Configure a provider to get real answers. You asked: {asked}"
    )
    tools = body.get("tools")
    if tools and body.get("tool_choice") != "none":
        fn = (tools[0] or {}).get("function") or {}
        call_id = "call_sim_" + hashlib.sha1(asked.encode()).hexdigest()[:12]
        return None, [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": fn.get("name", "tool"), "arguments": "{}"},
            }
        ]
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
        return orjson.dumps({"simulated": True, "model": dep.model, "note": text}).decode(), None
    return text, None


class SimulatedUpstream:
    async def complete(self, dep: Deployment, body: dict[str, Any]) -> Completion:
        await asyncio.sleep(FIRST_TOKEN_S)
        content, tool_calls = _answer(dep, body)
        usage = Usage(
            prompt_tokens=tokens.count_prompt(body, dep.model),
            completion_tokens=tokens.count_text(content or orjson.dumps(tool_calls).decode(), dep.model),
        )
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        n = body.get("n") or 1
        parsed: dict[str, Any] = {
            "id": "chatcmpl-sim" + hashlib.sha1(orjson.dumps(body)).hexdigest()[:20],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": dep.model,
            "system_fingerprint": "satisfice-simulated",
            "choices": [
                {
                    "index": i,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                }
                for i in range(n if isinstance(n, int) and n > 0 else 1)
            ],
            "usage": usage.to_openai(),
        }
        return Completion(raw=orjson.dumps(parsed), body=parsed, usage=usage)

    async def stream(self, dep: Deployment, body: dict[str, Any]) -> EventStream:
        return SimulatedStream(dep, body)


class SimulatedStream:
    def __init__(self, dep: Deployment, body: dict[str, Any]) -> None:
        self.dep = dep
        self.body = body
        self.usage: Usage | None = None
        self.cost_usd: float | None = None
        self.events: list[bytes] = []
        self.more = False  # chunks are paced apart: write each at once
        self._it = self._events()  # one generator: the first event is read before the rest

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.dep.model,
            "system_fingerprint": "satisfice-simulated",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    async def _events(self) -> AsyncIterator[bytes]:
        self._id = "chatcmpl-sim" + hashlib.sha1(orjson.dumps(self.body)).hexdigest()[:20]
        self._created = int(time.time())
        content, tool_calls = _answer(self.dep, self.body)
        await asyncio.sleep(FIRST_TOKEN_S)
        yield self._chunk({"role": "assistant", "content": ""})
        if tool_calls:
            call = dict(tool_calls[0], index=0)
            yield self._chunk({"tool_calls": [call]})
        else:
            words = (content or "").split(" ")
            for i, word in enumerate(words):
                await asyncio.sleep(PER_CHUNK_S)
                yield self._chunk({"content": word if i == 0 else " " + word})
        yield self._chunk({}, "tool_calls" if tool_calls else "stop")
        self.usage = Usage(
            prompt_tokens=tokens.count_prompt(self.body, self.dep.model),
            completion_tokens=tokens.count_text(content or orjson.dumps(tool_calls).decode(), self.dep.model),
        )
        usage_chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.dep.model,
            "choices": [],
            "usage": self.usage.to_openai(),
        }
        yield b"data: " + orjson.dumps(usage_chunk) + b"\n\n"

    async def aclose(self) -> None:
        return None
