"""The gateway's own `POST /v1/messages` (Anthropic Messages API) translations.

Requests are turned into the internal OpenAI chat-completions shape, answers back into Anthropic
`message` objects (the stream encoder lives in `anthropic_messages_stream.py`).

Decisions a caller should know:

* `max_tokens` becomes OpenAI `max_tokens` (what every OpenAI-compatible server understands).
* `cache_control` hints are dropped: OpenAI-shaped upstreams reject unknown part fields.
* `thinking` / `redacted_thinking` blocks in assistant turns are dropped; the `thinking` request
  option is passed through as the key "thinking" for upstreams that understand it.
* A `tool_result` becomes a role "tool" message; `is_error` prefixes its text with "Error: ".
  Images inside a tool_result cannot ride on a tool message, so they are moved into the user
  message that follows the tool messages.
* `top_k` is dropped; server tools (web search, bash, ...) are rejected.
* Unparseable tool-call arguments in an answer become `input: {}` so the message stays valid; the
  client's tool call then fails validation and the model can retry.
"""

from __future__ import annotations

from typing import Any

import orjson

from satisfice.api.anthropic_messages_stream import MessagesStreamEncoder, stop_reason
from satisfice.errors import InvalidRequest

JSON = dict[str, Any]

__all__ = [
    "MessagesStreamEncoder",
    "anthropic_error_body",
    "messages_request_to_openai",
    "openai_response_to_messages",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def anthropic_error_body(status: int, message: str) -> JSON:
    """The Anthropic error body for an HTTP status."""
    kind = _ERROR_TYPES.get(status)
    if kind is None:
        kind = "api_error" if status >= 500 else "invalid_request_error"
    return {"type": "error", "error": {"type": kind, "message": message}}


# -- request ---------------------------------------------------------------------------------------


def messages_request_to_openai(body: Any) -> JSON:
    """Validate an Anthropic Messages request and return the equivalent OpenAI chat body."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
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

    out: JSON = {"model": model, "messages": messages, "max_tokens": max_tokens}
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
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if body.get("thinking") is not None:
        out["thinking"] = body["thinking"]
    return out


def _system_text(system: Any) -> str | None:
    if system is None:
        return None
    if isinstance(system, str):
        return system or None
    if not isinstance(system, list):
        raise InvalidRequest("'system' must be a string or a list of text blocks.", param="system")
    texts: list[str] = []
    for j, block in enumerate(system):
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            raise InvalidRequest("'system' blocks must be text blocks.", param=f"system[{j}]")
        texts.append(block["text"])
    return "\n\n".join(texts) or None


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
            parts.append({"type": "text", "text": _text(block, here)})
        elif kind == "image":
            parts.append(_image(block, here))
        elif kind == "document":
            parts.append(_document(block, here))
        elif kind == "tool_result":
            tool_messages.append(_tool_result(block, here, parts))
        elif kind == "tool_use":
            raise InvalidRequest("tool_use blocks belong in assistant messages.", param=f"{here}.type")
        else:
            raise InvalidRequest(f"Unsupported content block type {kind!r}.", param=f"{here}.type")
    if not parts:
        return tool_messages
    if len(parts) == 1 and parts[0]["type"] == "text":
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
    texts: list[str] = []
    tool_calls: list[JSON] = []
    for j, block in enumerate(content):
        here = f"{where}[{j}]"
        kind = _block_type(block, here)
        if kind == "text":
            texts.append(_text(block, here))
        elif kind == "tool_use":
            name, tool_id = block.get("name"), block.get("id")
            if not isinstance(name, str) or not isinstance(tool_id, str):
                raise InvalidRequest("A tool_use block needs string 'id' and 'name'.", param=here)
            tool_input = block.get("input", {})
            if not isinstance(tool_input, dict):
                raise InvalidRequest("tool_use input must be an object.", param=f"{here}.input")
            arguments = orjson.dumps(tool_input).decode()
            tool_calls.append(
                {"id": tool_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise InvalidRequest(
                f"Unsupported content block type {kind!r} in an assistant message.", param=f"{here}.type"
            )
    out: JSON = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        out["tool_calls"] = tool_calls
    elif out["content"] is None:
        out["content"] = ""
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
            tools.append({"type": "function", "function": fn})
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
    content: list[JSON] = []
    text = message.get("content")
    if isinstance(text, list):  # some servers answer with text parts
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    if not text and isinstance(message.get("refusal"), str):
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
    reason, sequence = stop_reason(choice.get("finish_reason"), choice.get("stop_reason"))
    usage = resp.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return {
        "id": message_id_from(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": {
            "input_tokens": max(int(usage.get("prompt_tokens") or 0) - cached, 0),
            "output_tokens": int(usage.get("completion_tokens") or 0),
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        },
    }
