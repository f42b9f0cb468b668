"""Gemini `GenerateContentResponse` → OpenAI shapes: pieces shared by the whole-body and stream paths."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from satisfice.errors import UpstreamFailed
from satisfice.providers.base import JSON, Deployment
from satisfice.usage import Usage

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def completion_id(resp: JSON) -> str:
    rid = resp.get("responseId")
    return "chatcmpl-" + (rid if isinstance(rid, str) and rid else secrets.token_hex(12))


def finish_reason(reason: Any, has_calls: bool) -> str:
    """OpenAI's finish_reason for a Gemini finishReason. Reasons OpenAI has no word for (OTHER,
    LANGUAGE, MALFORMED_FUNCTION_CALL, ...) read as "stop": the turn ended, no more is coming."""
    if reason in _FILTERED:
        return "content_filter"
    if reason == "MAX_TOKENS":
        return "length"
    return "tool_calls" if has_calls else "stop"


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
    """The OpenAI tool call for a `functionCall` part (None for other parts). A thought signature
    travels in `extra_content.google.thought_signature` (Google's own OpenAI-compatible convention),
    which the request builder reads back when the client replays the call."""
    fc = part.get("functionCall")
    if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
        return None
    args = fc.get("args") if isinstance(fc.get("args"), dict) else {}
    call: JSON = {
        "id": "call_" + secrets.token_hex(12),
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
        message: JSON = {"role": "assistant", "content": text_of(parts), "refusal": None}
        if calls:
            message["tool_calls"] = calls
        index = cand.get("index")
        choices.append(
            {
                "index": index if isinstance(index, int) else pos,
                "message": message,
                "finish_reason": finish_reason(cand.get("finishReason"), bool(calls)),
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
