"""What the fake upstream answers: the behaviour a model name asks for, the deterministic answer,
and the response / stream / error shapes each provider really sends. No I/O here.

OpenAI answers honour `n` (one choice each; "refuse1", "empty1", "badjson1" and "badargs1" in the model
name spoil choices 1 and up, choice 0 staying fine), legacy `functions` (a `function_call` answer),
`modalities` with audio (a spoken answer: `message.audio`, its transcript the text) and `logprobs`."""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import re
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

Provider = Literal["openai", "anthropic", "gemini"]
JSON = dict[str, Any]

_NUM_TOKEN = re.compile(
    r"^(slow|chunkdelay|ratelimit|flaky|cut|slowstream|echokey|errorafter|endafter|overloadafter)-(\d+)$"
)
# slowafter-N-MS: the first N requests for this model name are fast, later ones wait MS (latency hedges)
_SLOW_AFTER = re.compile(r"^slowafter-(\d+)-(\d+)$")
# stallat-N-MS: a stream waits MS before its event N (0-based; event 0 is the role chunk)
_STALL_AT = re.compile(r"^stallat-(\d+)-(\d+)$")
_NUM_FIELDS = {"slow": "slow_ms", "chunkdelay": "chunkdelay_ms", "slowstream": "slowstream_ms"}
_NUM_FIELDS.update(ratelimit="retry_after", flaky="flaky", cut="cut", echokey="echo_key")
_NUM_FIELDS.update(errorafter="error_after", endafter="end_after", overloadafter="overload_after")
# Hostile upstreams (tests/test_hostile_upstream.py), "<name>-N": see their Behaviour fields.
_HOSTILE = re.compile(r"^(bigline|trickle|badutf8|notjson|bigbody)-(\d+)$")
# endwith-REASON: an Anthropic answer ends with this stop_reason ("endwith-model_context_window_exceeded")
_END_WITH = re.compile(r"^endwith-([a-z_]+)$")


@dataclass
class Behaviour:
    """Parsed from a model name such as "slow-200+cut-3"; unknown tokens mean "answer normally"."""

    slow_ms: int = 0
    chunkdelay_ms: int = 0
    slowstream_ms: int = 0
    retry_after: int | None = None  # set => 429
    error_status: int | None = None  # 500 / 503 / 529 / 400
    flaky: int = 0
    hang: bool = False
    cut: int | None = None
    badjson: bool = False
    ctx: bool = False
    nousage: bool = False
    slow_after: tuple[int, int] | None = None  # (fast requests, then ms of delay)
    stall_at: tuple[int, int] | None = None  # (stream event index, ms of delay before it)
    # Careless or hostile upstreams (secret-handling tests):
    echo_key: int | None = None  # "echokey-401": an error with this status quoting the credentials received
    echokeystream: bool = False  # a stream whose second event is an error quoting the credentials
    garbage: bool = False  # a malformed HTTP response (a header line without a colon)
    # Stream shapes for the /v1/messages translation:
    error_after: int | None = None  # "errorafter-N": the stream's first N events, then an error event
    end_after: int | None = None  # "endafter-N": the stream's first N events, then a clean end ([DONE])
    # "overloadafter-N": the stream's first N events, then the provider's own 503 "overloaded" error
    # event (Gemini's carries status UNAVAILABLE)
    overload_after: int | None = None
    nofinish: bool = False  # an OpenAI stream that ends ([DONE]) without any finish_reason
    nodone: bool = False  # an OpenAI stream that ends without [DONE] (some OpenAI-compatible servers)
    interleave: bool = False  # an OpenAI tool answer: two tool calls whose argument deltas alternate
    # Anthropic usage with prompt caching: input 10, cache creation 100, cache read 50
    cacheusage: bool = False
    strict: bool = False  # OpenAI: unknown top-level request parameters are refused (as OpenAI does)
    # (Gemini: schemas its Schema rejects are refused, see `gemini_schema_errors`)
    redacted: bool = False  # Anthropic with thinking enabled: a redacted_thinking block follows the thinking
    noargs: bool = False  # Anthropic: a tool answer calls its tool without arguments (`input: {}`)
    malformed: bool = False  # Gemini: the candidate ends in MALFORMED_FUNCTION_CALL, with no parts
    # Gemini: function calls carry an id (as Gemini 3's do), and a functionResponse must echo it
    callid: bool = False
    # Hostile upstreams (tests/test_hostile_upstream.py). A stream's first N events, then:
    bigline: int | None = None  # "bigline-N": a data line that never ends, 1 MiB a write
    trickle: int | None = None  # "trickle-N": a data line that grows a byte every 50 ms, never ending
    badutf8: int | None = None  # "badutf8-N": event N with bytes that are not UTF-8 in its text; the rest
    notjson: int | None = None  # "notjson-N": an event whose data is not JSON instead of event N; the rest
    bigbody: int | None = None  # "bigbody-N": a non-streaming answer padded with N MiB
    gzipbomb: bool = False  # gzip-encoded, a quarter megabyte that inflates to a 256 MiB body (or event)
    # OpenAI: refuses what its reasoning models refuse (max_tokens, sampling parameters, reasoning_effort
    # beyond low..high), whatever the model's name, as a newer model the catalog does not know would
    picky: bool = False
    end_with: str | None = None  # "endwith-REASON": Anthropic's stop_reason, whatever the answer is
    notools: bool = False  # OpenAI dialect: a model without function calling refuses `tools` (as Ollama's do)
    # Gemini refuses the deployment with a 400, as Google does: "badkey" a key that is not valid
    # (INVALID_ARGUMENT, reason API_KEY_INVALID), "noregion" a project it does not serve (FAILED_PRECONDITION)
    badkey: bool = False
    noregion: bool = False


