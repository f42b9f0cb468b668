"""The gateway's own `POST /v1/messages` (Anthropic Messages API) translations.

Requests are turned into the internal OpenAI chat-completions shape, answers back into Anthropic
`message` objects (the stream encoder lives in `anthropic_messages_stream.py`).

Decisions a caller should know:

* `max_tokens` becomes OpenAI `max_tokens` (what every OpenAI-compatible server understands).
* Anthropic-only options ride in one private key of the OpenAI body (`MESSAGES_EXTRAS`): `thinking`,
  `top_k` and a top-level `cache_control`. The Anthropic dialect sends them all, the Gemini dialect
  sends `top_k` as `topK`, and the OpenAI/Azure dialects drop the key (OpenAI rejects unknown
  parameters), so a mixed route can pick any model.
* `cache_control` hints on system blocks, content blocks (text, image, document, tool_use,
  tool_result) and tools stay on the translated parts, messages and tools, where the Anthropic
  dialect keeps them; the OpenAI dialects strip them again (and send the shape they would have got
  without hints). A system prompt or message carrying hints is a list of text parts, not one string.
* `output_config.format` (structured outputs, JSON schema) becomes `response_format: json_schema`,
  so routes, constraints and verifiers see it. The Anthropic dialect enforces it again: as
  `output_config.format` for Claude models that take it, else as a forced tool call whose input
  comes back as the text (`providers/anthropic_request.py`).
* `output_config.effort` rides in `MESSAGES_EXTRAS` as "effort", which the Anthropic dialect sends
  as it is to the Claude models that take it (4.6 on) and drops for older ones; it also becomes
  `reasoning_effort`, the other dialects' nearest form of it.
* `thinking` / `redacted_thinking` blocks in assistant turns ride on the `thinking_blocks` carrier
  of `providers/thinking.py`: the Anthropic dialect sends them back unchanged (Anthropic requires
  that in a tool loop), the other dialects drop them. A block that is not complete (no signature,
  or a redacted block without data) is dropped, as Anthropic would refuse it. An answer's complete
  blocks come back first in its `content`.
* A `tool_result` becomes a role "tool" message; `is_error` prefixes its text with "Error: " (the
  form every upstream understands), and its id is listed in `MESSAGES_EXTRAS` as "tool_errors", so
  the Anthropic dialect sends the flag itself. Images inside a tool_result cannot ride on a tool
  message, so they are moved into the user message that follows the tool messages.
* Server tools (web search, bash, ...) are rejected.
* Unparseable tool-call arguments in an answer become `input: {}` so the message stays valid; the
  client's tool call then fails validation and the model can retry.
* `count_tokens` answers with an offline count (`satisfice/tokens.py`: tiktoken's o200k or cl100k
  encoding over the translated request). It is exact for no Anthropic model (their tokenizer is not
  available offline): an estimate, close for text, rough for images and tools. A model name that
  /v1/messages would answer 404 `not_found_error` (neither a route nor a model a configured
  provider serves) gets the same 404 (`server/chat.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from satisfice import tokens
from satisfice.api.anthropic_messages_stream import (
    AnthropicEncoder,
    MessagesStreamEncoder,
    anthropic_usage,
    error_type,
    error_type_for,
    stop_reason,
)
from satisfice.api.openai_request import validate_chat_request
from satisfice.errors import GatewayError, InvalidRequest
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS
from satisfice.providers.claude_models import EFFORTS
from satisfice.providers.failures import NOT_SENT
from satisfice.providers.thinking import THINKING_BLOCKS, carried, complete_block

if TYPE_CHECKING:
    from satisfice.routing.executor import Attempt

JSON = dict[str, Any]

__all__ = [
    "AnthropicEncoder",
    "MessagesStreamEncoder",
    "anthropic_error",
    "anthropic_error_body",
    "count_message_tokens",
    "count_tokens_request",
    "messages_request_to_openai",
    "openai_response_to_messages",
]

# Upstream statuses that mean "overloaded": Anthropic's 529, and the 503 of busy servers.
_OVERLOADED = frozenset({503, 529})
# Gateway errors that stand for failed upstream calls (see routing/executor.py `_final`).
_UPSTREAM_FAILURES = frozenset({"upstream_error", "all_candidates_failed"})


def anthropic_error_body(status: int, message: str, kind: str | None = None) -> JSON:
    """The Anthropic error body for an HTTP status (or an explicit error type)."""
    return {"type": "error", "error": {"type": kind or error_type_for(status), "message": message}}


def anthropic_error(
    err: GatewayError, attempts: Sequence[Attempt] = (), request_id: str = ""
) -> tuple[int, JSON]:
    """The HTTP status and Anthropic error body for a request that failed before answering.

    When every upstream call that was made failed as overloaded (HTTP 529 or 503), the request is
    answered 529 `overloaded_error`, as Anthropic itself does, so clients back off (the SDK raises
    OverloadedError) instead of seeing a generic 502. So is a request that found the gateway's own
    upstream connection pool full (`gateway_saturated`)."""
    made = [a for a in attempts if a.outcome not in NOT_SENT and a.outcome not in ("cancelled", "ok")]
    overloaded = err.code in _UPSTREAM_FAILURES and made and all(a.status in _OVERLOADED for a in made)
    if overloaded or err.code == "gateway_saturated":  # (the gateway's own pool stayed full: back off)
        status, body = 529, anthropic_error_body(529, err.message)
    else:
        status, body = err.status, anthropic_error_body(err.status, err.message, error_type(err))
    if request_id:  # as Anthropic's own error bodies carry it
        body["request_id"] = request_id
    return status, body


# -- request ---------------------------------------------------------------------------------------


# Anthropic-only request fields carried as they are to Anthropic upstreams (other upstreams have no
# such option; `inference_geo` makes a route skip them, see routing/constraints.py).
ANTHROPIC_FIELDS = ("service_tier", "inference_geo", "context_management", "container", "mcp_servers")


def messages_request_to_openai(body: Any, *, count_only: bool = False, betas: str | None = None) -> JSON:
    """Validate an Anthropic Messages request and return the equivalent OpenAI chat body.

    `count_only`: a `count_tokens` request, which has no `max_tokens`. `betas`: the client's
    `anthropic-beta` header, which reaches Anthropic upstreams."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model")
    max_tokens = body.get("max_tokens")
    if count_only and max_tokens is None:
        pass  # count_tokens takes no max_tokens
    elif isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequest("'max_tokens' is required and must be a positive integer.", param="max_tokens")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")

    messages: list[JSON] = []
    system = _system_text(body.get("system"))
    if system is not None:
        messages.append({"role": "system", "content": system})
    for i, msg in enumerate(raw_messages):
        messages.extend(_message(msg, f"messages[{i}]"))

    out: JSON = {"model": model, "messages": messages}
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidRequest(f"'{key}' must be a number.", param=key)
            out[key] = value
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidRequest("'stop_sequences' must be a list of strings.", param="stop_sequences")
        if stops:
            out["stop"] = list(stops)
    _tools(body, out)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    if body.get("stream") is True and not count_only:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    extras = _extras(body)
    _output_config(body, out, extras)
    fields = {k: body[k] for k in ANTHROPIC_FIELDS if body.get(k) is not None}
    if fields:
        extras["fields"] = fields
    named = [b.strip() for b in (betas or "").split(",") if b.strip()]
    if named:
        extras["betas"] = named
    failed = _tool_errors(raw_messages)
    if failed:
        extras["tool_errors"] = failed
    if _has_cache_hints(out):
        extras["cache_hints"] = True  # tells the OpenAI dialects to strip them
    if extras:
        out[MESSAGES_EXTRAS] = extras
    return out


