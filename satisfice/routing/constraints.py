"""Hard constraints a request puts on a model: context window, tools, vision, JSON schema, and the
OpenAI-only features its provider's dialect must be able to carry.

OpenAI's reasoning models (o-series) refuse several chat parameters. The OpenAI adapter rewrites
`max_tokens` and drops the sampling ones (temperature, top_p, penalties: the answer is still what
was asked for; see `providers/openai_compat.py`). What cannot be dropped without the answer coming
back silently short of the request, `logprobs` / `top_logprobs` asked for and a non-empty
`logit_bias`, makes a route skip such a model here (`_REASONING_UNCARRIED`). `n` > 1 and the rest
reach it as they are.

A `json_schema` response_format needs the catalog's `json_schema` capability (the provider's API
takes the schema), except behind the Anthropic adapter, which enforces the schema itself for
Claude: natively, or through a forced tool call on a model with tools; where it could only ask
for the schema in an instruction (`json_schema_mode` in `providers/anthropic_request.py`), the
model is skipped as before. The adapter is asked about the catalog's upstream id: a config
`model_map` that sends the request to another model is not seen here. The adapter also names what
a Claude model refuses outright (`refusal`: a forced tool on Opus 5.5, Sonnet 5.5 and Fable 5.1
on; a conversation ending with an assistant turn from Claude 4.6 on), and such a model is skipped
too."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from satisfice import tokens
from satisfice.catalog import ModelInfo
from satisfice.per_list import VECTOR_FROM, PerList
from satisfice.providers.anthropic_request import MESSAGES_EXTRAS, json_schema_mode, may_refuse, refusal
from satisfice.providers.openai_compat import is_openai_reasoning
from satisfice.routing.lengths import OutputLengths

# Output we assume when a request sets no max_tokens, to price and fit it.
DEFAULT_EXPECTED_OUTPUT = 256
# ...and when the prompt asks for a one-word / one-letter answer (multiple choice, yes/no): pricing
# such a request as 256 output tokens overstates output-heavy models' cost several times over.
SHORT_EXPECTED_OUTPUT = 8
_SHORT_ANSWER = re.compile(
    r"(single (choice|letter|word)|one (word|letter|number)|only (the )?(letter|number|answer)|"
    r"answer with (a |one |only )?(single )?(letter|word|number|yes or no)|\byes or no\b|\nAnswer:\s*$)",
    re.IGNORECASE,
)

# OpenAI request features that the Anthropic and Gemini adapters cannot carry: translated, they
# would be refused (n > 1, a `function` turn) or dropped while the answer comes back looking normal
# (logprobs, legacy functions, audio output, web search). A model behind such a dialect is skipped.
_UNCARRIED = {
    "anthropic": (
        "n", "logprobs", "functions", "audio input", "audio output", "web_search_options", "logit_bias",
    ),
    # Gemini cannot be held to one tool call per turn (`parallel_tool_calls: false`).
    "gemini": (
        "functions", "audio output", "web_search_options", "logit_bias", "parallel_tool_calls",
        "inference_geo",
    ),
    "openai": ("inference_geo",),
    "azure": ("inference_geo",),
}  # fmt: skip
_FEATURE_PARAM = {"audio input": "messages", "audio output": "modalities"}  # the rest are their own param
# What OpenAI's reasoning models refuse and the adapter cannot drop: the answer would lack the
# logprobs, or hold tokens the bias was there to rule out (a ban, a forced label set).
_REASONING_UNCARRIED = ("logprobs", "logit_bias")


@dataclass(slots=True)
class Needs:
    body: dict[str, Any]
    prompt_bound: int  # never below the true prompt token count
    max_output: int | None  # what the client asked for, if anything
    tools: bool
    vision: bool
    json_schema: bool
    features: frozenset[str] = frozenset()  # OpenAI-only features used (see _UNCARRIED)
    _exact: dict[str, int] = field(default_factory=dict)  # exact counts per encoding, computed on demand
    _short: bool | None = None  # the prompt asks for a one-word answer (computed on demand)
    _plain: bool | None = None  # see `plain` (computed on demand)

    def prompt_tokens(self, model: str) -> int:
        enc = tokens.encoding_name_for(model)
        if enc not in self._exact:
            self._exact[enc] = tokens.count_prompt(self.body, model)
        return self._exact[enc]

    def count_every_encoding(self) -> None:
        """Count the prompt exactly in each encoding now (a worker thread may call it): for a huge
        prompt the planner's counts would otherwise stall the event loop, ~0.3 s per 10 MB each."""
        for model in tokens.ENCODING_PROBES:
            self.prompt_tokens(model)

    @property
    def plain(self) -> bool:
        """The request asks for nothing a chat model might lack but room (no tools, images,
        json_schema, OpenAI-only feature, nor what a Claude model refuses): `unmet` then reads
        only sizes, which keeps a route of dozens of candidates cheap to filter."""
        if self._plain is None:
            special = self.tools or self.vision or self.json_schema or self.features
            self._plain = not special and not may_refuse(self.body)
        return self._plain

    @property
    def prompt_estimate(self) -> int:
        """A cheap guess (~4 bytes a token for English) where an exact count is not worth its CPU."""
        return max(1, self.prompt_bound // 4)

    @property
    def asks_short_answer(self) -> bool:
        """The last user message asks for a one-word / one-letter answer."""
        if self._short is None:
            self._short = _asks_short_answer(self.body)
        return self._short

    @property
    def assumed_output(self) -> int:
        """The answer length assumed before a model's own history (`lengths.py`), uncapped."""
        return SHORT_EXPECTED_OUTPUT if self.asks_short_answer else DEFAULT_EXPECTED_OUTPUT

    @property
    def expected_output(self) -> int:
        """`assumed_output` within the client's max_tokens, which caps the answer (pricing every
        request at its cap priced a client that always sends max_tokens=4096 at 4,096 tokens)."""
        assumed = self.assumed_output
        return min(self.max_output, assumed) if self.max_output else assumed


# Each alternative of _SHORT_ANSWER holds one of these, lower-cased: without any, the (slow,
# case-insensitive) regex cannot match. Only three characters match an ASCII letter of the pattern
# case-insensitively without lower-casing to it (long s, dotless i, dotted capital I); with them the
# regex decides.
_SHORT_ANSWER_WORDS = ("single ", "one ", "only ", "answer with ", "yes or no", "answer:")
_CASE_ODD = frozenset("\u017f\u0131\u0130")


def _asks_short_answer(body: dict[str, Any]) -> bool:
    """Does the last user message ask for a one-word / one-letter answer? (Only its tail is read.)"""
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            text, _ = tokens.message_text(msg.get("content"))
            tail = text[-300:]
            low = tail.lower()
            if not any(map(low.__contains__, _SHORT_ANSWER_WORDS)) and _CASE_ODD.isdisjoint(tail):
                return False
            return bool(_SHORT_ANSWER.search(tail))
    return False


def _uses_tools(msg: dict[str, Any]) -> bool:
    """A turn that only a tool-calling model can read: a call, or a tool's result."""
    return msg.get("role") in ("tool", "function") or bool(msg.get("tool_calls") or msg.get("function_call"))


def _anthropic_fields(body: dict[str, Any]) -> dict[str, Any]:
    extras = body.get(MESSAGES_EXTRAS)
    fields = extras.get("fields") if isinstance(extras, dict) else None
    return fields if isinstance(fields, dict) else {}


def _request_features(body: dict[str, Any], functions: bool) -> set[str]:
    """The OpenAI-only features of the request's own fields (its messages are read by the caller)."""
    n, modalities = body.get("n"), body.get("modalities")
    found = {
        "n": isinstance(n, int) and not isinstance(n, bool) and n > 1,
        "logprobs": bool(body.get("logprobs")) or body.get("top_logprobs") is not None,
        "functions": functions,
        "audio output": body.get("audio") is not None
        or (isinstance(modalities, list) and "audio" in modalities),
        "web_search_options": body.get("web_search_options") is not None,
        "logit_bias": bool(body.get("logit_bias")),  # {} asks for nothing
        "parallel_tool_calls": body.get("parallel_tool_calls") is False and bool(body.get("tools")),
        # A /v1/messages client's data-residency demand, which only Anthropic's API takes.
        "inference_geo": "inference_geo" in _anthropic_fields(body),
    }
    return {name for name, used in found.items() if used}


def needs_of(body: dict[str, Any]) -> Needs:
    max_out = body.get("max_completion_tokens") or body.get("max_tokens")
    # Tools: offered now (`tools`, or the legacy `functions`) or already used in the conversation.
    functions = bool(body.get("functions")) and body.get("function_call") != "none"
    tools = (bool(body.get("tools")) and body.get("tool_choice") != "none") or functions
    vision = audio_in = False
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        tools = tools or _uses_tools(msg)
        functions = functions or msg.get("role") == "function" or bool(msg.get("function_call"))
        content = msg.get("content")
        if isinstance(content, list):
            kinds = {p.get("type") for p in content if isinstance(p, dict)}
            # A PDF (`file`, also what a /v1/messages document becomes) is read as page images:
            # OpenAI and Anthropic take one only on the models that take images.
            vision = vision or "image_url" in kinds or "file" in kinds
            audio_in = audio_in or "input_audio" in kinds
    rf = body.get("response_format")
    features = _request_features(body, functions) | ({"audio input"} if audio_in else set())
    return Needs(
        body=body,
        prompt_bound=tokens.prompt_upper_bound(body),
        max_output=max_out if isinstance(max_out, int) else None,
        tools=tools,
        vision=vision,
        json_schema=isinstance(rf, dict) and rf.get("type") == "json_schema",
        features=frozenset(features),
    )


class Unmet(NamedTuple):
    reason: str
    param: str | None  # the request field that asks for what the model lacks


def unmet(info: ModelInfo | None, dialect: str, needs: Needs) -> Unmet | None:
    """Why this model (None: an unpriced passthrough, judged by its dialect alone), served through
    this provider dialect, cannot take the request; None when it can."""
    if info is not None and info.kind != "chat":
        return Unmet(f"an {info.kind} model, which does not chat", "model")
    if needs.plain:  # every check below but the sizes passes
        return None if info is None else _too_small(info, needs)
    if info is not None and needs.tools and not info.tools:
        return Unmet("no tool calling", "tools")
    if info is not None and needs.vision and not info.vision:
        return Unmet("no image input", "messages")
    if (
        info is not None
        and needs.json_schema
        and not (info.json_schema or _schema_enforced(info, dialect, needs))
    ):
        return Unmet("no json_schema output", "response_format")
    gap = uncarried(dialect, needs)
    if gap is not None or info is None:
        return gap
    refused = refusal(needs.body, info.upstream_id) if dialect == "anthropic" else None
    if refused is not None:
        return Unmet(*refused)
    if dialect in ("openai", "azure") and is_openai_reasoning(info):
        for feature in _REASONING_UNCARRIED:
            if feature in needs.features:
                return Unmet(f"OpenAI reasoning models refuse {feature}", feature)
    return _too_small(info, needs)


def _too_small(info: ModelInfo, needs: Needs) -> Unmet | None:
    """The model's output cap or context window is below what the request needs."""
    if needs.max_output is not None and info.max_output and needs.max_output > info.max_output:
        limit = "max_completion_tokens" if needs.body.get("max_completion_tokens") else "max_tokens"
        return Unmet(f"max output {info.max_output} < requested {needs.max_output}", limit)
    if context_overflow(info, needs) is not None:
        return Unmet("prompt does not fit the context window", "messages")
    return None


def _schema_enforced(info: ModelInfo, dialect: str, needs: Needs) -> bool:
    """The Anthropic adapter makes this Claude model answer in the request's schema (module doc)."""
    if dialect != "anthropic":
        return False
    mode = json_schema_mode(needs.body, info.upstream_id)
    return mode == "native" or (mode == "tool" and info.tools)


def uncarried(dialect: str, needs: Needs) -> Unmet | None:
    """The first OpenAI-only feature of the request that this provider dialect cannot carry."""
    for feature in _UNCARRIED.get(dialect, ()):
        if feature in needs.features:
            return Unmet(f"{dialect} API cannot carry {feature}", _FEATURE_PARAM.get(feature, feature))
    return None


def context_overflow(info: ModelInfo, needs: Needs, output: int | None = None) -> int | None:
    """The exact prompt+output token need when it exceeds the window, else None; the output is the
    client's max_tokens (none: 0) unless given. Exact counting only happens when the cheap upper
    bound does not already prove the request fits."""
    out = (needs.max_output or 0) if output is None else output
    if needs.prompt_bound + out <= info.context_window:
        return None
    need = needs.prompt_tokens(info.id) + out
    return need if need > info.context_window else None


def estimated_costs(
    infos: Sequence[ModelInfo], needs: Needs, lengths: OutputLengths | None = None
) -> list[float]:
    """Each candidate's estimated cost of the request: its prompt estimate, and the answer length
    `lengths` has learned for the model (else the request's `expected_output`), within max_tokens."""
    prompt, cap = needs.prompt_estimate, needs.max_output
    learned = (
        lengths.expected_many(infos, needs.asks_short_answer, needs.assumed_output)
        if lengths is not None
        else None
    )
    outputs: int | list[int] = (
        needs.expected_output if learned is None else [min(n, cap) if cap else n for n in learned]
    )
    if len(infos) >= VECTOR_FROM:
        table = _PRICES.get(infos, lambda: _PriceTable.of(infos))
        if prompt <= table.short_band_to:  # `cost_usd`'s sum without a cache, in numpy
            out = outputs if isinstance(outputs, int) else np.array(outputs, dtype=np.int64)
            costs: list[float] = ((prompt * table.input + out * table.output) / 1_000_000).tolist()
            return costs
    if isinstance(outputs, int):
        return [i.cost_usd(prompt, outputs) for i in infos]
    return [i.cost_usd(prompt, n) for i, n in zip(infos, outputs, strict=True)]


@dataclass(frozen=True, slots=True)
class _PriceTable:
    """Input and output prices of a candidate list, and the prompt length up to which they apply
    (the shortest `long_prompt` band's start)."""

    input: npt.NDArray[np.float64]
    output: npt.NDArray[np.float64]
    short_band_to: float

    @classmethod
    def of(cls, infos: Sequence[ModelInfo]) -> _PriceTable:
        bands = [i.long_prompt.above_tokens for i in infos if i.long_prompt is not None]
        return cls(
            np.array([i.input_per_mtok for i in infos], dtype=np.float64),
            np.array([i.output_per_mtok for i in infos], dtype=np.float64),
            min(bands, default=math.inf),
        )


_PRICES: PerList[_PriceTable] = PerList()
