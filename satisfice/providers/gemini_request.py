"""OpenAI chat-completions request body → Gemini `GenerateContentRequest` body (pure translation).

`reasoning_effort` sets `generationConfig.thinkingConfig` when the upstream model thinks (a model
without thinking refuses a thinkingConfig, so for it the field is dropped):

* Gemini 2.5 Pro, Flash and Flash-Lite take `thinkingBudget`: low 1024, medium 8192, high 16384,
  xhigh and max the model's largest (32768 Pro, 24576 Flash and Flash-Lite). "none" and
  "minimal" turn thinking off (0) where the model allows it, and give Pro its smallest budget
  (128), as Pro cannot stop thinking.
* Thinking counts in `maxOutputTokens`: a client's `max_completion_tokens` / `max_tokens` stays
  the cap (as in OpenAI's API) and the budget shrinks to at most half of it, so the answer keeps
  the other half; below the model's smallest budget thinking is off (Pro: its smallest budget).
* Gemini 3 and later take `thinkingLevel` (Google's thinking page, 2026-11): "low", "medium" and
  "high" on every one of them, and "minimal" (as near to no thinking as they go: none of them can
  stop) on Gemini 3 Flash, 3.5 Flash-Lite and 3.6 Flash. "none" and "minimal" send "minimal" where
  it is taken, else "low"; "low" and "medium" go as they are; "high", "xhigh" and "max" send
  "high". Their sampling parameters (temperature, topP, topK, penalties) are deprecated since
  2026-07 and not sent.

`presence_penalty` and `frequency_penalty` go to Gemini 2.0 only: Gemini 2.5 refuses a non-zero
penalty with a 400 ("Penalty is not enabled for models/gemini-2.5-flash"), and, as best-effort
fields, they are dropped rather than fail the request.

Function-call ids: an assistant tool call's id goes back as `functionCall.id`, and a tool result
that names that call (its `tool_call_id`) carries it as `functionResponse.id`. Gemini's own ids
come back this way, as its API asks of a call that had one (the response dialect makes Gemini's id
the OpenAI tool_call id). The field is an optional, client-populated string on both parts in the
Developer API (v1beta), so ids Gemini did not issue (invented ones, another model's history) are
sent too: the two ids of a pair always agree. A tool result that matches no earlier call by id but
names its function still pairs by name, without an id. (Vertex AI's API rejects the field; this
dialect speaks the Developer API.)
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any
from urllib.parse import urlsplit

import orjson

from satisfice.errors import InvalidRequest
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS
from satisfice.providers.gemini_schema import ordered_properties, sanitize_schema

JSON = dict[str, Any]

# Gemini 3 rejects a replayed functionCall without its thought signature; when the client did not
# keep one (history from another model, or a client dropping `extra_content`), Google documents this
# value as the way to skip that check.
SKIP_SIGNATURE = "skip_thought_signature_validator"

# Explicit table first: the platform mimetypes database differs between hosts (e.g. webp, heic).
_MIME_BY_EXT = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
}

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}

# reasoning_effort -> thinkingBudget on Gemini 2.5 (see the module doc; xhigh/max: the model's largest).
THINKING_BUDGETS = {"low": 1024, "medium": 8192, "high": 16384}
_NO_THINKING = ("none", "minimal")
_LARGEST = ("xhigh", "max")
# Gemini 2.5 kind -> (smallest budget but 0, largest budget, whether 0 turns thinking off).
_BUDGET_RANGES = {"pro": (128, 32768, False), "flash": (1, 24576, True), "flash-lite": (512, 24576, True)}
_GEMINI_25 = re.compile(r"gemini-2\.5-(flash-lite|flash|pro)")
_LEVELLED = re.compile(r"gemini-(?:[3-9]|\d{2,})(?:\.\d+)?-")  # Gemini 3 and later: thinkingLevel
_MINIMAL_LEVEL = re.compile(r"gemini-3(?:\.[56])?-flash")  # those that also take "minimal"
# Variants that are not thinking chat models (image output, speech, live audio).
_NOT_THINKING = ("image", "tts", "audio", "live")
_EFFORTS = frozenset({*THINKING_BUDGETS, *_NO_THINKING, *_LARGEST})
_SAMPLING = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty"})
_PENALTIES = frozenset({"presence_penalty", "frequency_penalty"})
# The models that take penalties: Gemini 2.0. Gemini 2.5 answers 400 "Penalty is not enabled for
# models/gemini-2.5-flash" to a non-zero one, and 3 and later refuse or deprecate them.
_TAKES_PENALTIES = re.compile(r"gemini-2\.0-")


def build_body(body: JSON, *, model: str) -> JSON:
    """The Gemini request body for an OpenAI chat-completions `body` (which is not mutated);
    `model` is the upstream model id, which decides how `reasoning_effort` is sent."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("'messages' must be an array", param="messages")
    system, contents = _contents(messages)
    if not contents:
        # Gemini answers a request without contents with a 400; saying so here lets a route try
        # a candidate that takes it, and tells the client which field is at fault.
        raise InvalidRequest(
            "At least one user or assistant message with content is required.", param="messages"
        )
    out: JSON = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools, allowed = _tools(body.get("tools"), body.get("tool_choice"))
    if tools:  # without tools, a tool_choice has nothing to steer and Gemini would reject toolConfig
        out["tools"] = [{"functionDeclarations": tools}]
        tool_config = _tool_config(body.get("tool_choice"), allowed)
        if tool_config:
            out["toolConfig"] = tool_config
    config = _generation_config(body, model)
    thinking = _thinking_config(body.get("reasoning_effort"), model, config.get("maxOutputTokens"))
    if thinking is not None:
        config["thinkingConfig"] = thinking
    if config:
        out["generationConfig"] = config
    return out


