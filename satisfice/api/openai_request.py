"""Validation of an OpenAI chat-completions request: types and ranges of the fields we know,
with errors that name the parameter. Unknown fields pass through untouched (providers add their own)."""

from __future__ import annotations

from typing import Any

from satisfice.errors import InvalidRequest

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# OpenAI's ReasoningEffort enum (the spec's CreateChatCompletionRequest.reasoning_effort).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_NUMBER = (int, float)


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _type(body: dict[str, Any], key: str, kinds: type | tuple[type, ...], label: str) -> Any:
    val = body.get(key)
    if val is None:
        return None
    # bool is an int subclass in Python; JSON true is never a valid number here.
    if isinstance(val, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise InvalidRequest(
            f"Invalid type for '{key}': expected {label}, but got a boolean.", param=key, code="invalid_type"
        )
    if not isinstance(val, kinds):
        raise InvalidRequest(
            f"Invalid type for '{key}': expected {label}, but got {type(val).__name__}.",
            param=key,
            code="invalid_type",
        )
    return val


def _range(body: dict[str, Any], key: str, lo: float, hi: float) -> None:
    val = _type(body, key, _NUMBER, "a number")
    if val is not None and not lo <= val <= hi:
        raise _bad(key, f"Invalid value for '{key}': {val} is not between {lo:g} and {hi:g}.")


def _content(msg: dict[str, Any], where: str, role: str) -> None:
    content = msg.get("content")
    if content is None:
        if role in ("user", "system", "developer", "tool"):
            raise InvalidRequest(
                f"Missing required parameter: '{where}.content'.",
                param=f"{where}.content",
                code="missing_required_parameter",
            )
        if (
            role == "assistant"
            and not msg.get("tool_calls")
            and not msg.get("function_call")
            and not msg.get("refusal")
            and not msg.get("audio")
        ):
            raise InvalidRequest(
                f"'{where}.content' is required unless 'tool_calls' is given.",
                param=f"{where}.content",
                code="missing_required_parameter",
            )
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(
            f"Invalid type for '{where}.content': expected a string or an array of content parts.",
            param=f"{where}.content",
            code="invalid_type",
        )
    for j, part in enumerate(content):
        p = f"{where}.content[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(
                f"Invalid content part '{p}': expected an object with a 'type'.", param=p, code="invalid_type"
            )
        kind = part["type"]
        if kind == "text" and not isinstance(part.get("text"), str):
            raise InvalidRequest(
                f"Missing required parameter: '{p}.text'.",
                param=f"{p}.text",
                code="missing_required_parameter",
            )
        if kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or not url:
                raise InvalidRequest(
                    f"Missing required parameter: '{p}.image_url.url'.",
                    param=f"{p}.image_url.url",
                    code="missing_required_parameter",
                )


