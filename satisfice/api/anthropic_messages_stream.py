"""OpenAI `chat.completion.chunk` stream -> Anthropic Messages SSE, for the gateway's /v1/messages.

Anthropic's stream format has one content block open at a time: a block starts, gets its deltas and
stops before the next one starts. OpenAI streams may interleave the argument fragments of parallel
tool calls (index 0, then 1, then 0 again). So the first tool call streams live in its open block,
which stays open until the stream ends; every later tool call (and any text after a tool call) is
held and sent whole, in order of appearance, when the stream ends. Text before the first tool call
streams live as usual. Thinking blocks (the `thinking_blocks` carrier of `providers/thinking.py`)
stream live as `thinking_delta` and `signature_delta` events, or are held like text after a tool
call; `redacted_thinking` blocks come whole in their start event, as Anthropic sends them.

A stream that ends without a finish reason, or with an in-band error object (`{"error": {...}}`,
what OpenAI-compatible servers send when they fail mid-stream), ends with an Anthropic `error` event,
never with a normal `message_stop`: the answer is incomplete.
"""

from __future__ import annotations

from typing import Any

import orjson

from satisfice.errors import GatewayError, UpstreamFailed
from satisfice.providers.anthropic_stream import FINISH_REASONS, NATIVE_STOP_REASONS
from satisfice.providers.thinking import THINKING_BLOCKS
from satisfice.usage import Usage

JSON = dict[str, Any]