# ----------------------------------------------------------------------------- messages


def _contents(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    system: list[JSON] = []
    contents: list[JSON] = []
    call_names: dict[str, str] = {}  # tool_call id → function name, for the functionResponse parts
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = msg.get("role")
        param = f"messages[{i}].content"
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(msg.get("content"), param) if t)
            continue
        if role == "user":
            gemini_role, parts = "user", _user_parts(msg.get("content"), param)
        elif role == "assistant":
            gemini_role, parts = "model", _assistant_parts(msg, i, call_names)
        elif role == "tool":
            gemini_role, parts = "user", [_tool_part(msg, i, call_names)]
        else:
            raise InvalidRequest(f"messages[{i}].role {role!r} is not supported", param=f"messages[{i}].role")
        if not parts:
            continue  # Gemini rejects a turn without parts (e.g. an empty assistant message)
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)  # Gemini wants user and model turns to alternate
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return system, contents


def _texts(content: Any, param: str) -> list[str]:
    """Text of a string-or-parts content that may hold text (and refusal) parts only."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise InvalidRequest(f"'{param}' must be a string or an array of parts", param=param)
    out: list[str] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("text", "refusal"):
            text = part.get(part["type"])
            if isinstance(text, str):
                out.append(text)
                continue
        raise InvalidRequest(f"'{param}' may only hold text parts here", param=param)
    return out


def _user_parts(content: Any, param: str) -> list[JSON]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"'{param}' must be a string or an array of parts", param=param)
    parts: list[JSON] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise InvalidRequest(f"'{param}': image_url needs a url", param=param)
            parts.append(_media_part(url, param))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            mime = "audio/mp3" if audio.get("format") == "mp3" else "audio/wav"
            parts.append({"inlineData": {"mimeType": mime, "data": audio.get("data", "")}})
        elif kind == "file" and isinstance(part.get("file"), dict):
            data = part["file"].get("file_data")
            if not isinstance(data, str) or not data.startswith("data:"):
                raise InvalidRequest(
                    f"'{param}': only inline file_data (a data: URL) is supported", param=param
                )
            parts.append(_media_part(data, param))
        else:
            raise InvalidRequest(f"'{param}': content part type {kind!r} is not supported", param=param)
    return parts


def _media_part(url: str, param: str) -> JSON:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise InvalidRequest(f"'{param}': data URLs must be base64-encoded", param=param)
        return {"inlineData": {"mimeType": mime or "application/octet-stream", "data": data}}
    if url.startswith(("http://", "https://")):
        return {"fileData": {"mimeType": _guess_mime(url), "fileUri": url}}
    raise InvalidRequest(f"'{param}': image URLs must be http(s) or data: URLs", param=param)


def _guess_mime(url: str) -> str:
    path = urlsplit(url).path.lower()
    ext = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
    return _MIME_BY_EXT.get(ext) or mimetypes.guess_type(path)[0] or "image/jpeg"


def _assistant_parts(msg: JSON, i: int, call_names: dict[str, str]) -> list[JSON]:
    parts: list[JSON] = [{"text": t} for t in _texts(msg.get("content"), f"messages[{i}].content") if t]
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InvalidRequest(f"messages[{i}].tool_calls must be an array", param=f"messages[{i}].tool_calls")
    for j, call in enumerate(calls):
        param = f"messages[{i}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest(f"'{param}' must be a function call with a name", param=param)
        args = _parse_arguments(fn.get("arguments"), f"{param}.function.arguments")
        function_call: JSON = {"name": fn["name"], "args": args}
        call_id = call.get("id")
        if isinstance(call_id, str):
            call_names[call_id] = fn["name"]
            if call_id:
                function_call["id"] = call_id  # Gemini's own id when it issued one (see the module doc)
        part: JSON = {"functionCall": function_call}
        signature = _signature(call)
        if signature is None and j == 0:
            signature = SKIP_SIGNATURE  # only the first call of a turn carries a signature
        if signature is not None:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _parse_arguments(raw: Any, param: str) -> JSON:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"'{param}' is not valid JSON", param=param) from None
    if not isinstance(args, dict):
        raise InvalidRequest(f"'{param}' must be a JSON object", param=param)
    return args


def _signature(call: JSON) -> str | None:
    """The thought signature this dialect put in `extra_content` when it returned the call."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    sig = google.get("thought_signature") if isinstance(google, dict) else None
    return sig if isinstance(sig, str) and sig else None