def parse_behaviour(model: str) -> Behaviour:
    b = Behaviour()
    for token in model.split("+"):
        token = token.strip()
        m = _NUM_TOKEN.match(token)
        after = _SLOW_AFTER.match(token)
        stall = _STALL_AT.match(token)
        hostile = _HOSTILE.match(token)
        end_with = _END_WITH.match(token)
        if after:
            b.slow_after = (int(after.group(1)), int(after.group(2)))
        elif stall:
            b.stall_at = (int(stall.group(1)), int(stall.group(2)))
        elif hostile:
            setattr(b, hostile.group(1), int(hostile.group(2)))
        elif end_with:
            b.end_with = end_with.group(1)
        elif m:
            setattr(b, _NUM_FIELDS[m.group(1)], int(m.group(2)))
        elif token == "ratelimit":
            b.retry_after = 1
        elif token in ("error500", "error503", "error529", "error400"):
            b.error_status = int(token[5:])
        elif token in (
            "hang",
            "badjson",
            "ctx",
            "nousage",
            "echokeystream",
            "garbage",
            "nofinish",
            "nodone",
            "interleave",
            "cacheusage",
            "strict",
            "redacted",
            "noargs",
            "malformed",
            "callid",
            "gzipbomb",
            "picky",
            "notools",
            "badkey",
            "noregion",
        ):
            setattr(b, token, True)
    return b


# --- the deterministic answer ----------------------------------------------------------------------


REFUSAL = "I'm sorry, but I can't help with that request."


@dataclass(frozen=True)
class Answer:
    text: str  # message text (a spoken answer's transcript), or the tool call's JSON arguments
    tool_name: str | None  # set => answer with a tool call
    tool_args: JSON
    prompt_tokens: int
    completion_tokens: int
    legacy: bool = False  # the tool call is a legacy `function_call` (the request offered `functions`)
    audio: bool = False  # a spoken answer (OpenAI `modalities` with "audio")
    reasoning_tokens: int = 0  # "think-N": hidden reasoning, billed as output, never in the text


def words(text: str) -> int:
    return len(text.split())