def _messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list):
        raise InvalidRequest(
            "Invalid type for 'messages': expected an array of messages.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        raise _bad("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1.")
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise InvalidRequest(
                f"Invalid type for '{where}': expected an object.", param=where, code="invalid_type"
            )
        role = msg.get("role")
        if role not in ROLES:
            raise _bad(
                f"{where}.role",
                f"Invalid value for '{where}.role': {role!r}. Supported values are: "
                + ", ".join(repr(r) for r in ROLES)
                + ".",
            )
        _content(msg, where, role)
        if role == "tool" and not isinstance(msg.get("tool_call_id"), str):
            raise InvalidRequest(
                f"Missing required parameter: '{where}.tool_call_id'.",
                param=f"{where}.tool_call_id",
                code="missing_required_parameter",
            )
        calls = msg.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise InvalidRequest(
                    f"Invalid type for '{where}.tool_calls': expected an array.",
                    param=f"{where}.tool_calls",
                    code="invalid_type",
                )
            for j, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise InvalidRequest(
                        f"Missing required parameter: '{where}.tool_calls[{j}].function.name'.",
                        param=f"{where}.tool_calls[{j}].function",
                        code="missing_required_parameter",
                    )


def _tools(body: dict[str, Any]) -> None:
    tools = _type(body, "tools", list, "an array")
    for i, tool in enumerate(tools or ()):
        if not isinstance(tool, dict):
            raise InvalidRequest(
                f"Invalid type for 'tools[{i}]': expected an object.",
                param=f"tools[{i}]",
                code="invalid_type",
            )
        if tool.get("type", "function") == "function":
            fn = tool.get("function")
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                raise InvalidRequest(
                    f"Missing required parameter: 'tools[{i}].function.name'.",
                    param=f"tools[{i}].function.name",
                    code="missing_required_parameter",
                )
    choice = body.get("tool_choice")
    if choice is not None:
        if isinstance(choice, str):
            if choice not in ("none", "auto", "required"):
                raise _bad(
                    "tool_choice",
                    f"Invalid value for 'tool_choice': {choice!r}. Supported values are: "
                    "'none', 'auto', 'required' or an object naming a function.",
                )
        elif not isinstance(choice, dict):
            raise InvalidRequest(
                "Invalid type for 'tool_choice': expected a string or an object.",
                param="tool_choice",
                code="invalid_type",
            )
        if choice not in (None, "none", "auto") and not tools:
            raise _bad("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.")


def _response_format(body: dict[str, Any]) -> None:
    rf = _type(body, "response_format", dict, "an object")
    if rf is None:
        return
    kind = rf.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise _bad(
            "response_format.type",
            f"Invalid value for 'response_format.type': {kind!r}. Supported values "
            "are: 'text', 'json_object' and 'json_schema'.",
        )
    if kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict) or not isinstance(js.get("name"), str):
            raise InvalidRequest(
                "Missing required parameter: 'response_format.json_schema.name'.",
                param="response_format.json_schema",
                code="missing_required_parameter",
            )


def check_model_name(model: str) -> None:
    """No model is named with a control character: "gpt-4o-mini\n" (a name read from a file) was
    sent upstream, billed, and then broke the response (the name is echoed in a header)."""
    if not model.isprintable():
        raise InvalidRequest(
            f"Invalid 'model': {model!r} contains a control character (a trailing newline?).",
            param="model",
            code="invalid_value",
        )


def validate_chat_request(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_type")
    model = body.get("model")
    if model is None:
        raise InvalidRequest(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(
            "Invalid type for 'model': expected a non-empty string.", param="model", code="invalid_type"
        )
    check_model_name(model)
    _messages(body)
    stream = _type(body, "stream", bool, "a boolean")
    opts = _type(body, "stream_options", dict, "an object")
    if opts is not None and not stream:
        raise _bad(
            "stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        )
    if opts is not None and not isinstance(opts.get("include_usage", False), bool):  # "no" read as yes
        raise InvalidRequest(
            "Invalid type for 'stream_options.include_usage': expected a boolean.",
            param="stream_options.include_usage",
            code="invalid_type",
        )
    _range(body, "temperature", 0, 2)
    _range(body, "top_p", 0, 1)
    _range(body, "presence_penalty", -2, 2)
    _range(body, "frequency_penalty", -2, 2)
    for key in ("n", "max_tokens", "max_completion_tokens", "top_logprobs", "seed"):
        val = _type(body, key, int, "an integer")
        if val is not None and key != "seed" and val < (0 if key == "top_logprobs" else 1):
            raise _bad(key, f"Invalid value for '{key}': {val} is below the minimum.")
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise InvalidRequest(
            "Invalid type for 'stop': expected a string or an array of strings.",
            param="stop",
            code="invalid_type",
        )
    _type(body, "logprobs", bool, "a boolean")
    _type(body, "user", str, "a string")
    _type(body, "logit_bias", dict, "an object")
    _type(body, "parallel_tool_calls", bool, "a boolean")
    effort = _type(body, "reasoning_effort", str, "a string")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise _bad(
            "reasoning_effort",
            f"Invalid value for 'reasoning_effort': {effort!r}. Supported values are: "
            + ", ".join(repr(e) for e in REASONING_EFFORTS)
            + ".",
        )
    _tools(body)
    _response_format(body)
    return body