_STOP_REASONS = {
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Anthropic's error types by HTTP status (`anthropic.types.shared.ErrorObject`).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
KNOWN_ERROR_TYPES = frozenset(ERROR_TYPES.values())
INCOMPLETE = "The upstream stream ended before the answer was complete (no finish reason was sent)."


def error_type_for(status: int) -> str:
    kind = ERROR_TYPES.get(status)
    if kind is None:
        kind = "api_error" if status >= 500 else "invalid_request_error"
    return kind


def error_type(err: GatewayError) -> str:
    """The Anthropic error type of a gateway error: an Anthropic upstream's own type when the error
    carries it as its code (e.g. a mid-stream `overloaded_error`), else the one of its status."""
    if err.code in KNOWN_ERROR_TYPES:
        return err.code
    return error_type_for(err.status)


def stop_reason(finish_reason: Any, matched_stop: Any = None, native: Any = None) -> tuple[str, str | None]:
    """OpenAI finish_reason -> (Anthropic stop_reason, stop_sequence).

    `matched_stop` is `choices[].stop_reason` (vLLM's convention, also set by our Anthropic dialect):
    when it is a string, a stop sequence ended the turn. `native` is `choices[].native_finish_reason`
    (OpenRouter's field, also set by our Anthropic dialect): Anthropic's own reason where the
    finish_reason cannot say it (`NATIVE_STOP_REASONS`), taken only when it agrees with the
    finish_reason, so a reason the gateway's answer no longer has (or another API's) is not reported.
    """
    if isinstance(native, str) and native in NATIVE_STOP_REASONS and FINISH_REASONS[native] == finish_reason:
        return native, None
    if finish_reason == "stop" and isinstance(matched_stop, str) and matched_stop:
        return "stop_sequence", matched_stop
    if isinstance(finish_reason, str) and finish_reason in _STOP_REASONS:
        return _STOP_REASONS[finish_reason], None
    return "end_turn", None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def anthropic_usage(usage: Any) -> JSON:
    """An OpenAI `usage` object -> Anthropic usage counts.

    Anthropic's `input_tokens` excludes both cache reads and cache writes; OpenAI's `prompt_tokens`
    includes them. Cache reads are `prompt_tokens_details.cached_tokens`; cache writes are
    `prompt_tokens_details.cache_write_tokens` (what our Anthropic dialect and OpenRouter report) or
    a top-level `cache_creation_input_tokens` (LiteLLM's convention).
    """
    if not isinstance(usage, dict):
        usage = {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    read = _count(details.get("cached_tokens"))
    write = _count(details.get("cache_write_tokens")) or _count(usage.get("cache_creation_input_tokens"))
    out: JSON = {
        "input_tokens": max(_count(usage.get("prompt_tokens")) - read - write, 0),
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }
    long_writes = min(_count(details.get("cache_write_1h_tokens")), write)
    if long_writes:  # the writes by cache lifetime, as Anthropic reports them (known when 1-hour)
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": write - long_writes,
            "ephemeral_1h_input_tokens": long_writes,
        }
    return out


def sse(event: str, data: JSON) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _in_band_error(err: Any) -> tuple[str, str]:
    """(message, Anthropic type) of an in-band error object."""
    if not isinstance(err, dict):
        return str(err), "api_error"
    message = err.get("message")
    kind = next((k for k in (err.get("type"), err.get("code")) if k in KNOWN_ERROR_TYPES), "api_error")
    return str(message or "The upstream stream failed."), str(kind)


class MessagesStreamEncoder:
    """Re-encodes one OpenAI chunk stream as Anthropic Messages SSE events.

    Call `start()` first, `feed()` per chunk, then `finish()` (or `error()` on failure). Only the
    carried thinking blocks are forwarded, not `reasoning_content`: a thinking block without a
    signature could not be sent back to Anthropic. Only choice 0 is encoded. See the module doc for
    how tool calls and thinking blocks are ordered.
    """

    def __init__(self, model: str, message_id: str, input_tokens_estimate: int) -> None:
        self.model = model
        self.message_id = message_id
        self.input_tokens_estimate = input_tokens_estimate
        self._started = False
        self._done = False
        self._open: int | None = None  # index of the open content block
        self._open_kind: str | None = None
        self._next_index = 0
        self._live_tool: int | None = None  # OpenAI tool_calls index streaming in the open block
        self._tool_order: list[int] = []  # OpenAI tool_calls indexes in order of appearance
        self._held: list[JSON] = []  # blocks sent whole at the end: {"block": ..., "parts": [...]}
        self._held_tools: dict[int, JSON] = {}  # OpenAI tool_calls index -> its entry in _held
        self._live_thinking: int | None = None  # carried thinking block streaming in the open block
        self._thinking_seen: set[int] = set()  # carried thinking block indexes started or held
        self._held_thinking: dict[int, JSON] = {}  # carried thinking block index -> its entry in _held
        self._finish_reason: Any = None
        self._matched_stop: Any = None
        self._native_stop: Any = None
        self._usage: JSON | None = None

    @property
    def complete(self) -> bool:
        """A finish reason arrived: the stream may end normally."""
        return self._finish_reason is not None

    def start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: JSON = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens_estimate,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return sse("message_start", {"type": "message_start", "message": message}) + sse(
            "ping", {"type": "ping"}
        )

    def feed(self, chunk: JSON) -> bytes:
        if self._done:
            return b""
        if chunk.get("error") and not chunk.get("choices"):
            return self.error(*_in_band_error(chunk["error"]))
        out = bytearray(self.start())
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            for fragment in delta.get(THINKING_BLOCKS) or []:  # before the text: thinking leads
                if isinstance(fragment, dict):
                    out += self._thinking(fragment)
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                out += self._text(text)
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out += self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
                self._matched_stop = choice.get("stop_reason")
                self._native_stop = choice.get("native_finish_reason")
        return bytes(out)

    def finish(self, counted: JSON | None = None) -> bytes:
        """The closing events. `counted`: an OpenAI usage object for a stream whose upstream
        reported none (the gateway's own count)."""
        if self._done:
            return b""
        if not self.complete:
            return self.error(INCOMPLETE)
        out = bytearray(self.start())
        out += self._close()
        for held in self._held:
            out += self._send_whole(held)
        self._done = True
        reason, sequence = stop_reason(self._finish_reason, self._matched_stop, self._native_stop)
        # Cumulative totals: these replace message_start's estimate in SDK accumulators.
        reported = self._usage if self._usage is not None else counted
        usage = anthropic_usage(reported) if reported is not None else {"output_tokens": 0}
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        out += sse("message_stop", {"type": "message_stop"})
        return bytes(out)

    def error(self, message: str, type: str = "api_error") -> bytes:
        if self._done:
            return b""
        self._done = True
        return sse("error", {"type": "error", "error": {"type": type, "message": message}})

    # -- blocks ----------------------------------------------------------------------------------

    def _open_block(self, kind: str, block: JSON) -> bytes:
        out = self._close()
        self._open, self._open_kind = self._next_index, kind
        self._next_index += 1
        event = {"type": "content_block_start", "index": self._open, "content_block": block}
        return out + sse("content_block_start", event)

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open, self._open_kind = self._open, None, None
        self._live_thinking = None
        return sse("content_block_stop", {"type": "content_block_stop", "index": index})

    def _delta(self, delta: JSON) -> bytes:
        event = {"type": "content_block_delta", "index": self._open, "delta": delta}
        return sse("content_block_delta", event)

    def _send_whole(self, held: JSON) -> bytes:
        block: JSON = held["block"]
        out = self._open_block(block["type"], block)
        text = "".join(held["parts"])
        if block["type"] == "thinking":
            out += self._thinking_deltas({"thinking": text, "signature": held.get("signature")})
        elif text and block["type"] == "text":
            out += self._delta({"type": "text_delta", "text": text})
        elif text:
            out += self._delta({"type": "input_json_delta", "partial_json": text})
        return out + self._close()

    def _thinking(self, fragment: JSON) -> bytes:
        """A fragment of a carried thinking block (see `providers/thinking.py`)."""
        index = fragment.get("index")
        if not isinstance(index, int):
            return b""
        if index == self._live_thinking:
            return self._thinking_deltas(fragment)
        held = self._held_thinking.get(index)
        if held is not None:
            held["parts"].append(fragment.get("thinking") or "")
            held["signature"] = fragment.get("signature") or held["signature"]
            return b""
        block = _thinking_start(fragment)
        if index in self._thinking_seen or block is None:
            return b""  # a late fragment of a closed block, or no block at all
        self._thinking_seen.add(index)
        if self._live_tool is not None:  # after a tool call: held, as text is
            held = {"block": block, "parts": [fragment.get("thinking") or ""]}
            held["signature"] = fragment.get("signature") or ""
            self._held.append(held)
            self._held_thinking[index] = held
            return b""
        out = self._open_block(block["type"], block)
        if block["type"] == "thinking":
            self._live_thinking = index
            out += self._thinking_deltas(fragment)
        return out

    def _thinking_deltas(self, fragment: JSON) -> bytes:
        out = b""
        if isinstance(fragment.get("thinking"), str) and fragment["thinking"]:
            out += self._delta({"type": "thinking_delta", "thinking": fragment["thinking"]})
        if isinstance(fragment.get("signature"), str) and fragment["signature"]:
            out += self._delta({"type": "signature_delta", "signature": fragment["signature"]})
        return out

    def _text(self, text: str) -> bytes:
        if self._live_tool is not None:  # after a tool call: held, so the tool's block stays open
            if not self._held or self._held[-1]["block"]["type"] != "text":
                self._held.append({"block": {"type": "text", "text": ""}, "parts": []})
            self._held[-1]["parts"].append(text)
            return b""
        out = b""
        if self._open_kind != "text":
            out = self._open_block("text", {"type": "text", "text": ""})
        return out + self._delta({"type": "text_delta", "text": text})

    def _tool_call(self, call: JSON) -> bytes:
        index = call.get("index")
        if not isinstance(index, int):
            # Some servers omit `index`: a call with an id starts a new tool, else continue the last.
            order = self._tool_order
            index = len(order) if call.get("id") or not order else order[-1]
        fn = call.get("function") or {}
        arguments = fn.get("arguments")
        arguments = arguments if isinstance(arguments, str) else ""
        out = b""
        if index == self._live_tool:
            pass
        elif index in self._held_tools:
            held = self._held_tools[index]
            if not held["block"]["name"] and fn.get("name"):
                held["block"]["name"] = str(fn["name"])
            if arguments:
                held["parts"].append(arguments)
            return b""
        else:
            self._tool_order.append(index)
            tool_id = call.get("id") or f"toolu_{self.message_id.removeprefix('msg_')}_{index}"
            block = {"type": "tool_use", "id": str(tool_id), "name": str(fn.get("name") or ""), "input": {}}
            if self._live_tool is not None:  # another tool's block is open: send this one whole later
                held = {"block": block, "parts": [arguments] if arguments else []}
                self._held.append(held)
                self._held_tools[index] = held
                return b""
            self._live_tool = index
            out = self._open_block("tool_use", block)
        if not arguments:
            return out
        return out + self._delta({"type": "input_json_delta", "partial_json": arguments})


def _thinking_start(fragment: JSON) -> JSON | None:
    """The content_block_start block of a carried block's first fragment, as Anthropic sends it."""
    kind, data = fragment.get("type"), fragment.get("data")
    if kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    if kind == "redacted_thinking" and isinstance(data, str) and data:
        return {"type": "redacted_thinking", "data": data}
    return None


class AnthropicEncoder:
    """The relay's encoder for /v1/messages (`satisfice.server.relay.StreamEncoder`): OpenAI SSE
    events in, Anthropic SSE out. A stream that ended without a finish reason fails (`finish` raises),
    so the relay ends it with an error event and records the request as failed."""

    def __init__(self, model: str, message_id: str, input_tokens: int) -> None:
        self.inner = MessagesStreamEncoder(model, message_id, input_tokens)

    def start(self) -> bytes:
        return self.inner.start()

    def feed(self, event: bytes) -> bytes:
        return self.inner.feed(orjson.loads(event[6:]))  # strip "data: "

    def ensure_complete(self) -> None:
        if not self.inner.complete:
            raise UpstreamFailed(INCOMPLETE)

    def finish(self, counted: Usage | None) -> bytes:
        return self.inner.finish(counted.to_openai() if counted is not None else None)

    def error(self, err: GatewayError) -> bytes:
        return self.inner.error(err.message, error_type(err))
