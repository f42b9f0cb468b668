"""OpenAI chat-completions body -> Anthropic Messages request body.

Decisions a caller should know:

* All system/developer messages (wherever they sit) are hoisted into the top-level `system`. It is a
  plain string for one uncached message, else a list of text blocks.
* Anthropic-style `cache_control` hints are kept where they sit in the OpenAI shape: on text, image
  and file parts, on assistant `tool_calls` entries, on `tool` messages (the tool_result block) and on
  tools. The /v1/messages translation puts them there; so can OpenAI-shaped clients.
* Consecutive messages of the same role are merged into one turn, since Anthropic requires roles to
  alternate; consecutive `tool` messages become one user turn of `tool_result` blocks.
* Tool-call ids: Anthropic takes only ids matching ^[a-zA-Z0-9_-]+$, and other providers' ids in a
  history may not (Kimi's "functions.lookup:0", an empty id). Such an id is sent as "toolu_" + the
  first 24 hex digits of its SHA-256, in its tool_use and in the tool_result that answers it; a
  valid id is sent unchanged. So the same history is always sent the same way (Anthropic's prompt
  cache keeps matching), and a rewritten id that would equal another id of the request gets a
  suffix ("_1", ...). Answers carry Anthropic's own ids: nothing is mapped back.
* `tool_choice` "auto", "none", "required" (Anthropic's "any") and a named function ("tool") map
  directly. `allowed_tools` has no Anthropic form and is emulated as Gemini's dialect does: only the
  allowed tools are sent, with "auto" or, for mode "required", "any". When none of the request's
  tools is allowed, "auto" sends them all with "none" (Anthropic refuses a history with tool calls
  and no tools), and "required" is an InvalidRequest: no call can satisfy it.
* A `tool_result` the /v1/messages client marked `is_error` arrives as a tool message whose text
  says "Error: ..." (what the other upstreams get), its id listed in `MESSAGES_EXTRAS` as
  "tool_errors": Anthropic gets the flag back (`is_error: true`) with that text.
* `response_format` `json_schema` is enforced one of three ways, as `json_schema_mode` decides (the
  router asks it too, `routing/constraints.py`, and lets Claude take such requests when the answer
  is enforced):
  - "native": Claude 4.5 and later models (`native_structured_output`: Opus 4.5+, Sonnet 4.5+,
    Haiku 4.5+, Claude 5, Anthropic's list for structured outputs) get `output_config.format` (generally
    available: no beta header), whose constrained decoding guarantees the schema, with or without
    tools or thinking. Anthropic takes a subset of JSON Schema and refuses the rest with a 400, so
    the schema is fitted as Anthropic's SDKs fit it: `additionalProperties: false` is added to
    objects, `oneOf` becomes `anyOf`, and value constraints (minimum, maxLength, minItems above 1,
    unknown string formats, ...) move into the description as a hint, left for the client to check.
    A schema the subset cannot carry (an object open to other keys, a recursive `$ref`) is treated
    as for older models.
  - "tool": other models get one tool, `SCHEMA_TOOL`, whose `input_schema` is the schema, and a
    `tool_choice` that forces it. Its input comes back as the message `content` (JSON text), with
    no `tool_calls` and finish_reason "stop" ("length" when max_tokens cut it): `anthropic.py`,
    `anthropic_stream.py`. The name is reserved: a tool_use of that name is always the answer.
    `reasoning_effort` then leaves thinking off, as a client's forced `tool_choice` does (below).
  - "instruction": a system text asking for JSON only, with the schema (not guaranteed) where the
    tool cannot be forced: the request has its own tools (forcing ours would override the client's
    `tool_choice`), the client switched thinking on itself (Anthropic refuses a forced tool with
    thinking), the schema's root is not an object (a tool's input must be one), or the model
    refuses forced tools (Opus 5.5, Sonnet 5.5, Fable 5.1 on).
  `json_object` always becomes that instruction, without a schema.
* `max_tokens` is mandatory upstream: `max_completion_tokens`, then `max_tokens`, else 4096.
* `temperature` is clamped to Anthropic's [0, 1] range (OpenAI allows up to 2).
* `n > 1` raises InvalidRequest. The planner never sends this adapter a request with `n > 1`,
  `logprobs`, legacy `functions`, audio or `web_search_options` (`routing/constraints.py`): it
  skips the model, or refuses a request that named it. `seed`, `frequency_penalty`,
  `presence_penalty`, `logit_bias` and other OpenAI-only sampling hints are dropped silently.
  `thinking` and `top_k` (non-OpenAI extras) are passed through unchanged, and so are the
  Anthropic-only options the /v1/messages translation carries in `MESSAGES_EXTRAS` (`thinking`,
  `top_k`, a top-level `cache_control`), which win over top-level ones. An explicit `thinking` is
  left out, though, when the conversation ends in a tool loop whose assistant turn does not start
  with thinking: another model made that tool call (a route that mixes providers answered the turn
  before with GPT or Gemini, then failed over or escalated to Claude), and Anthropic refuses
  thinking there, so the turn goes without it rather than failing with a 400.
* Claude models differ in what they take (`claude_models.py`, read from the model id). From Opus
  4.7 on, `temperature`, `top_p` and `top_k` are dropped (those models refuse any but the
  defaults), as for OpenAI's reasoning models. A request such a model refuses outright is an
  InvalidRequest here, and routes skip the model (`refusal`, `routing/constraints.py`): a forced
  tool (`tool_choice` "required", a named function, `allowed_tools` "required") on Opus 5.5, Sonnet
  5.5 and Fable 5.1 on; a conversation that ends with an assistant message (Anthropic reads it as a
  prefill) from 4.6 on. An explicit `thinking` budget becomes `{"type": "adaptive"}` on models that
  think adaptively only (Opus 4.7 on), and `{"type": "disabled"}` is dropped for models that always
  think (Opus 5.5, Sonnet 5.5, Fable). On Claude 5 models that think by default but can stop
  (Sonnet 5, Opus 5, Haiku 5.5), a forced tool (the client's, or the `json_schema` tool) goes out
  with `{"type": "disabled"}`, and an effort above "high" is lowered to it, where Anthropic takes
  `disabled`.
* A /v1/messages client's `output_config.effort` (in `MESSAGES_EXTRAS`) is sent as it is to the
  models that take effort (4.6 on) and dropped for older ones; `reasoning_effort` is then not read.
* On models that think adaptively only (Opus 4.7 on), `reasoning_effort` becomes
  `output_config.effort` of the same level (OpenAI's "none" and "minimal": no thinking where it
  can be switched off, `disabled` on Claude 5, else effort "low"), and where thinking is off by
  default (Opus 4.7, 4.8) it switches on `{"type": "adaptive"}`, under the same conditions as a
  budget below (no forced tool, no tool loop without thinking blocks).
* On older models, `reasoning_effort` switches on extended thinking,
  `{"type": "enabled", "budget_tokens": N}`, with
  N from `THINKING_BUDGETS` (low 1024, Anthropic's minimum; medium 8192; high 16384; xhigh 24576;
  max 27904). "none" and "minimal" leave thinking off. An explicit `thinking` (top-level or in
  `MESSAGES_EXTRAS`) wins: it is sent as it is (but for the tool loop above) and nothing below
  applies. Thinking is not switched
  on (the request goes out as it would without `reasoning_effort`) when:
  - the upstream model has no thinking (before Claude 3.7 Sonnet; they refuse `thinking`), so a
    mixed route may still pick any Claude;
  - `tool_choice` forces a tool ("required", `allowed_tools` in mode "required" or a named
    function), or a `json_schema` answer is emulated by a forced tool: Anthropic refuses that with
    thinking, and the forced call is a contract the client's code relies on, thinking only a hint;
  - the conversation ends in a tool loop whose assistant turn has no thinking blocks (the client
    did not send its `thinking_blocks` back), which Anthropic refuses once thinking is on;
  - the client's max tokens leave no room (below).
  Budget and max_tokens: Anthropic counts thinking in `max_tokens` and needs the budget below it.
  A client's `max_completion_tokens` / `max_tokens` stays the cap, as in OpenAI's API (reasoning
  tokens count in it), and the cost and context checks that used it stay true: the budget shrinks
  to at most half of it, so the answer keeps the other half, and below 2048 (a half under the
  1024 minimum) thinking stays off. Without a client value, max_tokens becomes the budget plus the
  default 4096, so the answer gets its usual room (the largest, 27904 + 4096, stays under the
  32000 output limit of Opus 4 and 4.1).
  With thinking on, `temperature` and `top_k` are dropped and `top_p` is kept only from 0.95 up:
  Anthropic refuses other values with thinking, and clients often send a temperature by default,
  which should not cost them the thinking they asked for.
* An assistant message's thinking blocks (`thinking_blocks`, the carrier of `thinking.py`: answers
  carry them and clients send them back) are sent first in its turn, unchanged, as Anthropic
  requires in a tool loop, so thinking stays on there. `reasoning_content` (text without a
  signature) is not sent: Anthropic would refuse an unsigned thinking block.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import orjson

from satisfice.errors import InvalidRequest
from satisfice.providers.claude_models import EFFORTS, Claude, claude
from satisfice.providers.thinking import carried

JSON = dict[str, Any]

DEFAULT_MAX_TOKENS = 4096

# The private key of an OpenAI body under which the /v1/messages translation carries Anthropic-only
# options ({"thinking": ..., "top_k": ..., "cache_control": ..., "effort": ..., "cache_hints": true,
# "tool_errors": [tool_call_id, ...], "fields": {service_tier, inference_geo, ...}, "betas":
# [the client's anthropic-beta names]}). The Anthropic dialect sends them, Gemini sends top_k, and
# the OpenAI dialects drop the key (and, with "cache_hints", the cache_control hints on parts)
# since OpenAI rejects what it does not know.
MESSAGES_EXTRAS = "satisfice_messages_extras"
_EXTRAS_SENT = ("thinking", "top_k", "cache_control")
# What Anthropic takes as a tool_use id; other ids are rewritten (see the module doc).
_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")

# reasoning_effort -> thinking budget_tokens (see the module doc); "none" and "minimal" are absent.
THINKING_BUDGETS = {"low": 1024, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 27904}
MIN_THINKING_BUDGET = 1024  # Anthropic refuses smaller budgets
# With thinking, Anthropic takes top_p only in [0.95, 1].
_THINKING_MIN_TOP_P = 0.95
# The highest effort at which Claude 5 models that can stop thinking take `{"type": "disabled"}`.
_DISABLED_EFFORT_CAP = "high"

_JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no markdown code fences."
)

# The forced tool that carries a json_schema answer (mode "tool", see the module doc).
SCHEMA_TOOL = "satisfice_json_response"
_SCHEMA_TOOL_DESCRIPTION = (
    "Give your final answer{name} by calling this tool: its input is the answer, matching the schema."
)
# What Anthropic's structured outputs refuse in a schema; such keywords become a description hint.
_UNFIT_KEYWORDS = frozenset(
    {
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
        "maxLength", "maxItems", "uniqueItems", "minProperties", "maxProperties",
    }
)  # fmt: skip
_NATIVE_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
# Keywords whose value is a schema or a list of schemas, and those whose value maps names to schemas.
_SUBSCHEMAS = ("items", "prefixItems", "anyOf", "allOf", "oneOf", "not")
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


def openai_to_anthropic(body: JSON, *, model: str, stream: bool, max_output: int | None = None) -> JSON:
    """Translate an OpenAI chat-completions request into an Anthropic Messages request. `max_output`:
    the model's most output tokens (the catalog's), the max_tokens of a request that sets none."""
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("Anthropic models return one choice per request; 'n' must be 1.", param="n")

    system: list[JSON] = []
    turns: list[JSON] = []
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise InvalidRequest("'messages' must be a list.", param="messages")
    extras = body.get(MESSAGES_EXTRAS)
    extras = extras if isinstance(extras, dict) else {}
    ids = _tool_ids(raw_messages)
    errors = extras.get("tool_errors")
    failed = frozenset(e for e in errors if isinstance(e, str)) if isinstance(errors, list) else frozenset()
    for i, msg in enumerate(raw_messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"messages[{i}] must be an object.", param=f"messages[{i}]")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(msg.get("content"), f"messages[{i}].content"))
            continue
        if role == "user":
            blocks = _user_blocks(msg.get("content"), f"messages[{i}].content")
            out_role = "user"
        elif role == "assistant":
            blocks = _assistant_blocks(msg, i, ids)
            out_role = "assistant"
        elif role == "tool":
            blocks = [_tool_result(msg, i, ids, failed)]
            out_role = "user"
        else:
            raise InvalidRequest(f"Unsupported message role {role!r}.", param=f"messages[{i}].role")
        if not blocks:
            continue  # e.g. an assistant turn with empty content; Anthropic rejects empty turns
        if turns and turns[-1]["role"] == out_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": out_role, "content": blocks})
    if not turns:
        raise InvalidRequest("At least one user or assistant message is required.", param="messages")

    spec = claude(model)
    _refuse_unfit(body, spec)
    schema_mode, fitted = _schema_plan(body, model)
    if schema_mode in (None, "instruction"):
        system.extend(_response_format_instruction(body.get("response_format")))

    out: JSON = {"model": model, "messages": turns, "max_tokens": _max_tokens(body, max_output)}
    if system:
        if len(system) == 1 and "cache_control" not in system[0]:
            out["system"] = system[0]["text"]
        else:
            out["system"] = system
    _copy_sampling(body, out)
    _copy_tools(body, out, strict_ok=spec is not None and spec.native_structured_output)
    if schema_mode in ("native", "tool"):
        _enforce_schema(body["response_format"]["json_schema"], out, fitted)
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if body.get("thinking") is not None:
        out["thinking"] = body["thinking"]
    for key in _EXTRAS_SENT:
        if extras.get(key) is not None:
            out[key] = extras[key]
    thinking = out.get("thinking")
    on = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    if on and _open_tool_loop_without_thinking(turns):  # another model's tool call: see the module doc
        del out["thinking"]
    fields = extras.get("fields")
    if isinstance(fields, dict):  # a /v1/messages client's Anthropic-only fields, as it sent them
        out.update({k: v for k, v in fields.items() if k not in out})
    effort = extras.get("effort")
    if isinstance(effort, str):  # a /v1/messages client's own output_config.effort, as it is
        if spec is not None and spec.takes_effort and effort in EFFORTS:
            out.setdefault("output_config", {})["effort"] = spec.effort(effort)
    elif "thinking" not in out and spec is not None:  # an explicit thinking wins over reasoning_effort
        if spec.budgeted_thinking:
            _effort_thinking(body, out, max_output)
        elif spec.adaptive_only:
            _effort_adaptive(body, out, spec)
    if spec is not None:
        _fit_to_model(out, spec)
    if stream:
        out["stream"] = True
    return out


def _max_tokens(body: JSON, max_output: int | None) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequest(f"'{key}' must be a positive integer.", param=key)
        return value
    return max_output or DEFAULT_MAX_TOKENS  # none set: up to the model's maximum, as OpenAI


def forces_tool(body: JSON) -> bool:
    """The OpenAI request makes the model call a tool: `tool_choice` "required", a named function,
    or `allowed_tools` in mode "required"."""
    if not body.get("tools"):
        return False
    value = body.get("tool_choice")
    if value == "required":
        return True
    if not isinstance(value, dict):
        return False
    spec = value.get("allowed_tools")
    return value.get("type") == "function" or (isinstance(spec, dict) and spec.get("mode") == "required")


def refusal(body: JSON, model: str) -> tuple[str, str] | None:
    """(why, param) when this Claude model refuses what the request asks and no translation can
    give it (see `claude_models.py`); None when it can take the request."""
    spec = claude(model)
    return None if spec is None else _spec_refusal(body, spec)


def may_refuse(body: JSON) -> bool:
    """Whether some Claude model could refuse the request (`refusal`): it forces a tool or ends with
    an assistant turn. When not, no model's facts need reading (a route's dozens of candidates)."""
    return forces_tool(body) or _last_turn_role(body.get("messages")) == "assistant"


def _spec_refusal(body: JSON, spec: Claude) -> tuple[str, str] | None:
    if spec.refuses_forced_tools and forces_tool(body):
        return "this Claude model refuses a forced tool call", "tool_choice"
    if spec.refuses_prefill and _last_turn_role(body.get("messages")) == "assistant":
        return "this Claude model refuses a conversation that ends with an assistant message", "messages"
    return None


def _last_turn_role(messages: Any) -> str | None:
    """The role of the last turn Anthropic would get ("user" for tool results), as the translation
    builds the turns: system messages are hoisted and empty assistant messages dropped."""
    for msg in reversed(messages if isinstance(messages, list) else []):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role in ("system", "developer") or (role == "assistant" and _empty_assistant(msg)):
            continue
        return "assistant" if role == "assistant" else "user"
    return None


def _empty_assistant(msg: JSON) -> bool:
    if msg.get("tool_calls") or carried(msg):
        return False
    content = msg.get("content")
    if isinstance(content, list):
        return not any(isinstance(p, dict) and (p.get("text") or p.get("refusal")) for p in content)
    return not content


def _refuse_unfit(body: JSON, spec: Claude | None) -> None:
    """`refusal` as the client's error (routes skip such models: `routing/constraints.py`)."""
    found = None if spec is None else _spec_refusal(body, spec)
    if found is not None:
        why, param = found
        raise InvalidRequest(f"{why[0].upper()}{why[1:]}.", param=param)