def _tool_part(msg: JSON, i: int, call_names: dict[str, str]) -> JSON:
    call_id = msg.get("tool_call_id")
    matched = call_names.get(call_id) if isinstance(call_id, str) else None
    name = matched or (msg.get("name") if isinstance(msg.get("name"), str) else None)
    if name is None:
        raise InvalidRequest(
            f"messages[{i}]: tool_call_id {call_id!r} matches no earlier assistant tool call",
            param=f"messages[{i}].tool_call_id",
        )
    text = "".join(_texts(msg.get("content"), f"messages[{i}].content"))
    try:
        parsed = orjson.loads(text) if text.strip() else None
    except orjson.JSONDecodeError:
        parsed = None
    # functionResponse.response must be a JSON object.
    response = parsed if isinstance(parsed, dict) else {"content": text}
    function_response: JSON = {"name": name, "response": response}
    if matched is not None and call_id:
        function_response["id"] = call_id  # the id its functionCall went with; none when paired by name
    return {"functionResponse": function_response}


# ----------------------------------------------------------------------------- tools


def _tools(tools: Any, tool_choice: Any) -> tuple[list[JSON], list[str] | None]:
    if not tools:
        return [], None
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    allowed = _allowed_names(tool_choice)
    out: list[JSON] = []
    for k, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest(f"tools[{k}]: only function tools are supported", param=f"tools[{k}]")
        if allowed is not None and fn["name"] not in allowed:
            continue
        decl: JSON = {"name": fn["name"]}
        if isinstance(fn.get("description"), str):
            decl["description"] = fn["description"]
        params = sanitize_schema(fn.get("parameters"))
        # Gemini rejects an OBJECT with no properties; a function without arguments omits the schema.
        if params and not (params.get("type") == "object" and not params.get("properties")):
            decl["parameters"] = params
        out.append(decl)
    spec = tool_choice.get("allowed_tools") if isinstance(tool_choice, dict) else None
    if allowed is not None and not out and isinstance(spec, dict) and spec.get("mode") == "required":
        # As for Claude: a call is required, and none of the request's tools may be called.
        raise InvalidRequest(
            "tool_choice allowed_tools with mode 'required' names none of the request's tools",
            param="tool_choice",
        )
    return out, allowed


