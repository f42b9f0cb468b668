"""OpenAI-compatible dialect (OpenAI, Azure OpenAI, Together, Groq, vLLM, Ollama, ...).

The upstream already speaks the internal shape, so translation is only the model id, the URL and
the auth header; streams are relayed byte for byte (no translator). The one exception: the
Anthropic-only options the /v1/messages translation carries (`MESSAGES_EXTRAS`: thinking, top_k,
cache_control hints) are dropped, since OpenAI rejects parameters it does not know, and so are the
thinking blocks carried on assistant messages (`thinking.py`).

OpenAI's reasoning models (o1, o3, o4-mini, ...: what the catalog marks `reasoning` under provider
openai or azure) refuse some parameters that every other chat model takes, with a 400 that no
failover can get past. For them the request is rewritten here, whether a route picked the model or
the client named it (the one place every call passes; internal calls such as a cascade's judge or
second sample need it too, and OpenAI would only have refused the request):
- `max_tokens` becomes `max_completion_tokens` (unless that is set too: it wins), the same cap,
  which for these models also counts their hidden reasoning tokens (a small cap can be spent on
  reasoning alone, an empty answer cut at "length"; it stays the client's cap all the same);
- `reasoning_effort` is fitted to what the model's family takes (`_EFFORT_RANGES`, from OpenAI's
  reference): the o-series takes low to high, so none and minimal are sent as low and xhigh and max
  as high; GPT-5, -mini and -nano take minimal to high (none as minimal, xhigh and max as high);
  GPT-5.1 none to high, GPT-5.2 to 5.5 none to xhigh, GPT-5.6, 6 Sol/Luna and 6.1 Terra none to
  max, GPT-6 Astra, 6.1 Sol and 6.2 low to max (OpenAI's model pages, 2026-11); o1-mini and
  o1-preview take no reasoning_effort at all, so it is dropped. A family the table does not know
  gets the client's value;
- GPT-6 Sol and Luna and GPT-5.6 Luna call functions through chat completions only at effort
  "none": a request with tools gets "none" (the call is the client's contract, the effort a hint);
- `temperature`, `top_p`, `presence_penalty` and `frequency_penalty` are dropped: the model samples
  its own way, and an answer without the client's sampling preference is still an answer. GPT-5.1
  and later take them at effort "none": they are kept then, and when no effort is set (the default
  differs by model; one that refuses them is answered by `refused.py`, which leaves them out);
- `logprobs`, `top_logprobs` and `logit_bias` are dropped only when they ask for nothing (false,
  null, {}). A real ask is not dropped: the answer would silently lack the logprobs, or contain the
  tokens the bias ruled out. A route skips such a model instead (`routing/constraints.py`), and a
  client that named it gets OpenAI's own 400.
Which deployments (`openai_reasoning_model`, read once when the model directory builds a
deployment): a catalog entry (the config's overrides included) marked `reasoning` under provider
openai or azure. So OpenRouter's o3-mini (OpenRouter maps parameters itself) and other hosts'
reasoning models such as DeepSeek-R1 (which take them) are left alone. Only for a model the catalog
lacks, on an OpenAI-dialect provider, OpenAI's reasoning model names (`_REASONING_NAME`: o1, o3, o4
and GPT-5, -mini and -nano, none of which takes a sampling parameter). Any other model, passthrough
ones included, is sent as it came.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import orjson

from satisfice.api.openai_request import REASONING_EFFORTS  # OpenAI's values, lowest to highest
from satisfice.catalog import ModelInfo
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS
from satisfice.providers.base import (
    JSON,
    Deployment,
    ErrorInfo,
    StreamTranslator,
    UpstreamRequest,
    path_segment,
    upstream_url,
)
from satisfice.providers.thinking import THINKING_BLOCKS, without_carrier

# Phrases providers use for an over-long prompt (OpenAI, vLLM, Together, Groq, Mistral, Ollama).
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "context length",
    "too many tokens",
    "prompt is too long",
    "reduce the length",
)

# Catalog providers that are OpenAI's own API: their reasoning models refuse what follows.
OPENAI_API_PROVIDERS = ("openai", "azure")
# Sampling parameters OpenAI's reasoning models refuse: dropped, whatever their value.
_SAMPLING_REFUSED = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
# For names the catalog lacks: OpenAI's o-series (o1, o3-pro, o4-mini-2025-04-16, ...), GPT-5, -mini
# and -nano (dated or not), and GPT-5.x and GPT-6.x (gpt-5.6-luna-2026-07-09, gpt-6.2-sol, ...), not
# their chat variants (gpt-5.1-chat-latest: no reasoning model).
_REASONING_NAME = re.compile(
    r"o[134](?:-[\w.-]+)?|gpt-5(?:-mini|-nano)?(?:-\d{4}-\d{2}-\d{2})?|gpt-(?:5\.\d+|6(?:\.\d+)?)(?!.*chat)(?:-[\w.-]+)?"
)
# What each reasoning family takes, as the (lowest, highest) of a contiguous run of REASONING_EFFORTS;
# None: no reasoning_effort at all. OpenAI answers any other value with a 400 no failover gets past.
# First match on the model name wins.
_EFFORT_RANGES: tuple[tuple[re.Pattern[str], tuple[str, str] | None], ...] = (
    (re.compile(r"o1-(?:mini|preview)\b"), None),
    (re.compile(r"o[134](?:-|$)"), ("low", "high")),
    (re.compile(r"gpt-5(?:-mini|-nano)?(?:-\d{4}-\d{2}-\d{2})?$"), ("minimal", "high")),
    # OpenAI's model pages (2026-11): GPT-5.1 takes none to high (not minimal, which a 400 then
    # drops: providers/refused.py), GPT-5.2 to 5.5 none to xhigh, GPT-5.6, 6 Sol and Luna and 6.1
    # Terra none to max; GPT-6 Astra, 6.1 Sol and the 6.2 models refuse none: low to max.
    (re.compile(r"gpt-5\.1(?:-|$)"), ("none", "high")),
    (re.compile(r"gpt-5\.[2-5](?:-|$)"), ("none", "xhigh")),
    (re.compile(r"gpt-6-astra|gpt-6\.1-sol|gpt-6\.2-"), ("low", "max")),
    (re.compile(r"gpt-5\.6-|gpt-6-|gpt-6\.1-terra"), ("none", "max")),
)
# Models whose chat-completions function calling works only at reasoning_effort "none" (OpenAI's
# deployment checklist, 2026-11): a request with tools gets "none", since the tool call is the
# client's contract and the effort a hint (as for Claude's thinking with a forced tool).
# GPT-5.1 and later take sampling parameters at reasoning_effort "none" only (the same checklist):
# kept then, and when the request sets no effort, whose default differs by model (a model that
# refuses them at its default is sent them once: providers/refused.py leaves them out after).
_SAMPLING_AT_NO_EFFORT = re.compile(r"gpt-5\.\d|gpt-6")
_TOOLS_WITHOUT_REASONING = re.compile(r"gpt-6-(?:sol|luna)(?:-|$)|gpt-5\.6-luna(?:-|$)")


class OpenAIDialect:
    name = "openai"

    def build_chat(self, dep: Deployment, body: JSON, *, stream: bool) -> UpstreamRequest:
        out = dict(body)
        out["model"] = dep.upstream_model
        if dep.openai_reasoning:
            _reasoning_params(out, dep)
        elif dep.openai_plain:
            out.pop("reasoning_effort", None)
        if not dep.tools:
            _drop_tools_not_to_call(out)
        extras = out.pop(MESSAGES_EXTRAS, None)
        if isinstance(extras, dict) and extras.get("cache_hints"):
            _strip_cache_hints(out)
        messages = out.get("messages")
        if isinstance(messages, list) and any(isinstance(m, dict) and THINKING_BLOCKS in m for m in messages):
            out["messages"] = without_carrier(messages)
        if stream:
            # Always ask for usage so the ledger is exact; the relay drops the usage chunk when the
            # client did not ask for it.
            opts = dict(out.get("stream_options") or {})
            opts["include_usage"] = True
            out["stream_options"] = opts
        headers = {"content-type": "application/json"}
        if dep.api_key:
            headers["authorization"] = f"Bearer {dep.api_key}"
        headers.update(dep.headers)
        url = upstream_url(dep, "/chat/completions")
        return UpstreamRequest("POST", url, headers, orjson.dumps(out), dep)

    def build_embeddings(self, dep: Deployment, body: JSON) -> UpstreamRequest:
        out = dict(body)
        out["model"] = dep.upstream_model
        headers = {"content-type": "application/json"}
        if dep.api_key:
            headers["authorization"] = f"Bearer {dep.api_key}"
        headers.update(dep.headers)
        return UpstreamRequest("POST", upstream_url(dep, "/embeddings"), headers, orjson.dumps(out), dep)

    def parse_chat(self, dep: Deployment, raw: bytes) -> JSON:
        data: Any = orjson.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ValueError("upstream answer is not a chat.completion object")
        return data

    def stream_translator(self, dep: Deployment) -> StreamTranslator | None:
        return None

    def error_info(self, status: int, raw: bytes) -> ErrorInfo:
        return openai_error_info(raw)


class AzureDialect(OpenAIDialect):
    """Azure OpenAI: deployment in the path, api-version in the query, `api-key` header."""

    name = "azure"

    def _url(self, dep: Deployment, op: str) -> str:
        # The deployment name is one path segment whatever it holds (passthrough sends client names).
        version = urllib.parse.quote(dep.option("api_version", "2024-10-21") or "", safe="")
        deployment = path_segment(dep.upstream_model)
        return upstream_url(dep, f"/openai/deployments/{deployment}/{op}?api-version={version}")

    def _headers(self, dep: Deployment) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if dep.api_key:
            headers["api-key"] = dep.api_key
        headers.update(dep.headers)
        return headers

    def build_chat(self, dep: Deployment, body: JSON, *, stream: bool) -> UpstreamRequest:
        req = super().build_chat(dep, body, stream=stream)
        return UpstreamRequest("POST", self._url(dep, "chat/completions"), self._headers(dep), req.body, dep)

    def build_embeddings(self, dep: Deployment, body: JSON) -> UpstreamRequest:
        req = super().build_embeddings(dep, body)
        return UpstreamRequest("POST", self._url(dep, "embeddings"), self._headers(dep), req.body, dep)


def is_openai_reasoning(info: ModelInfo) -> bool:
    """A reasoning model served by OpenAI's own API (o-series), which refuses sampling parameters."""
    return info.reasoning and info.provider in OPENAI_API_PROVIDERS


