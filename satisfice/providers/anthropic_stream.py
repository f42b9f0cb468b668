"""Anthropic Messages SSE events -> OpenAI `chat.completion.chunk` dicts (plus shared mappings)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from satisfice.errors import UpstreamFailed
from satisfice.providers.anthropic_request import SCHEMA_TOOL
from satisfice.providers.thinking import THINKING_BLOCKS
from satisfice.usage import Usage

JSON = dict[str, Any]

# Anthropic stop_reason -> OpenAI finish_reason.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # server tools paused the turn; the text so far is a complete answer
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any, *, answered: bool = False) -> str:
    """`answered`: the schema tool's call was the answer, so its "tool_use" stop is a "stop"."""
    if answered and stop_reason == "tool_use":
        return "stop"
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


# The stop reasons whose finish_reason loses what a /v1/messages client acts on ("length" reads
# `max_tokens` there, inviting a retry with more tokens where only a shorter prompt helps). Each rides
# along as `choices[].native_finish_reason` (OpenRouter's field: the provider's own reason) for that
# endpoint to restore; OpenAI clients still read "length". Not "pause_turn": the gateway sends no server
# tools, whose turn it would pause, and the text so far is the answer. "refusal" comes back from
# "content_filter", and "stop_sequence" from the matched string in `stop_reason`.
NATIVE_STOP_REASONS = frozenset({"model_context_window_exceeded"})


def carry_stop_reason(choice: JSON, stop_reason: Any, stop_sequence: Any) -> None:
    """Put on an OpenAI choice (or chunk choice) what of Anthropic's stop its finish_reason loses."""
    if stop_reason == "stop_sequence" and isinstance(stop_sequence, str):
        # vLLM's convention: the matched stop string rides along as choices[].stop_reason.
        choice["stop_reason"] = stop_sequence
    if isinstance(stop_reason, str) and stop_reason in NATIVE_STOP_REASONS:
        choice["native_finish_reason"] = stop_reason


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def update_usage(usage: Usage, raw: Any) -> None:
    """Fold an Anthropic usage object into `usage`.

    Anthropic counts `input_tokens` *excluding* cache reads and writes; OpenAI's `prompt_tokens`
    includes cached tokens, so the three are summed. Counts are cumulative; absent fields keep the
    previous value (message_delta usually carries only output_tokens).
    """
    if not isinstance(raw, dict):
        return
    # The uncached part of the previous total, kept when this object omits input_tokens.
    fresh = usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens
    if "input_tokens" in raw:
        fresh = _int(raw["input_tokens"])
    if "cache_read_input_tokens" in raw:
        usage.cached_tokens = _int(raw["cache_read_input_tokens"])
    if "cache_creation_input_tokens" in raw:
        usage.cache_write_tokens = _int(raw["cache_creation_input_tokens"])
    creation = raw.get("cache_creation")  # the writes by cache lifetime (5 minutes, 1 hour)
    if isinstance(creation, dict) and "ephemeral_1h_input_tokens" in creation:
        usage.cache_write_1h_tokens = min(
            _int(creation["ephemeral_1h_input_tokens"]), usage.cache_write_tokens
        )
    usage.prompt_tokens = fresh + usage.cached_tokens + usage.cache_write_tokens
    if "output_tokens" in raw:
        usage.completion_tokens = _int(raw["output_tokens"])
    details = raw.get("output_tokens_details")
    if isinstance(details, dict) and "thinking_tokens" in details:
        usage.reasoning_tokens = _int(details["thinking_tokens"])


def usage_from_anthropic(raw: Any) -> Usage:
    usage = Usage()
    update_usage(usage, raw)
    return usage


def openai_usage(usage: Usage) -> JSON:
    """The OpenAI `usage` object for Anthropic counts: cache writes, which OpenAI has no field for,
    are `prompt_tokens_details.cache_write_tokens` (OpenRouter's name), so the /v1/messages endpoint
    can report `cache_creation_input_tokens` again; those to a 1-hour cache are also
    `cache_write_1h_tokens` there (no one's standard field; OpenAI clients ignore it)."""
    out = usage.to_openai()
    if usage.cache_write_tokens:
        details = dict(out.get("prompt_tokens_details") or {})
        details["cache_write_tokens"] = usage.cache_write_tokens
        if usage.cache_write_1h_tokens:  # priced higher: the ledger reads it back from here
            details["cache_write_1h_tokens"] = usage.cache_write_1h_tokens
        out["prompt_tokens_details"] = details
    return out