def _extras(body: JSON) -> JSON:
    """The Anthropic-only options (see the module doc)."""
    extras: JSON = {}
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or not isinstance(thinking.get("type"), str):
            raise InvalidRequest("'thinking' must be an object with a 'type'.", param="thinking")
        extras["thinking"] = thinking
    top_k = body.get("top_k")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise InvalidRequest("'top_k' must be a non-negative integer.", param="top_k")
        extras["top_k"] = top_k
    cache_control = body.get("cache_control")
    if cache_control is not None:
        if not isinstance(cache_control, dict):
            raise InvalidRequest("'cache_control' must be an object.", param="cache_control")
        extras["cache_control"] = cache_control
    return extras


def _tool_errors(messages: list[Any]) -> list[str]:
    """The tool_use ids of the tool_results marked `is_error` (messages already validated)."""
    return [
        block["tool_use_id"]
        for msg in messages
        if isinstance(msg.get("content"), list)
        for block in msg["content"]
        if block.get("type") == "tool_result" and block.get("is_error") is True
    ]


def _output_config(body: JSON, out: JSON, extras: JSON) -> None:
    config = body.get("output_config")
    if config is None:
        return
    if not isinstance(config, dict):
        raise InvalidRequest("'output_config' must be an object.", param="output_config")
    effort = config.get("effort")
    if effort is not None:
        if effort not in EFFORTS:
            raise InvalidRequest(
                f"output_config.effort must be one of {', '.join(EFFORTS)}; got {effort!r}.",
                param="output_config.effort",
            )
        extras["effort"] = out["reasoning_effort"] = effort
    fmt = config.get("format")
    if fmt is None:
        return
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(schema, dict):
        raise InvalidRequest(
            "output_config.format must be {'type': 'json_schema', 'schema': {...}}.",
            param="output_config.format",
        )
    # Not "strict": OpenAI's strict mode refuses schemas with optional properties.
    out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}