def split_words(text: str) -> list[str]:
    """One-word pieces whose concatenation is exactly `text` (whitespace rides with each word)."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def _texts(value: Any, types: tuple[str, ...] = ("text",)) -> list[str]:
    """Text of a content value: a string, or a list of parts/blocks carrying "text"."""
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    for part in value if isinstance(value, list) else []:
        if isinstance(part, dict) and isinstance(part.get("text"), str) and part.get("type", "text") in types:
            out.append(part["text"])
    return out


def as_dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _answer(
    texts: list[str], last_user: str, last_is_user: bool, tool: str | None, json_mode: bool
) -> Answer:
    prompt = sum(words(t) for t in texts) + 3
    if tool is not None and last_is_user:
        args: JSON = {"echo": last_user}
        text = orjson.dumps(args).decode()
        return Answer(text, tool, args, prompt, words(text))
    text = orjson.dumps({"echo": last_user}).decode() if json_mode else "echo: " + last_user
    return Answer(text, None, {}, prompt, words(text))


def openai_answer(body: JSON) -> Answer:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    texts: list[str] = []
    last_user = ""
    for m in messages:
        parts = _texts(m.get("content"), ("text", "input_text"))
        texts += parts
        if m.get("role") == "user" and parts:
            last_user = " ".join(parts)
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    functions = [f for f in body.get("functions") or [] if isinstance(f, dict)]
    choice = body.get("tool_choice")
    tool = None
    if tools and choice != "none":
        forced = as_dict(as_dict(choice).get("function")).get("name")  # a forced choice names its tool
        tool = str(forced or as_dict(tools[0].get("function")).get("name", ""))
    elif functions and body.get("function_call") != "none":
        tool = str(as_dict(body.get("function_call")).get("name") or functions[0].get("name", ""))
    fmt = as_dict(body.get("response_format")).get("type")
    last_is_user = bool(messages) and messages[-1].get("role") == "user"
    answer = _answer(texts, last_user, last_is_user, tool, fmt in ("json_object", "json_schema"))
    if answer.tool_name is not None and not tools:
        answer = replace(answer, legacy=True)
    tokens = str(body.get("model", "")).split("+")
    think = next((int(t[6:]) for t in tokens if re.fullmatch(r"think-\d+", t)), 0)
    answer = replace(answer, reasoning_tokens=think)
    if "alt" in tokens:  # a model that answers differently from all the others (agreement checks)
        text = "The answer is 41."
        return Answer(text, None, {}, answer.prompt_tokens, words(text), reasoning_tokens=think)
    if "refuse" in tokens:
        # A model that declines: what a cascade's refusal verifier must catch.
        text = REFUSAL
        return Answer(text, None, {}, answer.prompt_tokens, words(text), reasoning_tokens=think)
    return answer


BAD_JSON_TEXT = "Sure! Here is the JSON: {oops"
BAD_ARGS = "{not json"


def _saying(ans: Answer, text: str) -> Answer:
    """`ans` turned into a text answer saying `text`."""
    return replace(ans, text=text, tool_name=None, tool_args={}, legacy=False, completion_tokens=words(text))


def _spoiled(ans: Answer, tokens: list[str]) -> Answer:
    """A later choice (index 1 and up) as a "<token>1" behaviour spoils it."""
    if "refuse1" in tokens:
        return _saying(ans, REFUSAL)
    if "empty1" in tokens:
        return _saying(ans, "")
    if "badjson1" in tokens and ans.tool_name is None:
        return _saying(ans, BAD_JSON_TEXT)
    if "badargs1" in tokens and ans.tool_name is not None:
        return replace(ans, text=BAD_ARGS)
    return ans


def openai_answers(body: JSON) -> list[Answer]:
    """One answer per choice asked for (`n`), spoken when `modalities` asks for audio."""
    first = openai_answer(body)
    n = body.get("n")
    count = n if isinstance(n, int) and n > 1 else 1
    tokens = str(body.get("model", "")).split("+")
    audio = "audio" in (body.get("modalities") or [])
    return [replace(_spoiled(first, tokens) if i else first, audio=audio) for i in range(count)]


def anthropic_answer(body: JSON) -> Answer:
    texts = _texts(body.get("system"))
    last_user = ""
    last_is_user = False
    for m in [m for m in body.get("messages") or [] if isinstance(m, dict)]:
        content = m.get("content")
        parts = _texts(content)
        texts += parts
        blocks: list[Any] = content if isinstance(content, list) else []
        results = [as_dict(b) for b in blocks if as_dict(b).get("type") == "tool_result"]
        for r in results:
            texts += _texts(r.get("content"))
        # A user turn made of tool results is the tool's reply, not a new question.
        last_is_user = m.get("role") == "user" and not results
        if m.get("role") == "user" and parts:
            last_user = " ".join(parts)
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = as_dict(body.get("tool_choice"))
    tool = (
        str(choice.get("name") or tools[0].get("name", ""))
        if tools and choice.get("type") != "none"
        else None
    )
    return schema_shaped(body, _answer(texts, last_user, last_is_user, tool, False), last_user)


def gemini_answer(body: JSON) -> Answer:
    system = as_dict(body.get("systemInstruction") or body.get("system_instruction"))
    texts = _texts(system.get("parts"))
    last_user = ""
    last_is_user = False
    for c in [c for c in body.get("contents") or [] if isinstance(c, dict)]:
        parts = [p for p in c.get("parts") or [] if isinstance(p, dict)]
        found = [p["text"] for p in parts if isinstance(p.get("text"), str)]
        texts += found
        is_user = c.get("role", "user") == "user"
        last_is_user = is_user and not any("functionResponse" in p or "function_response" in p for p in parts)
        if is_user and found:
            last_user = " ".join(found)
    decls: list[JSON] = []
    for t in body.get("tools") or []:
        decls += as_dict(t).get("functionDeclarations") or as_dict(t).get("function_declarations") or []
    config = as_dict(as_dict(body.get("toolConfig") or body.get("tool_config")).get("functionCallingConfig"))
    tool = None
    if decls and config.get("mode") != "NONE":
        allowed = config.get("allowedFunctionNames") or []
        tool = str(allowed[0] if allowed else decls[0].get("name", ""))
    gen = as_dict(body.get("generationConfig") or body.get("generation_config"))
    json_mode = (gen.get("responseMimeType") or gen.get("response_mime_type")) == "application/json"
    return _answer(texts, last_user, last_is_user, tool, json_mode)


def without_args(ans: Answer) -> Answer:
    """A tool answer ("noargs") turned into a call without arguments."""
    return replace(ans, text="", tool_args={}, completion_tokens=1) if ans.tool_name is not None else ans


def anthropic_invalid(body: JSON) -> str | None:
    """The validation errors a translating gateway is most likely to trip."""
    if not body.get("model"):
        return "model: Field required"
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, m in enumerate(messages):
        if as_dict(m).get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
    return (
        newer_claude_invalid(body, messages)
        or _thinking_invalid(messages)
        or _tool_loop_invalid(body, messages)
        or _tool_id_invalid(messages)
        or structured_invalid(body)
    )


# What Anthropic's newest models refuse (their model pages and migration guides, 2026-11), by model
# id: written out here, apart from the gateway's own reading of ids, so a test judges the gateway.
_ALWAYS_THINK = frozenset({"claude-fable-5", "claude-fable-5-1", "claude-opus-5-5", "claude-sonnet-5-5"})
_THINK_BY_DEFAULT = _ALWAYS_THINK | {"claude-sonnet-5", "claude-opus-5", "claude-haiku-5-5"}
_ADAPTIVE_ONLY = _THINK_BY_DEFAULT | {"claude-opus-4-7", "claude-opus-4-8"}
_NO_PREFILL = _ADAPTIVE_ONLY | {"claude-opus-4-6", "claude-sonnet-4-6"}
_NO_FORCED_TOOL = frozenset({"claude-fable-5-1", "claude-opus-5-5", "claude-sonnet-5-5"})


def newer_claude_invalid(body: JSON, messages: list[Any]) -> str | None:
    """Anthropic's 400 for what Claude 4.6 and later refuse, or None."""
    model = str(body.get("model"))
    for key in ("temperature", "top_p", "top_k"):
        if model in _ADAPTIVE_ONLY and key in body:
            return f"`{key}` is deprecated for this model."
    thinking = as_dict(body.get("thinking")).get("type")
    thinking_on = thinking in ("enabled", "adaptive") or (model in _THINK_BY_DEFAULT and thinking is None)
    refused = (model in _ADAPTIVE_ONLY and thinking == "enabled") or (
        model in _ALWAYS_THINK and thinking == "disabled"
    )
    if refused:
        return (
            f'"thinking.type.{thinking}" is not supported for this model. Use "thinking.type.adaptive" '
            'and "output_config.effort" to control thinking behavior.'
        )
    effort = as_dict(body.get("output_config")).get("effort")
    if thinking == "disabled" and effort in ("xhigh", "max"):
        return f'"thinking.type.disabled" is not supported with effort "{effort}" for this model.'
    if model in _NO_PREFILL and as_dict(messages[-1]).get("role") == "assistant":
        return (
            "This model does not support assistant message prefill. "
            "The conversation must end with a user message."
        )
    forced = as_dict(body.get("tool_choice")).get("type") in ("any", "tool")
    if forced and model in _NO_FORCED_TOOL:
        return "tool_choice: forcing tool use is not supported for this model."
    if forced and thinking_on and model not in _ALWAYS_THINK:  # Fable 5 took forced tools, thinking
        return "Thinking may not be enabled when tool_choice forces tool use."
    if "temperature" in body and "top_p" in body and re.match(r"claude-(?:opus|sonnet|haiku)-4", model):
        return "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
    return None


# Anthropic's pattern for tool_use ids (and so for the tool_use_id of a tool_result).
_ANTHROPIC_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")


def _tool_id_invalid(messages: list[Any]) -> str | None:
    """A tool_use id or tool_result tool_use_id outside Anthropic's pattern, as Anthropic words it."""
    for i, m in enumerate(messages):
        content = as_dict(m).get("content")
        for j, block in enumerate(as_dict(b) for b in (content if isinstance(content, list) else [])):
            key = {"tool_use": "id", "tool_result": "tool_use_id"}.get(str(block.get("type")))
            if key is not None and not _ANTHROPIC_TOOL_ID.fullmatch(str(block.get(key))):
                where = f"messages.{i}.content.{j}.{block['type']}.{key}"
                return f"{where}: String should match pattern '^[a-zA-Z0-9_-]+$'"
    return None


# --- structured outputs ------------------------------------------------------------------------------