def openai_plain_model(info: ModelInfo | None) -> bool:
    """One of OpenAI's own chat models that is no reasoning model (it refuses `reasoning_effort`)."""
    return info is not None and info.provider in OPENAI_API_PROVIDERS and not info.reasoning


def openai_reasoning_model(info: ModelInfo | None, dialect: str, upstream_model: str) -> bool:
    """Does a deployment get the reasoning-model rewrite? See the module doc."""
    if info is not None:
        return is_openai_reasoning(info)
    return dialect in OPENAI_API_PROVIDERS and _REASONING_NAME.fullmatch(upstream_model) is not None


def _drop_tools_not_to_call(out: JSON) -> None:
    """For a model without function calling: tools offered with tool_choice "none" (or legacy
    functions with function_call "none") are left out, which is what the request asks of them; the
    model would refuse the request for holding them. A route sends such a request to any model
    (`routing.constraints.needs_of`)."""
    if out.get("tool_choice") == "none":
        for key in ("tools", "tool_choice", "parallel_tool_calls"):
            out.pop(key, None)
    if out.get("function_call") == "none":
        out.pop("functions", None)
        out.pop("function_call", None)


def _reasoning_params(out: JSON, dep: Deployment) -> None:
    """Rewrite `out` (a shallow copy of the client's body) for an OpenAI reasoning model."""
    if out.get("tools") and out.get("tool_choice") != "none" and _named(dep, _TOOLS_WITHOUT_REASONING):
        out["reasoning_effort"] = "none"
    effort = out.get("reasoning_effort")
    if isinstance(effort, str) and effort in REASONING_EFFORTS:
        fitted = _fitted_effort(effort, dep)
        if fitted is None:
            del out["reasoning_effort"]
        else:
            out["reasoning_effort"] = fitted
    if "max_tokens" in out:
        cap = out.pop("max_tokens")
        if out.get("max_completion_tokens") is None and cap is not None:
            out["max_completion_tokens"] = cap
    if not (_named(dep, _SAMPLING_AT_NO_EFFORT) and out.get("reasoning_effort") in (None, "none")):
        for key in _SAMPLING_REFUSED:
            out.pop(key, None)
    # What asks for nothing, read as `routing.constraints.needs_of` reads it (top_logprobs 0 asks).
    if not out.get("logprobs"):
        out.pop("logprobs", None)
    if out.get("top_logprobs") is None:
        out.pop("top_logprobs", None)
    if not out.get("logit_bias"):
        out.pop("logit_bias", None)


