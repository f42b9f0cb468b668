"""Gemini `GenerateContentResponse` → OpenAI shapes: pieces shared by the whole-body and stream paths."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from satisfice.errors import UpstreamFailed
from satisfice.providers.base import JSON, Deployment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.redact import redact
from satisfice.usage import Usage

# Gemini's finishReason (its FinishReason enum) → OpenAI's finish_reason; "stop" becomes
# "tool_calls" when the turn called tools, and a reason Gemini adds later reads as "stop".
# "content_filter": Gemini withheld or cut the answer (a safety or policy filter, an unsupported
# language, or OTHER, a reason it does not give), so it may be incomplete: it is never cached and a
# cascade climbs past it. None: the candidate is no answer (an invalid tool call, often with no
# parts at all); the attempt failed, so the runner tries again elsewhere instead of returning (and
# charging) an empty "stop".
FINISH_REASONS: dict[str, str | None] = {
    "FINISH_REASON_UNSPECIFIED": "stop",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "OTHER": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "IMAGE_OTHER": "content_filter",
    "NO_IMAGE": "stop",  # an image was expected and none came: the text that came is the answer
    "MALFORMED_FUNCTION_CALL": None,
    "UNEXPECTED_TOOL_CALL": None,  # a call of a tool the request did not offer
    "TOO_MANY_TOOL_CALLS": None,  # the model's tool-calling loop went past Gemini's limit
    "MALFORMED_RESPONSE": None,
    "MISSING_THOUGHT_SIGNATURE": None,  # a replayed call lacked its signature: nothing was generated
}


def completion_id(resp: JSON) -> str:
    rid = resp.get("responseId")
    return "chatcmpl-" + (rid if isinstance(rid, str) and rid else secrets.token_hex(12))


def finish_reason(reason: Any, has_calls: bool) -> str | None:
    """OpenAI's finish_reason for a Gemini finishReason (see FINISH_REASONS); None when the
    candidate is a failed answer (`failed_answer` says why)."""
    mapped = FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def failed_answer(candidate: JSON) -> str:
    """Why a candidate whose finishReason maps to None is no answer, in Gemini's words."""
    reason = candidate.get("finishReason")
    message = candidate.get("finishMessage")
    why = f"Gemini returned no usable answer (finishReason {reason})"
    return f"{why}: {message}" if isinstance(message, str) and message else why


def usage_from_gemini(meta: Any) -> Usage | None:
    if not isinstance(meta, dict):
        return None
    thoughts = _int(meta.get("thoughtsTokenCount"))
    return Usage(
        prompt_tokens=_int(meta.get("promptTokenCount")),
        # Gemini counts thinking apart from candidates; OpenAI bills reasoning inside completion tokens.
        completion_tokens=_int(meta.get("candidatesTokenCount")) + thoughts,
        cached_tokens=_int(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parts_of(candidate: JSON) -> list[JSON]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def text_of(parts: list[JSON]) -> str | None:
    """Joined answer text; thought summaries (`thought: true`) are not part of the answer."""
    texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    return "".join(texts) if texts else None


def tool_call(part: JSON) -> JSON | None:
    """The OpenAI tool call for a `functionCall` part (None for other parts). Its id is Gemini's
    `functionCall.id` when Gemini gave one (it wants that id back on the call's functionResponse,
    which the request builder sends from the client's tool_call_id), else an invented one. A
    thought signature travels in `extra_content.google.thought_signature` (Google's own
    OpenAI-compatible convention), which the request builder reads back when the client replays
    the call."""
    fc = part.get("functionCall")
    if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
        return None
    args = fc.get("args") if isinstance(fc.get("args"), dict) else {}
    given = fc.get("id")
    call: JSON = {
        "id": given if isinstance(given, str) and given else "call_" + secrets.token_hex(12),
        "type": "function",
        "function": {"name": fc["name"], "arguments": orjson.dumps(args).decode()},
    }
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return call


def logprobs_of(candidate: JSON) -> JSON | None:
    """OpenAI `logprobs` for a candidate's `logprobsResult` (None when logprobs were not asked for)."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    chosen = [c for c in result.get("chosenCandidates") or [] if isinstance(c, dict)]
    tops = result.get("topCandidates") or []
    content: list[JSON] = []
    for i, token in enumerate(chosen):
        top = tops[i].get("candidates") if i < len(tops) and isinstance(tops[i], dict) else None
        entry = _token_logprob(token)
        entry["top_logprobs"] = [_token_logprob(t) for t in top or [] if isinstance(t, dict)]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token_logprob(token: JSON) -> JSON:
    text = token.get("token")
    text = text if isinstance(text, str) else ""
    value = token.get("logProbability")
    return {
        "token": text,
        "logprob": float(value) if isinstance(value, int | float) else 0.0,
        "bytes": list(text.encode()),
    }


def blocked_reason(resp: JSON) -> str | None:
    feedback = resp.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return reason if isinstance(reason, str) and reason else None


def load_json(raw: bytes) -> JSON:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamFailed("Gemini returned a body that is not JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamFailed("Gemini returned an unexpected JSON body")
    return obj


def parse_response(dep: Deployment, raw: bytes) -> JSON:
    """A whole `GenerateContentResponse` → an OpenAI `chat.completion` dict."""
    resp = load_json(raw)
    candidates = [c for c in resp.get("candidates") or [] if isinstance(c, dict)]
    choices: list[JSON] = []
    for pos, cand in enumerate(candidates):
        parts = parts_of(cand)
        calls = [c for c in map(tool_call, parts) if c is not None]
        finish = finish_reason(cand.get("finishReason"), bool(calls))
        if finish is None:
            # A bad response, not the client's doing: fails over (and counts against the deployment).
            raise AttemptFailed(FailureKind.BAD_RESPONSE, redact(failed_answer(cand), dep))
        message: JSON = {"role": "assistant", "content": text_of(parts), "refusal": None}
        if calls:
            message["tool_calls"] = calls
        index = cand.get("index")
        choices.append(
            {
                "index": index if isinstance(index, int) else pos,
                "message": message,
                "finish_reason": finish,
                "logprobs": logprobs_of(cand),
            }
        )
    if not choices and blocked_reason(resp) is not None:
        # The prompt itself was blocked: OpenAI has no such outcome, the nearest is a filtered choice.
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": None},
                "finish_reason": "content_filter",
                "logprobs": None,
            }
        )
    out: JSON = {
        "id": completion_id(resp),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": dep.model,
        "choices": choices,
    }
    usage = usage_from_gemini(resp.get("usageMetadata"))
    if usage is not None:
        out["usage"] = usage.to_openai()
    return out