def _forced(out: JSON) -> bool:
    choice = out.get("tool_choice")
    return isinstance(choice, dict) and choice.get("type") in ("any", "tool")


def _effort_adaptive(body: JSON, out: JSON, spec: Claude) -> None:
    """`reasoning_effort` for a model that thinks adaptively only: its `output_config.effort`, and
    adaptive thinking switched on where it is off by default (not with a forced tool, nor in a tool
    loop without thinking blocks, as for budgets). "none" and "minimal" ask for the least thinking:
    none where it can be switched off, else effort "low"."""
    effort = body.get("reasoning_effort")
    if effort in ("none", "minimal"):
        if spec.always_thinks:
            out.setdefault("output_config", {})["effort"] = "low"
        elif spec.thinks_by_default:
            out["thinking"] = {"type": "disabled"}
        return
    if effort not in EFFORTS:  # Anthropic's levels are OpenAI's from low up, and "max"
        return
    out.setdefault("output_config", {})["effort"] = effort
    if spec.thinks_by_default or _forced(out) or _open_tool_loop_without_thinking(out["messages"]):
        return
    out["thinking"] = {"type": "adaptive"}


def _fit_to_model(out: JSON, spec: Claude) -> None:
    """What the model would refuse, made into what it takes (see `claude_models.py`): sampling
    parameters dropped where only the defaults are taken; a thinking budget made adaptive where
    only that is taken, `disabled` dropped where the model always thinks; thinking switched off
    where it is on by default for a forced tool (Anthropic refuses a forced tool with thinking) and
    for a tool loop another model called (no thinking block to continue from, which it refuses
    too), with the effort capped to what `disabled` is taken at."""
    if spec.fixed_sampling:
        for key in ("temperature", "top_p", "top_k"):
            out.pop(key, None)
    elif spec.one_sampling_knob and "temperature" in out:
        out.pop("top_p", None)  # the client's temperature is the knob kept
    thinking = out.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled" and spec.adaptive_only:
        assert isinstance(thinking, dict)
        out["thinking"] = {"type": "adaptive", **{k: v for k, v in thinking.items() if k == "display"}}
    elif kind == "disabled" and spec.always_thinks:
        del out["thinking"]
    elif (
        kind is None
        and spec.thinks_by_default
        and not spec.always_thinks
        and (_forced(out) or _open_tool_loop_without_thinking(out["messages"]))
    ):
        out["thinking"] = {"type": "disabled"}
    config = out.get("output_config")
    thinking = out.get("thinking")
    off = isinstance(thinking, dict) and thinking.get("type") == "disabled"
    if off and isinstance(config, dict) and config.get("effort") in ("xhigh", "max"):
        config["effort"] = _DISABLED_EFFORT_CAP