# What Anthropic's structured outputs (`output_config.format`) refuse in a schema.
_UNSUPPORTED_KEYWORDS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "maxItems", "uniqueItems", "minProperties", "maxProperties",
)  # fmt: skip
# Strings of a format Pydantic checks get a value of that format.
_FORMAT_VALUES = {
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "time": "03:04:05",
    "email": "alice@example.com",
    "uri": "https://example.com/",
    "uuid": "12345678-1234-5678-1234-567812345678",
}


def native_schema(body: JSON) -> JSON | None:
    """The schema of `output_config.format` (Anthropic's structured outputs), if any."""
    fmt = as_dict(as_dict(body.get("output_config")).get("format"))
    schema = fmt.get("schema")
    return schema if fmt.get("type") == "json_schema" and isinstance(schema, dict) else None


def forced_schema(body: JSON) -> JSON | None:
    """The input schema of the tool a `tool_choice` of type "tool" forces, when it declares properties."""
    choice = as_dict(body.get("tool_choice"))
    if choice.get("type") != "tool":
        return None
    for tool in body.get("tools") or []:
        schema = as_dict(as_dict(tool).get("input_schema"))
        if as_dict(tool).get("name") == choice.get("name") and schema.get("properties"):
            return schema
    return None


def schema_shaped(body: JSON, ans: Answer, text: str) -> Answer:
    """Claude's answer in the requested schema: a forced tool's input is built from the tool's
    schema (a schema without properties keeps the echo), and a native structured output's text is
    JSON in its schema. Strings say `text`."""
    native = native_schema(body)
    if native is not None and ans.tool_name is None:
        answer = orjson.dumps(schema_instance(native, native, text)).decode()
        return replace(ans, text=answer, completion_tokens=words(answer))
    forced = forced_schema(body)
    if forced is not None and ans.tool_name is not None:
        args = as_dict(schema_instance(forced, forced, text))
        answer = orjson.dumps(args).decode()
        return replace(ans, text=answer, tool_args=args, completion_tokens=words(answer))
    return ans


