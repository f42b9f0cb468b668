"""The replay provider: answers from recorded real model outputs, at their recorded cost.

A provider `type: replay` with `dataset: NAME_OR_PATH` (a shared dataset name or a canonical JSONL
file, see `satisfice.data`) serves every model of that dataset that has recorded answers. A request
is answered with the `response` the data recorded for (its last user message, the deployment's
model): looked up by exact text, then by whitespace-normalised text. When the same text occurs in
several records, a request may name the one it means with `metadata.replay_id` (the record id);
otherwise the first record in the data wins. The answer carries the recorded `cost_usd` (None when
the data has none: the gateway then prices the counted tokens with the catalog). A prompt or model
without a recorded answer is a 404 refusal (the gateway fails over to the next candidate).

This lets the whole pipeline (routing, failover, ledger) run through the real gateway with no
provider at all: `satisfice eval --live` uses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, ClassVar

import orjson

from satisfice import tokens
from satisfice.data.records import Dataset, Outcome, Record
from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.results import Completion, EventStream
from satisfice.usage import Usage

WORDS_PER_CHUNK = 4  # stream chunks carry a few words each
_PIECE = re.compile(r"\s*\S+\s*")


def normalise(text: str) -> str:
    return " ".join(text.split())


def last_user_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            text, _ = tokens.message_text(msg.get("content"))
            return text
    return ""


def _hint(body: dict[str, Any]) -> str | None:
    meta = body.get("metadata")
    rid = meta.get("replay_id") if isinstance(meta, dict) else None
    return rid if isinstance(rid, str) else None


class ReplayUpstream:
    """A LocalUpstream over one dataset's recorded answers. `models`: the models with any answer."""

    _cache: ClassVar[dict[str, ReplayUpstream]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, dataset: Dataset, *, latency_ms: float = 0.0) -> None:
        self.dataset = dataset
        self.latency_ms = latency_ms
        self._exact: dict[str, list[Record]] = {}
        self._normal: dict[str, list[Record]] = {}
        answered: set[str] = set()
        for r in dataset.records:
            text = r.prompt_text()
            self._exact.setdefault(text, []).append(r)
            self._normal.setdefault(normalise(text), []).append(r)
            answered.update(m for m, o in r.outcomes.items() if o.response is not None)
        self.models: list[str] = [m for m in dataset.models if m in answered]

    @classmethod
    def load(cls, name_or_path: str, *, latency_ms: float = 0.0) -> ReplayUpstream:
        """The replay provider for a dataset name or canonical JSONL path (loaded once per name)."""
        with cls._lock:
            found = cls._cache.get(name_or_path)
            if found is None:
                from satisfice.data.jsonl import load_dataset

                found = cls._cache[name_or_path] = cls(load_dataset(name_or_path), latency_ms=latency_ms)
            return found

    def lookup(self, text: str, model: str, record_id: str | None = None) -> tuple[Record, Outcome] | None:
        """The record and recorded outcome for a prompt text and model (None: no recorded answer)."""
        records = self._exact.get(text) or self._normal.get(normalise(text)) or []
        with_answer = [r for r in records if getattr(r.outcomes.get(model), "response", None) is not None]
        if not with_answer:
            return None
        pick = next((r for r in with_answer if r.id == record_id), with_answer[0])
        return pick, pick.outcomes[model]

    async def _answer(self, dep: Deployment, body: dict[str, Any]) -> tuple[Record, str, float | None, Usage]:
        delay = float(dep.option("latency_ms") or self.latency_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        text = last_user_text(body)
        found = self.lookup(text, dep.model, _hint(body))
        if found is None:
            known = bool(self._exact.get(text) or self._normal.get(normalise(text)))
            what = f"model {dep.model!r} on this prompt" if known else "this prompt (unknown to the data)"
            raise AttemptFailed(
                FailureKind.REFUSED,
                f"replay of {self.dataset.name!r}: the data has no recorded answer for {what}",
                status=404,
            )
        record, outcome = found
        response = outcome.response or ""
        usage = Usage(
            prompt_tokens=tokens.count_prompt(body, dep.model),
            completion_tokens=tokens.count_text(response, dep.model),
        )
        return record, response, outcome.cost_usd, usage

    @staticmethod
    def _id(record: Record, model: str) -> str:
        return "chatcmpl-replay" + hashlib.sha1(f"{record.id}\0{model}".encode()).hexdigest()[:20]

    async def complete(self, dep: Deployment, body: dict[str, Any]) -> Completion:
        record, response, cost, usage = await self._answer(dep, body)
        n = body.get("n")
        message = {"role": "assistant", "content": response, "refusal": None}
        parsed: dict[str, Any] = {
            "id": self._id(record, dep.model),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": dep.model,
            "system_fingerprint": "satisfice-replay",
            "choices": [
                {"index": i, "message": message, "logprobs": None, "finish_reason": "stop"}
                for i in range(n if isinstance(n, int) and n > 0 else 1)
            ],
            "usage": usage.to_openai(),
        }
        return Completion(raw=orjson.dumps(parsed), body=parsed, usage=usage, cost_usd=cost)

    async def stream(self, dep: Deployment, body: dict[str, Any]) -> EventStream:
        record, response, cost, usage = await self._answer(dep, body)  # a refusal fails the attempt now
        return ReplayStream(self._id(record, dep.model), dep.model, response, usage, cost)


class ReplayStream:
    """The recorded answer as OpenAI SSE chunks: role, content (a few words each), finish, usage."""

    def __init__(self, cid: str, model: str, response: str, usage: Usage, cost_usd: float | None) -> None:
        self.usage: Usage | None = None  # known once the stream is exhausted
        self.cost_usd: float | None = cost_usd
        self.events: list[bytes] = []
        self.more = False
        self._cid, self._model, self._response, self._usage = cid, model, response, usage
        self._created = int(time.time())
        self._it = self._events()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    def _event(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self._cid,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": "satisfice-replay",
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        event = b"data: " + orjson.dumps(chunk) + b"\n\n"
        self.events.append(event)
        return event

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._event([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])

    async def _events(self) -> AsyncGenerator[bytes, None]:
        yield self._delta({"role": "assistant", "content": ""})
        pieces = _PIECE.findall(self._response) or ([self._response] if self._response else [])
        for i in range(0, len(pieces), WORDS_PER_CHUNK):
            yield self._delta({"content": "".join(pieces[i : i + WORDS_PER_CHUNK])})
        yield self._delta({}, "stop")
        self.usage = self._usage
        yield self._event([], self._usage.to_openai())

    async def aclose(self) -> None:
        await self._it.aclose()