def _effort_thinking(body: JSON, out: JSON, max_output: int | None) -> None:
    """Switch on budgeted extended thinking for `reasoning_effort`, when Anthropic would take it."""
    effort = body.get("reasoning_effort")
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None or _forced(out):
        return
    if _open_tool_loop_without_thinking(out["messages"]):
        return
    if any(body.get(key) is not None for key in ("max_completion_tokens", "max_tokens")):
        budget = min(budget, out["max_tokens"] // 2)  # the client's cap holds; the answer keeps half
        if budget < MIN_THINKING_BUDGET:
            return
    else:  # an answer of the usual default beside the budget, within the model's maximum
        out["max_tokens"] = DEFAULT_MAX_TOKENS + budget
        if max_output is not None and out["max_tokens"] > max_output:  # the answer keeps half of it
            out["max_tokens"], budget = max_output, min(budget, max_output // 2)
            if budget < MIN_THINKING_BUDGET:
                return
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    out.pop("temperature", None)
    out.pop("top_k", None)
    top_p = out.get("top_p")
    if top_p is not None and not (isinstance(top_p, int | float) and top_p >= _THINKING_MIN_TOP_P):
        del out["top_p"]


def _open_tool_loop_without_thinking(turns: list[JSON]) -> bool:
    """The last turn returns tool results to an assistant turn that does not start with thinking:
    Anthropic refuses that once thinking is on (the turn's reasoning cannot be continued)."""
    if len(turns) < 2 or turns[-1]["role"] != "user":
        return False
    if not any(block.get("type") == "tool_result" for block in turns[-1]["content"]):
        return False
    first = turns[-2]["content"][0].get("type")
    return first not in ("thinking", "redacted_thinking")


def _copy_sampling(body: JSON, out: JSON) -> None:
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    for key in ("top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        if not all(isinstance(s, str) for s in stop):
            raise InvalidRequest("'stop' must be a string or a list of strings.", param="stop")
        out["stop_sequences"] = list(stop)


def _copy_tools(body: JSON, out: JSON, *, strict_ok: bool) -> None:
    """The function tools as Anthropic tools; `strict` (schema-exact arguments) reaches the Claude
    models that take structured outputs natively (older ones get the tool without it)."""
    raw_tools = body.get("tools")
    if not raw_tools:
        return  # tool_choice without tools is meaningless upstream; drop it
    if not isinstance(raw_tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    tools: list[JSON] = []
    for i, tool in enumerate(raw_tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise InvalidRequest("Only function tools are supported.", param=f"tools[{i}].type")
        fn = tool.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest("A function tool needs a name.", param=f"tools[{i}].function.name")
        entry: JSON = {"name": fn["name"]}
        if fn.get("description"):
            entry["description"] = fn["description"]
        params = fn.get("parameters")
        entry["input_schema"] = params if isinstance(params, dict) else {"type": "object", "properties": {}}
        if strict_ok and fn.get("strict") is True:
            entry["strict"] = True
        tools.append(_hinted(tool, entry))
    value = body.get("tool_choice")
    allowed = _allowed_tools(value)
    if allowed is None:
        choice = _tool_choice(value)
    else:
        tools, choice = _only_allowed(tools, *allowed)
    out["tools"] = tools
    if body.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def _allowed_tools(value: Any) -> tuple[str, set[str]] | None:
    """(mode, names) of an `allowed_tools` tool_choice, None for any other choice."""
    if not isinstance(value, dict) or value.get("type") != "allowed_tools":
        return None
    spec = value.get("allowed_tools")
    mode = spec.get("mode") if isinstance(spec, dict) else None
    listed = spec.get("tools") if isinstance(spec, dict) else None
    if mode not in ("auto", "required") or not isinstance(listed, list):
        raise InvalidRequest(
            "tool_choice.allowed_tools needs a mode ('auto' or 'required') and a list of tools.",
            param="tool_choice",
        )
    fns = [t.get("function") for t in listed if isinstance(t, dict)]
    return mode, {f["name"] for f in fns if isinstance(f, dict) and isinstance(f.get("name"), str)}


def _only_allowed(tools: list[JSON], mode: str, names: set[str]) -> tuple[list[JSON], JSON]:
    """The tools to send and the tool_choice that emulate `allowed_tools` (see the module doc)."""
    kept = [t for t in tools if t["name"] in names]
    if kept:
        return kept, {"type": "any" if mode == "required" else "auto"}
    if mode == "required":
        raise InvalidRequest(
            "tool_choice.allowed_tools with mode 'required' allows none of the request's tools.",
            param="tool_choice",
        )
    return tools, {"type": "none"}


def _tool_choice(value: Any) -> JSON | None:
    if value is None:
        return None
    if value in ("auto", "none"):
        return {"type": value}
    if value == "required":
        return {"type": "any"}
    if isinstance(value, dict) and value.get("type") == "function":
        fn = value.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return {"type": "tool", "name": fn["name"]}
    raise InvalidRequest("Unsupported 'tool_choice'.", param="tool_choice")


def native_structured_output(model: str) -> bool:
    """Whether an Anthropic model id takes `output_config.format` (see the module doc)."""
    spec = claude(model)
    return spec is not None and spec.native_structured_output


SchemaMode = Literal["native", "tool", "instruction"]


def json_schema_mode(body: JSON, model: str) -> SchemaMode | None:
    """How a `json_schema` response_format reaches `model` (see the module doc); None when the
    request has none."""
    return _schema_plan(body, model)[0]


def _schema_plan(body: JSON, model: str) -> tuple[SchemaMode | None, JSON | None]:
    """`json_schema_mode`, and for "native" the fitted schema it checked (fitted once: the
    translation sends it as it is)."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None, None
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        return "instruction", None  # whose translation refuses it
    spec = claude(model)
    if spec is not None and spec.native_structured_output:
        fitted = _native_schema(schema)
        if fitted is not None:
            return "native", fitted
    if spec is not None and spec.refuses_forced_tools:
        return "instruction", None
    if body.get("tools") or _thinking_asked(body) or schema.get("type") != "object":
        return "instruction", None
    return "tool", None


def _thinking_asked(body: JSON) -> bool:
    """The client itself switched thinking on (top-level or /v1/messages `thinking`)."""
    extras = body.get(MESSAGES_EXTRAS)
    thinking = extras.get("thinking") if isinstance(extras, dict) else None
    if thinking is None:
        thinking = body.get("thinking")
    return thinking is not None and not (isinstance(thinking, dict) and thinking.get("type") == "disabled")


def _enforce_schema(spec: JSON, out: JSON, fitted: JSON | None) -> None:
    """The schema as `output_config` (`fitted`: the natively fitted schema), else as a forced tool."""
    if fitted is not None:
        out["output_config"] = {"format": {"type": "json_schema", "schema": fitted}}
        return
    schema = spec["schema"]
    name = spec.get("name")
    description = _SCHEMA_TOOL_DESCRIPTION.format(name=f" ({name})" if isinstance(name, str) and name else "")
    if isinstance(spec.get("description"), str) and spec["description"]:
        description += " " + spec["description"]
    out["tools"] = [{"name": SCHEMA_TOOL, "description": description, "input_schema": schema}]
    out["tool_choice"] = {"type": "tool", "name": SCHEMA_TOOL}


class _Unfit(Exception):
    """A schema Anthropic's structured outputs cannot carry."""


def _native_schema(schema: JSON) -> JSON | None:
    """`schema` fitted to the JSON Schema subset of Anthropic's structured outputs (see the module
    doc), or None when the subset cannot carry it."""
    if _recursive(schema):
        return None
    try:
        fitted: JSON = _fitted(schema)
    except _Unfit:
        return None
    return fitted


def _fitted(node: Any) -> Any:
    if isinstance(node, list):
        return [_fitted(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: JSON = {}
    hints: list[str] = []
    for key, value in node.items():
        if (
            key in _UNFIT_KEYWORDS
            or (key == "minItems" and value not in (0, 1))
            or (key == "format" and not (isinstance(value, str) and value in _NATIVE_FORMATS))
        ):
            hints.append(f"{key}: {orjson.dumps(value).decode()}")
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _fitted(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS:
            # oneOf as anyOf: Anthropic takes only anyOf (its SDKs send oneOf so too).
            out["anyOf" if key == "oneOf" else key] = _fitted(value)
        else:
            out[key] = value
    kind = node.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
        extra = node.get("additionalProperties")
        if extra is not False and (extra is not None or not node.get("properties")):
            raise _Unfit  # open to any key: closing it would change what it asks for
        out["additionalProperties"] = False
    if hints:
        described = out.get("description")
        lead = described + "\n\n" if isinstance(described, str) and described else ""
        out["description"] = lead + "{" + ", ".join(hints) + "}"
    return out


def _recursive(schema: JSON) -> bool:
    """Whether a `$ref` of `schema` reaches itself again (a tree type), which Anthropic refuses."""
    defs = {
        f"#/{group}/{name}": sub
        for group in ("$defs", "definitions")
        if isinstance(schema.get(group), dict)
        for name, sub in schema[group].items()
    }
    edges = {ref: _refs(sub) for ref, sub in defs.items()}
    if "#" in _refs(schema):
        return True
    for start, first in edges.items():
        seen: set[str] = set()
        todo = list(first)
        while todo:
            ref = todo.pop()
            if ref == start:
                return True
            if ref not in seen:
                seen.add(ref)
                todo.extend(edges.get(ref, ()))
    return False


def _refs(node: Any) -> set[str]:
    if isinstance(node, list):
        return {ref for item in node for ref in _refs(item)}
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
    for value in node.values():
        found |= _refs(value)
    return found


def _response_format_instruction(fmt: Any) -> list[JSON]:
    if not isinstance(fmt, dict):
        return []
    kind = fmt.get("type")
    if kind == "json_object":
        return [{"type": "text", "text": _JSON_OBJECT_INSTRUCTION}]
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest(
                "response_format.json_schema.schema must be an object.", param="response_format"
            )
        text = (
            _JSON_OBJECT_INSTRUCTION
            + " The JSON must validate against this JSON Schema:\n"
            + orjson.dumps(schema).decode()
        )
        return [{"type": "text", "text": text}]
    return []


def _text_blocks(content: Any, where: str) -> list[JSON]:
    """System/developer/tool content: a string or a list of text parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest("Content must be a string or a list of parts.", param=where)
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequest("Only text parts are allowed here.", param=f"{where}[{j}]")
        if part["text"]:
            blocks.append(_text_block(part))
    return blocks


def _hinted(source: JSON, block: JSON) -> JSON:
    """`block` with the cache_control hint of the part, message or tool it came from, if any."""
    if source.get("cache_control") is not None:
        block["cache_control"] = source["cache_control"]
    return block


def _text_block(part: JSON) -> JSON:
    return _hinted(part, {"type": "text", "text": part["text"]})


def _user_blocks(content: Any, where: str) -> list[JSON]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, where)
    if not isinstance(content, list):
        raise InvalidRequest("Content must be a string or a list of parts.", param=where)
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:  # Anthropic rejects empty text blocks
                blocks.append(_text_block(part))
        elif kind == "image_url":
            blocks.append(_hinted(part, _image_block(part.get("image_url"), here)))
        elif kind == "file":
            blocks.append(_hinted(part, _document_block(part.get("file"), here)))
        else:
            raise InvalidRequest(f"Unsupported content part type {kind!r} for Anthropic models.", param=here)
    return blocks


def _parse_data_url(url: str, where: str) -> tuple[str, str]:
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise InvalidRequest("Only base64 data: URLs are supported.", param=where)
    return header[len("data:") : -len(";base64")], data


def _image_block(image: Any, where: str) -> JSON:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequest("image_url.url must be a string.", param=where)
    if url.startswith("data:"):
        media_type, data = _parse_data_url(url, where)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest("image_url.url must be an http(s) or data: URL.", param=where)


def _document_block(file: Any, where: str) -> JSON:
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise InvalidRequest("Only inline files (file.file_data as a data: URL) are supported.", param=where)
    media_type, data = _parse_data_url(data_url, where)
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _tool_ids(messages: list[Any]) -> dict[str, str]:
    """Each tool-call id of the request that Anthropic would refuse -> the id sent in its place (see
    the module doc). Every id of the request is known first, so no rewritten id takes another's."""
    found: set[str] = set()
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        calls = msg.get("tool_calls") if msg.get("role") == "assistant" else None
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                found.add(_given_id(call))
        if msg.get("role") == "tool" and isinstance(msg.get("tool_call_id"), str):
            found.add(msg["tool_call_id"])
    taken = {i for i in found if _TOOL_ID.fullmatch(i)}
    out: dict[str, str] = {}
    for original in sorted(found - taken):  # sorted: the same request maps the same way
        stem = "toolu_" + hashlib.sha256(original.encode()).hexdigest()[:24]
        new, k = stem, 0
        while new in taken:  # only an id made to collide gets here
            k += 1
            new = f"{stem}_{k}"
        taken.add(new)
        out[original] = new
    return out


def _given_id(call: JSON) -> str:
    return str(call.get("id") or "")


def _assistant_blocks(msg: JSON, i: int, ids: dict[str, str]) -> list[JSON]:
    blocks = carried(msg)  # thinking first: Anthropic expects the turn as it answered it
    content = msg.get("content")
    if isinstance(content, list):
        # Assistant parts may be text or refusal; both are plain text to Anthropic.
        texts = [
            _hinted(p, {"type": "text", "text": p.get("text") or p.get("refusal") or ""})
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "refusal")
        ]
        blocks += [t for t in texts if t["text"]]
    else:
        blocks += _text_blocks(content, f"messages[{i}].content")
    tool_calls = msg.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise InvalidRequest("tool_calls must be a list.", param=f"messages[{i}].tool_calls")
    for j, call in enumerate(tool_calls):
        here = f"messages[{i}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest("A tool call needs function.name.", param=f"{here}.function.name")
        args = fn.get("arguments") or "{}"
        try:
            parsed = orjson.loads(args) if isinstance(args, str) else args
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidRequest(
                "Tool call arguments must be a JSON object encoded as a string.",
                param=f"{here}.function.arguments",
            )
        given = _given_id(call)
        tool_use = {"type": "tool_use", "id": ids.get(given, given), "name": fn["name"], "input": parsed}
        blocks.append(_hinted(call, tool_use))
    return blocks


def _tool_result(msg: JSON, i: int, ids: dict[str, str], failed: frozenset[str]) -> JSON:
    tool_call_id = msg.get("tool_call_id")
    if not isinstance(tool_call_id, str):
        raise InvalidRequest("A tool message needs tool_call_id.", param=f"messages[{i}].tool_call_id")
    block: JSON = {"type": "tool_result", "tool_use_id": ids.get(tool_call_id, tool_call_id)}
    if tool_call_id in failed:
        block["is_error"] = True
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = _text_blocks(content, f"messages[{i}].content")
        if parts:
            block["content"] = parts
    return _hinted(msg, block)
