"""The Anthropic Messages API dialect (api.anthropic.com/v1/messages and compatible hosts).

Request translation lives in `anthropic_request.py` (read its docstring for what is dropped or
emulated, e.g. `response_format`), stream translation in `anthropic_stream.py`.

A tool_use of `SCHEMA_TOOL` (the forced call that carries a `json_schema` answer) is the answer
itself: its input, as JSON text, is the message `content` (text besides it, which Anthropic does
not send before a forced call, would break the JSON and is dropped), it is no tool call, and the
finish_reason is "stop" ("length" when max_tokens cut the answer).

Response decisions: `thinking` blocks are not part of `content`; their text is returned as
`message.reasoning_content` (the de facto field of OpenAI-compatible servers), and the whole
`thinking` / `redacted_thinking` blocks as `message.thinking_blocks` (LiteLLM's field, the carrier
of `thinking.py`), which a client sends back to continue a tool loop with thinking on. Server-tool
blocks are dropped. When a stop sequence ended the turn, the
matched string is reported as `choices[0].stop_reason` (vLLM's convention) so the /v1/messages
endpoint can restore Anthropic's `stop_sequence`; a stop reason OpenAI's finish_reason cannot say
(`model_context_window_exceeded`, which reads "length") rides along as `native_finish_reason`
(`NATIVE_STOP_REASONS` in anthropic_stream.py).
"""

from __future__ import annotations

import re
import time

import orjson

from satisfice.errors import UpstreamFailed
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS, SCHEMA_TOOL, openai_to_anthropic
from satisfice.providers.anthropic_stream import (
    AnthropicStreamTranslator,
    carry_stop_reason,
    finish_reason,
    openai_usage,
    usage_from_anthropic,
)
from satisfice.providers.base import JSON, Deployment, ErrorInfo, UpstreamRequest, upstream_url
from satisfice.providers.thinking import THINKING_BLOCKS, complete_block

API_VERSION = "2023-06-01"
# The API version from which Anthropic refuses temperature, top_p and top_k on every model (any
# value); a deployment may be configured to send it (`anthropic_version`, or the header itself).
SAMPLING_REMOVED_VERSION = "2026-10-21"

# Anthropic phrasings seen for over-long prompts, e.g. "prompt is too long: 208310 tokens > 200000
# maximum" and "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000".
_CONTEXT_RE = re.compile(
    r"prompt is too long|exceed(?:s|ed)? (?:the )?context (?:limit|window)|context window|context length",
    re.IGNORECASE,
)


class AnthropicDialect:
    name = "anthropic"

    def build_chat(self, dep: Deployment, body: JSON, *, stream: bool) -> UpstreamRequest:
        payload = openai_to_anthropic(
            body, model=dep.upstream_model, stream=stream, max_output=dep.max_output
        )
        headers = {
            "content-type": "application/json",
            "anthropic-version": dep.option("anthropic_version", API_VERSION) or API_VERSION,
        }
        if dep.api_key:
            headers["x-api-key"] = dep.api_key
        if stream:
            headers["accept"] = "text/event-stream"
        # Configured headers last, so config can add e.g. anthropic-beta or override the version.
        headers.update(dict(dep.headers))
        extras = body.get(MESSAGES_EXTRAS)
        betas = extras.get("betas") if isinstance(extras, dict) else None
        if isinstance(betas, list) and betas:  # a /v1/messages client's, beside the config's
            configured = [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
            headers["anthropic-beta"] = ",".join(dict.fromkeys([*configured, *map(str, betas)]))
        if headers.get("anthropic-version", API_VERSION) >= SAMPLING_REMOVED_VERSION:  # ISO dates
            for key in ("temperature", "top_p", "top_k"):
                payload.pop(key, None)
        return UpstreamRequest("POST", upstream_url(dep, "/messages"), headers, orjson.dumps(payload), dep)

    def parse_chat(self, dep: Deployment, raw: bytes) -> JSON:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamFailed("Anthropic returned a response that is not JSON.") from exc
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
            raise UpstreamFailed("Anthropic returned a response without content.")
        return message_to_openai(msg, model=dep.model)

    def stream_translator(self, dep: Deployment) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(dep.model)

    def error_info(self, status: int, raw: bytes) -> ErrorInfo:
        message: str | None = None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            err = obj.get("error")
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                message = err["message"]
            elif isinstance(obj.get("message"), str):
                message = obj["message"]
        if message is None:
            # Proxies and load balancers answer with HTML or plain text.
            text = raw.decode("utf-8", errors="replace").strip()
            message = text[:500] if text else f"Anthropic returned HTTP {status}."
        return ErrorInfo(message=message, context_window_exceeded=bool(_CONTEXT_RE.search(message)))


def message_to_openai(msg: JSON, *, model: str) -> JSON:
    """An Anthropic `message` object -> an OpenAI `chat.completion` dict reporting `model`."""
    texts: list[str] = []
    thinking: list[str] = []
    carried: list[JSON] = []
    tool_calls: list[JSON] = []
    answer: str | None = None  # the input of the schema tool's call (see the module doc)
    for block in msg["content"]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        whole = complete_block(block)
        if whole is not None:
            carried.append(whole)
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thinking.append(str(block.get("thinking") or ""))
        elif kind == "tool_use" and block.get("name") == SCHEMA_TOOL:
            answer = orjson.dumps(block.get("input", {})).decode()
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    content = answer if answer is not None else "".join(texts) if texts else None
    message: JSON = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if carried:
        message[THINKING_BLOCKS] = carried
    choice: JSON = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(msg.get("stop_reason"), answered=answer is not None),
    }
    carry_stop_reason(choice, msg.get("stop_reason"), msg.get("stop_sequence"))
    out: JSON = {
        "id": "chatcmpl-" + str(msg.get("id") or ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }
    if isinstance(msg.get("usage"), dict):  # else unknown: the gateway counts the tokens itself
        out["usage"] = openai_usage(usage_from_anthropic(msg["usage"]))
    return out


ANTHROPIC = AnthropicDialect()