def schema_instance(node: Any, root: JSON, text: str, depth: int = 0) -> Any:
    """A value valid against the schema `node` (`root` resolves its $refs): every required property
    filled with a value of its type; deep down, nullable and list values stay empty (recursive types)."""
    node = as_dict(node)
    ref = node.get("$ref")
    if isinstance(ref, str):
        target: Any = root
        for key in ref.removeprefix("#").strip("/").split("/") if ref != "#" else []:
            target = as_dict(target).get(key)
        return schema_instance(target, root, text, depth + 1)
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    branches = [as_dict(b) for b in node.get("anyOf") or node.get("oneOf") or node.get("allOf") or []]
    if branches:
        typed = [b for b in branches if b.get("type") != "null"]
        if depth > 3 and len(typed) < len(branches):
            return None
        return schema_instance(typed[0] if typed else branches[0], root, text, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = "null" if depth > 3 and "null" in kind else next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in node:
        props = as_dict(node.get("properties"))
        return {k: schema_instance(props.get(k), root, text, depth + 1) for k in node.get("required") or []}
    if kind == "array":
        return [] if depth > 3 else [schema_instance(node.get("items"), root, text, depth + 1)]
    values = {"integer": node.get("minimum", 1), "number": node.get("minimum", 0.5), "boolean": True}
    if kind in values:
        return values[kind]
    if kind == "string":
        return _FORMAT_VALUES.get(str(node.get("format")), text)
    return None


def structured_invalid(body: JSON) -> str | None:
    """What Anthropic refuses of structured outputs: a forced tool with thinking on, and a native
    schema outside its subset."""
    forced = as_dict(body.get("tool_choice")).get("type") in ("any", "tool")
    if forced and thinking_enabled(body):
        return "Thinking may not be enabled when tool_choice forces tool use."
    schema = native_schema(body)
    return None if schema is None else _native_schema_invalid(schema, "output_config.format.schema")


def _native_schema_invalid(node: Any, path: str) -> str | None:
    if isinstance(node, list):
        return next((e for e in (_native_schema_invalid(n, path) for n in node) if e), None)
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    if (kind == "object" or "properties" in node) and node.get("additionalProperties") is not False:
        return f"{path}: For 'object' type, 'additionalProperties' must be explicitly set to false"
    for key in _UNSUPPORTED_KEYWORDS:
        if key in node:
            return f"{path}: For '{kind}' type, property '{key}' is not supported"
    if node.get("minItems") not in (None, 0, 1):
        return f"{path}: For 'array' type, 'minItems' values other than 0 or 1 are not supported"
    for key in ("properties", "$defs", "definitions"):
        for sub in as_dict(node.get(key)).values():
            found = _native_schema_invalid(sub, path)
            if found:
                return found
    return _native_schema_invalid([node.get(k) for k in ("items", "anyOf", "allOf", "not")], path)


# --- extended thinking -------------------------------------------------------------------------------

REDACTED_DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"


def thinking_enabled(body: JSON) -> bool:
    return as_dict(body.get("thinking")).get("type") == "enabled"


def signature(thinking: str) -> str:
    """The fake's signature of a thinking text: a block is valid back only with its own."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:24]


def litellm_blocks(fragments: list[JSON]) -> list[JSON]:
    """Streamed `thinking_blocks` fragments assembled as LiteLLM's client does: by `type` alone."""
    blocks: list[JSON] = []
    text = ""
    for fragment in fragments:
        if fragment["type"] == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": fragment["data"]})
            continue
        text += fragment.get("thinking") or ""
        if fragment.get("signature"):
            blocks.append({"type": "thinking", "thinking": text, "signature": fragment["signature"]})
            text = ""
    return blocks


def thinking_blocks(ans: Answer, b: Behaviour) -> list[JSON]:
    """What Claude says first when thinking is enabled: a signed thinking block (and, with
    "redacted", a redacted_thinking block)."""
    text = f"The user said {ans.text!r}; answer plainly."
    blocks: list[JSON] = [{"type": "thinking", "thinking": text, "signature": signature(text)}]
    if b.redacted:
        blocks.append({"type": "redacted_thinking", "data": REDACTED_DATA})
    return blocks


def _thinking_invalid(messages: list[Any]) -> str | None:
    """Thinking blocks passed back must be unchanged: their signature must match their text."""
    for i, m in enumerate(messages):
        content = as_dict(m).get("content")
        for j, block in enumerate(content if isinstance(content, list) else []):
            block = as_dict(block)
            kind = block.get("type")
            if kind == "thinking" and block.get("signature") != signature(str(block.get("thinking"))):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if kind == "redacted_thinking" and block.get("data") != REDACTED_DATA:
                return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
    return None


def _tool_loop_invalid(body: JSON, messages: list[Any]) -> str | None:
    """With thinking enabled, the assistant turn before tool results must start with its thinking
    (Anthropic's rule: the model's reasoning is continued, not restarted)."""
    last = as_dict(messages[-1])
    results = [b for b in last.get("content") or [] if as_dict(b).get("type") == "tool_result"]
    if not thinking_enabled(body) or last.get("role") != "user" or not results or len(messages) < 2:
        return None
    i = len(messages) - 2
    content = as_dict(messages[i]).get("content")
    first = as_dict(content[0]).get("type") if isinstance(content, list) and content else "text"
    if first in ("thinking", "redacted_thinking"):
        return None
    return (
        f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
        "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
        "(preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
    )


# --- errors ------------------------------------------------------------------------------------------

_ERRORS: dict[Provider, dict[int, tuple[str, str]]] = {
    "openai": {
        400: ("invalid_request_error", "Invalid request."),
        404: ("invalid_request_error", "Not found."),
        429: ("requests", "Rate limit reached for requests. Please try again later."),
        500: ("server_error", "The server had an error while processing your request. Sorry about that!"),
        503: ("server_error", "The engine is currently overloaded, please try again later."),
    },
    "anthropic": {
        400: ("invalid_request_error", "Invalid request."),
        404: ("not_found_error", "Not found."),
        429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
        500: ("api_error", "Internal server error"),
        503: ("overloaded_error", "Overloaded"),
        529: ("overloaded_error", "Overloaded"),
    },
    "gemini": {
        400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        404: ("NOT_FOUND", "Not found."),
        429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        500: (
            "INTERNAL",
            "An internal error has occurred. Please retry or report in the troubleshooting guide.",
        ),
        503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    },
}
_CTX: dict[Provider, str] = {
    "openai": "This model's maximum context length is 8192 tokens. "
    "However, your messages resulted in 9000 tokens.",
    "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
    "gemini": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
}


def error_body(provider: Provider, status: int, message: str | None = None, code: str | None = None) -> JSON:
    kind, default = _ERRORS[provider].get(status, _ERRORS[provider][500])
    text = message or default
    if provider == "openai":
        param = "messages" if code == "context_length_exceeded" else None
        if status == 400 and message is None:  # OpenAI names the field at fault
            param, code = "temperature", "invalid_value"
        code = code or ("rate_limit_exceeded" if status == 429 else None)
        return {"error": {"message": text, "type": kind, "param": param, "code": code}}
    if provider == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": text}}
    return {"error": {"code": status, "message": text, "status": kind}}


# Request headers whose values a careless upstream quotes back (the key headers of each provider,
# and any configured header named like a secret).
_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


def credentials(headers: dict[str, str]) -> str:
    """The credentials a request carried, as a careless upstream would quote them."""
    return " ".join(v for k, v in headers.items() if k in _CREDENTIAL_HEADERS or "secret" in k)


def key_error(provider: Provider, status: int, creds: str) -> JSON:
    """An error body quoting the credentials received; an OpenAI 400 quotes them in param and code too."""
    body = error_body(provider, status, f"Incorrect API key provided: {creds}.")
    if provider == "openai" and status == 400:
        body["error"].update(param=f"api_key {creds}", code=f"invalid_api_key:{creds}")
    return body


def key_error_event(provider: Provider, creds: str) -> bytes:
    """An error event inside a stream quoting the credentials received, in the provider's shape."""
    message = f"mid-stream failure for key {creds}"
    if provider == "anthropic":
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error")
    if provider == "gemini":
        return sse({"error": {"code": 500, "message": message, "status": "INTERNAL"}}, sep=b"\r\n\r\n")
    return sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


def error_event(provider: Provider, message: str) -> bytes:
    """An error event inside a stream, in the provider's shape (Anthropic's says overloaded)."""
    if provider == "anthropic":
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error")
    if provider == "gemini":
        return sse({"error": {"code": 500, "message": message, "status": "INTERNAL"}}, sep=b"\r\n\r\n")
    return sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


def overloaded_event(provider: Provider) -> bytes:
    """The provider's 503 "overloaded" error as an event inside a stream (Anthropic's is its
    overloaded_error, Gemini's its UNAVAILABLE status)."""
    if provider == "anthropic":
        return sse(error_body(provider, 503), "error")
    return sse(error_body(provider, 503), sep=b"\r\n\r\n" if provider == "gemini" else b"\n\n")


# The parameters OpenAI's chat completions accept ("strict" refuses any other, as OpenAI does).
OPENAI_PARAMS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model", "n",
        "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
        "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop",
        "store", "stream", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs",
        "top_p", "user", "verbosity", "web_search_options",
    }
)  # fmt: skip


def openai_unknown_param(body: JSON) -> JSON | None:
    """OpenAI's error for the first parameter it does not know, or None."""
    for key in body:
        if key not in OPENAI_PARAMS:
            return error_body("openai", 400, f"Unrecognized request argument supplied: {key}")
    return None


def ctx_error(provider: Provider) -> JSON:
    code = "context_length_exceeded" if provider == "openai" else None
    return error_body(provider, 400, _CTX[provider], code)


# --- response shapes -----------------------------------------------------------------------------


def sse(payload: JSON, event: str | None = None, sep: bytes = b"\n\n") -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(payload) + sep


def openai_usage(ans: Answer) -> JSON:
    completion = ans.completion_tokens + ans.reasoning_tokens  # OpenAI counts reasoning as output
    return {
        "prompt_tokens": ans.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": ans.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": ans.reasoning_tokens, "audio_tokens": 0},
    }


def _openai_base(model: str, seq: int, obj: str) -> JSON:
    return {"id": f"chatcmpl-fake{seq}", "object": obj, "created": int(time.time()), "model": model}