def _allowed_names(tool_choice: Any) -> list[str] | None:
    if not isinstance(tool_choice, dict) or tool_choice.get("type") != "allowed_tools":
        return None
    spec = tool_choice.get("allowed_tools")
    listed = spec.get("tools") if isinstance(spec, dict) else None
    names = [
        t["function"]["name"]
        for t in listed or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    return [n for n in names if isinstance(n, str)]


def _tool_config(tool_choice: Any, allowed: list[str] | None) -> JSON | None:
    if tool_choice is None:
        return None
    if isinstance(tool_choice, str) and tool_choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[tool_choice]}}
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function")
        if tool_choice.get("type") == "function" and isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [fn["name"]]}}
        if tool_choice.get("type") == "allowed_tools" and allowed is not None:
            spec = tool_choice.get("allowed_tools")
            if isinstance(spec, dict) and spec.get("mode") == "required":
                return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": allowed}}
            return {"functionCallingConfig": {"mode": "AUTO"}}  # the declarations are already filtered
    raise InvalidRequest("'tool_choice' is not supported by this model", param="tool_choice")


# ----------------------------------------------------------------------------- generation config


def _generation_config(body: JSON, model: str) -> JSON:
    config: JSON = {}
    # Gemini 3 and later: sampling parameters are deprecated (Google's changelog, 2026-07; below
    # temperature 1.0 the models may loop, and 3.6 Flash refuses penalties), so they are dropped;
    # penalties go to Gemini 2.0 only (see the module doc).
    sampling = _LEVELLED.search(model.lower()) is None
    penalties = _TAKES_PENALTIES.search(model.lower()) is not None
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if src in _PENALTIES and not penalties:
            continue  # best-effort: dropped where refused
        if body.get(src) is not None and (sampling or src not in _SAMPLING):
            config[dst] = body[src]
    # top_k: from the /v1/messages translation (Anthropic's option), or an OpenAI-shaped extra.
    extras = body.get(MESSAGES_EXTRAS)
    top_k = extras.get("top_k") if isinstance(extras, dict) else None
    top_k = body.get("top_k") if top_k is None else top_k
    if isinstance(top_k, int) and not isinstance(top_k, bool) and sampling:
        config["topK"] = top_k
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = stop
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs") is not None:
            config["logprobs"] = body["top_logprobs"]
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = spec.get("schema") if isinstance(spec, dict) else None
        config["responseMimeType"] = "application/json"
        if isinstance(schema, dict):
            config["responseSchema"] = ordered_properties(sanitize_schema(schema))
    elif kind not in (None, "text"):
        raise InvalidRequest(f"response_format type {kind!r} is not supported", param="response_format")
    return config


def _thinking_config(effort: Any, model: str, max_output: Any) -> JSON | None:
    """The thinkingConfig for a reasoning_effort on this upstream model (see the module doc)."""
    if not isinstance(effort, str) or effort not in _EFFORTS:
        return None
    name = model.lower()
    if any(word in name for word in _NOT_THINKING):
        return None
    if _LEVELLED.search(name):
        if effort in _NO_THINKING:
            return {"thinkingLevel": "minimal" if _MINIMAL_LEVEL.search(name) else "low"}
        return {"thinkingLevel": effort if effort in ("low", "medium") else "high"}
    found = _GEMINI_25.search(name)
    if found is None:
        return None  # 2.0 and older refuse a thinkingConfig; newer families are not known here
    smallest, largest, can_stop = _BUDGET_RANGES[found.group(1)]
    if effort in _NO_THINKING:
        return {"thinkingBudget": 0 if can_stop else smallest}
    budget = largest if effort in _LARGEST else min(THINKING_BUDGETS[effort], largest)
    if isinstance(max_output, int) and not isinstance(max_output, bool):
        budget = min(budget, max_output // 2)  # the client's cap holds; the answer keeps half
        if budget < smallest:
            budget = 0 if can_stop else smallest
    return {"thinkingBudget": budget}