def _has_cache_hints(out: JSON) -> bool:
    for msg in out["messages"]:
        if "cache_control" in msg:
            return True
        content = msg.get("content")
        if isinstance(content, list) and any("cache_control" in part for part in content):
            return True
        if any("cache_control" in call for call in msg.get("tool_calls") or ()):
            return True
    return any("cache_control" in tool for tool in out.get("tools") or ())


def _hinted(block: JSON, part: JSON) -> JSON:
    """`part` with the block's cache_control hint, if it has one."""
    hint = block.get("cache_control")
    if hint is not None:
        part["cache_control"] = hint
    return part


def count_tokens_request(body: Any) -> JSON:
    """The validated OpenAI chat body of a `count_tokens` request. Raises InvalidRequest as
    /v1/messages would for the same request."""
    return validate_chat_request(messages_request_to_openai(body, count_only=True))


def count_message_tokens(chat: JSON) -> int:
    """`POST /v1/messages/count_tokens`: an offline estimate of the input tokens of a request made
    by `count_tokens_request` (see the module doc)."""
    return tokens.count_prompt(chat, chat["model"])


def _system_text(system: Any) -> str | list[JSON] | None:
    """The system prompt: one string, or text parts when a block carries a cache_control hint."""
    if system is None:
        return None
    if isinstance(system, str):
        return system or None
    if not isinstance(system, list):
        raise InvalidRequest("'system' must be a string or a list of text blocks.", param="system")
    parts: list[JSON] = []
    for j, block in enumerate(system):
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            raise InvalidRequest("'system' blocks must be text blocks.", param=f"system[{j}]")
        parts.append(_hinted(block, {"type": "text", "text": block["text"]}))
    if any("cache_control" in p for p in parts):
        return parts
    return "\n\n".join(p["text"] for p in parts) or None


def _message(msg: Any, where: str) -> list[JSON]:
    if not isinstance(msg, dict):
        raise InvalidRequest("Each message must be an object.", param=where)
    role = msg.get("role")
    if role not in ("user", "assistant"):
        raise InvalidRequest("Message role must be 'user' or 'assistant'.", param=f"{where}.role")
    content = msg.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(
            "Message content must be a string or a list of blocks.", param=f"{where}.content"
        )
    if role == "assistant":
        return [_assistant(content, f"{where}.content")]
    return _user(content, f"{where}.content")


def _block_type(block: Any, here: str) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise InvalidRequest("Each content block must be an object with a 'type'.", param=f"{here}.type")
    return kind