def _finish(ans: Answer) -> str:
    if ans.tool_name is None:
        return "stop"
    return "function_call" if ans.legacy else "tool_calls"


def _audio(ans: Answer, seq: int, index: int) -> JSON:
    data = base64.b64encode(b"RIFF" + ans.text.encode()).decode()
    return {
        "id": f"audio_fake{seq}_{index}",
        "data": data,
        "expires_at": 1_900_000_000,
        "transcript": ans.text,
    }


def _logprobs(pieces: list[str]) -> JSON:
    """Logprobs of text pieces, one token each (the spec's shape)."""
    tokens = [{"token": p, "logprob": -0.25, "bytes": list(p.encode()), "top_logprobs": []} for p in pieces]
    return {"content": tokens, "refusal": None}


def _openai_message(ans: Answer, seq: int, index: int) -> JSON:
    message: JSON = {"role": "assistant", "content": ans.text, "refusal": None, "annotations": []}
    fn = {"name": ans.tool_name, "arguments": ans.text}
    if ans.tool_name is not None and ans.legacy:
        message.update(content=None, function_call=fn)
    elif ans.tool_name is not None:
        message.update(
            content=None, tool_calls=[{"id": f"call_fake{seq}", "type": "function", "function": fn}]
        )
    elif ans.audio:
        message.update(content=None, audio=_audio(ans, seq, index))
    return message


def _usage_of(answers: list[Answer]) -> JSON:
    completion = sum(a.completion_tokens for a in answers)
    reasoning = sum(a.reasoning_tokens for a in answers)
    return openai_usage(replace(answers[0], completion_tokens=completion, reasoning_tokens=reasoning))


def _texty(ans: Answer) -> bool:
    """Whether the answer is content (what logprobs are given for)."""
    return ans.tool_name is None and not ans.audio


def openai_completion(
    answers: list[Answer], model: str, seq: int, usage: bool, logprobs: bool = False, *, twice: bool = False
) -> JSON:
    """`twice` ("interleave"): a tool answer calls its tool twice, with the same arguments."""
    choices: list[JSON] = [
        {
            "index": i,
            "message": _openai_message(ans, seq, i),
            "logprobs": _logprobs(split_words(ans.text)) if logprobs and _texty(ans) else None,
            "finish_reason": _finish(ans),
        }
        for i, ans in enumerate(answers)
    ]
    for choice in choices if twice else []:
        calls = choice["message"].get("tool_calls")
        if calls:
            calls.append({**calls[0], "id": f"call_fake{seq}b"})
    out = {
        **_openai_base(model, seq, "chat.completion"),
        "choices": choices,
        "system_fingerprint": "fp_fake",
    }
    if usage:
        out["usage"] = _usage_of(answers)
    return out


