"""OpenAI `chat.completion.chunk` stream -> Anthropic Messages SSE, for the gateway's /v1/messages."""

from __future__ import annotations

from typing import Any

import orjson

JSON = dict[str, Any]

_STOP_REASONS = {
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: Any, matched_stop: Any = None) -> tuple[str, str | None]:
    """OpenAI finish_reason -> (Anthropic stop_reason, stop_sequence).

    `matched_stop` is `choices[].stop_reason` (vLLM's convention, also set by our Anthropic dialect):
    when it is a string, a stop sequence ended the turn.
    """
    if finish_reason == "stop" and isinstance(matched_stop, str) and matched_stop:
        return "stop_sequence", matched_stop
    if isinstance(finish_reason, str) and finish_reason in _STOP_REASONS:
        return _STOP_REASONS[finish_reason], None
    return "end_turn", None


def sse(event: str, data: JSON) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessagesStreamEncoder:
    """Re-encodes one OpenAI chunk stream as Anthropic Messages SSE events.

    Call `start()` first, `feed()` per chunk, then `finish()` (or `error()` on failure). Reasoning
    deltas are not forwarded: a thinking block without a valid signature could not be sent back to
    Anthropic. Only choice 0 is encoded.
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
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool_calls index -> content block index
        self._finish_reason: Any = None
        self._matched_stop: Any = None
        self._usage: JSON | None = None

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
        out = bytearray(self.start())
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                out += self._text(text)
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out += self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
                self._matched_stop = choice.get("stop_reason")
        return bytes(out)

    def finish(self) -> bytes:
        if self._done:
            return b""
        out = bytearray(self.start())
        out += self._close()
        self._done = True
        reason, sequence = stop_reason(self._finish_reason, self._matched_stop)
        usage: JSON = {"output_tokens": 0}
        if self._usage is not None:
            details = self._usage.get("prompt_tokens_details") or {}
            cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
            # Cumulative totals: these replace message_start's estimate in SDK accumulators.
            usage = {
                "input_tokens": max(int(self._usage.get("prompt_tokens") or 0) - cached, 0),
                "output_tokens": int(self._usage.get("completion_tokens") or 0),
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": 0,
            }
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        out += sse("message_stop", {"type": "message_stop"})
        return bytes(out)

    def error(self, message: str, type: str = "api_error") -> bytes:
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
        return sse("content_block_stop", {"type": "content_block_stop", "index": index})

    def _text(self, text: str) -> bytes:
        out = b""
        if self._open is None or self._open_kind != "text":
            out = self._open_block("text", {"type": "text", "text": ""})
        event = {
            "type": "content_block_delta",
            "index": self._open,
            "delta": {"type": "text_delta", "text": text},
        }
        return out + sse("content_block_delta", event)

    def _tool_call(self, call: JSON) -> bytes:
        index = call.get("index")
        if not isinstance(index, int):
            # Some servers omit `index`: a call with an id starts a new tool, else continue the last.
            index = (
                len(self._tool_blocks) if call.get("id") or not self._tool_blocks else max(self._tool_blocks)
            )
        fn = call.get("function") or {}
        out = b""
        if index not in self._tool_blocks:
            tool_id = call.get("id") or f"toolu_{self.message_id.removeprefix('msg_')}_{index}"
            block = {"type": "tool_use", "id": str(tool_id), "name": str(fn.get("name") or ""), "input": {}}
            out = self._open_block("tool_use", block)
            self._tool_blocks[index] = self._next_index - 1
        arguments = fn.get("arguments")
        if not isinstance(arguments, str) or not arguments:
            return out
        # Deltas go to the tool's own block even if another block opened since (interleaved calls).
        delta = {"type": "input_json_delta", "partial_json": arguments}
        event = {"type": "content_block_delta", "index": self._tool_blocks[index], "delta": delta}
        return out + sse("content_block_delta", event)