class AnthropicStreamTranslator:
    """One per upstream stream. See `StreamTranslator` in providers/base.py for the contract.

    Thinking deltas are surfaced as `delta.reasoning_content`; thinking and redacted_thinking blocks
    also ride, signatures included, as fragments on the `thinking_blocks` carrier of `thinking.py`.
    Citations and server-tool blocks are dropped. The schema tool's call (`SCHEMA_TOOL`, see
    anthropic.py) streams as `content`: its input_json_delta fragments are content deltas.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.usage: Usage | None = None
        self._id = "chatcmpl-anthropic"
        self._created = int(time.time())
        self._finished = False
        # Anthropic content-block index -> OpenAI tool_calls index (tool_use blocks only).
        self._tool_index: dict[int, int] = {}
        # Anthropic content-block index -> (index among the carried thinking blocks, block type).
        self._thinking: dict[int, tuple[int, str]] = {}
        # Tool_use blocks no argument fragment has come for yet -> their arguments as the start
        # gave them ("{}" for Anthropic's `input: {}`), sent when the block stops: OpenAI's
        # arguments are always JSON, and a call without arguments streams no fragment.
        self._no_args: dict[int, str] = {}
        # The content-block index of the schema tool's call, and its input as the start gave it
        # until a fragment comes (sent when the block stops otherwise, as for `_no_args`).
        self._answer: int | None = None
        self._answer_given: str | None = None

    def feed(self, event: str | None, data: bytes) -> list[JSON]:
        if not data.strip():
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamFailed("Anthropic sent an unreadable stream event.") from exc
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event
        if kind == "message_start":
            return self._on_start(obj.get("message"))
        if kind == "content_block_start":
            return self._on_block_start(obj)
        if kind == "content_block_delta":
            return self._on_block_delta(obj)
        if kind == "content_block_stop":
            return self._on_block_stop(obj)
        if kind == "message_delta":
            return self._on_message_delta(obj)
        if kind == "error":
            err = obj.get("error")
            message = err.get("message") if isinstance(err, dict) else None
            err_type = err.get("type") if isinstance(err, dict) else None
            # Anthropic's error type (e.g. overloaded_error) rides as the code, so /v1/messages
            # clients get it back rather than a generic api_error.
            code = err_type if isinstance(err_type, str) and err_type.endswith("_error") else None
            raise UpstreamFailed(str(message or "Anthropic stream failed."), code=code)
        # ping, message_stop and unknown future events carry nothing for us.
        return []

    def finish(self) -> list[JSON]:
        if self.usage is None:
            return []
        return [{**self._base(), "choices": [], "usage": openai_usage(self.usage)}]

    # -- events ----------------------------------------------------------------------------------

    def _on_start(self, message: Any) -> list[JSON]:
        if isinstance(message, dict):
            if isinstance(message.get("id"), str):
                self._id = "chatcmpl-" + message["id"]
            if isinstance(message.get("usage"), dict):  # else unknown: the gateway counts tokens
                self.usage = usage_from_anthropic(message["usage"])
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_block_start(self, obj: JSON) -> list[JSON]:
        block = obj.get("content_block")
        index = obj.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            return []
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind in ("thinking", "redacted_thinking"):
            return [self._thinking_start(index, block)]
        if kind != "tool_use":
            return []
        given = block.get("input")
        args = orjson.dumps(given if isinstance(given, dict) else {}).decode()
        if block.get("name") == SCHEMA_TOOL:
            self._answer, self._answer_given = index, args
            return []
        tool_index = len(self._tool_index)
        self._tool_index[index] = tool_index
        self._no_args[index] = args
        call = {
            "index": tool_index,
            "id": str(block.get("id") or ""),
            "type": "function",
            "function": {"name": str(block.get("name") or ""), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, obj: JSON) -> list[JSON]:
        delta = obj.get("delta")
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            out = {"reasoning_content": delta["thinking"]}
            return [self._chunk(self._carry(out, obj.get("index"), thinking=delta["thinking"]))]
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            signed = self._carry({}, obj.get("index"), signature=delta["signature"])
            return [self._chunk(signed)] if signed else []
        if kind == "input_json_delta" and delta.get("partial_json"):
            if self._answer is not None and obj.get("index") == self._answer:
                self._answer_given = None
                return [self._chunk({"content": delta["partial_json"]})]
            tool_index = self._tool_index.get(obj.get("index", -1))
            if tool_index is None:
                return []  # server-tool input; not a client tool call
            self._no_args.pop(obj["index"], None)
            call = {"index": tool_index, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _on_block_stop(self, obj: JSON) -> list[JSON]:
        index = obj.get("index")
        if self._answer_given is not None and index == self._answer:
            given, self._answer_given = self._answer_given, None
            return [self._chunk({"content": given})]
        if not isinstance(index, int) or index not in self._no_args:
            return []
        call = {"index": self._tool_index[index], "function": {"arguments": self._no_args.pop(index)}}
        return [self._chunk({"tool_calls": [call]})]

    def _thinking_start(self, index: int, block: JSON) -> JSON:
        """The chunk opening a thinking or redacted_thinking block: its first carried fragment."""
        self._thinking[index] = (len(self._thinking), str(block["type"]))
        fields = {k: block[k] for k in ("thinking", "signature", "data") if block.get(k)}
        if block["type"] == "thinking":
            fields.setdefault("thinking", "")  # the text may all come in deltas, or be empty
        delta = {"reasoning_content": fields["thinking"]} if fields.get("thinking") else {}
        return self._chunk(self._carry(delta, index, **fields))

    def _carry(self, delta: JSON, index: Any, **fragment: str) -> JSON:
        """`delta` with a fragment of the thinking block at Anthropic's content-block `index`."""
        found = self._thinking.get(index) if isinstance(index, int) else None
        if found is None:
            return delta  # a delta for a block that never started: nothing to attach it to
        carried, kind = found
        return {**delta, THINKING_BLOCKS: [{"index": carried, "type": kind, **fragment}]}

    def _on_message_delta(self, obj: JSON) -> list[JSON]:
        if isinstance(obj.get("usage"), dict):
            if self.usage is None:
                self.usage = Usage()
            update_usage(self.usage, obj["usage"])
        delta = obj.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        stop_reason = delta.get("stop_reason")
        if stop_reason is None or self._finished:
            return []
        self._finished = True
        chunk = self._chunk({}, finish=finish_reason(stop_reason, answered=self._answer is not None))
        carry_stop_reason(chunk["choices"][0], stop_reason, delta.get("stop_sequence"))
        return [chunk]

    # -- chunk shapes ----------------------------------------------------------------------------

    def _base(self) -> JSON:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
        }

    def _chunk(self, delta: JSON, *, finish: str | None = None) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base(), "choices": [choice]}