def _text(block: JSON, here: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest("A text block needs a string 'text'.", param=f"{here}.text")
    return text


def _user(content: list[Any], where: str) -> list[JSON]:
    tool_messages: list[JSON] = []
    parts: list[JSON] = []
    for j, block in enumerate(content):
        here = f"{where}[{j}]"
        kind = _block_type(block, here)
        if kind == "text":
            parts.append(_hinted(block, {"type": "text", "text": _text(block, here)}))
        elif kind == "image":
            parts.append(_hinted(block, _image(block, here)))
        elif kind == "document":
            parts.append(_hinted(block, _document(block, here)))
        elif kind == "tool_result":
            tool_messages.append(_hinted(block, _tool_result(block, here, parts)))
        elif kind == "tool_use":
            raise InvalidRequest("tool_use blocks belong in assistant messages.", param=f"{here}.type")
        else:
            raise InvalidRequest(f"Unsupported content block type {kind!r}.", param=f"{here}.type")
    if not parts and not tool_messages:  # the client's turn says nothing: Anthropic refuses it too
        raise InvalidRequest("A user message must have non-empty content.", param=where)
    if not parts:
        return tool_messages
    if len(parts) == 1 and parts[0]["type"] == "text" and "cache_control" not in parts[0]:
        return [*tool_messages, {"role": "user", "content": parts[0]["text"]}]
    return [*tool_messages, {"role": "user", "content": parts}]


def _image(block: JSON, here: str) -> JSON:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not isinstance(data, str):
            raise InvalidRequest("A base64 image needs media_type and data.", param=f"{here}.source")
        return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}
    if kind == "url" and isinstance(source, dict) and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise InvalidRequest("Image source must be of type 'base64' or 'url'.", param=f"{here}.source.type")


def _document(block: JSON, here: str) -> JSON:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if isinstance(source, dict) and isinstance(source.get("data"), str):
        if kind == "text":
            return {"type": "text", "text": source["data"]}
        if kind == "base64" and source.get("media_type") == "application/pdf":
            title = block.get("title")
            filename = title if isinstance(title, str) and title else "document.pdf"
            data_url = f"data:application/pdf;base64,{source['data']}"
            return {"type": "file", "file": {"filename": filename, "file_data": data_url}}
    raise InvalidRequest(
        "Only base64 PDF and plain-text document sources are supported.", param=f"{here}.source.type"
    )