def _names(dep: Deployment) -> tuple[str, str]:
    """The names that tell a deployment's model family: its catalog id, then its upstream id (an
    Azure deployment name says little), without a provider prefix."""
    return dep.model.rsplit("/", 1)[-1].lower(), dep.upstream_model.rsplit("/", 1)[-1].lower()


def _named(dep: Deployment, pattern: re.Pattern[str]) -> bool:
    """The deployment's catalog id, or else its upstream id, is one `pattern` matches."""
    return any(pattern.match(name) for name in _names(dep))


def _fitted_effort(effort: str, dep: Deployment) -> str | None:
    """The nearest reasoning_effort this deployment's model takes (`_EFFORT_RANGES`); None when it
    takes none. The catalog id decides, then the upstream id (`_names`)."""
    for name in _names(dep):
        for pattern, accepted in _EFFORT_RANGES:
            if pattern.match(name):
                if accepted is None:
                    return None
                low, high = (REASONING_EFFORTS.index(e) for e in accepted)
                return REASONING_EFFORTS[min(max(REASONING_EFFORTS.index(effort), low), high)]
    return effort  # a family not in the table: the client's value, as it came


def _strip_cache_hints(out: JSON) -> None:
    """Drop the cache_control hints the /v1/messages translation left on messages, parts, tool calls
    and tools (`out` is a shallow copy: what it shares with the request is copied, never changed).
    Content then takes the shape the translation gives it without hints: a system prompt of text
    parts is one string again (joined by blank lines), an assistant's text parts one string, and a
    user turn of one text part that text."""
    messages: list[Any] = []
    for msg in out.get("messages") or []:
        if not isinstance(msg, dict):
            messages.append(msg)
            continue
        msg = {k: v for k, v in msg.items() if k != "cache_control"}
        content = msg.get("content")
        if isinstance(content, list):
            parts = [_unhinted(p) for p in content]
            texts: list[str] = [
                p["text"]
                for p in parts
                if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            ]
            all_text = len(texts) == len(parts)
            role = msg.get("role")
            if all_text and role == "system":
                msg["content"] = "\n\n".join(texts)
            elif all_text and role == "assistant":
                msg["content"] = "".join(texts)
            elif all_text and role == "user" and len(texts) == 1:
                msg["content"] = texts[0]
            else:
                msg["content"] = parts
        if isinstance(msg.get("tool_calls"), list):
            msg["tool_calls"] = [_unhinted(c) for c in msg["tool_calls"]]
        messages.append(msg)
    out["messages"] = messages
    if isinstance(out.get("tools"), list):
        out["tools"] = [_unhinted(t) for t in out["tools"]]


def _unhinted(item: Any) -> Any:
    if isinstance(item, dict) and "cache_control" in item:
        return {k: v for k, v in item.items() if k != "cache_control"}
    return item


def openai_error_info(raw: bytes) -> ErrorInfo:
    message = raw[:500].decode("utf-8", "replace").strip() or "upstream error with an empty body"
    code, param = "", None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = str(err.get("code") or "")
            param = err.get("param") if isinstance(err.get("param"), str) else None
        elif isinstance(err, str):
            message = err
    low = (message + " " + code).lower()
    exceeded = any(m in low for m in _CONTEXT_MARKERS)
    return ErrorInfo(message, exceeded, param=param, code=code or None)


OPENAI = OpenAIDialect()
AZURE = AzureDialect()