def _deltas(ans: Answer, seq: int, index: int) -> list[JSON]:
    """One choice's stream deltas, before its finish."""
    pieces = split_words(ans.text)
    if ans.tool_name is not None and ans.legacy:
        fn = {"name": ans.tool_name, "arguments": ""}
        head: JSON = {"role": "assistant", "content": None, "function_call": fn}
        return [head] + [{"function_call": {"arguments": p}} for p in pieces]
    if ans.tool_name is not None:
        fn = {"name": ans.tool_name, "arguments": ""}
        call = {"index": 0, "id": f"call_fake{seq}", "type": "function", "function": fn}
        head = {"role": "assistant", "content": None, "tool_calls": [call]}
        return [head] + [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
    if ans.audio:
        audio = {k: v for k, v in _audio(ans, seq, index).items() if k != "transcript"}
        head = {"role": "assistant", "content": None, "audio": audio}
        return [head] + [{"audio": {"transcript": p}} for p in pieces]
    return [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces]


def interleaved_tool_deltas(ans: Answer, seq: int) -> list[JSON]:
    """Two calls of the answer's tool whose argument fragments alternate: 0, 1, 0, 1, ..."""
    fn = {"name": ans.tool_name, "arguments": ""}
    heads = [
        {"index": 0, "id": f"call_fake{seq}", "type": "function", "function": fn},
        {"index": 1, "id": f"call_fake{seq}b", "type": "function", "function": fn},
    ]
    deltas: list[JSON] = [{"role": "assistant", "content": None, "tool_calls": [heads[0]]}]
    deltas.append({"tool_calls": [heads[1]]})
    for piece in split_words(ans.text):
        deltas += [{"tool_calls": [{"index": i, "function": {"arguments": piece}}]} for i in (0, 1)]
    return deltas


def openai_stream(
    answers: list[Answer],
    model: str,
    seq: int,
    include_usage: bool,
    logprobs: bool = False,
    *,
    interleave: bool = False,
    finish: bool = True,
) -> Iterator[bytes]:
    """The choices' chunks interleaved (as OpenAI streams several choices), each ending in its finish."""
    base = {**_openai_base(model, seq, "chat.completion.chunk"), "system_fingerprint": "fp_fake"}
    if include_usage:
        base["usage"] = None  # as OpenAI does: null on every chunk but the last

    def chunk(index: int, delta: JSON, lp: JSON | None, finish: str | None = None) -> bytes:
        return sse(
            {**base, "choices": [{"index": index, "delta": delta, "logprobs": lp, "finish_reason": finish}]}
        )

    def lp(delta: JSON) -> JSON | None:
        return _logprobs([delta["content"]]) if logprobs and delta.get("content") else None

    def deltas(ans: Answer, i: int) -> list[JSON]:
        if interleave and ans.tool_name is not None and not ans.legacy:
            return interleaved_tool_deltas(ans, seq)
        return _deltas(ans, seq, i)

    streams = [
        [chunk(i, d, lp(d)) for d in deltas(ans, i)] + ([chunk(i, {}, None, _finish(ans))] if finish else [])
        for i, ans in enumerate(answers)
    ]
    for row in itertools.zip_longest(*streams):
        yield from (event for event in row if event is not None)
    if include_usage:
        yield sse({**base, "choices": [], "usage": _usage_of(answers)})
    yield b"data: [DONE]\n\n"


def _anthropic_usage(ans: Answer, output_tokens: int, cache: bool = False) -> JSON:
    if cache:  # "cacheusage": a prompt partly written to and partly read from the prompt cache
        return {
            "input_tokens": 10,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 50,
        }
    return {
        "input_tokens": ans.prompt_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _anthropic_block(ans: Answer, seq: int, streaming: bool) -> JSON:
    if ans.tool_name is None:
        return {"type": "text", "text": "" if streaming else ans.text}
    args = {} if streaming else ans.tool_args
    return {"type": "tool_use", "id": f"toolu_fake{seq}", "name": ans.tool_name, "input": args}


def _stop_reason(ans: Answer) -> str:
    return "end_turn" if ans.tool_name is None else "tool_use"


def anthropic_message(
    ans: Answer,
    model: str,
    seq: int,
    usage: bool,
    streaming: bool = False,
    cache: bool = False,
    thinking: list[JSON] | None = None,
    end_with: str | None = None,
) -> JSON:
    stop = None if streaming else (end_with or _stop_reason(ans))
    out: JSON = {"id": f"msg_fake{seq}", "type": "message", "role": "assistant", "model": model}
    content = [] if streaming else [*(thinking or []), _anthropic_block(ans, seq, False)]
    out.update(content=content, stop_reason=stop)
    out["stop_sequence"] = None
    if usage:
        out["usage"] = _anthropic_usage(ans, 1 if streaming else ans.completion_tokens, cache)
    return out


def _block_events(index: int, start: JSON, deltas: list[JSON]) -> Iterator[bytes]:
    yield sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
    for delta in deltas:
        yield sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
    yield sse({"type": "content_block_stop", "index": index}, "content_block_stop")


def _thinking_events(index: int, block: JSON) -> Iterator[bytes]:
    """A thinking block as Anthropic streams it: empty at the start, its text in pieces, then its
    signature; a redacted_thinking block comes whole in its start event."""
    if block["type"] == "redacted_thinking":
        return _block_events(index, block, [])
    deltas = [{"type": "thinking_delta", "thinking": piece} for piece in split_words(block["thinking"])]
    deltas.append({"type": "signature_delta", "signature": block["signature"]})
    return _block_events(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)


def anthropic_stream(
    ans: Answer,
    model: str,
    seq: int,
    usage: bool,
    cache: bool = False,
    thinking: list[JSON] | None = None,
    end_with: str | None = None,
) -> Iterator[bytes]:
    start = anthropic_message(ans, model, seq, usage, streaming=True, cache=cache)
    thinking = thinking or []
    pieces = split_words(ans.text)
    deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
    if ans.tool_name is not None:
        # A call without arguments ("noargs") still gets one, empty, argument delta, as Anthropic sends it.
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces or [""]]
    blocks = [e for i, block in enumerate(thinking) for e in _thinking_events(i, block)]
    blocks += _block_events(len(thinking), _anthropic_block(ans, seq, True), deltas)
    yield sse({"type": "message_start", "message": start}, "message_start")
    yield blocks[0]  # the first block's start, then a ping, as Anthropic sends them
    yield sse({"type": "ping"}, "ping")
    yield from blocks[1:]
    stop = end_with or _stop_reason(ans)
    final: JSON = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
    if usage:
        final["usage"] = {"output_tokens": ans.completion_tokens}
    yield sse(final, "message_delta")
    yield sse({"type": "message_stop"}, "message_stop")


def gemini_chunks(ans: Answer, model: str, seq: int, usage: bool, stream: bool) -> list[JSON]:
    """The whole response (one element) or the stream's chunks; usage is cumulative, as Gemini sends it."""
    if ans.tool_name is not None:
        parts: list[JSON] = [{"functionCall": {"name": ans.tool_name, "args": ans.tool_args}}]
    else:
        parts = [{"text": w} for w in (split_words(ans.text) if stream else [ans.text]) or [""]]
    out: list[JSON] = []
    done = 0
    for i, part in enumerate(parts):
        done += words(part["text"]) if "text" in part else ans.completion_tokens
        candidate: JSON = {"content": {"parts": [part], "role": "model"}, "index": 0}
        if i == len(parts) - 1:
            candidate["finishReason"] = "STOP"  # Gemini reports STOP for function calls too
        chunk: JSON = {"candidates": [candidate], "modelVersion": model, "responseId": f"fake{seq}"}
        if usage:
            counts = {"promptTokenCount": ans.prompt_tokens, "candidatesTokenCount": done}
            chunk["usageMetadata"] = {**counts, "totalTokenCount": ans.prompt_tokens + done}
        out.append(chunk)
    return out


MALFORMED_MESSAGE = "Malformed function call: call:lookup{q:<unterminated"


def gemini_malformed(ans: Answer, model: str, seq: int, usage: bool) -> JSON:
    """A response whose candidate is a broken function call ("malformed"): no parts, as Gemini sends it."""
    candidate = {"finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": MALFORMED_MESSAGE, "index": 0}
    out: JSON = {"candidates": [candidate], "modelVersion": model, "responseId": f"fake{seq}"}
    if usage:
        out["usageMetadata"] = {"promptTokenCount": ans.prompt_tokens, "totalTokenCount": ans.prompt_tokens}
    return out


def gemini_with_call_ids(chunks: list[JSON], seq: int) -> list[JSON]:
    """ "callid": each functionCall of the answer gets an id, as Gemini 3 sends them."""
    n = 0
    for chunk in chunks:
        for cand in chunk.get("candidates") or []:
            for part in as_dict(as_dict(cand).get("content")).get("parts") or []:
                if isinstance(as_dict(part).get("functionCall"), dict):
                    part["functionCall"]["id"] = f"fc{seq}n{n}"
                    n += 1
    return chunks


def gemini_call_id_errors(body: JSON) -> list[str]:
    """ "callid": the fake's strict reading of Gemini's ids (a call with an id wants its response to
    carry "the matching id"): every replayed functionCall keeps the id it was given, and every
    functionResponse carries the id of a call in the turn before it."""
    errors: list[str] = []
    contents = [as_dict(c) for c in body.get("contents") or []]
    for i, content in enumerate(contents):
        before = [as_dict(p) for p in contents[i - 1].get("parts") or []] if i else []
        ids = {as_dict(p.get("functionCall")).get("id") for p in before} - {None}
        for j, part in enumerate(as_dict(p) for p in content.get("parts") or []):
            path = f"GenerateContentRequest.contents[{i}].parts[{j}]"
            call, response = part.get("functionCall"), part.get("functionResponse")
            if isinstance(call, dict) and not call.get("id"):
                errors.append(f"{path}.function_call.id: the call's id is missing")
            if isinstance(response, dict) and response.get("id") not in ids:
                got = response.get("id")
                errors.append(f"{path}.function_response.id: {got!r} matches no function_call.id")
    return errors


# Gemini's Schema takes `format` only as these, by type.
_GEMINI_FORMATS = {
    "STRING": ("enum", "date-time"),
    "NUMBER": ("float", "double"),
    "INTEGER": ("int32", "int64"),
}


def gemini_refusal(b: Behaviour) -> JSON | None:
    """Google's 400 for a deployment it refuses (its key, its project), or None."""
    if b.badkey:
        message = "API key not valid. Please pass a valid API key."
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        details = [{**info, "domain": "googleapis.com"}]
        return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": details}}
    if b.noregion:
        message = "User location is not supported for the API use."
        return {"error": {"code": 400, "message": message, "status": "FAILED_PRECONDITION"}}
    return None


def gemini_penalty_error(model: str, body: JSON) -> str | None:
    """Gemini 2.5's 400 for a non-zero penalty (only Gemini 2.0 takes them; zero passes unchecked)."""
    gen = as_dict(body.get("generationConfig"))
    if "gemini-2.5" in model and any(gen.get(k) for k in ("presencePenalty", "frequencyPenalty")):
        return f"Penalty is not enabled for models/{model}"
    return None


def gemini_schema_errors(body: JSON) -> list[str]:
    """What Gemini answers 400 for in a request's schemas (function parameters and the response
    schema): a format it does not take, an array without items, an object without properties."""
    errors: list[str] = []
    for t, tool in enumerate(body.get("tools") or []):
        for d, decl in enumerate(as_dict(tool).get("functionDeclarations") or []):
            if "parameters" in as_dict(decl):
                path = f"GenerateContentRequest.tools[{t}].function_declarations[{d}].parameters"
                errors += _gemini_schema_errors(decl["parameters"], path)
    gen = as_dict(body.get("generationConfig"))
    if "responseSchema" in gen:
        errors += _gemini_schema_errors(
            gen["responseSchema"], "GenerateContentRequest.generation_config.response_schema"
        )
    return errors


def _gemini_schema_errors(node: Any, path: str) -> list[str]:
    node = as_dict(node)
    kind = str(node.get("type") or "").upper()
    errors: list[str] = []
    allowed = _GEMINI_FORMATS.get(kind, ())
    if "format" in node and node["format"] not in allowed:
        only = " and ".join(f"'{f}'" for f in allowed) or "no format"
        errors.append(f"{path}.format: only {only} are supported for {kind or 'TYPE_UNSPECIFIED'} type")
    if kind == "ARRAY" and "items" not in node:
        errors.append(f"{path}.items: missing field.")
    if kind == "OBJECT" and not node.get("properties"):
        errors.append(f"{path}.properties: should be non-empty for OBJECT type")
    for name, sub in as_dict(node.get("properties")).items():
        errors += _gemini_schema_errors(sub, f"{path}.properties[{name}]")
    if "items" in node:
        errors += _gemini_schema_errors(node["items"], f"{path}.items")
    for i, sub in enumerate(node.get("anyOf") or []):
        errors += _gemini_schema_errors(sub, f"{path}.any_of[{i}]")
    return errors


# --- embeddings --------------------------------------------------------------------------------------


def embedding(text: str, dims: int = 8) -> list[float]:
    """A unit vector derived from a hash of the text, so equal inputs embed equally."""
    raw = hashlib.shake_256(text.encode()).digest(2 * dims)
    vec = [v / 32767.5 - 1.0 for v in struct.unpack(f"<{dims}H", raw)]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in vec]