def _tool_result(block: JSON, here: str, parts: list[JSON]) -> JSON:
    """A role "tool" message; images in the result are appended to `parts` (see module doc)."""
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise InvalidRequest("A tool_result needs a 'tool_use_id'.", param=f"{here}.tool_use_id")
    content = block.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, inner in enumerate(content):
            inner_here = f"{here}.content[{k}]"
            kind = _block_type(inner, inner_here)
            if kind == "text":
                texts.append(_text(inner, inner_here))
            elif kind == "image":
                parts.append(_image(inner, inner_here))
            else:
                raise InvalidRequest(
                    f"Unsupported tool_result content type {kind!r}.", param=f"{inner_here}.type"
                )
    elif content is not None:
        raise InvalidRequest("tool_result content must be a string or a list.", param=f"{here}.content")
    text = "\n".join(texts)
    if block.get("is_error") is True and not text.startswith("Error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}


def _assistant(content: list[Any], where: str) -> JSON:
    texts: list[JSON] = []
    tool_calls: list[JSON] = []
    thinking: list[JSON] = []
    for j, block in enumerate(content):
        here = f"{where}[{j}]"
        kind = _block_type(block, here)
        if kind == "text":
            texts.append(_hinted(block, {"type": "text", "text": _text(block, here)}))
        elif kind == "tool_use":
            name, tool_id = block.get("name"), block.get("id")
            if not isinstance(name, str) or not isinstance(tool_id, str):
                raise InvalidRequest("A tool_use block needs string 'id' and 'name'.", param=here)
            tool_input = block.get("input", {})
            if not isinstance(tool_input, dict):
                raise InvalidRequest("tool_use input must be an object.", param=f"{here}.input")
            arguments = orjson.dumps(tool_input).decode()
            fn = {"name": name, "arguments": arguments}
            tool_calls.append(_hinted(block, {"id": tool_id, "type": "function", "function": fn}))
        elif kind in ("thinking", "redacted_thinking"):
            whole = complete_block(block)
            if whole is not None:
                thinking.append(whole)
        else:
            raise InvalidRequest(
                f"Unsupported content block type {kind!r} in an assistant message.", param=f"{here}.type"
            )
    out: JSON = {"role": "assistant", "content": "".join(t["text"] for t in texts) if texts else None}
    if any("cache_control" in t for t in texts):
        out["content"] = texts
    if tool_calls:
        out["tool_calls"] = tool_calls
    elif out["content"] is None:
        out["content"] = ""
    if thinking:
        out[THINKING_BLOCKS] = thinking
    return out


def _tools(body: JSON, out: JSON) -> None:
    raw_tools = body.get("tools")
    if raw_tools is not None:
        if not isinstance(raw_tools, list):
            raise InvalidRequest("'tools' must be a list.", param="tools")
        tools: list[JSON] = []
        for i, tool in enumerate(raw_tools):
            here = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise InvalidRequest("Each tool must be an object.", param=here)
            if tool.get("type") not in (None, "custom"):
                raise InvalidRequest(
                    f"Server tool {tool.get('type')!r} is not supported.", param=f"{here}.type"
                )
            name, schema = tool.get("name"), tool.get("input_schema")
            if not isinstance(name, str) or not name:
                raise InvalidRequest("A tool needs a 'name'.", param=f"{here}.name")
            if not isinstance(schema, dict):
                raise InvalidRequest("A tool needs an 'input_schema' object.", param=f"{here}.input_schema")
            fn: JSON = {"name": name, "parameters": schema}
            if isinstance(tool.get("description"), str):
                fn["description"] = tool["description"]
            if isinstance(tool.get("strict"), bool):  # schema-exact arguments: OpenAI's field too
                fn["strict"] = tool["strict"]
            tools.append(_hinted(tool, {"type": "function", "function": fn}))
        if tools:
            out["tools"] = tools
    choice = body.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice, dict) and isinstance(choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise InvalidRequest(
            "tool_choice type must be auto, any, tool (with name) or none.", param="tool_choice"
        )
    if "tools" not in out:
        # OpenAI rejects tool_choice / parallel_tool_calls without tools; without tools they mean nothing.
        del out["tool_choice"]
    elif isinstance(choice, dict) and choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False


# -- response --------------------------------------------------------------------------------------


def message_id_from(openai_id: Any) -> str:
    """An Anthropic-looking id for an OpenAI completion id (round-trips ids from the Anthropic dialect)."""
    raw = str(openai_id or "").removeprefix("chatcmpl-")
    return raw if raw.startswith("msg_") else f"msg_{raw}"


def openai_response_to_messages(resp: JSON, *, model: str) -> JSON:
    """An OpenAI `chat.completion` dict -> an Anthropic `message` reporting `model`."""
    choices = resp.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[JSON] = carried(message)  # thinking first, as Anthropic answers
    text = message.get("content")
    if isinstance(text, list):  # some servers answer with text parts
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    refused = not text and isinstance(message.get("refusal"), str) and bool(message["refusal"])
    if refused:  # OpenAI's structured-output refusal: Anthropic's is a stop reason
        text = message["refusal"]
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        try:
            tool_input = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            tool_input = {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or ""),
                "name": str(fn.get("name") or ""),
                "input": tool_input if isinstance(tool_input, dict) else {},
            }
        )
    reason, sequence = stop_reason(
        choice.get("finish_reason"), choice.get("stop_reason"), choice.get("native_finish_reason")
    )
    if refused:
        reason, sequence = "refusal", None
    return {
        "id": message_id_from(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": anthropic_usage(resp.get("usage")),
    }