def embeddings_response(body: JSON, model: str, usage: bool) -> JSON:
    raw = body.get("input")
    if not raw:
        return error_body("openai", 400, "Missing required parameter: 'input'.")
    # A list of token ids is one input; a list of strings (or of token lists) is several.
    items = [raw] if isinstance(raw, str) or (isinstance(raw, list) and isinstance(raw[0], int)) else raw
    texts = [x if isinstance(x, str) else orjson.dumps(x).decode() for x in items]
    dims = int(body.get("dimensions") or 8)
    data: list[JSON] = []
    for i, text in enumerate(texts):
        vec: Any = embedding(text, dims)
        if body.get("encoding_format") == "base64":  # the openai SDK's default: little-endian float32
            vec = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    out: JSON = {"object": "list", "data": data, "model": model}
    if usage:
        tokens = sum(max(words(t), 1) for t in texts)
        out["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return out


# --- hostile upstreams -----------------------------------------------------------------------------


def hostile_stream(b: Behaviour) -> bool:
    return b.gzipbomb or any(n is not None for n in (b.bigline, b.trickle, b.badutf8, b.notjson))


def not_utf8(event: bytes) -> bytes:
    """The event with two bytes that are not UTF-8 at the start of its first text."""
    for marker in (b'"content":"', b'"text":"', b'"partial_json":"'):
        at = event.find(marker)
        if at >= 0:
            at += len(marker)
            return event[:at] + b"\xff\xfe" + event[at:]
    return event.replace(b"data: ", b"data: \xff\xfe", 1)


@functools.cache
def gzip_bomb(prefix: bytes) -> bytes:
    """`prefix` and 256 MiB of "a", gzipped: a quarter megabyte. One MiB is deflated once and
    repeated (after a full flush no block looks back past its own start): deflating all 256 MiB
    took 1-2 s inside the fake's handler, which the gateway read as an upstream gone idle."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the gzip frame is added here
    piece = b"a" * (1 << 20)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(piece) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    for _ in range(256):
        crc = zlib.crc32(piece, crc)
    size = (len(prefix) + 256 * len(piece)) & 0xFFFFFFFF
    frame = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, no mtime
    return frame + head + block * 256 + deflate.flush() + struct.pack("<II", crc, size)
